//! `tokenizer.json` files: where they are found and how they count.
//!
//! A model is a path to a `tokenizer.json` (or a folder holding one), a name mapped to a path in
//! `[tokenizer.huggingface.models]`, a repository name in the local Hugging Face hub cache, or
//! the embedded `all-MiniLM-L6-v2`. Nothing is ever downloaded, and no code from a model
//! repository is ever run: only `tokenizer.json` is read, by our own count-only engine (`engine.rs`), or by the Rust
//! `tokenizers` crate for a part the engine lacks.

mod added;
mod bpe;
mod crate_path;
mod engine;
mod load;
mod normalizer;
mod pipeline_bound;
mod post;
mod pre_tokenizer;
mod precompiled;
mod split_regex;
mod unigram;
mod wordpiece;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::chat::ChatTemplate;
use crate::config::{EnvLookup, HuggingfaceConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::estimate::{Estimate, Family, Features, PipelineBound};

/// The seed's embedding model, built into the library so it needs no files.
const EMBEDDED_MINILM: &[u8] = include_bytes!("../../assets/all-MiniLM-L6-v2/tokenizer.json");
const EMBEDDED_MINILM_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Model names that resolve to the embedded tokenizer when no file is found for them.
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, Registry, EMBEDDED_MODELS};
/// assert_eq!(EMBEDDED_MODELS, ["all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"]);
/// let registry = Registry::with_env(Config::default(), &|_| None); // no hub cache
/// let adapter = registry.resolve(AdapterName::Huggingface, EMBEDDED_MODELS[0])?;
/// assert_eq!(adapter.count("Hello, world!")?.count, 6); // [CLS] hello , world ! [SEP]
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub const EMBEDDED_MODELS: [&str; 2] = ["all-MiniLM-L6-v2", EMBEDDED_MINILM_ID];

/// `tokenizer.json` files larger than this are refused before they are read.
///
/// ```
/// assert_eq!(kano_tokenizer::MAX_TOKENIZER_FILE_BYTES, 256 * 1024 * 1024);
/// ```
pub const MAX_TOKENIZER_FILE_BYTES: u64 = 256 << 20;

/// Where a tokenizer comes from.
///
/// ```
/// use kano_tokenizer::{HfTokenizer, TokenizerSource};
/// let source = TokenizerSource::Embedded("sentence-transformers/all-MiniLM-L6-v2");
/// let tokenizer = HfTokenizer::load(&source)?;
/// assert_eq!(tokenizer.count("Hello, world!", false)?, 4);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenizerSource {
    /// Built into the library.
    Embedded(&'static str),
    /// A `tokenizer.json` on disk (canonical path).
    File(PathBuf),
}

