//! The commands. Each returns the exit status, or a failure with its message and status.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use kano_tokenizer::config::{process_env, Source, ENV_CONFIG, ENV_MAX_INPUT_BYTES};
use kano_tokenizer::huggingface::{self, EMBEDDED_MODELS};
use kano_tokenizer::tiktoken::{model_table, prefix_table, EncodingName};
use kano_tokenizer::{Adapter, AdapterName, Config, ErrorKind, Registry};
use serde_json::{json, Map, Value};

use crate::outln;
use crate::output::{self, ms};
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

/// The built-in sample document of `benchmark`: prose, a list, code and numbers.
const SAMPLE_DOCUMENT: &str = "Token counting sits on the hot path of every request: validation, billing and \
context-window budgeting all need it. This sample mixes the kinds of text a service sees.\n\n\
- Plain English prose, with punctuation, contractions (it's, we'll) and numbers like 1,234.56.\n\
- Code: fn count(text: &str) -> usize { text.split_whitespace().count() }\n\
- A URL: https://example.com/docs?q=tokens&lang=en\n\n\
Exact counts come from the model's own vocabulary; estimates trade accuracy for speed.\n";

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
        if AdapterName::parse(adapter).is_none() {
            return Err(Failure::usage(AdapterName::unknown(adapter)));
        }
        let model = self.model_for(registry, adapter);
        Ok(registry.resolve(Some(adapter), model.as_deref())?)
    }
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
struct Health {
    /// The model it would be asked for (`--model`, the configured one, or the default).
    requested: Option<String>,
    /// The adapter that serves `requested`, or why none does.
    serves: Result<Adapter, Failure>,
    /// When it does not serve `requested` because that model is not one of its models: the
    /// adapter serving a built-in model, or why even that fails.
    probe: Option<Result<Adapter, Failure>>,
}

