//! `tokenizer.json` files: where they are found and how they count.
//!
//! A model is a path to a `tokenizer.json` (or a folder holding one), a name mapped to a path in
//! `[tokenizer.huggingface.models]`, a repository name in the local Hugging Face hub cache, or
//! the embedded `all-MiniLM-L6-v2`. Nothing is ever downloaded, and no code from a model
//! repository is ever run: only `tokenizer.json` is read, by the Rust `tokenizers` crate.

use std::path::{Path, PathBuf};

use crate::config::{EnvLookup, HuggingfaceConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::estimate::{Estimate, Family, Features, PipelineBound};

/// The seed's embedding model, built into the library so it needs no files.
const EMBEDDED_MINILM: &[u8] = include_bytes!("../assets/all-MiniLM-L6-v2/tokenizer.json");
const EMBEDDED_MINILM_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Model names that resolve to the embedded tokenizer when no file is found for them.
pub const EMBEDDED_MODELS: [&str; 2] = ["all-MiniLM-L6-v2", EMBEDDED_MINILM_ID];

/// `tokenizer.json` files larger than this are refused before they are read.
pub const MAX_TOKENIZER_FILE_BYTES: u64 = 256 << 20;

/// Where a tokenizer comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenizerSource {
    /// Built into the library.
    Embedded(&'static str),
    /// A `tokenizer.json` on disk (canonical path).
    File(PathBuf),
}

impl TokenizerSource {
    /// A stable description: `embedded:ORG/NAME` or the file's path.
    pub fn identity(&self) -> String {
        match self {
            TokenizerSource::Embedded(id) => format!("embedded:{id}"),
            TokenizerSource::File(path) => path.display().to_string(),
        }
    }
}

/// The hub cache to search: `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`,
/// else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
pub fn hub_cache_dir(env: EnvLookup<'_>) -> Option<PathBuf> {
    hub_cache_candidates(None, env).into_iter().next().map(|(_, path)| path)
}

/// Every hub cache location that applies, in the order the registry considers them: the
/// config's `cache_dir` (when given), then the variables of [`hub_cache_dir`] that are set and
/// not empty. The first is the one searched; the others are overridden by it. Each comes with
/// where it was taken from (`tokenizer.huggingface.cache_dir`, `HF_HUB_CACHE`, `HF_HOME/hub`...).
pub fn hub_cache_candidates(cache_dir: Option<&Path>, env: EnvLookup<'_>) -> Vec<(&'static str, PathBuf)> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    let mut found = Vec::new();
    if let Some(dir) = cache_dir {
        found.push(("tokenizer.huggingface.cache_dir", dir.to_path_buf()));
    }
    for name in ["HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"] {
        if let Some(dir) = set(name) {
            found.push((name, PathBuf::from(dir)));
        }
    }
    if let Some(home) = set("HF_HOME") {
        found.push(("HF_HOME/hub", Path::new(&home).join("hub")));
    }
    if let Some(xdg) = set("XDG_CACHE_HOME") {
        found.push(("XDG_CACHE_HOME/huggingface/hub", Path::new(&xdg).join("huggingface").join("hub")));
    }
    if let Some(home) = set("HOME") {
        found.push(("~/.cache/huggingface/hub", Path::new(&home).join(".cache").join("huggingface").join("hub")));
    }
    found
}

/// Finds the tokenizer for `model`.
pub fn locate(model: &str, config: &HuggingfaceConfig, hub_cache: Option<&Path>) -> Result<TokenizerSource> {
    if let Some(path) = config.models.get(model) {
        return file_or_folder(path).map_err(|e| {
            Error::new(e.kind(), format!("model {model:?} in [tokenizer.huggingface.models]: {}", e.message()))
        });
    }
    let as_path = Path::new(model);
    if as_path.exists() {
        return file_or_folder(as_path);
    }
    if looks_like_path(model) {
        return Err(Error::new(ErrorKind::Io, format!("no tokenizer file at {model}: no such file or directory")));
    }
    if let Some(cache) = hub_cache {
        if let Some(path) = find_in_hub_cache(cache, model) {
            return Ok(TokenizerSource::File(canonical(&path)));
        }
    }
    if EMBEDDED_MODELS.contains(&model) {
        return Ok(TokenizerSource::Embedded(EMBEDDED_MINILM_ID));
    }
    let searched = match hub_cache {
        Some(cache) => format!("the Hugging Face cache at {}", cache.display()),
        None => "the Hugging Face cache (none of cache_dir, HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME or HOME is set)".to_string(),
    };
    Err(Error::new(
        ErrorKind::UnknownModel,
        format!(
            "no tokenizer.json for model {model:?}: it is not a file, not in [tokenizer.huggingface.models], \
             and not in {searched}; nothing is downloaded"
        ),
    ))
}

