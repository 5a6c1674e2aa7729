//! The C ABI: the only module with `extern "C"`, raw pointers and `unsafe`.
//!
//! One file per handle type (`registry.rs`, `adapter.rs`, `counter.rs`, `budget.rs` for chunks,
//! `chat.rs` for chat counts); the status codes, the mapping of the core's errors to them and
//! `kano_last_error` in `error.rs`; the count type and the process-wide functions in
//! `process.rs`; and the boundary helpers every function goes through in `boundary.rs`.
//! `include/kano_tokenizer.h` is generated from these files by `build.rs`.

// Each function's doc comment (copied into the C header) states its pointer contract.
#![allow(clippy::missing_safety_doc)]

#[macro_use]
mod boundary;
mod adapter;
mod budget;
mod chat;
mod counter;
mod error;
mod process;
mod registry;

pub use adapter::*;
pub use budget::*;
pub use chat::*;
pub use counter::*;
pub use error::{kano_last_error, kano_status_str, KanoStatus};
pub use process::*;
pub use registry::*;
