//! kano-tokenizer: exact and estimated LLM token counts, as a Rust library and behind a C ABI.
//!
//! ```no_run
//! use kano_tokenizer::{AdapterName, Registry};
//! let registry = Registry::new()?;
//! let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
//! let count = adapter.count("Hello, world!")?;
//! assert!(count.is_exact);
//! # Ok::<(), kano_tokenizer::Error>(())
//! ```
//!
//! The core (this crate's modules other than `ffi`) has no raw pointers, and `unsafe` only for
//! SIMD intrinsics (the estimate's AVX2 and AVX-512 scan, the tiktoken splitter's AVX2 byte
//! classes) and one `malloc_trim` call; the C ABI lives in `ffi` (with the `ffi` feature).

mod adapter;
mod batch;
mod bpe;
mod budget;
mod capped_read;
mod chat;
mod config;
mod counter;
mod error;
mod estimate;
#[cfg(feature = "ffi")]
pub mod ffi;
mod huggingface;
mod quiet_panic;
mod registry;
mod tiktoken;
mod utf8;

pub use adapter::{Adapter, AdapterName, Count, Method, PARALLEL_TEXT_BYTES};
pub use batch::{INLINE_BYTES as BATCH_INLINE_BYTES, MAX_BATCH_THREADS};
pub use bpe::piece_cache::{cache_stats, CacheStats};
pub use budget::{Chunk, Chunks, Truncation};
pub use chat::{ChatCount, MAX_DEPTH as MAX_CHAT_DEPTH, MAX_TEMPLATE_BREAKDOWN};
pub use config::{
    process_env, Config, EnvLookup, HeuristicConfig, HuggingfaceConfig, Source as ConfigSource, TiktokenConfig,
    DEFAULT_FALLBACK_CHAIN, DEFAULT_MAX_INPUT_BYTES, ENV_ADAPTER, ENV_BATCH_THREADS, ENV_CHARS_PER_TOKEN, ENV_CONFIG,
    ENV_FALLBACK_CHAIN, ENV_MAX_INPUT_BYTES, ENV_MODEL, ENV_TIKTOKEN_ENCODING,
};
pub use counter::{
    CountCallback, CountResult, Counter, CounterOptions, CounterStats, Delivery, MAX_WORKERS as MAX_COUNTER_WORKERS,
};
pub use error::{Error, ErrorKind, Result};
pub use estimate::{Estimate, Family, LimitCheck, DEFAULT_CHARS_PER_TOKEN, MAX_CHARS_PER_TOKEN, MIN_CHARS_PER_TOKEN};
pub use huggingface::{hub_cache_candidates, HfTokenizer, TokenizerSource, EMBEDDED_MODELS, MAX_TOKENIZER_FILE_BYTES};
pub use registry::Registry;
pub use tiktoken::{encoding_for_model, model_table, prefix_table, Encoding, EncodingName};

/// The estimator's features, for the calibration tool (`bench/calibrate.rs`, which writes
/// `src/estimate/tables.rs`). Behind the `calibration` feature: not part of the API.
#[cfg(feature = "calibration")]
#[doc(hidden)]
pub mod calibration {
    pub use crate::estimate::{feature, Features};

    /// The weights the estimate uses for `family` (what `src/estimate/tables.rs` holds).
    pub fn weights(family: crate::Family) -> &'static [f64; feature::COUNT] {
        family.weights()
    }
}

// The Rust snippets of the README and the docs run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeSnippets;

#[cfg(doctest)]
#[doc = include_str!("../docs/BUDGETS-AND-CHAT.md")]
struct BudgetAndChatSnippets;

/// The library version, as in `Cargo.toml`.
///
/// ```
/// assert_eq!(kano_tokenizer::VERSION, env!("CARGO_PKG_VERSION"));
/// assert!(kano_tokenizer::VERSION.split('.').next().unwrap().parse::<u64>().is_ok());
/// ```
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The version of tiktoken-rs (the rank files) built in, read from `Cargo.lock` at build time
/// (`"unknown"` without one).
///
/// ```
/// let version = kano_tokenizer::TIKTOKEN_RS_VERSION;
/// assert!(version == "unknown" || version.split('.').next().unwrap().parse::<u64>().is_ok());
/// ```
pub const TIKTOKEN_RS_VERSION: &str = env!("KANO_DEP_TIKTOKEN_RS");

/// The version of the `tokenizers` crate built in, read from `Cargo.lock` at build time
/// (`"unknown"` without one).
///
/// ```
/// let version = kano_tokenizer::TOKENIZERS_VERSION;
/// assert!(version == "unknown" || version.split('.').next().unwrap().parse::<u64>().is_ok());
/// ```
pub const TOKENIZERS_VERSION: &str = env!("KANO_DEP_TOKENIZERS");