fn looks_like_path(model: &str) -> bool {
    let p = Path::new(model);
    p.is_absolute()
        || model.starts_with("./")
        || model.starts_with("../")
        || model.starts_with("~/")
        || model.ends_with(".json")
        || model.contains('\\')
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn file_or_folder(path: &Path) -> Result<TokenizerSource> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot open tokenizer file {}: {e}", path.display())))?;
    if meta.is_dir() {
        let file = path.join("tokenizer.json");
        if !file.is_file() {
            return Err(Error::new(ErrorKind::Io, format!("folder {} holds no tokenizer.json", path.display())));
        }
        return Ok(TokenizerSource::File(canonical(&file)));
    }
    Ok(TokenizerSource::File(canonical(path)))
}

/// A ref file's revision: a regular file of at most 256 bytes (a commit hash is 40), read no
/// further than that, so that a FIFO or a device in the cache cannot block or exhaust memory.
fn read_ref(path: &Path) -> Option<String> {
    const MAX_REF_BYTES: u64 = 256;
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    let file = std::fs::File::open(path).ok()?;
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_REF_BYTES + 1), &mut bytes).ok()?;
    if bytes.len() as u64 > MAX_REF_BYTES {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// `models--ORG--NAME/snapshots/REV/tokenizer.json`, preferring the revision `refs/main` names,
/// then the most recently modified snapshot.
fn find_in_hub_cache(cache: &Path, repo: &str) -> Option<PathBuf> {
    let valid = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    let parts: Vec<&str> = repo.split('/').collect();
    if parts.len() > 2 || !parts.iter().all(|p| valid(p)) {
        return None;
    }
    let repo_dir = cache.join(format!("models--{}", parts.join("--")));
    let snapshots = repo_dir.join("snapshots");
    if let Some(rev) = read_ref(&repo_dir.join("refs").join("main")) {
        let rev = rev.trim();
        if valid(rev) {
            let file = snapshots.join(rev).join("tokenizer.json");
            if file.is_file() {
                return Some(file);
            }
        }
    }
    let mut candidates: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&snapshots)
        .ok()?
        .filter_map(|entry| {
            let file = entry.ok()?.path().join("tokenizer.json");
            let modified = std::fs::metadata(&file).ok().filter(|m| m.is_file())?.modified().ok()?;
            Some((modified, file))
        })
        .collect();
    candidates.sort();
    candidates.pop().map(|(_, file)| file)
}

/// A loaded `tokenizer.json`, with truncation and padding switched off.
pub struct HfTokenizer {
    tokenizer: tokenizers::Tokenizer,
    /// How far the pipeline can grow a text, for the estimate's bounds.
    bound: PipelineBound,
    family: Family,
    /// Set when a split or replace regex needs the `tokenizers` crate's backtracking engine,
    /// which gives up after a million steps and then silently ends the split: texts with a run
    /// longer than this (of whitespace, or of anything else) are refused rather than miscounted.
    max_run_bytes: Option<usize>,
    /// A count-only path for a pipeline shape `hf_fast` covers; `None` counts with the crate.
    fast: Option<crate::hf_fast::FastCounter>,
    /// The ids the post-processor adds to one sequence when special tokens are on.
    specials: u64,
}

/// The longest run a backtracking split regex is trusted with. The standard patterns (GPT-2's,
/// Llama 3's) take about one step per byte of a run, so 700,000 spaces still count correctly and
/// 1,000,000 do not; this leaves a margin of more than ten.
const MAX_BACKTRACKING_RUN_BYTES: usize = 64 * 1024;

/// The most bytes the pipeline may be able to hand the model for one text (the `tokenizers` crate
/// keeps about 17 bytes of alignment per byte: 256 MiB is about 4.5 GB at worst).
pub const MAX_GROWN_BYTES: u64 = 256 << 20;

impl HfTokenizer {
    pub fn load(source: &TokenizerSource) -> Result<HfTokenizer> {
        Self::load_with_limit(source, MAX_TOKENIZER_FILE_BYTES)
    }

