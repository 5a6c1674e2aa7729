//! The commands. Each returns the exit status, or a failure with its message and status.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use kano_tokenizer::config::Source;
use kano_tokenizer::huggingface::{self, EMBEDDED_MODELS};
use kano_tokenizer::tiktoken::{model_table, prefix_table, EncodingName};
use kano_tokenizer::{Adapter, AdapterName, Config, Registry};
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
}

impl Failure {
    fn new(message: impl Into<String>) -> Self {
        Failure { message: message.into(), exit: 1 }
    }
    fn usage(message: impl Into<String>) -> Self {
        Failure { message: message.into(), exit: 2 }
    }
}

impl From<kano_tokenizer::Error> for Failure {
    fn from(e: kano_tokenizer::Error) -> Self {
        Failure::new(e.message())
    }
}

type Outcome = Result<ExitCode, Failure>;

const ADAPTERS: [&str; 3] = ["heuristic", "tiktoken", "huggingface"];

/// The built-in sample document of `benchmark`: prose, a list, code and numbers.
const SAMPLE_DOCUMENT: &str = "Token counting sits on the hot path of every request: validation, billing and \
context-window budgeting all need it. This sample mixes the kinds of text a service sees.\n\n\
- Plain English prose, with punctuation, contractions (it's, we'll) and numbers like 1,234.56.\n\
- Code: fn count(text: &str) -> usize { text.split_whitespace().count() }\n\
- A URL: https://example.com/docs?q=tokens&lang=en\n\n\
Exact counts come from the model's own vocabulary; estimates trade accuracy for speed.\n";

impl Context {
    fn registry(&self) -> Result<Registry, Failure> {
        Ok(match &self.config {
            Some(path) => Registry::from_config_file(path)?,
            None => Registry::new()?,
        })
    }

    /// The model to resolve an adapter with: `--model`, else the configured model, else a
    /// default that every installation has (cl100k_base for tiktoken and auto, the embedded
    /// MiniLM for huggingface).
    fn model_for(&self, registry: &Registry, adapter: &str) -> Option<String> {
        self.model.clone().or_else(|| registry.config().model.clone()).or_else(|| match adapter {
            "tiktoken" | "auto" => Some("cl100k_base".into()),
            "huggingface" => Some(EMBEDDED_MODELS[1].into()),
            _ => None,
        })
    }

    fn resolve(&self, registry: &Registry, adapter: &str) -> Result<Adapter, Failure> {
        if AdapterName::parse(adapter).is_none() {
            return Err(Failure::usage(format!(
                "unknown adapter {adapter:?} (expected auto, heuristic, tiktoken or huggingface)"
            )));
        }
        let model = self.model_for(registry, adapter);
        Ok(registry.resolve(Some(adapter), model.as_deref())?)
    }
}

fn adapters_or_default(adapters: Option<Vec<String>>) -> Result<Vec<String>, Failure> {
    let list: Vec<String> = adapters
        .unwrap_or_else(|| ADAPTERS.iter().map(|s| s.to_string()).collect())
        .into_iter()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    if let Some(bad) = list.iter().find(|a| AdapterName::parse(a).is_none()) {
        return Err(Failure::usage(format!(
            "unknown adapter {bad:?} in --adapters (expected auto, heuristic, tiktoken or huggingface)"
        )));
    }
    if list.is_empty() {
        return Err(Failure::usage("--adapters is empty"));
    }
    Ok(list)
}

