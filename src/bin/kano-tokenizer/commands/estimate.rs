//! `estimate`: the fast estimate with bounds on the exact count, and optionally a limit check.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::{Context, Limit, Outcome};
use crate::outln;
use crate::output;
use crate::Format;

// The help of `estimate` is the doc comment of `Command::Estimate` in main.rs.
#[derive(Args)]
pub struct EstimateArgs {
    /// The text to estimate (default: standard input; "-" also reads it).
    #[arg(long, conflicts_with = "file")]
    text: Option<String>,
    /// Read the text from this file ("-" for standard input).
    #[arg(long, value_name = "F")]
    file: Option<PathBuf>,
    /// auto, heuristic, tiktoken or huggingface (default: the configured adapter).
    #[arg(long)]
    adapter: Option<String>,
    /// Also check the text against this many tokens (always right for exact adapters).
    #[arg(long, value_name = "N")]
    max_tokens: Option<u64>,
}

pub fn run(ctx: &Context, args: EstimateArgs) -> Outcome {
    let EstimateArgs { text, file, adapter, max_tokens } = args;
    let registry = ctx.registry()?;
    let text = match (text, file) {
        (None, None) => Limit::of(&registry).read(Path::new("-"))?,
        (text, file) => Limit::of(&registry).input(text, file, "")?,
    };
    let name = adapter.unwrap_or_else(|| registry.config().adapter.as_str().to_string());
    let adapter = ctx.resolve(&registry, &name)?;
    let start = Instant::now();
    let e = adapter.estimate(&text);
    let micros = start.elapsed().as_secs_f64() * 1e6;
    let check = max_tokens.map(|max| adapter.check_limit(&text, max).map(|c| (max, c))).transpose()?;
    let mut value = json!({
        "adapter": adapter.name(),
        "model": adapter.model(),
        "estimate": e.estimate,
        "lower_bound": e.lower_bound,
        "upper_bound": e.upper_bound,
        "bounds_hold": adapter.is_exact(),
        "bytes": text.len(),
        "time_us": (micros * 10.0).round() / 10.0,
    });
    if let Some((max, c)) = check {
        value["limit"] =
            json!({"max_tokens": max, "within_limit": c.within_limit, "tokens": c.tokens, "is_exact": c.is_exact});
    }
    match ctx.format {
        Format::Json => output::json(&value),
        Format::Text => {
            outln!("adapter: {} {}", adapter.name(), adapter.model());
            outln!("estimate: {}", e.estimate);
            if adapter.is_exact() {
                let upper = if e.upper_bound == u64::MAX { "unbounded".to_string() } else { e.upper_bound.to_string() };
                outln!("bounds: {} <= exact <= {upper}", e.lower_bound);
            }
            if let Some((max, c)) = check {
                let verdict = if c.within_limit { "within" } else { "over" };
                // Not exact: an upper bound proves "within", a lower bound or the count so far
                // (counting stops once past the limit) proves "over".
                let tokens = match (c.is_exact, adapter.is_exact(), c.within_limit) {
                    (true, _, _) => format!("{} tokens, exact count", c.tokens),
                    (false, true, true) => format!("at most {} tokens", c.tokens),
                    (false, true, false) => format!("at least {} tokens", c.tokens),
                    (false, false, _) => format!("{} tokens, estimate", c.tokens),
                };
                outln!("limit {max}: {verdict} ({tokens})");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
