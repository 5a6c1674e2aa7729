//! The one error type of the core. Every failure carries a kind (which the C ABI maps to a
//! status code) and a message that names what failed and why.

use std::fmt;

/// What went wrong, coarse enough to branch on.
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error for text that is not UTF-8, naming the first bad byte.
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

pub type Result<T, E = Error> = std::result::Result<T, E>;
