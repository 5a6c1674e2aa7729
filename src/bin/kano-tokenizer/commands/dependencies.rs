//! `dependencies`: library and dependency versions, embedded encodings and tokenizers, and the
//! Hugging Face cache paths searched.

use std::process::ExitCode;

use clap::Args;
use kano_tokenizer::{model_table, prefix_table, process_env, EncodingName, EMBEDDED_MODELS};
use serde_json::{json, Map, Value};

use super::{Context, Outcome};
use crate::outln;
use crate::output;
use crate::Format;

// The help of `dependencies` is the doc comment of `Command::Dependencies` in main.rs.
#[derive(Args)]
pub struct DependenciesArgs {
    /// Also list the model table and every cache path with whether it exists.
    #[arg(long)]
    verbose: bool,
}

pub fn run(ctx: &Context, args: DependenciesArgs) -> Outcome {
    let DependenciesArgs { verbose } = args;
    // The registry's own order (huggingface::hub_cache_candidates): the first one is searched.
    // A broken config fails here, as in every other command: the cache it names is unknown.
    let cache_dir = ctx.registry()?.config().huggingface.cache_dir.clone();
    let candidates = kano_tokenizer::hub_cache_candidates(cache_dir.as_deref(), &process_env);
    let paths: Vec<Value> = candidates
        .iter()
        .enumerate()
        .map(|(i, (from, p))| json!({"from": from, "path": p.display().to_string(), "exists": p.is_dir(), "used": i == 0}))
        .collect();
    let mut value = json!({
        "kano_tokenizer": kano_tokenizer::VERSION,
        "tiktoken_rs": kano_tokenizer::TIKTOKEN_RS_VERSION,
        "tokenizers": kano_tokenizer::TOKENIZERS_VERSION,
        "embedded_encodings": EncodingName::ALL_NAMES,
        "embedded_tokenizers": [EMBEDDED_MODELS[1]],
        "huggingface_cache": {
            "used": candidates.first().map(|(_, p)| p.display().to_string()),
            // Only the first candidate is searched; the others are overridden by it.
            "searched": paths.iter().take(1).cloned().collect::<Vec<_>>(),
            "candidates": paths,
        },
        "network": "never: encodings are embedded, tokenizer.json files are read from disk",
        "remote_code": "never run: only tokenizer.json is read",
    });
    if verbose {
        let table = |t: &[(&str, EncodingName)]| -> Map<String, Value> {
            t.iter().map(|(m, e)| (m.to_string(), json!(e.as_str()))).collect()
        };
        value["model_table"] = json!({"exact": table(model_table()), "prefixes": table(prefix_table())});
    }
    match ctx.format {
        Format::Json => output::json(&value),
        Format::Text => {
            outln!("kano-tokenizer {}", kano_tokenizer::VERSION);
            outln!("  tiktoken-rs {} (rank files, embedded)", kano_tokenizer::TIKTOKEN_RS_VERSION);
            outln!("  tokenizers {} (tokenizer.json)", kano_tokenizer::TOKENIZERS_VERSION);
            outln!("embedded encodings: {}", EncodingName::ALL_NAMES.join(", "));
            outln!("embedded tokenizers: {}", EMBEDDED_MODELS[1]);
            match candidates.first() {
                Some((from, p)) => outln!("Hugging Face cache: {} (from {from})", p.display()),
                None => outln!(
                    "Hugging Face cache: (none: set cache_dir, HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME, \
                     XDG_CACHE_HOME or HOME)"
                ),
            }
            if let Some((first, _)) = candidates.first() {
                outln!("Hugging Face cache locations, in the order they are considered:");
                for (i, (from, p)) in candidates.iter().enumerate() {
                    let exists = if p.is_dir() { "exists" } else { "missing" };
                    let role = if i == 0 { "in use".to_string() } else { format!("not used: {first} comes first") };
                    outln!("  {}. {from}: {} ({role}, {exists})", i + 1, p.display());
                }
            }
            outln!("network: never; remote code: never run");
            if verbose {
                outln!("model table (exact names, then prefixes):");
                for (m, e) in model_table().iter().chain(prefix_table()) {
                    outln!("  {m:32} {e}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