fn read_text_file(path: &Path) -> Result<String, Failure> {
    let bytes = if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map_err(|e| Failure::new(format!("cannot read standard input: {e}")))?;
        buf
    } else {
        std::fs::read(path).map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))?
    };
    String::from_utf8(bytes).map_err(|e| {
        Failure::new(format!(
            "{} is not valid UTF-8 text: invalid byte at offset {}",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
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
    let text = match (text, file) {
        (Some(text), _) => text,
        (None, Some(path)) => read_text_file(&path)?,
        (None, None) => SAMPLE_DOCUMENT.to_string(),
    };
    let registry = ctx.registry()?;
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
                    format!("{}", result["avg_time_ms"]),
                    format!("{}", result["median_time_ms"]),
                    format!("{}", result["min_time_ms"]),
                    format!("{}", result["max_time_ms"]),
                    format!("{}", result["avg_tokens"]),
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

pub fn compare(ctx: &Context, text: &str, adapters: Option<Vec<String>>) -> Outcome {
    let adapters = adapters_or_default(adapters)?;
    let registry = ctx.registry()?;
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

pub fn test(ctx: &Context, adapter: Option<String>, text: Option<String>) -> Outcome {
    let registry = ctx.registry()?;
    let text = text.unwrap_or_else(|| "Hello, world! This is a tokenizer test.".to_string());
    let (names, explicit): (Vec<String>, bool) = match adapter {
        Some(a) => (vec![a], true),
        None => (
            std::iter::once(registry.config().adapter.as_str().to_string())
                .chain(ADAPTERS.iter().map(|s| s.to_string()))
                .collect(),
            false,
        ),
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
                    outln!("model: {}", adapter.model());
                    outln!("tokens: {}", count.count);
                    outln!("exact: {}", count.is_exact);
                    outln!("characters: {}", text.chars().count());
                    outln!("");
                }
                results.push(json!({
                    "adapter": name,
                    "served_by": adapter.name(),
                    "model": adapter.model(),
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
    let outcome = ctx.resolve(&registry, &name).and_then(|a| Ok((a.count("health check")?, a)));
    let (ok, detail) = match outcome {
        Ok((_, adapter)) => {
            (true, json!({"adapter": name, "healthy": true, "served_by": adapter.name(), "model": adapter.model()}))
        }
        Err(failure) if failure.exit == 2 => return Err(failure),
        Err(failure) => (false, json!({"adapter": name, "healthy": false, "error": failure.message})),
    };
    match ctx.format {
        Format::Json => output::json(&detail),
        Format::Text if ok => outln!(
            "{name}: healthy ({} {})",
            detail["served_by"].as_str().unwrap_or(""),
            detail["model"].as_str().unwrap_or("")
        ),
        Format::Text => outln!("{name}: unavailable: {}", detail["error"].as_str().unwrap_or("")),
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn source_json(source: &Source) -> Value {
    Value::String(source.to_string())
}

fn config_values(config: &Config) -> Vec<(&'static str, Value)> {
    let hf = &config.huggingface;
    vec![
        ("tokenizer.adapter", json!(config.adapter.as_str())),
        ("tokenizer.model", json!(config.model)),
        ("tokenizer.fallback_chain", json!(config.fallback_chain.iter().map(|m| m.as_str()).collect::<Vec<_>>())),
        ("tokenizer.heuristic.chars_per_token", json!(config.heuristic.chars_per_token)),
        ("tokenizer.tiktoken.encoding", json!(config.tiktoken.encoding.map(|e| e.as_str()))),
        ("tokenizer.huggingface.use_fast", json!(hf.use_fast)),
        ("tokenizer.huggingface.trust_remote_code", json!(hf.trust_remote_code)),
        ("tokenizer.huggingface.add_special_tokens", json!(hf.add_special_tokens)),
        ("tokenizer.huggingface.cache_dir", json!(hf.cache_dir.as_ref().map(|p| p.display().to_string()))),
        (
            "tokenizer.huggingface.models",
            Value::Object(hf.models.iter().map(|(k, v)| (k.clone(), json!(v.display().to_string()))).collect()),
        ),
    ]
}

pub fn status(ctx: &Context) -> Outcome {
    let registry = ctx.registry()?;
    let mut adapters = Map::new();
    let mut rows = Vec::new();
    for name in ADAPTERS {
        let outcome = ctx.resolve(&registry, name).and_then(|a| Ok((a.count("status")?, a)));
        let entry = match outcome {
            Ok((_, adapter)) => {
                rows.push(vec![
                    name.to_string(),
                    "yes".into(),
                    adapter.model().to_string(),
                    yes_no(adapter.is_exact()),
                ]);
                json!({"available": true, "model": adapter.model(), "is_exact": adapter.is_exact()})
            }
            Err(failure) => {
                rows.push(vec![name.to_string(), "no".into(), failure.message.clone(), "-".into()]);
                json!({"available": false, "model": ctx.model_for(&registry, name), "error": failure.message})
            }
        };
        adapters.insert(name.to_string(), entry);
    }
    let config = registry.config();
    let mut config_json = Map::new();
    let mut config_rows = Vec::new();
    for (key, value) in config_values(config) {
        let source = config.source_of(key);
        config_rows.push(vec![key.to_string(), value.to_string(), source.to_string()]);
        config_json.insert(key.to_string(), json!({"value": value, "source": source_json(&source)}));
    }
    let hub = registry.hub_cache().map(|p| p.display().to_string());
    match ctx.format {
        Format::Json => output::json(&json!({
            "adapters": adapters,
            "config": config_json,
            "huggingface_cache": hub,
        })),
        Format::Text => {
            output::table(&["adapter", "available", "model / reason", "exact"], &rows);
            outln!("");
            output::table(&["config key", "value", "source"], &config_rows);
            outln!("\nHugging Face cache: {}", hub.as_deref().unwrap_or("(none)"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn validate(ctx: &Context) -> Outcome {
    let Some(path) = &ctx.config else {
        return Err(Failure::usage("validate needs --config FILE"));
    };
    match Config::from_file(path) {
        Ok(config) => {
            let values = config_values(&config);
            match ctx.format {
                Format::Json => output::json(&json!({
                    "valid": true,
                    "file": path.display().to_string(),
                    "config": values.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<Map<_, _>>(),
                })),
                Format::Text => {
                    outln!("{}: valid", path.display());
                    for (key, value) in values {
                        let mark = if config.source_of(key) == Source::Default { "  (default)" } else { "" };
                        outln!("  {key} = {value}{mark}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let problems: Vec<String> = match e.message().split_once(":\n  - ") {
                Some((_, list)) => list.split("\n  - ").map(str::to_string).collect(),
                None => vec![e.message().to_string()],
            };
            match ctx.format {
                Format::Json => output::json(&json!({
                    "valid": false,
                    "file": path.display().to_string(),
                    "problems": problems,
                })),
                Format::Text => {
                    outln!("{}: invalid", path.display());
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
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut searched = Vec::new();
    if let Some(dir) = env("HF_HUB_CACHE") {
        searched.push(("HF_HUB_CACHE", PathBuf::from(dir)));
    }
    if let Some(home) = env("HF_HOME") {
        searched.push(("HF_HOME/hub", Path::new(&home).join("hub")));
    }
    if let Some(home) = env("HOME") {
        searched.push(("~/.cache/huggingface/hub", Path::new(&home).join(".cache/huggingface/hub")));
    }
    let selected = huggingface::hub_cache_dir(&|n| env(n));
    let registry_cache = ctx.registry().ok().and_then(|r| r.hub_cache().map(Path::to_path_buf));
    let paths: Vec<Value> = searched
        .iter()
        .map(|(from, p)| json!({"from": from, "path": p.display().to_string(), "exists": p.is_dir()}))
        .collect();
    let mut value = json!({
        "kano_tokenizer": kano_tokenizer::VERSION,
        "tiktoken_rs": kano_tokenizer::TIKTOKEN_RS_VERSION,
        "tokenizers": kano_tokenizer::TOKENIZERS_VERSION,
        "embedded_encodings": EncodingName::ALL_NAMES,
        "embedded_tokenizers": [EMBEDDED_MODELS[1]],
        "huggingface_cache": {
            "used": registry_cache.or(selected).map(|p| p.display().to_string()),
            "searched": paths,
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
            outln!("Hugging Face cache: {}", value["huggingface_cache"]["used"].as_str().unwrap_or("(none)"));
            for (from, p) in &searched {
                outln!("  searched {from}: {} ({})", p.display(), if p.is_dir() { "exists" } else { "missing" });
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
    let stdin = [PathBuf::from("-")];
    let files = if files.is_empty() { &stdin[..] } else { files };
    let mut total = 0u64;
    let mut entries = Vec::new();
    let mut failed = false;
    for path in files {
        let label = if path.as_os_str() == "-" { "(stdin)".to_string() } else { path.display().to_string() };
        match read_text_file(path).and_then(|text| Ok(adapter.count(&text)?)) {
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
    match ctx.format {
        Format::Json => output::json(&json!({
            "adapter": adapter.name(),
            "model": adapter.model(),
            "is_exact": adapter.is_exact(),
            "files": entries,
            "total": total,
        })),
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
    let text = match (text, file) {
        (Some(text), _) => text,
        (None, Some(path)) => read_text_file(&path)?,
        (None, None) => read_text_file(Path::new("-"))?,
    };
    let registry = ctx.registry()?;
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
                let how = if c.is_exact {
                    "exact count"
                } else if adapter.is_exact() {
                    "proved by a bound"
                } else {
                    "estimate"
                };
                outln!("limit {max}: {verdict} ({} tokens, {how})", c.tokens);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
