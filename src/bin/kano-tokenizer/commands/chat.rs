//! `chat`: counts the prompt tokens of an OpenAI Chat Completions request by the cookbook's rules.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};

use super::{read_input, Context, Outcome};
use crate::output;
use crate::{outln, Format};

// The help of `chat` is the doc comment of `Command::Chat` in main.rs.
#[derive(Args)]
pub struct ChatArgs {
    /// The request file (default: standard input; "-" also reads it).
    file: Option<PathBuf>,
    /// tiktoken (default), heuristic, or huggingface: a tokenizer.json model counts with the
    /// chat template beside it (chat_template.jinja or tokenizer_config.json).
    #[arg(long)]
    adapter: Option<String>,
    /// Print the prompt the chat template renders (huggingface adapters), after the counts.
    #[arg(long)]
    prompt: bool,
}

pub fn run(ctx: &Context, args: ChatArgs) -> Outcome {
    let ChatArgs { file, adapter, prompt } = args;
    let (registry, request) = read_input(ctx, file)?;
    let name = adapter.unwrap_or_else(|| "tiktoken".to_string());
    // The model: --model, else the request's, else the configured one.
    let requested = serde_json::from_str::<Value>(&request)
        .ok()
        .and_then(|v| v.get("model").and_then(Value::as_str).map(str::to_string));
    let adapter = match (&ctx.model, requested) {
        (None, Some(model)) if name != "heuristic" || registry.config().model.is_none() => {
            registry.resolve(name.parse()?, &model)?
        }
        _ => ctx.resolve(&registry, &name)?,
    };
    let c = adapter.count_chat(&request)?;
    let prompt = if prompt { Some(adapter.chat_prompt(&request)?) } else { None };
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
            "prompt": prompt,
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
            if let Some(prompt) = prompt {
                outln!("prompt:\n{prompt}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