    /// As [`HfTokenizer::load`], refusing files larger than `max_file_bytes`.
    pub fn load_with_limit(source: &TokenizerSource, max_file_bytes: u64) -> Result<HfTokenizer> {
        let bytes: std::borrow::Cow<'static, [u8]> = match source {
            TokenizerSource::Embedded(_) => EMBEDDED_MINILM.into(),
            TokenizerSource::File(path) => read_tokenizer_file(path, max_file_bytes)?.into(),
        };
        Self::from_bytes(&bytes, &source.identity())
    }

    /// Parses `tokenizer.json` content; `label` names it in errors.
    pub fn from_bytes(bytes: &[u8], label: &str) -> Result<HfTokenizer> {
        let unavailable = |e: &dyn std::fmt::Display| {
            Error::new(ErrorKind::AdapterUnavailable, format!("cannot load tokenizer {label}: {e}"))
        };
        // Parsed as plain JSON first: the `tokenizers` crate panics (instead of returning an
        // error) on some malformed JSON, e.g. a truncated `"decoder"` value (found by fuzzing,
        // fuzz/corpus/tokenizer_json/regression-decoder-truncated). Only well-formed JSON reaches it.
        let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| unavailable(&e))?;
        check_templates(&json["post_processor"]).map_err(|e| unavailable(&e))?;
        check_merges(&json["model"]).map_err(|e| unavailable(&e))?;
        if let Some(pattern) = unbounded_backtracking_regex(&json) {
            return Err(unavailable(&format!(
                "the regex {pattern:?} needs a backtracking engine (look-around or back-references \
                 beyond the standard `\\s+(?!\\S)`), which the tokenizers crate stops after a million \
                 steps and then silently ends the split: counts would not be exact"
            )));
        }
        // The checks above cover the panics fuzzing has found in the `tokenizers` crate's loader;
        // any other one becomes an error here rather than unwinding into the caller.
        let loaded = std::panic::catch_unwind(|| tokenizers::Tokenizer::from_bytes(bytes))
            .map_err(|_| unavailable(&"the tokenizers crate panicked while loading it"))?;
        let mut tokenizer = loaded.map_err(|e| unavailable(&e))?;
        tokenizer.with_truncation(None).map_err(|e| unavailable(&e))?;
        tokenizer.with_padding(None);
        // The BPE model's word cache lives in a thread-local map keyed by model instance, whose
        // entries outlive the model: with registries created and freed over time it grows
        // without bound (up to 10,000 words per model per thread). Counting goes without it.
        let mut model = tokenizer.get_model().clone();
        model.resize_cache(0);
        tokenizer.with_model(model);
        let max_run_bytes = needs_backtracking(&json).then_some(MAX_BACKTRACKING_RUN_BYTES);
        let specials =
            tokenizer.get_post_processor().map_or(0, |p| tokenizers::PostProcessor::added_tokens(p, false)) as u64;
        let bound = PipelineBound::from_json(&json, specials);
        let family = match json["model"]["type"].as_str() {
            Some("Unigram") => Family::Unigram,
            Some("BPE") if json["model"]["byte_fallback"] == true => Family::ByteFallbackBpe,
            Some("BPE") => Family::ByteLevelBpe,
            _ => Family::WordPiece,
        };
        let fast = crate::hf_fast::FastCounter::detect(&json, &tokenizer);
        Ok(HfTokenizer { tokenizer, bound, family, max_run_bytes, fast, specials })
    }

    /// Which path counts: `"fast-wordpiece"` (BERT WordPiece) or `"fast-bpe"` (GPT-2 byte-level
    /// BPE) for the count-only paths, `"tokenizers"` for the `tokenizers` crate.
    pub fn engine(&self) -> &'static str {
        self.fast.as_ref().map_or("tokenizers", |f| f.name())
    }

    /// The count of the `tokenizers` crate itself, whichever path [`HfTokenizer::count`] takes
    /// (for tests and benchmarks that compare the two).
    pub fn count_with_crate(&self, text: &str, add_special_tokens: bool) -> Result<u64> {
        self.count_crate(text, add_special_tokens)
    }

    /// The estimator family of this tokenizer's model type.
    pub fn family(&self) -> Family {
        self.family
    }

    /// A fast estimate with bounds that hold for every text (see `estimate/bounds.rs`).
    pub fn estimate(&self, text: &str, add_special_tokens: bool) -> Estimate {
        let x = Features::scan(text);
        let specials = if add_special_tokens { self.bound.specials } else { 0 };
        let value = self.family.weigh(&x) + specials as f64;
        crate::estimate::estimate_within(value, &x, self.bound.bounds(&x, add_special_tokens))
    }

    /// The exact number of ids `encode(text, add_special_tokens)` gives.
    pub fn count(&self, text: &str, add_special_tokens: bool) -> Result<u64> {
        if let Some(fast) = &self.fast {
            // Linear-time splitting: no run-length limit on this path.
            return Ok(fast.count(text) + if add_special_tokens { self.specials } else { 0 });
        }
        self.count_crate(text, add_special_tokens)
    }

    fn count_crate(&self, text: &str, add_special_tokens: bool) -> Result<u64> {
        // A normalizer that grows text (a `Replace` with long content) could make a small input
        // take gigabytes in the crate, and running out of memory aborts the process: refuse what
        // the pipeline's bound says could grow past the limit. An unbounded step (a `Precompiled`
        // map) has no such bound; real ones grow text by a few bytes per character.
        let other = text.bytes().filter(|&b| b >= 0x80).count() as u64;
        let grown = self.bound.grown_bytes(text.len() as u64 - other, other);
        if grown.is_finite() && grown > MAX_GROWN_BYTES as f64 {
            return Err(Error::new(
                ErrorKind::InputTooLarge,
                format!(
                    "this tokenizer's normalizer and pre-tokenizer can grow the text's {} bytes to {grown:.0} \
                     bytes, over the {MAX_GROWN_BYTES}-byte limit on what the model is given",
                    text.len()
                ),
            ));
        }
        if let Some(limit) = self.max_run_bytes {
            let run = longest_run(text);
            if run > limit {
                return Err(Error::new(
                    ErrorKind::AdapterUnavailable,
                    format!(
                        "the text has a run of {run} bytes without a change between whitespace and \
                         other characters; this tokenizer's split regex needs backtracking, which is \
                         only exact on runs up to {limit} bytes"
                    ),
                ));
            }
        }
        let encoding = self.tokenizer.encode(text, add_special_tokens).map_err(|e| {
            Error::new(ErrorKind::AdapterUnavailable, format!("the tokenizer could not encode the text: {e}"))
        })?;
        Ok(encoding.len() as u64)
    }
}

