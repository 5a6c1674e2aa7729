//! `truncate`: prints the longest prefix of a text with at most N tokens.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::{adapter_for, read_input, Context, Outcome};
use crate::output;
use crate::Format;

// The help of `truncate` is the doc comment of `Command::Truncate` in main.rs.
#[derive(Args)]
pub struct TruncateArgs {
    /// The text file (default: standard input; "-" also reads it).
    file: Option<PathBuf>,
    #[arg(long, value_name = "N")]
    max_tokens: u64,
    /// auto, heuristic, tiktoken or huggingface (default: the configured adapter).
    #[arg(long)]
    adapter: Option<String>,
}

pub fn run(ctx: &Context, args: TruncateArgs) -> Outcome {
    let TruncateArgs { file, max_tokens, adapter } = args;
    let (registry, text) = read_input(ctx, file)?;
    let adapter = adapter_for(ctx, &registry, adapter)?;
    let t = adapter.truncate(&text, max_tokens)?;
    let prefix = &text[..t.byte_len];
    match ctx.format {
        Format::Json => output::json(&json!({
            "adapter": adapter.name(),
            "model": adapter.model(),
            "max_tokens": max_tokens,
            "byte_len": t.byte_len,
            "bytes": text.len(),
            "count": t.count,
            "is_exact": t.is_exact,
            "text": prefix,
        })),
        Format::Text => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            // The prefix as it is: no line end added.
            let _ = out.write_all(prefix.as_bytes()).and_then(|_| out.flush());
        }
    }
    Ok(ExitCode::SUCCESS)
}
