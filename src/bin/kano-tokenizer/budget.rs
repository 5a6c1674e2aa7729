//! `chat`, `truncate` and `split`: chat requests and token budgets.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{json, Value};

use crate::commands::{Context, Failure, Limit, Outcome};
use crate::output;
use crate::{outln, Format};

fn read_input(ctx: &Context, file: Option<PathBuf>) -> Result<(kano_tokenizer::Registry, String), Failure> {
    let registry = ctx.registry()?;
    let text = Limit::of(&registry).read(file.as_deref().unwrap_or(Path::new("-")))?;
    Ok((registry, text))
}

fn adapter_for(
    ctx: &Context,
    registry: &kano_tokenizer::Registry,
    adapter: Option<String>,
) -> Result<kano_tokenizer::Adapter, Failure> {
    let name = adapter.unwrap_or_else(|| registry.config().adapter.as_str().to_string());
    ctx.resolve(registry, &name)
}

pub fn chat(ctx: &Context, file: Option<PathBuf>, adapter: Option<String>) -> Outcome {
    let (registry, request) = read_input(ctx, file)?;
    let name = adapter.unwrap_or_else(|| "tiktoken".to_string());
    // The model: --model, else the request's, else the configured one.
    let requested = serde_json::from_str::<Value>(&request)
        .ok()
        .and_then(|v| v.get("model").and_then(Value::as_str).map(str::to_string));
    let adapter = match (&ctx.model, requested) {
        (None, Some(model)) if name != "heuristic" || registry.config().model.is_none() => {
            registry.resolve(Some(&name), Some(&model))?
        }
        _ => ctx.resolve(&registry, &name)?,
    };
    let c = adapter.count_chat(&request)?;
    match ctx.format {
        Format::Json => output::json(&json!({
            "adapter": adapter.name(),
            "model": adapter.model(),
            "total": c.total,
            "lower_bound": c.lower_bound,
            "upper_bound": c.upper_bound,
            "messages": c.messages,
            "tools": c.tools,
            "reply_priming": c.reply_priming,
            "is_exact": c.is_exact,
            "reasons": c.reasons,
        })),
        Format::Text => {
            outln!("adapter: {} {}", adapter.name(), adapter.model());
            for (i, tokens) in c.messages.iter().enumerate() {
                outln!("message {i}: {tokens}");
            }
            if c.tools > 0 {
                outln!("tools: {}", c.tools);
            }
            outln!("reply priming: {}", c.reply_priming);
            outln!("total: {} ({})", c.total, if c.is_exact { "exact" } else { "not exact" });
            if c.lower_bound != c.total || c.upper_bound != c.total {
                let upper = if c.upper_bound == u64::MAX { "unbounded".to_string() } else { c.upper_bound.to_string() };
                outln!("bounds: {} to {upper}", c.lower_bound);
            }
            for reason in &c.reasons {
                outln!("not exact: {reason}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn truncate(ctx: &Context, file: Option<PathBuf>, max_tokens: u64, adapter: Option<String>) -> Outcome {
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

pub fn split(ctx: &Context, file: Option<PathBuf>, max_tokens: u64, overlap: u64, adapter: Option<String>) -> Outcome {
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
