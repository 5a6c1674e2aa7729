//! The commands. Each returns the exit status, or a failure with its message and status.
//!
//! One file per command, each with the command's arguments (`...Args`, when it has any) and its
//! `run`; this file holds what several commands share: the global flags (`Context`), failures,
//! the input limit, the adapter lists and the effective settings.

pub mod benchmark;
pub mod chat;
pub mod compare;
pub mod count;
pub mod dependencies;
pub mod estimate;
pub mod health;
pub mod split;
pub mod status;
pub mod test;
pub mod truncate;
pub mod validate;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kano_tokenizer::{
    process_env, Adapter, AdapterName, Config, ConfigSource, ErrorKind, Registry, EMBEDDED_MODELS, ENV_CONFIG,
    ENV_MAX_INPUT_BYTES,
};
use serde_json::{json, Value};

use crate::Format;

pub struct Context {
    pub config: Option<PathBuf>,
    pub model: Option<String>,
    pub format: Format,
}

pub struct Failure {
    pub message: String,
    pub exit: u8,
    /// The library's error kind, when the failure came from the library.
    kind: Option<ErrorKind>,
}

impl Failure {
    fn new(message: impl Into<String>) -> Self {
        Failure { message: message.into(), exit: 1, kind: None }
    }
    fn usage(message: impl Into<String>) -> Self {
        Failure { message: message.into(), exit: 2, kind: None }
    }
}

impl From<kano_tokenizer::Error> for Failure {
    fn from(e: kano_tokenizer::Error) -> Self {
        // Every kind is a failure of the command (exit 1): unknown adapter names are caught
        // before the library sees them, and texts over the input limit (InputTooLarge) are
        // refused by `Limit` before they are read, with the limit's source; the library's own
        // message names the limit and how to raise it too.
        Failure { message: e.message().to_string(), exit: 1, kind: Some(e.kind()) }
    }
}

pub(crate) type Outcome = Result<ExitCode, Failure>;

const ADAPTERS: [&str; 3] = ["heuristic", "tiktoken", "huggingface"];

impl Context {
    pub(crate) fn registry(&self) -> Result<Registry, Failure> {
        Ok(match &self.config {
            Some(path) => Registry::from_config_file(path)?,
            None => Registry::new()?,
        })
    }

    /// The model to resolve an adapter with: `--model`, else the configured model, else a
    /// default that every installation has (cl100k_base for tiktoken and auto, the embedded
    /// MiniLM for huggingface).
    pub(crate) fn model_for(&self, registry: &Registry, adapter: &str) -> Option<String> {
        self.model.clone().or_else(|| registry.config().model.clone()).or_else(|| match adapter {
            "tiktoken" | "auto" => Some("cl100k_base".into()),
            "huggingface" => Some(EMBEDDED_MODELS[1].into()),
            _ => None,
        })
    }

    pub(crate) fn resolve(&self, registry: &Registry, adapter: &str) -> Result<Adapter, Failure> {
        let Some(name) = AdapterName::parse(adapter) else {
            return Err(Failure::usage(AdapterName::unknown(adapter)));
        };
        Ok(match self.model_for(registry, adapter) {
            Some(model) => registry.resolve(name, &model)?,
            None => registry.resolve_adapter(name)?,
        })
    }
}

/// The input limit (`tokenizer.max_input_bytes`) and where it was set, for clear refusals.
pub(crate) struct Limit {
    bytes: u64,
    source: ConfigSource,
}

impl Limit {
    pub(crate) fn of(registry: &Registry) -> Limit {
        let config = registry.config();
        Limit { bytes: config.max_input_bytes, source: config.source_of("tokenizer.max_input_bytes") }
    }

    fn describe(&self) -> String {
        let set = match &self.source {
            ConfigSource::Default => "the default".to_string(),
            other => format!("set by {other}"),
        };
        format!(
            "the input limit of {} (tokenizer.max_input_bytes, {set}); raise it with {ENV_MAX_INPUT_BYTES} \
             (for example 256M) or max_input_bytes in the config file's [tokenizer] table",
            human_bytes(self.bytes)
        )
    }

    fn too_large(&self, what: &str, len: u64) -> Failure {
        Failure::new(format!("{what} is {len} bytes, over {}", self.describe()))
    }

    fn check(&self, what: &str, text: &str) -> Result<(), Failure> {
        if text.len() as u64 > self.bytes {
            return Err(self.too_large(what, text.len() as u64));
        }
        Ok(())
    }

