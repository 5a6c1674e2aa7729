//! `split`: cuts a text into chunks of at most N tokens, optionally overlapping.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::{adapter_for, read_input, Context, Outcome};
use crate::output;
use crate::{outln, Format};

// The help of `split` is the doc comment of `Command::Split` in main.rs.
#[derive(Args)]
pub struct SplitArgs {
    /// The text file (default: standard input; "-" also reads it).
    file: Option<PathBuf>,
    #[arg(long, value_name = "N")]
    max_tokens: u64,
    #[arg(long, value_name = "K", default_value_t = 0)]
    overlap: u64,
    /// auto, heuristic, tiktoken or huggingface (default: the configured adapter).
    #[arg(long)]
    adapter: Option<String>,
}

pub fn run(ctx: &Context, args: SplitArgs) -> Outcome {
    let SplitArgs { file, max_tokens, overlap, adapter } = args;
    let (registry, text) = read_input(ctx, file)?;
    let adapter = adapter_for(ctx, &registry, adapter)?;
    let chunks = adapter.split(&text, max_tokens, overlap)?;
    match ctx.format {
        Format::Json => output::json(&json!({
            "adapter": adapter.name(),
            "model": adapter.model(),
            "max_tokens": max_tokens,
            "overlap": overlap,
            "is_exact": chunks.is_exact,
            "chunks": chunks.chunks.iter().map(|c| json!({
                "start": c.start, "end": c.end, "count": c.count, "text": &text[c.start..c.end],
            })).collect::<Vec<_>>(),
        })),
        Format::Text => {
            for (i, c) in chunks.chunks.iter().enumerate() {
                outln!("chunk {i}: bytes {}..{}, {} tokens", c.start, c.end, c.count);
            }
            let kind = if chunks.is_exact { "exact" } else { "estimates" };
            outln!("{} chunks ({} {}, {kind})", chunks.chunks.len(), adapter.name(), adapter.model());
        }
    }
    Ok(ExitCode::SUCCESS)
}
