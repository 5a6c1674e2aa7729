//! `test`: resolves an adapter (or each adapter, the configured one first) and counts once.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::{Context, Limit, Outcome, ADAPTERS};
use crate::outln;
use crate::output;
use crate::Format;

// The help of `test` is the doc comment of `Command::Test` in main.rs.
#[derive(Args)]
pub struct TestArgs {
    /// auto, heuristic, tiktoken or huggingface.
    #[arg(long)]
    adapter: Option<String>,
    /// The text to count (default: a short sample sentence). "-" reads standard input: use
    /// it, or --file, for texts over 128 KiB (Linux's limit on one argument).
    #[arg(long, conflicts_with = "file")]
    text: Option<String>,
    /// Read the text from this file ("-" for standard input).
    #[arg(long, value_name = "F")]
    file: Option<PathBuf>,
}

pub fn run(ctx: &Context, args: TestArgs) -> Outcome {
    let TestArgs { adapter, text, file } = args;
    let registry = ctx.registry()?;
    let text = Limit::of(&registry).input(text, file, "Hello, world! This is a tokenizer test.")?;
    let (names, explicit): (Vec<String>, bool) = match adapter {
        Some(a) => (vec![a], true),
        // The configured adapter first, then the others (each once).
        None => {
            let configured = registry.config().adapter.as_str();
            let others = ADAPTERS.iter().filter(|&&a| a != configured).map(|s| s.to_string());
            (std::iter::once(configured.to_string()).chain(others).collect(), false)
        }
    };
    let mut results = Vec::new();
    let mut configured_ok = true;
    for (i, name) in names.iter().enumerate() {
        let outcome = ctx.resolve(&registry, name).and_then(|a| Ok((a.count(&text)?, a)));
        match outcome {
            Ok((count, adapter)) => {
                if ctx.format == Format::Text {
                    let label = if !explicit && i == 0 { format!("{name} (configured)") } else { name.clone() };
                    outln!("adapter: {label}");
                    if adapter.name() != name {
                        outln!("served by: {}", adapter.name());
                    }
                    if let Some(reason) = adapter.fallback_reason() {
                        outln!("passed over: {reason}");
                    }
                    outln!("model: {}", adapter.model());
                    match adapter.engine_fallback_reason() {
                        Some(reason) => outln!("engine: {} (our engine lacks {reason})", adapter.engine_path()),
                        None => outln!("engine: {}", adapter.engine_path()),
                    }
                    outln!("tokens: {}", count.count);
                    outln!("exact: {}", count.is_exact);
                    outln!("characters: {}", text.chars().count());
                    outln!("");
                }
                results.push(json!({
                    "adapter": name,
                    "served_by": adapter.name(),
                    "fallback_reason": adapter.fallback_reason(),
                    "model": adapter.model(),
                    "engine": adapter.engine_path(),
                    "count": count.count,
                    "is_exact": count.is_exact,
                    "method": count.method.as_str(),
                    "text_length": text.chars().count(),
                    "success": true,
                }));
            }
            Err(failure) if failure.exit == 2 => return Err(failure),
            Err(failure) => {
                if explicit || i == 0 {
                    configured_ok = false;
                }
                if ctx.format == Format::Text {
                    outln!("adapter: {name}");
                    outln!("unavailable: {}", failure.message);
                    outln!("");
                }
                results.push(json!({"adapter": name, "success": false, "error": failure.message}));
            }
        }
    }
    if ctx.format == Format::Json {
        output::json(&json!({ "results": results }));
    }
    Ok(if configured_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
