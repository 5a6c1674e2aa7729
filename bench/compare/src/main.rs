//! `kano-compare`: times token counting through kano-tokenizer (its Rust API and its C ABI) and
//! through the Rust peers (tiktoken-rs, bpe-openai, the `tokenizers` crate), emitting one JSON
//! object per line on stdout. `compare.py` drives it (and the Python peers) and makes the tables;
//! see README.md beside this file.
//!
//! ```text
//! kano-compare time    --model M --subjects a,b [--min-reps N] [--min-seconds S] [--max-seconds S] FILE...
//! kano-compare percall --model M --subjects a,b [--min-seconds S] [--batch N] FILE
//! kano-compare memory  --models M1,M2 --subject S
//! ```
//!
//! Subjects: `ours` (the Rust API), `ours-cabi` (the exported `extern "C"` functions, as a C
//! program calls them), `ours-nospecial` and `ours-cabi-nospecial` (tokenizer.json models without
//! the post-processor's special tokens), `tiktoken-rs`, `bpe-openai`, `hf-rs` and
//! `hf-rs-nospecial` (the `tokenizers` crate); `ours-estimate` and `ours-cabi-estimate` time the
//! estimate instead of the count (`Adapter::estimate`, `kano_adapter_estimate`) and report the
//! estimate where the others report their count. `--model` is an OpenAI encoding name
//! (`cl100k_base`...) or a `tokenizer.json` path.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::time::Instant;

use kano_tokenizer::ffi;
use serde_json::json;

