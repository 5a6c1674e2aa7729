//! Adapters: a resolved way of counting tokens for one model.

use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::estimate::HeuristicEstimator;
use crate::estimate::{Estimate, LimitCheck};
use crate::huggingface::HfTokenizer;
use crate::tiktoken::Encoding;

/// Unit tests only: `count` panics on a text that starts with this, with the rest as the
/// message, so that tests can reach the panic boundaries (there is no panic to find otherwise).
#[cfg(test)]
pub(crate) const PANIC_FOR_TESTS: &str = "\0kano-test-panic:";

/// What `resolve` accepts: a concrete adapter or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AdapterName {
    Auto,
    Heuristic,
    Tiktoken,
    Huggingface,
}

impl AdapterName {
    /// The message for a name that is not an adapter's, the one every interface gives.
    ///
    /// ```
    /// use kano_tokenizer::AdapterName;
    /// assert!(AdapterName::unknown("fast").starts_with("unknown adapter \"fast\""));
    /// ```
    pub fn unknown(name: &str) -> String {
        format!("unknown adapter {name:?} (expected auto, heuristic, tiktoken or huggingface)")
    }

    /// The adapter of a name (`"auto"`, `"heuristic"`, `"tiktoken"`, `"huggingface"`); `str::parse`
    /// gives the same with an error that says what was expected.
    ///
    /// ```
    /// use kano_tokenizer::AdapterName;
    /// assert_eq!(AdapterName::parse("tiktoken"), Some(AdapterName::Tiktoken));
    /// assert_eq!(AdapterName::parse("fast"), None);
    /// ```
    pub fn parse(name: &str) -> Option<AdapterName> {
        match name {
            "auto" => Some(AdapterName::Auto),
            _ => Method::parse(name).map(AdapterName::from),
        }
    }

    /// The name `parse` accepts.
    ///
    /// ```
    /// assert_eq!(kano_tokenizer::AdapterName::Huggingface.as_str(), "huggingface");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            AdapterName::Auto => "auto",
            AdapterName::Heuristic => "heuristic",
            AdapterName::Tiktoken => "tiktoken",
            AdapterName::Huggingface => "huggingface",
        }
    }
}

impl std::str::FromStr for AdapterName {
    type Err = Error;

    /// ```
    /// use kano_tokenizer::{AdapterName, ErrorKind};
    /// let name: AdapterName = "auto".parse()?;
    /// assert_eq!(name, AdapterName::Auto);
    /// assert_eq!("fast".parse::<AdapterName>().unwrap_err().kind(), ErrorKind::UnknownAdapter);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    fn from_str(name: &str) -> Result<AdapterName> {
        AdapterName::parse(name).ok_or_else(|| Error::new(ErrorKind::UnknownAdapter, AdapterName::unknown(name)))
    }
}

impl std::fmt::Display for AdapterName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Method> for AdapterName {
    fn from(m: Method) -> Self {
        match m {
            Method::Heuristic => AdapterName::Heuristic,
            Method::Tiktoken => AdapterName::Tiktoken,
            Method::Huggingface => AdapterName::Huggingface,
        }
    }
}

