//! `compare`: counts one text with several adapters, side by side.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::{adapters_or_default, yes_no, Context, Limit, Outcome};
use crate::output;
use crate::Format;

// The help of `compare` is the doc comment of `Command::Compare` in main.rs.
#[derive(Args)]
pub struct CompareArgs {
    /// The text to count. "-" reads standard input: use it, or --file, for texts over
    /// 128 KiB (Linux's limit on one argument).
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    text: Option<String>,
    /// Read the text from this file ("-" for standard input).
    #[arg(long, value_name = "F")]
    file: Option<PathBuf>,
    /// Adapters to compare, comma-separated (default: heuristic,tiktoken,huggingface).
    #[arg(long, value_delimiter = ',')]
    adapters: Option<Vec<String>>,
}

pub fn run(ctx: &Context, args: CompareArgs) -> Outcome {
    let CompareArgs { text, file, adapters } = args;
    let adapters = adapters_or_default(adapters)?;
    let registry = ctx.registry()?;
    let text = Limit::of(&registry).input(text, file, "")?;
    let text = text.as_str();
    let mut results = Vec::new();
    let mut rows = Vec::new();
    let mut served = 0;
    for name in &adapters {
        match ctx.resolve(&registry, name).and_then(|a| Ok((a.count(text)?, a))) {
            Ok((count, adapter)) => {
                served += 1;
                rows.push(vec![
                    name.clone(),
                    count.count.to_string(),
                    yes_no(count.is_exact),
                    count.method.as_str().to_string(),
                    adapter.model().to_string(),
                ]);
                results.push(json!({
                    "adapter": name,
                    "count": count.count,
                    "is_exact": count.is_exact,
                    "method": count.method.as_str(),
                    "model": adapter.model(),
                }));
            }
            Err(failure) if failure.exit == 2 => return Err(failure),
            Err(failure) => {
                rows.push(vec![name.clone(), "-".into(), "-".into(), "-".into(), failure.message.clone()]);
                results.push(json!({"adapter": name, "count": null, "error": failure.message}));
            }
        }
    }
    match ctx.format {
        Format::Json => output::json(&json!({ "results": results })),
        Format::Text => output::table(&["adapter", "count", "exact", "method", "model"], &rows),
    }
    Ok(if served > 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
