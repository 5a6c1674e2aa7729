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
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, Method, Registry};
/// let registry = Registry::with_config(Config::default());
/// let adapter = registry.resolve(AdapterName::Auto, "gpt-4o")?;
/// assert_eq!(adapter.method(), Method::Tiktoken);
/// assert_eq!(AdapterName::from(Method::Heuristic), AdapterName::Heuristic);
/// assert_eq!(AdapterName::Auto.to_string(), "auto");
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
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
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, Method, Registry};
/// let registry = Registry::with_config(Config::default());
/// let count = registry.resolve(AdapterName::Heuristic, "gpt-4o")?.count("Hello, world!")?;
/// assert_eq!(count.method, Method::Heuristic);
/// assert_eq!(Method::Tiktoken.to_string(), "tiktoken");
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    Heuristic,
    Tiktoken,
    Huggingface,
}

impl Method {
    /// Every method, the heuristic first.
    ///
    /// ```
    /// use kano_tokenizer::Method;
    /// assert_eq!(Method::ALL.len(), 3);
    /// assert_eq!(Method::ALL.iter().filter(|m| m.is_exact()).count(), 2);
    /// ```
    pub const ALL: [Method; 3] = [Method::Heuristic, Method::Tiktoken, Method::Huggingface];

    /// The method of an adapter name (`"heuristic"`, `"tiktoken"`, `"huggingface"`); `None` for
    /// `"auto"`, which is no method, and for unknown names.
    ///
    /// ```
    /// use kano_tokenizer::Method;
    /// assert_eq!(Method::parse("huggingface"), Some(Method::Huggingface));
    /// assert_eq!(Method::parse("auto"), None);
    /// ```
    pub fn parse(name: &str) -> Option<Method> {
        match name {
            "heuristic" => Some(Method::Heuristic),
            "tiktoken" => Some(Method::Tiktoken),
            "huggingface" => Some(Method::Huggingface),
            _ => None,
        }
    }

    /// The name [`Method::parse`] accepts (the adapter's name).
    ///
    /// ```
    /// use kano_tokenizer::Method;
    /// assert_eq!(Method::Heuristic.as_str(), "heuristic");
    /// assert_eq!(Method::parse(Method::Tiktoken.as_str()), Some(Method::Tiktoken));
    /// ```
    pub fn as_str(self) -> &'static str {
        AdapterName::from(self).as_str()
    }

    /// Whether this method's counts are exact.
    ///
    /// ```
    /// use kano_tokenizer::Method;
    /// assert!(Method::Tiktoken.is_exact() && Method::Huggingface.is_exact());
    /// assert!(!Method::Heuristic.is_exact());
    /// ```
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
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, Count, Method, Registry};
/// let registry = Registry::with_config(Config::default());
/// let count = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?.count("Hello, world!")?;
/// assert_eq!(count, Count { count: 4, is_exact: true, method: Method::Tiktoken });
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub count: u64,
    pub is_exact: bool,
    pub method: Method,
}

/// Texts of at least this many bytes are counted on up to `batch_threads` threads (OpenAI
/// encodings): below it, starting threads with empty caches costs more than it saves.
///
/// ```
/// use kano_tokenizer::PARALLEL_TEXT_BYTES;
/// assert_eq!(PARALLEL_TEXT_BYTES, 4 * 1024 * 1024);
/// ```
pub const PARALLEL_TEXT_BYTES: usize = 4 << 20;

#[derive(Clone)]
pub(crate) enum Engine {
    Heuristic(HeuristicEstimator),
    Tiktoken(Encoding),
    Huggingface { tokenizer: Arc<HfTokenizer>, add_special_tokens: bool },
}