impl Health {
    fn check(ctx: &Context, registry: &Registry, name: &str) -> Result<Health, Failure> {
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
                Some(registry.resolve(Some(name), Some(model)).map_err(Failure::from).and_then(try_count))
            }
            _ => None,
        };
        Ok(Health { requested: ctx.model_for(registry, name), serves, probe })
    }

    /// The adapter itself works: it serves the model, or a built-in one when the model is not
    /// one of its models.
    fn available(&self) -> bool {
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

    fn json(&self) -> Value {
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

/// The input limit (`tokenizer.max_input_bytes`) and where it was set, for clear refusals.
pub(crate) struct Limit {
    bytes: u64,
    source: Source,
}

impl Limit {
    pub(crate) fn of(registry: &Registry) -> Limit {
        let config = registry.config();
        Limit { bytes: config.max_input_bytes, source: config.source_of("tokenizer.max_input_bytes") }
    }

    fn describe(&self) -> String {
        let set = match &self.source {
            Source::Default => "the default".to_string(),
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

struct Timing {
    adapter: Adapter,
    times_ms: Vec<f64>,
    counts: Vec<u64>,
}

impl Timing {
    fn json(&self, requested: &str, text_length: usize) -> Value {
        let mut sorted = self.times_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let mean = sorted.iter().sum::<f64>() / n;
        let median = if sorted.len() % 2 == 1 {
            sorted[sorted.len() / 2]
        } else {
            (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
        };
        let std = (sorted.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / n).sqrt();
        let avg_tokens = self.counts.iter().sum::<u64>() as f64 / n;
        json!({
            "adapter": requested,
            "served_by": self.adapter.name(),
            "model": self.adapter.model(),
            "success": true,
            "avg_time_ms": ms(mean),
            "median_time_ms": ms(median),
            "min_time_ms": ms(sorted[0]),
            "max_time_ms": ms(*sorted.last().unwrap_or(&0.0)),
            "std_time_ms": ms(std),
            "avg_tokens": avg_tokens,
            "consistent": self.counts.windows(2).all(|w| w[0] == w[1]),
            "is_exact": self.adapter.is_exact(),
            "text_length": text_length,
        })
    }
}

pub fn benchmark(
    ctx: &Context,
    text: Option<String>,
    file: Option<PathBuf>,
    adapters: Option<Vec<String>>,
    iterations: u32,
) -> Outcome {
    let adapters = adapters_or_default(adapters)?;
    let registry = ctx.registry()?;
    let text = Limit::of(&registry).input(text, file, SAMPLE_DOCUMENT)?;
    let text_length = text.chars().count();
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(adapters.len() as u64 * u64::from(iterations));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:12} [{bar:30}] {pos}/{len} {elapsed}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar
    });

    let mut results = Vec::new();
    let mut rows = Vec::new();
    let mut unavailable = Vec::new();
    for name in &adapters {
        if let Some(bar) = &progress {
            bar.set_message(name.clone());
            bar.tick();
        }
        let run = || -> Result<Timing, Failure> {
            let adapter = ctx.resolve(&registry, name)?;
            adapter.count(&text)?; // loads rank tables and tokenizer files outside the timing
            let mut timing = Timing { adapter, times_ms: Vec::new(), counts: Vec::new() };
            for _ in 0..iterations {
                let start = Instant::now();
                let count = timing.adapter.count(&text)?;
                timing.times_ms.push(start.elapsed().as_secs_f64() * 1000.0);
                timing.counts.push(count.count);
                if let Some(bar) = &progress {
                    bar.inc(1);
                }
            }
            Ok(timing)
        };
        match run() {
            Ok(timing) => {
                let result = timing.json(name, text_length);
                rows.push(vec![
                    name.clone(),
                    timing.adapter.model().to_string(),
                    output::cell(&result["avg_time_ms"]),
                    output::cell(&result["median_time_ms"]),
                    output::cell(&result["min_time_ms"]),
                    output::cell(&result["max_time_ms"]),
                    output::cell(&result["avg_tokens"]),
                    yes_no(timing.adapter.is_exact()),
                    yes_no(result["consistent"] == true),
                ]);
                results.push(result);
            }
            Err(failure) if failure.exit == 2 => return Err(failure),
            Err(failure) => {
                unavailable.push(format!("{name}: unavailable: {}", failure.message));
                results.push(json!({"adapter": name, "success": false, "error": failure.message}));
            }
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    match ctx.format {
        Format::Json => output::json(&json!({ "results": results })),
        Format::Text => {
            outln!("{} iterations, {} characters", iterations, text_length);
            output::table(
                &["adapter", "model", "avg ms", "median ms", "min ms", "max ms", "tokens", "exact", "consistent"],
                &rows,
            );
            for line in &unavailable {
                outln!("{line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

pub fn compare(ctx: &Context, text: Option<String>, file: Option<PathBuf>, adapters: Option<Vec<String>>) -> Outcome {
    let adapters = adapters_or_default(adapters)?;
    let registry = ctx.registry()?;
    let text = Limit::of(&registry).input(text, file, "")?;
    let text = text.as_str();
    let mut results = Vec::new();
    let mut rows = Vec::new();
    let mut served = 0;
    for name in &adapters {
        match ctx.resolve(&registry, name).and_then(|a| Ok((a.count(text)?, a))) {
            Ok((count, adapter)) => {
                served += 1;
                rows.push(vec![
                    name.clone(),
                    count.count.to_string(),
                    yes_no(count.is_exact),
                    count.method.as_str().to_string(),
                    adapter.model().to_string(),
                ]);
                results.push(json!({
                    "adapter": name,
                    "count": count.count,
                    "is_exact": count.is_exact,
                    "method": count.method.as_str(),
                    "model": adapter.model(),
                }));
            }
            Err(failure) if failure.exit == 2 => return Err(failure),
            Err(failure) => {
                rows.push(vec![name.clone(), "-".into(), "-".into(), "-".into(), failure.message.clone()]);
                results.push(json!({"adapter": name, "count": null, "error": failure.message}));
            }
        }
    }
    match ctx.format {
        Format::Json => output::json(&json!({ "results": results })),
        Format::Text => output::table(&["adapter", "count", "exact", "method", "model"], &rows),
    }
    Ok(if served > 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

pub fn test(ctx: &Context, adapter: Option<String>, text: Option<String>, file: Option<PathBuf>) -> Outcome {
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

pub fn health(ctx: &Context, adapter: Option<String>) -> Outcome {
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

pub fn status(ctx: &Context) -> Outcome {
    let registry = ctx.registry()?;
    let mut adapters = Map::new();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for name in ADAPTERS {
        let health = Health::check(ctx, &registry, name)?;
        let requested = health.requested.as_deref().unwrap_or("(none)");
        let (model, exact) = match (&health.serves, &health.probe) {
            (Ok(a), _) => (a.model().to_string(), yes_no(a.is_exact())),
            (Err(f), Some(Ok(probe))) => {
                notes.push(format!("{name} does not serve {requested:?}: {}", f.message));
                (format!("(works with {})", probe.model()), yes_no(probe.is_exact()))
            }
            (Err(f), _) => {
                notes.push(format!("{name} is unavailable for {requested:?}: {}", f.message));
                ("(unavailable)".to_string(), "-".into())
            }
        };
        rows.push(vec![name.to_string(), yes_no(health.available()), yes_no(health.serves.is_ok()), model, exact]);
        adapters.insert(name.to_string(), health.json());
    }
    let config = registry.config();
    let file = config_file(ctx);
    let settings = settings(ctx, config, file.as_ref().map(|(p, from)| (p.as_path(), *from)));
    let mut config_json = Map::new();
    let mut config_rows = Vec::new();
    for (key, value, source) in settings {
        config_rows.push(vec![key.clone(), value.to_string(), source.clone()]);
        config_json.insert(key, json!({"value": value, "source": source}));
    }
    let hub = registry.hub_cache().map(|p| p.display().to_string());
    // This process's own figures: the health checks' counts, on this thread. A service reads
    // its own through kano_cache_stats or the bindings.
    let cache = kano_tokenizer::cache_stats();
    let cache_json = json!({
        "lookups": cache.lookups,
        "hits": cache.hits,
        "long_lookups": cache.long_lookups,
        "long_hits": cache.long_hits,
        "hit_rate": cache.hit_rate(),
        "threads": cache.threads,
        "bytes": cache.bytes,
    });
    match ctx.format {
        Format::Json => output::json(&json!({
            "adapters": adapters,
            "config": config_json,
            "huggingface_cache": hub,
            "piece_cache": cache_json,
        })),
        Format::Text => {
            output::table(&["adapter", "available", "serves model", "model", "exact"], &rows);
            for note in &notes {
                outln!("{note}");
            }
            outln!("");
            output::table(&["config key", "value", "source"], &config_rows);
            outln!("\nHugging Face cache: {}", hub.as_deref().unwrap_or("(none)"));
            outln!(
                "Piece cache (this process): {} lookups, {} hits ({:.1}%), {} long lookups, {} long hits, {} thread(s), {} KiB",
                cache.lookups,
                cache.hits,
                100.0 * cache.hit_rate(),
                cache.long_lookups,
                cache.long_hits,
                cache.threads,
                cache.bytes / 1024
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The problems of a config error: one per line of the library's list, or the message itself.
fn problems_of(e: &kano_tokenizer::Error) -> Vec<String> {
    match e.message().split_once(":\n  - ") {
        Some((_, list)) => list.split("\n  - ").map(str::to_string).collect(),
        None => vec![e.message().to_string()],
    }
}

pub fn validate(ctx: &Context) -> Outcome {
    let Some((path, from)) = config_file(ctx) else {
        return Err(Failure::usage(format!("validate needs --config FILE (or {ENV_CONFIG} set to a file)")));
    };
    // The file, then the KANO_TOKENIZER_* variables over it, as every other command reads them.
    let checked = Config::from_file(&path).map_err(|e| (problems_of(&e), false)).and_then(|mut config| {
        config.apply_env(&process_env).map_err(|e| (problems_of(&e), true))?;
        Ok(config)
    });
    match checked {
        Ok(config) => {
            let settings = settings(ctx, &config, Some((&path, from)));
            match ctx.format {
                Format::Json => output::json(&json!({
                    "valid": true,
                    "file": path.display().to_string(),
                    "config": settings.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect::<Map<_, _>>(),
                    "sources": settings.iter().map(|(k, _, s)| (k.clone(), json!(s))).collect::<Map<_, _>>(),
                })),
                Format::Text => {
                    outln!("{}: valid", path.display());
                    for (key, value, source) in settings.iter().skip(1) {
                        let file_source = format!("file {}", path.display());
                        let mark = if *source == file_source { String::new() } else { format!("  ({source})") };
                        outln!("  {key} = {value}{mark}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err((problems, in_env)) => {
            match ctx.format {
                Format::Json => output::json(&json!({
                    "valid": false,
                    "file": path.display().to_string(),
                    "problems": problems,
                })),
                Format::Text => {
                    if in_env {
                        outln!(
                            "{}: the file is valid, but the KANO_TOKENIZER_* variables over it are not",
                            path.display()
                        );
                    } else {
                        outln!("{}: invalid", path.display());
                    }
                    for p in &problems {
                        outln!("  - {p}");
                    }
                }
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

pub fn dependencies(ctx: &Context, verbose: bool) -> Outcome {
    // The registry's own order (huggingface::hub_cache_candidates): the first one is searched.
    // A broken config fails here, as in every other command: the cache it names is unknown.
    let cache_dir = ctx.registry()?.config().huggingface.cache_dir.clone();
    let candidates = huggingface::hub_cache_candidates(cache_dir.as_deref(), &process_env);
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

pub fn count(ctx: &Context, files: &[PathBuf], adapter: Option<String>) -> Outcome {
    let registry = ctx.registry()?;
    let name = adapter.unwrap_or_else(|| registry.config().adapter.as_str().to_string());
    let adapter = ctx.resolve(&registry, &name)?;
    let limit = Limit::of(&registry);
    let stdin = [PathBuf::from("-")];
    let files = if files.is_empty() { &stdin[..] } else { files };
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

pub fn estimate(
    ctx: &Context,
    text: Option<String>,
    file: Option<PathBuf>,
    adapter: Option<String>,
    max_tokens: Option<u64>,
) -> Outcome {
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
