//! The one error type of the core. Every failure carries a kind (which the C ABI maps to a
//! status code) and a message that names what failed and why.

use std::fmt;

/// What went wrong, coarse enough to branch on.
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, ErrorKind, Registry};
/// let registry = Registry::with_env(Config::default(), &|_| None);
/// let err = registry.resolve(AdapterName::Tiktoken, "no-such-model").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::UnknownModel);
/// let err = registry.resolve(AdapterName::Tiktoken, "").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Text or a name was not valid UTF-8.
    InvalidUtf8,
    /// An argument was out of range or malformed.
    InvalidArgument,
    /// The adapter name is not one of `auto`, `heuristic`, `tiktoken`, `huggingface`.
    UnknownAdapter,
    /// The adapter does not know the model.
    UnknownModel,
    /// The adapter exists but cannot serve: a tokenizer file that does not load, a text it
    /// cannot encode, or an `auto` chain where no adapter could serve.
    AdapterUnavailable,
    /// A config file, TOML text or environment variable is invalid.
    Config,
    /// A file could not be found or read.
    Io,
    /// A background counter's queue is at capacity (by requests or by bytes).
    QueueFull,
    /// A wait ended before the work was done.
    Timeout,
    /// The object is shutting down and accepts no more work.
    Closed,
    /// The text is longer than the registry's `max_input_bytes`.
    InputTooLarge,
    /// The adapter cannot do what was asked (a chat request for a `tokenizer.json` model, which
    /// needs its chat template).
    Unsupported,
}

/// An error with its kind and a human-readable message.
///
/// ```
/// use kano_tokenizer::{AdapterName, ErrorKind};
/// let err = "fast".parse::<AdapterName>().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::UnknownAdapter);
/// assert_eq!(err.to_string(), err.message());
/// assert!(err.to_string().starts_with("unknown adapter \"fast\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` with `message`.
    ///
    /// ```
    /// use kano_tokenizer::{Error, ErrorKind};
    /// let err = Error::new(ErrorKind::Timeout, "waited 5 ms");
    /// assert_eq!((err.kind(), err.message()), (ErrorKind::Timeout, "waited 5 ms"));
    /// ```
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }

    /// What kind of failure this is: the part to branch on.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, ErrorKind, Registry};
    /// let adapter = Registry::with_env(Config::default(), &|_| None).resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// assert_eq!(adapter.count_bytes(b"ab\xffc").unwrap_err().kind(), ErrorKind::InvalidUtf8);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What failed and why, as `Display` shows it.
    ///
    /// ```
    /// use kano_tokenizer::{Error, ErrorKind};
    /// let err = Error::new(ErrorKind::Io, "cannot read config.toml");
    /// assert_eq!(err.message(), "cannot read config.toml");
    /// assert_eq!(err.to_string(), err.message());
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error for text that is not UTF-8, naming the first bad byte.
    ///
    /// ```
    /// use kano_tokenizer::{Error, ErrorKind};
    /// let utf8_err = std::str::from_utf8(b"ab\xffc").unwrap_err();
    /// let err = Error::invalid_utf8("text", utf8_err);
    /// assert_eq!(err.kind(), ErrorKind::InvalidUtf8);
    /// assert_eq!(err.message(), "text is not valid UTF-8: invalid byte at offset 2");
    /// ```
    pub fn invalid_utf8(what: &str, err: std::str::Utf8Error) -> Self {
        Error::new(
            ErrorKind::InvalidUtf8,
            format!("{what} is not valid UTF-8: invalid byte at offset {}", err.valid_up_to()),
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// `std::result::Result` with this crate's [`Error`] as the default error type.
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, Registry, Result};
/// fn count(text: &str) -> Result<u64> {
///     let registry = Registry::with_env(Config::default(), &|_| None);
///     Ok(registry.resolve(AdapterName::Tiktoken, "cl100k_base")?.count(text)?.count)
/// }
/// assert_eq!(count("Hello, world!")?, 4);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;
