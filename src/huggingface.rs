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
        None => "the Hugging Face cache (no HF_HUB_CACHE, HF_HOME or HOME is set)".to_string(),
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
    if let Ok(rev) = std::fs::read_to_string(repo_dir.join("refs").join("main")) {
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
}

impl HfTokenizer {
    pub fn load(source: &TokenizerSource) -> Result<HfTokenizer> {
        let bytes: std::borrow::Cow<'static, [u8]> = match source {
            TokenizerSource::Embedded(_) => EMBEDDED_MINILM.into(),
            TokenizerSource::File(path) => read_tokenizer_file(path)?.into(),
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
        let mut tokenizer = tokenizers::Tokenizer::from_bytes(bytes).map_err(|e| unavailable(&e))?;
        tokenizer.with_truncation(None).map_err(|e| unavailable(&e))?;
        tokenizer.with_padding(None);
        let specials =
            tokenizer.get_post_processor().map_or(0, |p| tokenizers::PostProcessor::added_tokens(p, false)) as u64;
        let bound = PipelineBound::from_json(&json, specials);
        let family = match json["model"]["type"].as_str() {
            Some("Unigram") => Family::Unigram,
            Some("BPE") if json["model"]["byte_fallback"] == true => Family::ByteFallbackBpe,
            Some("BPE") => Family::ByteLevelBpe,
            _ => Family::WordPiece,
        };
        Ok(HfTokenizer { tokenizer, bound, family })
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
        let encoding = self.tokenizer.encode(text, add_special_tokens).map_err(|e| {
            Error::new(ErrorKind::AdapterUnavailable, format!("the tokenizer could not encode the text: {e}"))
        })?;
        Ok(encoding.len() as u64)
    }
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

fn read_tokenizer_file(path: &Path) -> Result<Vec<u8>> {
    let io_err =
        |e: std::io::Error| Error::new(ErrorKind::Io, format!("cannot read tokenizer file {}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::Io, format!("tokenizer file {} is not a regular file", path.display())));
    }
    if meta.len() > MAX_TOKENIZER_FILE_BYTES {
        return Err(Error::new(
            ErrorKind::AdapterUnavailable,
            format!(
                "tokenizer file {} is {} bytes; the limit is {MAX_TOKENIZER_FILE_BYTES}",
                path.display(),
                meta.len()
            ),
        ));
    }
    std::fs::read(path).map_err(io_err)
}