/// The adapter that produced a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    Heuristic,
    Tiktoken,
    Huggingface,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::Heuristic, Method::Tiktoken, Method::Huggingface];

    pub fn parse(name: &str) -> Option<Method> {
        match name {
            "heuristic" => Some(Method::Heuristic),
            "tiktoken" => Some(Method::Tiktoken),
            "huggingface" => Some(Method::Huggingface),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        AdapterName::from(self).as_str()
    }

    /// Whether this method's counts are exact.
    pub fn is_exact(self) -> bool {
        !matches!(self, Method::Heuristic)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of counting: the guide's `count`, `is_exact` and `method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub count: u64,
    pub is_exact: bool,
    pub method: Method,
}

/// Texts of at least this many bytes are counted on up to `batch_threads` threads (OpenAI
/// encodings): below it, starting threads with empty caches costs more than it saves.
pub const PARALLEL_TEXT_BYTES: usize = 4 << 20;

#[derive(Clone)]
pub(crate) enum Engine {
    Heuristic(HeuristicEstimator),
    Tiktoken(Encoding),
    Huggingface { tokenizer: Arc<HfTokenizer>, add_special_tokens: bool },
}

/// A resolved adapter. It owns (shares) everything it needs, so it stays valid after its
/// registry is dropped, and counting takes `&self` without locking: share it across threads.
#[derive(Clone)]
pub struct Adapter {
    engine: Engine,
    model: String,
    max_input_bytes: u64,
    batch_threads: usize,
    /// Why `auto` passed over the adapters before this one.
    fallback_reason: Option<String>,
}

impl Adapter {
    pub(crate) fn new(engine: Engine, model: String) -> Self {
        Adapter {
            engine,
            model,
            max_input_bytes: crate::config::DEFAULT_MAX_INPUT_BYTES,
            batch_threads: crate::batch::default_threads(),
            fallback_reason: None,
        }
    }

    /// The same adapter, served by `auto` after the adapters before it in the fallback chain
    /// failed for `reason`.
    pub(crate) fn with_fallback_reason(mut self, reason: String) -> Self {
        self.fallback_reason = Some(reason);
        self
    }

    /// Why `auto` passed over the adapters of the fallback chain before the one that serves:
    /// `"adapter: why"` for each, joined by `"; "` (a `tokenizer.json` that does not load, a
    /// model no encoding knows). `None` when the first adapter of the chain served, or the
    /// adapter was asked for by name.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// The same adapter with another input limit (the registry's `max_input_bytes`).
    pub(crate) fn with_max_input_bytes(mut self, max_input_bytes: u64) -> Self {
        self.max_input_bytes = max_input_bytes;
        self
    }

    /// The same adapter with another thread limit for batches (the registry's `batch_threads`;
    /// 0 means the available cores, at most 8).
    pub(crate) fn with_batch_threads(mut self, batch_threads: usize) -> Self {
        self.batch_threads = crate::batch::resolve_threads(batch_threads);
        self
    }

    /// The most threads [`Adapter::count_batch`] uses, the caller's included (1: every batch is
    /// counted on the caller's thread).
    pub fn batch_threads(&self) -> usize {
        self.batch_threads
    }

    /// The largest text, in bytes, that `count` and `check_limit` accept.
    pub fn max_input_bytes(&self) -> u64 {
        self.max_input_bytes
    }

    /// Refuses a text of `len` bytes when it is over the input limit; callers check this before
    /// reading the text, so an oversized buffer is never scanned.
    pub fn check_input_len(&self, len: usize) -> Result<()> {
        if len as u64 > self.max_input_bytes {
            return Err(Error::new(
                ErrorKind::InputTooLarge,
                format!(
                    "text is {len} bytes, over the limit of {} bytes (raise tokenizer.max_input_bytes or \
                     KANO_TOKENIZER_MAX_INPUT_BYTES)",
                    self.max_input_bytes
                ),
            ));
        }
        Ok(())
    }

    /// The engine that counts (for the budget and chat modules).
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Which adapter this is (for `auto`, the one that served).
    pub fn method(&self) -> Method {
        match self.engine {
            Engine::Heuristic(_) => Method::Heuristic,
            Engine::Tiktoken(_) => Method::Tiktoken,
            Engine::Huggingface { .. } => Method::Huggingface,
        }
    }

    /// `"heuristic"`, `"tiktoken"` or `"huggingface"`.
    pub fn name(&self) -> &'static str {
        self.method().as_str()
    }

    /// Which counting path serves this adapter: `"heuristic"`, `"tiktoken"`, and for
    /// `tokenizer.json` models our engine by model (`"kano-bpe"`, `"kano-unigram"`,
    /// `"kano-wordpiece"`, `"kano-wordlevel"`) or `"tokenizers"` (the `tokenizers` crate, for a
    /// file with a part our engine lacks: [`Adapter::engine_fallback_reason`]).
    pub fn engine_path(&self) -> &'static str {
        match &self.engine {
            Engine::Heuristic(_) => "heuristic",
            Engine::Tiktoken(_) => "tiktoken",
            Engine::Huggingface { tokenizer, .. } => tokenizer.engine(),
        }
    }

    /// Why the `tokenizers` crate counts this `tokenizer.json` rather than our engine (the part
    /// the engine lacks); `None` for every other adapter.
    pub fn engine_fallback_reason(&self) -> Option<&str> {
        match &self.engine {
            Engine::Huggingface { tokenizer, .. } => tokenizer.fallback_reason(),
            _ => None,
        }
    }

    /// The resolved encoding (`cl100k_base`), tokenizer (a path or `embedded:ORG/NAME`), or for
    /// the heuristic the model it was asked for.
    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn is_exact(&self) -> bool {
        self.method().is_exact()
    }

    /// Counts the tokens of `text`. Texts over [`Adapter::max_input_bytes`] are refused.
    pub fn count(&self, text: &str) -> Result<Count> {
        self.check_input_len(text.len())?;
        #[cfg(test)]
        if let Some(message) = text.strip_prefix(PANIC_FOR_TESTS) {
            panic!("{message}");
        }
        let count = match &self.engine {
            Engine::Heuristic(estimator) => estimator.estimate(text),
            // A large text on several threads (`batch_threads`), cut where counts stay the same.
            Engine::Tiktoken(encoding) if text.len() >= PARALLEL_TEXT_BYTES && self.batch_threads > 1 => {
                encoding.count_in_parts(text, self.batch_threads)
            }
            Engine::Tiktoken(encoding) => encoding.count(text),
            Engine::Huggingface { tokenizer, add_special_tokens } => tokenizer.count(text, *add_special_tokens)?,
        };
        Ok(Count { count, is_exact: self.is_exact(), method: self.method() })
    }

    /// Counts every text of a batch; result `i` is what [`Adapter::count`] gives for `texts[i]`
    /// (a text over [`Adapter::max_input_bytes`] fails alone, the others are still counted).
    ///
    /// Batches totalling less than 64 KiB are counted on the caller's thread; larger ones are
    /// split across up to [`Adapter::batch_threads`] threads, started for the call and joined
    /// before it returns (no thread outlives it). A panic while counting is re-raised here, as
    /// `count` would, after every thread has finished.
    pub fn count_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<Result<Count>> {
        let mut out: Vec<Result<Count>> = Vec::with_capacity(texts.len());
        out.resize_with(texts.len(), || Ok(Count { count: 0, is_exact: self.is_exact(), method: self.method() }));
        self.count_batch_into(texts, &mut out);
        out
    }

    /// [`Adapter::count_batch`] into the caller's slice: `out[i]` receives the result of
    /// `texts[i]`, with no allocation beyond what counting needs. Panics when the lengths differ.
    pub fn count_batch_into<S: AsRef<str> + Sync>(&self, texts: &[S], out: &mut [Result<Count>]) {
        assert_eq!(texts.len(), out.len(), "count_batch_into: {} texts but {} result slots", texts.len(), out.len());
        let weight = |i: usize| self.batch_weight(texts[i].as_ref().len());
        crate::batch::run(out, self.batch_threads, weight, |start, chunk: &mut [Result<Count>]| {
            for (slot, text) in chunk.iter_mut().zip(&texts[start..]) {
                *slot = self.count(text.as_ref());
            }
        });
    }

    /// What counting a text of `len` bytes costs, for cutting a batch into chunks: nothing when
    /// the text is refused from its length.
    pub(crate) fn batch_weight(&self, len: usize) -> usize {
        if len as u64 > self.max_input_bytes {
            0
        } else {
            len
        }
    }

    /// Runs `work` over a batch's output slots like [`Adapter::count_batch_into`] (for the C ABI,
    /// which writes counts and statuses into two arrays).
    #[cfg(feature = "ffi")]
    pub(crate) fn run_batch<S: crate::batch::Slots>(
        &self,
        slots: S,
        len_of: impl Fn(usize) -> usize,
        work: impl Fn(usize, S) + Sync,
    ) -> usize {
        crate::batch::run(slots, self.batch_threads, |i| self.batch_weight(len_of(i)), work)
    }

    /// A fast estimate of the count, with bounds that always hold for exact adapters (for the
    /// heuristic, both bounds are the estimate). One pass over the text, no allocation.
    pub fn estimate(&self, text: &str) -> Estimate {
        match &self.engine {
            Engine::Heuristic(estimator) => {
                let e = estimator.estimate(text);
                Estimate { estimate: e, lower_bound: e, upper_bound: e }
            }
            Engine::Tiktoken(encoding) => encoding.estimate(text),
            Engine::Huggingface { tokenizer, add_special_tokens } => tokenizer.estimate(text, *add_special_tokens),
        }
    }

    /// Whether `text` has at most `max_tokens` tokens; always right for exact adapters. OpenAI
    /// encodings decide from the length when it settles the question, and otherwise count,
    /// stopping at the first piece past the limit; `tokenizer.json` adapters decide from the
    /// estimate's bounds when they can, and otherwise count to the end.
    pub fn check_limit(&self, text: &str, max_tokens: u64) -> Result<LimitCheck> {
        self.check_input_len(text.len())?;
        let verdict = |within_limit, tokens, is_exact| Ok(LimitCheck { within_limit, tokens, is_exact });
        if let Engine::Tiktoken(encoding) = &self.engine {
            // No scan first: bounds from the length alone (at most a token per byte, at least
            // one per longest token) settle short texts and huge ones, and otherwise a count that
            // stops at the first piece past the limit costs about `max_tokens` tokens of work,
            // less than the scan would.
            let len = text.len() as u64;
            if len <= max_tokens {
                return verdict(true, len, len == 0);
            }
            let at_least = len.div_ceil(encoding.max_token_bytes() as u64);
            if at_least > max_tokens {
                return verdict(false, at_least, false);
            }
            return match encoding.count_up_to(text, max_tokens) {
                Ok(count) => verdict(true, count, true),
                Err(passed) => verdict(false, passed, false),
            };
        }
        let bounds = self.estimate(text);
        if !self.is_exact() {
            return verdict(bounds.estimate <= max_tokens, bounds.estimate, false);
        }
        let settled = bounds.lower_bound == bounds.upper_bound;
        if bounds.upper_bound <= max_tokens {
            return verdict(true, bounds.upper_bound, settled);
        }
        if bounds.lower_bound > max_tokens {
            return verdict(false, bounds.lower_bound, settled);
        }
        let count = self.count(text)?.count;
        verdict(count <= max_tokens, count, true)
    }

    /// Whether both adapters count with the same loaded rank table or tokenizer (not a copy).
    pub fn shares_engine_with(&self, other: &Adapter) -> bool {
        match (&self.engine, &other.engine) {
            (Engine::Tiktoken(a), Engine::Tiktoken(b)) => a.same_table(b),
            (Engine::Huggingface { tokenizer: a, .. }, Engine::Huggingface { tokenizer: b, .. }) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Counts UTF-8 bytes, rejecting invalid UTF-8 with the offset of the first bad byte.
    pub fn count_bytes(&self, text: &[u8]) -> Result<Count> {
        self.count(self.text_from_bytes(text)?)
    }

    /// Checks the input limit, then UTF-8 (naming the offset of the first bad byte).
    pub fn text_from_bytes<'t>(&self, text: &'t [u8]) -> Result<&'t str> {
        self.check_input_len(text.len())?;
        crate::utf8::validate(text).map_err(|e| Error::invalid_utf8("text", e))
    }
}

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapter").field("name", &self.name()).field("model", &self.model).finish()
    }
}