/// Something that counts tokens.
enum Subject {
    Ours(kano_tokenizer::Adapter),
    OursEstimate(kano_tokenizer::Adapter),
    OursCabi { registry: *mut ffi::KanoRegistry, adapter: *mut ffi::KanoAdapter, estimate: bool },
    TiktokenRs(&'static tiktoken_rs::CoreBPE),
    BpeOpenai(&'static bpe_openai::Tokenizer),
    HfRs { tokenizer: tokenizers::Tokenizer, add_special_tokens: bool },
}

fn is_tokenizer_json(model: &str) -> bool {
    model.ends_with(".json") || std::path::Path::new(model).is_dir()
}

fn ours_registry(add_special_tokens: bool) -> kano_tokenizer::Registry {
    let mut config = kano_tokenizer::Config::default();
    config.huggingface.add_special_tokens = add_special_tokens;
    kano_tokenizer::Registry::with_config(config)
}

fn last_error() -> String {
    let p = ffi::kano_last_error();
    if p.is_null() {
        return "(no message)".into();
    }
    // SAFETY: the library returns a NUL-terminated string valid until the next call on this thread.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

impl Subject {
    /// Loads the subject for `model`; the encoding or tokenizer is loaded now (a first count
    /// forces any lazy loading), so the time of this call is the load time.
    fn load(name: &str, model: &str) -> Result<Subject, String> {
        let hf = is_tokenizer_json(model);
        let adapter_kind = if hf { "huggingface" } else { "tiktoken" };
        let subject = match name {
            "ours" | "ours-nospecial" | "ours-estimate" => {
                let registry = ours_registry(name != "ours-nospecial");
                let adapter = registry.resolve(adapter_kind.parse().unwrap(), model).map_err(|e| e.to_string())?;
                if name == "ours-estimate" {
                    Subject::OursEstimate(adapter)
                } else {
                    Subject::Ours(adapter)
                }
            }
            "ours-cabi" | "ours-cabi-nospecial" | "ours-cabi-estimate" => {
                let toml = format!("[tokenizer.huggingface]\nadd_special_tokens = {}\n", name != "ours-cabi-nospecial");
                let mut registry = std::ptr::null_mut();
                // SAFETY: valid pointer and length; `registry` is an out parameter.
                let status = unsafe { ffi::kano_registry_from_toml(toml.as_ptr().cast(), toml.len(), &mut registry) };
                if status != ffi::KanoStatus::Ok {
                    return Err(format!("kano_registry_from_toml: {}", last_error()));
                }
                let kind = CString::new(adapter_kind).unwrap();
                let model_c = CString::new(model).map_err(|e| e.to_string())?;
                let mut adapter = std::ptr::null_mut();
                // SAFETY: live registry, NUL-terminated strings, out parameter.
                let status =
                    unsafe { ffi::kano_registry_resolve(registry, kind.as_ptr(), model_c.as_ptr(), &mut adapter) };
                if status != ffi::KanoStatus::Ok {
                    let message = last_error();
                    // SAFETY: created above, not used after.
                    unsafe { ffi::kano_registry_free(registry) };
                    return Err(format!("kano_registry_resolve: {message}"));
                }
                Subject::OursCabi { registry, adapter, estimate: name == "ours-cabi-estimate" }
            }
            "tiktoken-rs" => Subject::TiktokenRs(match model {
                "cl100k_base" => tiktoken_rs::cl100k_base_singleton(),
                "o200k_base" => tiktoken_rs::o200k_base_singleton(),
                "p50k_base" => tiktoken_rs::p50k_base_singleton(),
                "r50k_base" => tiktoken_rs::r50k_base_singleton(),
                _ => return Err(format!("tiktoken-rs: no encoding {model}")),
            }),
            "bpe-openai" => Subject::BpeOpenai(match model {
                "cl100k_base" => bpe_openai::cl100k_base(),
                "o200k_base" => bpe_openai::o200k_base(),
                _ => return Err(format!("bpe-openai: no encoding {model}")),
            }),
            "hf-rs" | "hf-rs-nospecial" => {
                if !hf {
                    return Err("hf-rs: needs a tokenizer.json path".into());
                }
                let mut tokenizer = tokenizers::Tokenizer::from_file(model).map_err(|e| e.to_string())?;
                // Counting means the whole text: no truncation, no padding (as ours does).
                tokenizer.with_truncation(None).map_err(|e| e.to_string())?;
                tokenizer.with_padding(None);
                Subject::HfRs { tokenizer, add_special_tokens: name == "hf-rs" }
            }
            _ => return Err(format!("unknown subject {name}")),
        };
        subject.count("warm up: Hello, world!")?;
        Ok(subject)
    }

    fn count(&self, text: &str) -> Result<u64, String> {
        Ok(match self {
            Subject::Ours(adapter) => adapter.count(text).map_err(|e| e.to_string())?.count,
            Subject::OursEstimate(adapter) => adapter.estimate(text).estimate,
            Subject::OursCabi { adapter, estimate: true, .. } => {
                let mut out = ffi::KanoEstimate { estimate: 0, lower_bound: 0, upper_bound: 0 };
                // SAFETY: live adapter, `text.len()` readable bytes, out parameter.
                let status =
                    unsafe { ffi::kano_adapter_estimate(*adapter, text.as_ptr().cast(), text.len(), &mut out) };
                if status != ffi::KanoStatus::Ok {
                    return Err(format!("kano_adapter_estimate: {}", last_error()));
                }
                out.estimate
            }
            Subject::OursCabi { adapter, .. } => {
                let mut out = ffi::KanoCount { count: 0, is_exact: false, method: ffi::KanoMethod::Heuristic };
                // SAFETY: live adapter, `text.len()` readable bytes, out parameter.
                let status = unsafe { ffi::kano_adapter_count(*adapter, text.as_ptr().cast(), text.len(), &mut out) };
                if status != ffi::KanoStatus::Ok {
                    return Err(format!("kano_adapter_count: {}", last_error()));
                }
                out.count
            }
            Subject::TiktokenRs(bpe) => bpe.count_ordinary(text) as u64,
            Subject::BpeOpenai(tok) => tok.count(text) as u64,
            Subject::HfRs { tokenizer, add_special_tokens } => {
                tokenizer.encode(text, *add_special_tokens).map_err(|e| e.to_string())?.get_ids().len() as u64
            }
        })
    }
}

impl Drop for Subject {
    fn drop(&mut self) {
        if let Subject::OursCabi { registry, adapter, .. } = self {
            // SAFETY: created in `load`, freed once.
            unsafe {
                ffi::kano_adapter_free(*adapter);
                ffi::kano_registry_free(*registry);
            }
        }
    }
}

struct Args {
    mode: String,
    options: BTreeMap<String, String>,
    files: Vec<String>,
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_else(|| usage());
    let mut options = BTreeMap::new();
    let mut files = Vec::new();
    while let Some(arg) = it.next() {
        if let Some(key) = arg.strip_prefix("--") {
            let value = it.next().unwrap_or_else(|| usage());
            options.insert(key.to_owned(), value);
        } else {
            files.push(arg);
        }
    }
    Args { mode, options, files }
}

fn usage() -> ! {
    eprintln!("usage: kano-compare time|percall|memory --model M --subjects a,b [options] FILE... (see src/main.rs)");
    std::process::exit(2)
}

impl Args {
    fn get(&self, key: &str) -> &str {
        self.options.get(key).map(String::as_str).unwrap_or_else(|| {
            eprintln!("kano-compare: --{key} is required");
            std::process::exit(2)
        })
    }
    fn num(&self, key: &str, default: f64) -> f64 {
        self.options.get(key).map(|v| v.parse().unwrap_or_else(|_| usage())).unwrap_or(default)
    }
    fn list(&self, key: &str) -> Vec<String> {
        self.get(key).split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect()
    }
}

fn emit(value: serde_json::Value) {
    println!("{value}");
}

fn read_text(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| {
        eprintln!("kano-compare: {path}: {e}");
        std::process::exit(1)
    })
}

/// Loads every subject (timed), reporting the ones that fail.
fn load_subjects(names: &[String], model: &str, mode: &str) -> Vec<(String, Subject, f64)> {
    let mut out = Vec::new();
    for name in names {
        let start = Instant::now();
        match Subject::load(name, model) {
            Ok(subject) => out.push((name.clone(), subject, start.elapsed().as_secs_f64())),
            Err(error) => emit(json!({"mode": mode, "subject": name, "model": model, "error": error})),
        }
    }
    out
}

/// Whole-text counts, each subject's runs interleaved with the others' so that a slow spell of
/// the machine hits them all alike.
fn time_mode(args: &Args) {
    let model = args.get("model");
    let min_reps = args.num("min-reps", 5.0) as usize;
    let min_seconds = args.num("min-seconds", 1.0);
    let max_seconds = args.num("max-seconds", 30.0);
    let subjects = load_subjects(&args.list("subjects"), model, "time");
    // `--chunk N`: the text as requests of about N bytes, each counted on its own (the stream
    // regime: with one run, each request is counted once).
    let chunk = args.num("chunk", 0.0) as usize;
    for file in &args.files {
        let text = read_text(file);
        let chunks = split_chunks(&text, chunk);
        // First call of each subject: the count, timed (for a worst case it may be the only run).
        let mut counts = Vec::new();
        let mut samples: Vec<Vec<f64>> = Vec::new();
        let mut done = Vec::new();
        for (name, subject, _) in &subjects {
            let start = Instant::now();
            let result = count_all(subject, &chunks);
            let seconds = start.elapsed().as_secs_f64();
            if let Err(e) = &result {
                emit(json!({"mode": "time", "subject": name, "model": model, "file": file, "error": e}));
            }
            let failed = result.is_err();
            counts.push(result.unwrap_or(0));
            // A first run as long as the budget counts as the measurement.
            let first_is_enough = seconds >= max_seconds || (min_reps <= 1 && seconds >= min_seconds);
            samples.push(if first_is_enough { vec![seconds] } else { Vec::new() });
            done.push(failed || first_is_enough);
        }
        while done.iter().any(|d| !d) {
            for (i, (_, subject, _)) in subjects.iter().enumerate() {
                if done[i] {
                    continue;
                }
                let start = Instant::now();
                let n = count_all(subject, &chunks).unwrap_or(u64::MAX);
                let seconds = start.elapsed().as_secs_f64();
                assert_eq!(n, counts[i], "{}: count changed between runs", subjects[i].0);
                samples[i].push(seconds);
                let total: f64 = samples[i].iter().sum();
                done[i] = (samples[i].len() >= min_reps && total >= min_seconds) || total >= max_seconds;
            }
        }
        for (i, (name, _, load_seconds)) in subjects.iter().enumerate() {
            if samples[i].is_empty() {
                continue;
            }
            emit(json!({
                "mode": "time", "subject": name, "model": model, "file": file, "bytes": text.len(),
                "count": counts[i], "samples": samples[i], "load_seconds": load_seconds,
            }));
        }
    }
}

/// `text` cut into pieces of about `chunk` bytes (on character boundaries); all of it for 0.
fn split_chunks(text: &str, chunk: usize) -> Vec<&str> {
    if chunk == 0 {
        return vec![text];
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + chunk).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push(&text[start..end]);
        start = end;
    }
    out
}

/// The sum of the counts of `chunks`.
fn count_all(subject: &Subject, chunks: &[&str]) -> Result<u64, String> {
    chunks.iter().map(|c| subject.count(c)).sum()
}

/// Nanoseconds per call on a short text: batches of `--batch` calls, interleaved across subjects,
/// until each has had `--min-seconds`.
fn percall_mode(args: &Args) {
    let model = args.get("model");
    let min_seconds = args.num("min-seconds", 1.0);
    let batch = args.num("batch", 2000.0) as usize;
    let subjects = load_subjects(&args.list("subjects"), model, "percall");
    let text = read_text(args.files.first().map(String::as_str).unwrap_or_else(|| usage()));
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); subjects.len()];
    let mut totals = vec![0.0f64; subjects.len()];
    let mut counts = vec![0u64; subjects.len()];
    while totals.iter().any(|&t| t < min_seconds) {
        for (i, (name, subject, _)) in subjects.iter().enumerate() {
            if totals[i] >= min_seconds && samples[i].len() >= 5 {
                continue;
            }
            let start = Instant::now();
            let mut n = 0;
            for _ in 0..batch {
                n = std::hint::black_box(subject.count(std::hint::black_box(&text)))
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            let seconds = start.elapsed().as_secs_f64();
            counts[i] = n;
            totals[i] += seconds;
            samples[i].push(seconds * 1e9 / batch as f64);
        }
    }
    for (i, (name, _, _)) in subjects.iter().enumerate() {
        emit(json!({
            "mode": "percall", "subject": name, "model": model, "bytes": text.len(),
            "count": counts[i], "ns_per_call": samples[i],
        }));
    }
}

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()))
        .unwrap_or(0)
}