/// A resolved adapter. It owns (shares) everything it needs, so it stays valid after its
/// registry is dropped, and counting takes `&self` without locking: share it across threads.
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, Registry};
/// let adapter = Registry::with_config(Config::default()).resolve(AdapterName::Tiktoken, "gpt-4o")?;
/// // The registry is gone; the adapter still counts, on any thread.
/// let counted = std::thread::spawn(move || adapter.count("Hello, world!").map(|c| c.count));
/// assert_eq!(counted.join().unwrap()?, 4);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
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
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Method, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// let adapter = registry.resolve(AdapterName::Auto, "all-MiniLM-L6-v2")?;
    /// assert_eq!(adapter.method(), Method::Huggingface);
    /// assert!(adapter.fallback_reason().unwrap().starts_with("tiktoken: "));
    /// assert_eq!(registry.resolve(AdapterName::Auto, "gpt-4o")?.fallback_reason(), None);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
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
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry};
    /// let mut config = Config::default();
    /// config.batch_threads = 1;
    /// let adapter = Registry::with_config(config).resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// assert_eq!(adapter.batch_threads(), 1);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn batch_threads(&self) -> usize {
        self.batch_threads
    }

    /// The largest text, in bytes, that `count` and `check_limit` accept.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry, DEFAULT_MAX_INPUT_BYTES};
    /// let registry = Registry::with_config(Config::default());
    /// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// assert_eq!(adapter.max_input_bytes(), DEFAULT_MAX_INPUT_BYTES);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn max_input_bytes(&self) -> u64 {
        self.max_input_bytes
    }

    /// Refuses a text of `len` bytes when it is over the input limit; callers check this before
    /// reading the text, so an oversized buffer is never scanned.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, ErrorKind, Registry};
    /// let mut config = Config::default();
    /// config.max_input_bytes = 8;
    /// let adapter = Registry::with_config(config).resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// assert!(adapter.check_input_len(8).is_ok());
    /// assert_eq!(adapter.check_input_len(9).unwrap_err().kind(), ErrorKind::InputTooLarge);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
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
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Method, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// assert_eq!(registry.resolve(AdapterName::Auto, "gpt-4o")?.method(), Method::Tiktoken);
    /// assert_eq!(registry.resolve(AdapterName::Heuristic, "gpt-4o")?.method(), Method::Heuristic);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn method(&self) -> Method {
        match self.engine {
            Engine::Heuristic(_) => Method::Heuristic,
            Engine::Tiktoken(_) => Method::Tiktoken,
            Engine::Huggingface { .. } => Method::Huggingface,
        }
    }

    /// `"heuristic"`, `"tiktoken"` or `"huggingface"`.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// assert_eq!(registry.resolve(AdapterName::Auto, "gpt-4o")?.name(), "tiktoken");
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn name(&self) -> &'static str {
        self.method().as_str()
    }

    /// Which counting path serves this adapter: `"heuristic"`, `"tiktoken"`, and for
    /// `tokenizer.json` models our engine by model (`"kano-bpe"`, `"kano-unigram"`,
    /// `"kano-wordpiece"`, `"kano-wordlevel"`) or `"tokenizers"` (the `tokenizers` crate, for a
    /// file with a part our engine lacks: [`Adapter::engine_fallback_reason`]).
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// assert_eq!(registry.resolve(AdapterName::Tiktoken, "gpt-4o")?.engine_path(), "tiktoken");
    /// let adapter = registry.resolve(AdapterName::Huggingface, "all-MiniLM-L6-v2")?;
    /// assert_eq!(adapter.engine_path(), "kano-wordpiece");
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn engine_path(&self) -> &'static str {
        match &self.engine {
            Engine::Heuristic(_) => "heuristic",
            Engine::Tiktoken(_) => "tiktoken",
            Engine::Huggingface { tokenizer, .. } => tokenizer.engine(),
        }
    }

    /// Why the `tokenizers` crate counts this `tokenizer.json` rather than our engine (the part
    /// the engine lacks); `None` for every other adapter.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// // Our engine counts the embedded WordPiece tokenizer, so nothing fell back.
    /// let adapter = registry.resolve(AdapterName::Huggingface, "all-MiniLM-L6-v2")?;
    /// assert_eq!(adapter.engine_fallback_reason(), None);
    /// assert_eq!(registry.resolve(AdapterName::Tiktoken, "gpt-4o")?.engine_fallback_reason(), None);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn engine_fallback_reason(&self) -> Option<&str> {
        match &self.engine {
            Engine::Huggingface { tokenizer, .. } => tokenizer.fallback_reason(),
            _ => None,
        }
    }

    /// The resolved encoding (`cl100k_base`), tokenizer (a path or `embedded:ORG/NAME`), or for
    /// the heuristic the model it was asked for.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// assert_eq!(registry.resolve(AdapterName::Tiktoken, "gpt-4")?.model(), "cl100k_base");
    /// assert_eq!(registry.resolve(AdapterName::Heuristic, "gpt-4o")?.model(), "gpt-4o");
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Whether this adapter's counts are exact (every adapter's but the heuristic's).
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// assert!(registry.resolve(AdapterName::Tiktoken, "gpt-4o")?.is_exact());
    /// assert!(!registry.resolve(AdapterName::Heuristic, "gpt-4o")?.is_exact());
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn is_exact(&self) -> bool {
        self.method().is_exact()
    }

    /// Counts the tokens of `text`. Texts over [`Adapter::max_input_bytes`] are refused.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// assert_eq!(adapter.count("Hello, world!")?.count, 4);
    /// let minilm = registry.resolve(AdapterName::Huggingface, "all-MiniLM-L6-v2")?;
    /// assert_eq!(minilm.count("Hello, world!")?.count, 6); // with [CLS] and [SEP]
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// let counts = adapter.count_batch(&["Hello, world!", "", "one two three"]);
    /// let counts: Vec<u64> = counts.into_iter().map(|r| r.map(|c| c.count)).collect::<Result<_, _>>()?;
    /// assert_eq!(counts, [4, 0, 3]);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn count_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<Result<Count>> {
        let mut out: Vec<Result<Count>> = Vec::with_capacity(texts.len());
        out.resize_with(texts.len(), || Ok(Count { count: 0, is_exact: self.is_exact(), method: self.method() }));
        self.count_batch_into(texts, &mut out);
        out
    }

    /// [`Adapter::count_batch`] into the caller's slice: `out[i]` receives the result of
    /// `texts[i]`, with no allocation beyond what counting needs. Panics when the lengths differ.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Count, Registry, Result};
    /// let registry = Registry::with_config(Config::default());
    /// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// let mut out: Vec<Result<Count>> = (0..2).map(|_| adapter.count("")).collect();
    /// adapter.count_batch_into(&["Hello, world!", "one two three"], &mut out);
    /// assert_eq!((out[0].as_ref().unwrap().count, out[1].as_ref().unwrap().count), (4, 3));
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
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
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// let bounds = adapter.estimate("Hello, world!");
    /// let exact = adapter.count("Hello, world!")?.count; // 4
    /// assert!(bounds.lower_bound <= exact && exact <= bounds.upper_bound);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
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
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?; // "Hello, world!" is 4 tokens
    /// assert!(adapter.check_limit("Hello, world!", 4)?.within_limit);
    /// assert!(!adapter.check_limit("Hello, world!", 3)?.within_limit);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
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
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// let gpt_4o = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// assert!(gpt_4o.shares_engine_with(&registry.resolve(AdapterName::Tiktoken, "o200k_base")?));
    /// assert!(!gpt_4o.shares_engine_with(&registry.resolve(AdapterName::Tiktoken, "gpt-4")?));
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn shares_engine_with(&self, other: &Adapter) -> bool {
        match (&self.engine, &other.engine) {
            (Engine::Tiktoken(a), Engine::Tiktoken(b)) => a.same_table(b),
            (Engine::Huggingface { tokenizer: a, .. }, Engine::Huggingface { tokenizer: b, .. }) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Counts UTF-8 bytes, rejecting invalid UTF-8 with the offset of the first bad byte.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, ErrorKind, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// assert_eq!(adapter.count_bytes(b"Hello, world!")?.count, 4);
    /// assert_eq!(adapter.count_bytes(b"Hello\xff").unwrap_err().kind(), ErrorKind::InvalidUtf8);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn count_bytes(&self, text: &[u8]) -> Result<Count> {
        self.count(self.text_from_bytes(text)?)
    }

    /// Checks the input limit, then UTF-8 (naming the offset of the first bad byte).
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// assert_eq!(adapter.text_from_bytes(b"Hello")?, "Hello");
    /// let err = adapter.text_from_bytes(b"Hello\xff").unwrap_err();
    /// assert!(err.message().contains("offset 5"));
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
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