impl TokenizerSource {
    /// A stable description: `embedded:ORG/NAME` or the file's path.
    ///
    /// ```
    /// use kano_tokenizer::TokenizerSource;
    /// let embedded = TokenizerSource::Embedded("sentence-transformers/all-MiniLM-L6-v2");
    /// assert_eq!(embedded.identity(), "embedded:sentence-transformers/all-MiniLM-L6-v2");
    /// let file = TokenizerSource::File("/models/bert/tokenizer.json".into());
    /// assert_eq!(file.identity(), "/models/bert/tokenizer.json");
    /// ```
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
/// config's `cache_dir` (when given), then the variables of `hub_cache_dir` that are set and
/// not empty. The first is the one searched; the others are overridden by it. Each comes with
/// where it was taken from (`tokenizer.huggingface.cache_dir`, `HF_HUB_CACHE`, `HF_HOME/hub`...).
///
/// ```
/// use kano_tokenizer::hub_cache_candidates;
/// use std::path::PathBuf;
/// let env = |name: &str| match name {
///     "HF_HUB_CACHE" => Some("".into()), // empty: not set
///     "HF_HOME" => Some("/data/hf".into()),
///     "HOME" => Some("/home/me".into()),
///     _ => None,
/// };
/// let found = hub_cache_candidates(None, &env);
/// assert_eq!(found[0], ("HF_HOME/hub", PathBuf::from("/data/hf/hub")));
/// assert_eq!(found[1], ("~/.cache/huggingface/hub", PathBuf::from("/home/me/.cache/huggingface/hub")));
/// let configured = hub_cache_candidates(Some("/models".as_ref()), &env);
/// assert_eq!(configured[0], ("tokenizer.huggingface.cache_dir", PathBuf::from("/models")));
/// ```
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

/// A loaded `tokenizer.json`, counted as `encode` would count it with truncation and padding
/// switched off.
///
/// ```
/// use kano_tokenizer::HfTokenizer;
/// let json = r#"{"pre_tokenizer": {"type": "Whitespace"},
///     "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "hello": 1, "world": 2}, "unk_token": "[UNK]"}}"#;
/// let tokenizer = HfTokenizer::from_bytes(json.as_bytes(), "tiny")?;
/// assert_eq!(tokenizer.count("hello, world!", false)?, 4); // hello [UNK] world [UNK]
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub struct HfTokenizer {
    counter: Counter,
    /// How far the pipeline can grow a text, for the estimate's bounds.
    bound: PipelineBound,
    family: Family,
    /// The estimator's weights, fitted to this tokenizer's counts when it loaded
    /// (`estimate/fit.rs`); `None`: the family's table.
    weights: Option<Box<[f64; crate::estimate::feature::COUNT]>>,
    /// The `tokenizer.json` this was loaded from: its folder may hold the chat template.
    file: Option<PathBuf>,
    /// The chat template, read and compiled on the first chat request.
    chat_template: once_cell::sync::OnceCell<Result<Arc<ChatTemplate>>>,
}

enum Counter {
    /// Our own engine (`engine.rs`).
    Engine(Box<engine::Engine>),
    /// The `tokenizers` crate, for a file with a part our engine lacks: the part, and the crate.
    Crate { reason: String, tokenizer: Box<crate_path::CrateTokenizer> },
}

/// The most bytes the pipeline may be able to hand the model for one text, when its
/// normalizer or pre-tokenizer can make text many times longer (a text may always grow up to
/// 18 times its length). On the `tokenizers` crate's path, which keeps about 17 bytes of
/// alignments per byte, a text may grow to a sixteenth of this (16 MiB, about 272 MiB of memory)
/// or 18 times its length, never past this.
pub const MAX_GROWN_BYTES: u64 = engine::MAX_GROWN_BYTES;

/// The start of a Git LFS pointer file, which a clone without LFS leaves in place of a large
/// file.
const LFS_POINTER: &[u8] = b"version https://git-lfs.github.com/spec/";

impl HfTokenizer {
    /// Loads the tokenizer of `source`, refusing files larger than [`MAX_TOKENIZER_FILE_BYTES`].
    ///
    /// ```
    /// use kano_tokenizer::{HfTokenizer, TokenizerSource};
    /// let minilm = HfTokenizer::load(&TokenizerSource::Embedded("sentence-transformers/all-MiniLM-L6-v2"))?;
    /// assert_eq!(minilm.engine(), "kano-wordpiece");
    /// assert_eq!(minilm.count("Hello, world!", true)?, 6);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn load(source: &TokenizerSource) -> Result<HfTokenizer> {
        Self::load_with_limit(source, MAX_TOKENIZER_FILE_BYTES)
    }

