//! kano-tokenizer: exact and estimated LLM token counts, as a Rust library and behind a C ABI.
//!
//! ```no_run
//! let registry = kano_tokenizer::Registry::new()?;
//! let adapter = registry.resolve(Some("tiktoken"), Some("gpt-4o"))?;
//! let count = adapter.count("Hello, world!")?;
//! assert!(count.is_exact);
//! # Ok::<(), kano_tokenizer::Error>(())
//! ```
//!
//! The core (this crate's modules other than `ffi`) has no raw pointers, and `unsafe` only for
//! the estimate's AVX2 and AVX-512 intrinsics and one `malloc_trim` call; the C ABI lives in [`ffi`].

pub mod adapter;
pub mod batch;
mod bpe;
pub mod budget;
mod capped_read;
pub mod chat;
pub mod config;
pub mod counter;
pub mod error;
pub mod estimate;
#[cfg(feature = "ffi")]
pub mod ffi;
pub mod huggingface;
mod quiet_panic;
pub mod registry;
pub mod tiktoken;
mod utf8;

pub use adapter::{Adapter, AdapterName, Count, Method};
pub use bpe::piece_cache::{cache_stats, CacheStats};
pub use budget::{Chunk, Chunks, Truncation};
pub use chat::ChatCount;
pub use config::Config;
pub use counter::{Counter, CounterOptions, CounterStats};
pub use error::{Error, ErrorKind, Result};
pub use estimate::{Estimate, LimitCheck};
pub use registry::Registry;

// The README's Rust snippet runs as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeSnippets;

/// The library version, as in `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The version of tiktoken-rs (the rank files) built in.
pub const TIKTOKEN_RS_VERSION: &str = env!("KANO_DEP_TIKTOKEN_RS");

/// The version of the `tokenizers` crate built in.
pub const TOKENIZERS_VERSION: &str = env!("KANO_DEP_TOKENIZERS");
