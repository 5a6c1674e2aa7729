//! `health`: whether an adapter can serve the model it would be asked for; also the check
//! behind each row of `status`.

use std::process::ExitCode;

use clap::Args;
use kano_tokenizer::{Adapter, ErrorKind, Registry, EMBEDDED_MODELS};
use serde_json::{json, Value};

use super::{Context, Failure, Outcome};
use crate::outln;
use crate::output;
use crate::Format;

// The help of `health` is the doc comment of `Command::Health` in main.rs.
#[derive(Args)]
pub struct HealthArgs {
    /// auto, heuristic, tiktoken or huggingface.
    adapter: Option<String>,
}

/// A built-in model each exact adapter always serves, to tell "the adapter works" from "the
/// adapter serves this model".
fn probe_model(adapter: &str) -> Option<&'static str> {
    match adapter {
        "tiktoken" => Some("cl100k_base"),
        "huggingface" => Some(EMBEDDED_MODELS[0]),
        _ => None,
    }
}

/// Whether an adapter works, and whether it serves the model it would be asked for.
pub(super) struct Health {
    /// The model it would be asked for (`--model`, the configured one, or the default).
    pub(super) requested: Option<String>,
    /// The adapter that serves `requested`, or why none does.
    pub(super) serves: Result<Adapter, Failure>,
    /// When it does not serve `requested` because that model is not one of its models: the
    /// adapter serving a built-in model, or why even that fails.
    pub(super) probe: Option<Result<Adapter, Failure>>,
}

impl Health {
    pub(super) fn check(ctx: &Context, registry: &Registry, name: &str) -> Result<Health, Failure> {
        let limit = registry.config().max_input_bytes.min(12) as usize;
        let text = &"health check"[..limit];
        let try_count = |adapter: Adapter| -> Result<Adapter, Failure> {
            adapter.count(text)?;
            Ok(adapter)
        };
        let serves = ctx.resolve(registry, name).and_then(try_count);
        if let Err(failure) = &serves {
            if failure.exit == 2 {
                return Err(Failure::usage(failure.message.clone()));
            }
        }
        let probe = match (&serves, probe_model(name)) {
            (Err(f), Some(model)) if f.kind == Some(ErrorKind::UnknownModel) => {
                Some(name.parse().and_then(|n| registry.resolve(n, model)).map_err(Failure::from).and_then(try_count))
            }
            _ => None,
        };
        Ok(Health { requested: ctx.model_for(registry, name), serves, probe })
    }

    /// The adapter itself works: it serves the model, or a built-in one when the model is not
    /// one of its models.
    pub(super) fn available(&self) -> bool {
        self.serves.is_ok() || matches!(self.probe, Some(Ok(_)))
    }

    /// Why the adapter does not work (not just why it does not serve the requested model).
    fn error(&self) -> Option<&str> {
        match (&self.serves, &self.probe) {
            (Ok(_), _) | (Err(_), Some(Ok(_))) => None,
            (Err(_), Some(Err(f))) => Some(&f.message),
            (Err(f), None) => Some(&f.message),
        }
    }

    pub(super) fn json(&self) -> Value {
        let mut v = json!({
            "available": self.available(),
            "serves_model": self.serves.is_ok(),
            "requested_model": self.requested,
        });
        match &self.serves {
            Ok(adapter) => {
                v["model"] = json!(adapter.model());
                v["engine"] = json!(adapter.engine_path());
                if let Some(reason) = adapter.engine_fallback_reason() {
                    v["engine_fallback"] = json!(reason);
                }
                v["is_exact"] = json!(adapter.is_exact());
            }
            Err(f) => {
                v["model"] = Value::Null;
                v["reason"] = json!(f.message);
            }
        }
        if let Some(Ok(probe)) = &self.probe {
            v["probe_model"] = json!(probe.model());
            v["is_exact"] = json!(probe.is_exact());
        }
        if let Some(error) = self.error() {
            v["error"] = json!(error);
        }
        v
    }
}

pub fn run(ctx: &Context, args: HealthArgs) -> Outcome {
    let HealthArgs { adapter } = args;
    let registry = ctx.registry()?;
    let name = adapter.unwrap_or_else(|| registry.config().adapter.as_str().to_string());
    let health = Health::check(ctx, &registry, &name)?;
    let requested = health.requested.as_deref().unwrap_or("(none)");
    let mut detail = json!({"adapter": name, "healthy": health.serves.is_ok()});
    if let Value::Object(fields) = health.json() {
        detail.as_object_mut().expect("an object").extend(fields);
    }
    match &health.serves {
        Ok(adapter) => detail["served_by"] = json!(adapter.name()),
        Err(f) => detail["error"] = json!(f.message),
    }
    match ctx.format {
        Format::Json => output::json(&detail),
        Format::Text => match (&health.serves, &health.probe) {
            (Ok(adapter), _) => outln!("{name}: healthy ({} {})", adapter.name(), adapter.model()),
            (Err(f), Some(Ok(probe))) => outln!(
                "{name}: cannot serve model {requested:?}: {} (the adapter itself works: it counts with {})",
                f.message,
                probe.model()
            ),
            (Err(f), _) => outln!("{name}: unavailable: {}", f.message),
        },
    }
    Ok(if health.serves.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