/// RSS added by loading the models (meant to run in a fresh process), and the load time.
fn memory_mode(args: &Args) {
    let name = args.get("subject");
    let models = args.list("models");
    let rss_before = status_kb("VmRSS:");
    let start = Instant::now();
    let mut keep = Vec::new();
    let mut loads = BTreeMap::new();
    for model in &models {
        let t = Instant::now();
        match Subject::load(name, model) {
            Ok(subject) => keep.push(subject),
            Err(error) => {
                emit(json!({"mode": "memory", "subject": name, "model": model, "error": error}));
                return;
            }
        }
        loads.insert(model.clone(), t.elapsed().as_secs_f64());
    }
    let load_seconds = start.elapsed().as_secs_f64();
    let rss_after = status_kb("VmRSS:");
    emit(json!({
        "mode": "memory", "subject": name, "models": models, "load_seconds": load_seconds,
        "load_seconds_each": loads, "rss_before_kb": rss_before, "rss_after_kb": rss_after,
        "hwm_kb": status_kb("VmHWM:"),
    }));
    drop(keep);
}

fn main() {
    let args = parse_args();
    match args.mode.as_str() {
        "time" => time_mode(&args),
        "percall" => percall_mode(&args),
        "memory" => memory_mode(&args),
        _ => usage(),
    }
}
