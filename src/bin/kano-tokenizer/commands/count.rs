//! `count`: counts files (or standard input), one line per file and a total.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};

use super::{Context, Limit, Outcome};
use crate::outln;
use crate::output;
use crate::Format;

// The help of `count` is the doc comment of `Command::Count` in main.rs.
#[derive(Args)]
pub struct CountArgs {
    /// Files to count; none or "-" reads standard input.
    files: Vec<PathBuf>,
    /// auto, heuristic, tiktoken or huggingface (default: the configured adapter).
    #[arg(long)]
    adapter: Option<String>,
}

pub fn run(ctx: &Context, args: CountArgs) -> Outcome {
    let CountArgs { files, adapter } = args;
    let registry = ctx.registry()?;
    let name = adapter.unwrap_or_else(|| registry.config().adapter.as_str().to_string());
    let adapter = ctx.resolve(&registry, &name)?;
    let limit = Limit::of(&registry);
    let stdin = [PathBuf::from("-")];
    let files = if files.is_empty() { &stdin[..] } else { &files[..] };
    let mut total = 0u64;
    let mut entries = Vec::new();
    let mut failed = false;
    for path in files {
        let label = if path.as_os_str() == "-" { "(stdin)".to_string() } else { path.display().to_string() };
        match limit.read(path).and_then(|text| Ok(adapter.count(&text)?)) {
            Ok(count) => {
                total += count.count;
                if ctx.format == Format::Text {
                    outln!("{:>10}  {label}", count.count);
                }
                entries.push(json!({"path": label, "count": count.count}));
            }
            Err(failure) => {
                failed = true;
                eprintln!("error: {}", failure.message);
                entries.push(json!({"path": label, "error": failure.message}));
            }
        }
    }
    // A total that leaves out a file is no total: it is not given when one failed.
    let failures = entries.iter().filter(|e| e.get("error").is_some()).count();
    match ctx.format {
        Format::Json => output::json(&json!({
            "adapter": adapter.name(),
            "model": adapter.model(),
            "is_exact": adapter.is_exact(),
            "files": entries,
            "total": if failed { Value::Null } else { json!(total) },
            "failed": failures,
        })),
        Format::Text if failed => outln!(
            "{:>10}  no total: {failures} of {} files could not be counted ({} {})",
            "-",
            files.len(),
            adapter.name(),
            adapter.model()
        ),
        Format::Text => outln!(
            "{total:>10}  total ({} {}, {})",
            adapter.name(),
            adapter.model(),
            if adapter.is_exact() { "exact" } else { "estimate" }
        ),
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