    /// Reads a file ("-": standard input) as UTF-8, refusing it, before reading it, when it is
    /// over the limit; streams and special files are read no further than the limit.
    pub(crate) fn read(&self, path: &Path) -> Result<String, Failure> {
        let stdin = path.as_os_str() == "-";
        let label = if stdin { "standard input".to_string() } else { path.display().to_string() };
        let reader: Box<dyn Read> = if stdin {
            Box::new(std::io::stdin().lock())
        } else {
            let file = std::fs::File::open(path).map_err(|e| Failure::new(format!("cannot read {label}: {e}")))?;
            if let Ok(meta) = file.metadata() {
                if meta.is_file() && meta.len() > self.bytes {
                    return Err(self.too_large(&label, meta.len()));
                }
            }
            Box::new(file)
        };
        let mut bytes = Vec::new();
        reader
            .take(self.bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::new(format!("cannot read {label}: {e}")))?;
        if bytes.len() as u64 > self.bytes {
            return Err(Failure::new(format!("{label} is more than {} bytes, over {}", self.bytes, self.describe())));
        }
        String::from_utf8(bytes).map_err(|e| {
            Failure::new(format!(
                "{label} is not valid UTF-8 text: invalid byte at offset {}",
                e.utf8_error().valid_up_to()
            ))
        })
    }

    /// The text of `--text T` (where "-" reads standard input) or `--file F`, else `default`.
    fn input(&self, text: Option<String>, file: Option<PathBuf>, default: &str) -> Result<String, Failure> {
        match (text, file) {
            (Some(text), _) if text == "-" => self.read(Path::new("-")),
            (Some(text), _) => {
                self.check("the text", &text)?;
                Ok(text)
            }
            (None, Some(path)) => self.read(&path),
            (None, None) => Ok(default.to_string()),
        }
    }
}

fn human_bytes(n: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if n >= 1 << shift && n % (1 << shift) == 0 {
            return format!("{n} bytes ({} {unit})", n >> shift);
        }
    }
    format!("{n} bytes")
}

fn adapters_or_default(adapters: Option<Vec<String>>) -> Result<Vec<String>, Failure> {
    let list: Vec<String> = adapters
        .unwrap_or_else(|| ADAPTERS.iter().map(|s| s.to_string()).collect())
        .into_iter()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    if let Some(bad) = list.iter().find(|a| AdapterName::parse(a).is_none()) {
        return Err(Failure::usage(format!("--adapters: {}", AdapterName::unknown(bad))));
    }
    if list.is_empty() {
        return Err(Failure::usage("--adapters is empty"));
    }
    Ok(list)
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

// For `chat`, `truncate` and `split`: chat requests and token budgets.
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

fn config_values(config: &Config) -> Vec<(&'static str, Value)> {
    let hf = &config.huggingface;
    vec![
        ("tokenizer.adapter", json!(config.adapter.as_str())),
        ("tokenizer.model", json!(config.model)),
        ("tokenizer.fallback_chain", json!(config.fallback_chain.iter().map(|m| m.as_str()).collect::<Vec<_>>())),
        ("tokenizer.max_input_bytes", json!(config.max_input_bytes)),
        // As configured (0: one per core, at most 8), so that it reads like the file it came from.
        ("tokenizer.batch_threads", json!(config.batch_threads)),
        ("tokenizer.heuristic.chars_per_token", json!(config.heuristic.chars_per_token)),
        ("tokenizer.tiktoken.encoding", json!(config.tiktoken.encoding.map(|e| e.as_str()))),
        ("tokenizer.huggingface.use_fast", json!(hf.use_fast)),
        ("tokenizer.huggingface.trust_remote_code", json!(hf.trust_remote_code)),
        ("tokenizer.huggingface.add_special_tokens", json!(hf.add_special_tokens)),
        ("tokenizer.huggingface.cache_dir", json!(hf.cache_dir.as_ref().map(|p| p.display().to_string()))),
        ("tokenizer.huggingface.max_file_bytes", json!(hf.max_file_bytes)),
        (
            "tokenizer.huggingface.models",
            Value::Object(hf.models.iter().map(|(k, v)| (k.clone(), json!(v.display().to_string()))).collect()),
        ),
    ]
}

/// The effective settings with where each came from: the config file itself (`config_file`),
/// then every key, with `--model` over the configured model.
fn settings(ctx: &Context, config: &Config, file: Option<(&Path, &str)>) -> Vec<(String, Value, String)> {
    let mut rows = vec![match file {
        Some((path, from)) => ("config_file".to_string(), json!(path.display().to_string()), from.to_string()),
        None => ("config_file".to_string(), Value::Null, "none".to_string()),
    }];
    for (key, value) in config_values(config) {
        let row = match (&ctx.model, key) {
            (Some(model), "tokenizer.model") => (key.to_string(), json!(model), "argument --model".to_string()),
            _ => (key.to_string(), value, config.source_of(key).to_string()),
        };
        rows.push(row);
    }
    rows
}

/// The config file in use: `--config`, else `KANO_TOKENIZER_CONFIG`, with which one it was.
fn config_file(ctx: &Context) -> Option<(PathBuf, &'static str)> {
    match &ctx.config {
        Some(path) => Some((path.clone(), "argument --config")),
        None => process_env(ENV_CONFIG)
            .filter(|v| !v.as_encoded_bytes().iter().all(u8::is_ascii_whitespace))
            .map(|v| (PathBuf::from(v), "env KANO_TOKENIZER_CONFIG")),
    }
}
