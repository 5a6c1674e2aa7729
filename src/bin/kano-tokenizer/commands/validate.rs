//! `validate`: checks a config file and the KANO_TOKENIZER_* variables over it.

use std::process::ExitCode;

use kano_tokenizer::{process_env, Config, ENV_CONFIG};
use serde_json::{json, Map};

use super::{config_file, settings, Context, Failure, Outcome};
use crate::outln;
use crate::output;
use crate::Format;

/// The problems of a config error: one per line of the library's list, or the message itself.
fn problems_of(e: &kano_tokenizer::Error) -> Vec<String> {
    match e.message().split_once(":\n  - ") {
        Some((_, list)) => list.split("\n  - ").map(str::to_string).collect(),
        None => vec![e.message().to_string()],
    }
}

pub fn run(ctx: &Context) -> Outcome {
    let Some((path, from)) = config_file(ctx) else {
        return Err(Failure::usage(format!("validate needs --config FILE (or {ENV_CONFIG} set to a file)")));
    };
    // The file, then the KANO_TOKENIZER_* variables over it, as every other command reads them.
    let checked = Config::from_file(&path).map_err(|e| (problems_of(&e), false)).and_then(|mut config| {
        config.apply_env(&process_env).map_err(|e| (problems_of(&e), true))?;
        Ok(config)
    });
    match checked {
        Ok(config) => {
            let settings = settings(ctx, &config, Some((&path, from)));
            match ctx.format {
                Format::Json => output::json(&json!({
                    "valid": true,
                    "file": path.display().to_string(),
                    "config": settings.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect::<Map<_, _>>(),
                    "sources": settings.iter().map(|(k, _, s)| (k.clone(), json!(s))).collect::<Map<_, _>>(),
                })),
                Format::Text => {
                    outln!("{}: valid", path.display());
                    for (key, value, source) in settings.iter().skip(1) {
                        let file_source = format!("file {}", path.display());
                        let mark = if *source == file_source { String::new() } else { format!("  ({source})") };
                        outln!("  {key} = {value}{mark}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err((problems, in_env)) => {
            match ctx.format {
                Format::Json => output::json(&json!({
                    "valid": false,
                    "file": path.display().to_string(),
                    "problems": problems,
                })),
                Format::Text => {
                    if in_env {
                        outln!(
                            "{}: the file is valid, but the KANO_TOKENIZER_* variables over it are not",
                            path.display()
                        );
                    } else {
                        outln!("{}: invalid", path.display());
                    }
                    for p in &problems {
                        outln!("  - {p}");
                    }
                }
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