/// Whether a `Split` pre-tokenizer or `Replace` normalizer (at any depth of a `Sequence`) has a
/// regex that a linear-time engine cannot run (look-around, back-references), or a byte-level
/// pre-tokenizer uses GPT-2's pattern, so that the `tokenizers` crate runs it on its
/// backtracking engine.
fn needs_backtracking(json: &serde_json::Value) -> bool {
    fn walk(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Object(map) => {
                let regex = map.get("pattern").and_then(|p| p.get("Regex")).and_then(serde_json::Value::as_str);
                if regex.is_some_and(|r| regex_automata::meta::Regex::new(r).is_err()) {
                    return true;
                }
                // A byte-level pre-tokenizer splits with GPT-2's pattern, whose `\s+(?!\S)` needs
                // look-ahead, unless `use_regex` is off.
                if map.get("type").and_then(serde_json::Value::as_str) == Some("ByteLevel")
                    && map.get("use_regex") != Some(&serde_json::Value::Bool(false))
                {
                    return true;
                }
                map.values().any(walk)
            }
            serde_json::Value::Array(items) => items.iter().any(walk),
            _ => false,
        }
    }
    walk(&json["pre_tokenizer"]) || walk(&json["normalizer"])
}

/// The first `Split` or `Replace` regex (at any depth of a `Sequence`) that needs backtracking for
/// more than the standard `\s+(?!\S)` of GPT-2-style patterns. That look-ahead takes about one
/// step per byte of a whitespace run, which `max_run_bytes` bounds; other look-around and
/// back-references can take a million steps on a few dozen bytes, and the crate then ends the
/// split early without an error, so no run length makes them safe.
fn unbounded_backtracking_regex(json: &serde_json::Value) -> Option<String> {
    fn walk(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::Object(map) => {
                let regex = map.get("pattern").and_then(|p| p.get("Regex")).and_then(serde_json::Value::as_str);
                if let Some(r) = regex {
                    let standard = r.replace(r"\s+(?!\S)", r"\s+");
                    if regex_automata::meta::Regex::new(&standard).is_err() {
                        return Some(r.to_string());
                    }
                }
                map.values().find_map(walk)
            }
            serde_json::Value::Array(items) => items.iter().find_map(walk),
            _ => None,
        }
    }
    walk(&json["pre_tokenizer"]).or_else(|| walk(&json["normalizer"]))
}

/// The longest run of whitespace, or of other characters, in bytes: no match of a split pattern
/// is longer than that plus one character.
fn longest_run(text: &str) -> usize {
    let (mut longest, mut start, mut in_space) = (0, 0, None);
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if in_space != Some(space) {
            longest = longest.max(i - start);
            start = i;
            in_space = Some(space);
        }
    }
    longest.max(text.len() - start)
}