    /// As [`HfTokenizer::load`], refusing files larger than `max_file_bytes`.
    ///
    /// ```
    /// use kano_tokenizer::{ErrorKind, HfTokenizer, TokenizerSource};
    /// let path = std::env::temp_dir().join("kano-doc-load-with-limit.json");
    /// let json = r#"{"model": {"type": "WordLevel", "vocab": {"[UNK]": 0}, "unk_token": "[UNK]"}}"#;
    /// std::fs::write(&path, json).unwrap();
    /// let source = TokenizerSource::File(path.clone());
    /// let err = HfTokenizer::load_with_limit(&source, 10).err().unwrap();
    /// assert_eq!(err.kind(), ErrorKind::AdapterUnavailable);
    /// assert!(HfTokenizer::load_with_limit(&source, 1024).is_ok());
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn load_with_limit(source: &TokenizerSource, max_file_bytes: u64) -> Result<HfTokenizer> {
        let bytes: std::borrow::Cow<'static, [u8]> = match source {
            TokenizerSource::Embedded(_) => EMBEDDED_MINILM.into(),
            TokenizerSource::File(path) => read_tokenizer_file(path, max_file_bytes)?.into(),
        };
        let mut tokenizer = Self::from_bytes(&bytes, &source.identity())?;
        if let TokenizerSource::File(path) = source {
            tokenizer.file = Some(path.clone());
        }
        Ok(tokenizer)
    }

    /// Parses `tokenizer.json` content; `label` names it in errors.
    ///
    /// ```
    /// use kano_tokenizer::{ErrorKind, HfTokenizer};
    /// let json = r#"{"pre_tokenizer": {"type": "Whitespace"},
    ///     "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}"#;
    /// assert_eq!(HfTokenizer::from_bytes(json.as_bytes(), "tiny")?.count("ab ab", false)?, 2);
    /// let err = HfTokenizer::from_bytes(b"{", "broken.json").err().unwrap();
    /// assert_eq!(err.kind(), ErrorKind::AdapterUnavailable);
    /// assert!(err.message().contains("broken.json"));
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn from_bytes(bytes: &[u8], label: &str) -> Result<HfTokenizer> {
        let unavailable = |e: &dyn std::fmt::Display| {
            Error::new(ErrorKind::AdapterUnavailable, format!("cannot load tokenizer {label}: {e}"))
        };
        if bytes.starts_with(LFS_POINTER) {
            return Err(unavailable(
                &"this is a Git LFS pointer file, not the tokenizer itself: fetch the file with `git lfs pull` \
                  (or download it again)",
            ));
        }
        if bytes.starts_with(b"\xEF\xBB\xBF") {
            // Python's `tokenizers` refuses such a file too ("expected value at line 1 column 1").
            return Err(unavailable(
                &"the file starts with a UTF-8 byte-order mark, which JSON does not allow (the tokenizers \
                  package refuses it too): save it without one",
            ));
        }
        // Parsed as plain JSON first: the `tokenizers` crate panics (instead of returning an
        // error) on some malformed JSON, e.g. a truncated `"decoder"` value (found by fuzzing,
        // fuzz/corpus/tokenizer_json/regression-decoder-truncated). Only well-formed JSON reaches it.
        let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| unavailable(&e))?;
        let family = match json["model"]["type"].as_str() {
            Some("Unigram") => Family::Unigram,
            Some("BPE") if json["model"]["byte_fallback"] == true => Family::ByteFallbackBpe,
            Some("BPE") => Family::ByteLevelBpe,
            _ if json["model"]["merges"].is_array() => Family::ByteLevelBpe,
            _ => Family::WordPiece,
        };
        let counter = match engine::Engine::from_json(&json) {
            Ok(engine) => Counter::Engine(Box::new(engine)),
            Err(load::LoadError::Invalid(message)) => return Err(unavailable(&message)),
            Err(load::LoadError::Unsupported(reason)) => {
                let tokenizer = crate_path::CrateTokenizer::load(bytes, &json, label)?;
                Counter::Crate { reason, tokenizer: Box::new(tokenizer) }
            }
        };
        let specials = match &counter {
            Counter::Engine(engine) => engine.post().specials,
            Counter::Crate { tokenizer, .. } => tokenizer.specials(),
        };
        let bound = pipeline_bound::from_json(&json, specials);
        let mut tokenizer = HfTokenizer {
            counter,
            bound,
            family,
            weights: None,
            file: None,
            chat_template: once_cell::sync::OnceCell::new(),
        };
        tokenizer.weights = crate::estimate::fit::fit(family.weights(), |text| {
            if let Counter::Crate { tokenizer, .. } = &tokenizer.counter {
                if !tokenizer.grows_plainly(text) {
                    return None;
                }
            }
            tokenizer.count(text, false).ok()
        })
        .map(Box::new);
        Ok(tokenizer)
    }

    /// The chat template beside the file this tokenizer was loaded from, read once.
    pub(crate) fn chat_template(&self) -> Result<Arc<ChatTemplate>> {
        self.chat_template
            .get_or_init(|| match &self.file {
                Some(file) => ChatTemplate::beside(file).map(Arc::new),
                None => Err(Error::new(
                    ErrorKind::Unsupported,
                    "this tokenizer was not loaded from a file, so it has no chat template beside it",
                )),
            })
            .clone()
    }

    /// Which path counts: our engine, by model (`"kano-bpe"`, `"kano-unigram"`,
    /// `"kano-wordpiece"`, `"kano-wordlevel"`), or `"tokenizers"` for the `tokenizers` crate.
    ///
    /// ```
    /// use kano_tokenizer::HfTokenizer;
    /// let json = r#"{"model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "hi": 1}, "unk_token": "[UNK]"}}"#;
    /// assert_eq!(HfTokenizer::from_bytes(json.as_bytes(), "tiny")?.engine(), "kano-wordlevel");
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn engine(&self) -> &'static str {
        match &self.counter {
            Counter::Engine(engine) => engine.name(),
            Counter::Crate { .. } => "tokenizers",
        }
    }

    /// Why the `tokenizers` crate counts this file (the part our engine lacks), or `None`.
    ///
    /// ```
    /// use kano_tokenizer::{HfTokenizer, TokenizerSource};
    /// let minilm = HfTokenizer::load(&TokenizerSource::Embedded("sentence-transformers/all-MiniLM-L6-v2"))?;
    /// assert_eq!(minilm.fallback_reason(), None); // our engine counts it
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn fallback_reason(&self) -> Option<&str> {
        match &self.counter {
            Counter::Engine(_) => None,
            Counter::Crate { reason, .. } => Some(reason),
        }
    }

    /// The estimator family of this tokenizer's model type.
    ///
    /// ```
    /// use kano_tokenizer::{Family, HfTokenizer};
    /// let json = r#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}"#;
    /// assert_eq!(HfTokenizer::from_bytes(json.as_bytes(), "tiny")?.family(), Family::ByteLevelBpe);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn family(&self) -> Family {
        self.family
    }

    /// A fast estimate with bounds that hold for every text (see `estimate/bounds.rs`).
    ///
    /// ```
    /// use kano_tokenizer::{HfTokenizer, TokenizerSource};
    /// let minilm = HfTokenizer::load(&TokenizerSource::Embedded("sentence-transformers/all-MiniLM-L6-v2"))?;
    /// let e = minilm.estimate("Hello, world!", true);
    /// let exact = minilm.count("Hello, world!", true)?; // 6
    /// assert!(e.lower_bound <= exact && exact <= e.upper_bound);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn estimate(&self, text: &str, add_special_tokens: bool) -> Estimate {
        let x = Features::scan(text);
        let specials = if add_special_tokens { self.bound.specials } else { 0 };
        let value = match &self.weights {
            Some(weights) => crate::estimate::fit::weigh(weights, &x),
            None => self.family.weigh(&x),
        } + specials as f64;
        crate::estimate::estimate_within(value, &x, self.bound.bounds(&x, add_special_tokens))
    }

    /// For token budgets: the walk of the pieces of `text` within `max_tokens` (special tokens
    /// included), with the special tokens a sequence gets, when our engine counts a stretch
    /// without added tokens as the sum of its pieces (`Engine::fit_pieces`); `None` otherwise.
    pub(crate) fn fit_pieces(
        &self,
        text: &str,
        max_tokens: u64,
        add_special_tokens: bool,
        all_cuts: Option<&mut Vec<(usize, u64)>>,
    ) -> Option<(crate::bpe::chunks::PieceFit, u64)> {
        let Counter::Engine(engine) = &self.counter else {
            return None;
        };
        let post = engine.post();
        if post.copies != 1 {
            return None;
        }
        let specials = post.apply(0, add_special_tokens);
        let fit = engine.fit_pieces(text, max_tokens.checked_sub(specials)?, all_cuts)?;
        Some((fit, specials))
    }

    /// Whether `fit_pieces`'s count of `text` is its count: no added token matched in the raw
    /// text occurs in it, and the normalizer leaves it as it is.
    pub(crate) fn counts_as_pieces(&self, text: &str) -> bool {
        match &self.counter {
            Counter::Engine(engine) => !engine.holds_added_token(text) && engine.keeps_text(text),
            Counter::Crate { .. } => false,
        }
    }

    /// The exact number of ids `encode(text, add_special_tokens)` gives.
    ///
    /// ```
    /// use kano_tokenizer::{HfTokenizer, TokenizerSource};
    /// let minilm = HfTokenizer::load(&TokenizerSource::Embedded("sentence-transformers/all-MiniLM-L6-v2"))?;
    /// assert_eq!(minilm.count("Hello, world!", false)?, 4); // hello , world !
    /// assert_eq!(minilm.count("Hello, world!", true)?, 6); // and [CLS], [SEP]
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn count(&self, text: &str, add_special_tokens: bool) -> Result<u64> {
        match &self.counter {
            Counter::Engine(engine) => engine.count(text, add_special_tokens).map_err(|e| match e {
                engine::CountError::TooLarge(grown) => Error::new(
                    ErrorKind::InputTooLarge,
                    format!(
                        "this tokenizer's normalizer and pre-tokenizer can grow the text's {} bytes to {grown} \
                         bytes, over the limit of {} bytes on what the model is given",
                        text.len(),
                        MAX_GROWN_BYTES.max(18 * text.len() as u64)
                    ),
                ),
                engine::CountError::Unknown(piece) => Error::new(
                    ErrorKind::AdapterUnavailable,
                    format!(
                        "the tokenizer could not encode the text: {piece:?} holds something not in the \
                         vocabulary, and the model has no unknown token"
                    ),
                ),
            }),
            Counter::Crate { tokenizer, .. } => tokenizer.count(text, add_special_tokens),
        }
    }
}

fn read_tokenizer_file(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let setting = " (tokenizer.huggingface.max_file_bytes)";
    crate::capped_read::read_capped(path, "tokenizer file", limit, ErrorKind::AdapterUnavailable, setting)
}