/// Rejects a `TemplateProcessing` post-processor (at any depth of a `Sequence`) that the
/// `tokenizers` crate would accept but then panic on while encoding: its deserializer skips the
/// checks its builder makes. Found by fuzzing (fuzz/corpus/tokenizer_json/regression-template-*):
/// a template naming a special token missing from `special_tokens`, or a single-sequence
/// template that uses sequence `B`.
fn check_templates(processor: &serde_json::Value) -> std::result::Result<(), String> {
    use serde_json::Value;
    if let Some(processors) = processor.get("processors").and_then(Value::as_array) {
        return processors.iter().try_for_each(check_templates);
    }
    let Some(object) = processor.as_object() else { return Ok(()) };
    if !object.contains_key("single") && !object.contains_key("pair") {
        return Ok(());
    }
    let special = object.get("special_tokens").and_then(Value::as_object);
    for key in ["single", "pair"] {
        for piece in object.get(key).and_then(Value::as_array).into_iter().flatten() {
            if let Some(id) = piece.get("SpecialToken").and_then(|t| t.get("id")).and_then(Value::as_str) {
                if !special.is_some_and(|s| s.contains_key(id)) {
                    return Err(format!("post_processor: the {key} template uses {id:?}, not in special_tokens"));
                }
            }
            let sequence = piece.get("Sequence").and_then(|s| s.get("id")).and_then(Value::as_str);
            if key == "single" && sequence.is_some_and(|id| id != "A") {
                return Err("post_processor: the single template uses a second sequence".to_string());
            }
        }
    }
    Ok(())
}

/// Rejects BPE merges the `tokenizers` crate would panic on while building the model (found by
/// fuzzing, fuzz/corpus/tokenizer_json/regression-bpe-merge-*): it joins each merge's tokens in a
/// buffer as long as the longest vocabulary entry, without checking that they fit, and cuts the
/// `continuing_subword_prefix`'s length off the second token without checking that it starts
/// with the prefix (which could also cut a character). Such merges could never name a token of
/// the vocabulary anyway.
fn check_merges(model: &serde_json::Value) -> std::result::Result<(), String> {
    use serde_json::Value;
    // Without a string "type" the `tokenizers` crate tries the model as BPE first, so those are
    // checked too (a fuzzed file without "type" reached the same panic).
    if model["type"].as_str().is_some_and(|kind| kind != "BPE") {
        return Ok(());
    }
    let prefix = model["continuing_subword_prefix"].as_str().unwrap_or("");
    let longest = model["vocab"].as_object().map_or(0, |v| v.keys().map(String::len).max().unwrap_or(0));
    for merge in model["merges"].as_array().into_iter().flatten() {
        let pair = match merge {
            Value::String(pair) => pair.split_once(' '),
            Value::Array(pair) => pair.first().and_then(Value::as_str).zip(pair.get(1).and_then(Value::as_str)),
            _ => None,
        };
        let Some((first, second)) = pair else { continue };
        if !second.starts_with(prefix) {
            return Err(format!(
                "model.merges: {second:?} does not start with the continuing_subword_prefix {prefix:?}"
            ));
        }
        if first.len() + second.len() - prefix.len() > longest {
            return Err(format!("model.merges: {first:?} + {second:?} is longer than every vocabulary entry"));
        }
    }
    Ok(())
}

fn read_tokenizer_file(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let io_err =
        |e: std::io::Error| Error::new(ErrorKind::Io, format!("cannot read tokenizer file {}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::Io, format!("tokenizer file {} is not a regular file", path.display())));
    }
    if meta.len() > limit {
        return Err(Error::new(
            ErrorKind::AdapterUnavailable,
            format!(
                "tokenizer file {} is {} bytes; the limit is {limit} (tokenizer.huggingface.max_file_bytes)",
                path.display(),
                meta.len()
            ),
        ));
    }
    // The metadata's size can lie (files under /proc report 0; a file may grow while read), so
    // the read itself stops one byte past the limit.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| std::io::Read::read_to_end(&mut std::io::Read::take(file, limit + 1), &mut bytes))
        .map_err(io_err)?;
    if bytes.len() as u64 > limit {
        return Err(Error::new(
            ErrorKind::AdapterUnavailable,
            format!(
                "tokenizer file {} is larger than the limit of {limit} bytes (tokenizer.huggingface.max_file_bytes)",
                path.display()
            ),
        ));
    }
    Ok(bytes)
}
