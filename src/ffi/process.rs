//! The count every handle returns (`KanoCount`, `KanoMethod`) and the process-wide functions:
//! the version and the cache figures. Statuses and the last error are in `error.rs`.

use std::ffi::c_char;

use super::boundary::{out_param, write_out};
use super::error::KanoStatus;
use crate::adapter::{Count, Method};

/// Which adapter produced a count.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KanoMethod {
    /// The `heuristic` estimator (never exact).
    Heuristic = 0,
    /// An OpenAI encoding (`tiktoken` adapter).
    Tiktoken = 1,
    /// A `tokenizer.json` (`huggingface` adapter).
    Huggingface = 2,
}

impl From<Method> for KanoMethod {
    fn from(m: Method) -> Self {
        match m {
            Method::Heuristic => KanoMethod::Heuristic,
            Method::Tiktoken => KanoMethod::Tiktoken,
            Method::Huggingface => KanoMethod::Huggingface,
        }
    }
}

/// A token count.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KanoCount {
    /// The number of tokens.
    pub count: u64,
    /// True when `count` is exact for the resolved encoding or tokenizer; false for estimates.
    pub is_exact: bool,
    /// The adapter that counted (for `auto`, the one that served).
    pub method: KanoMethod,
}

impl From<Count> for KanoCount {
    fn from(c: Count) -> Self {
        KanoCount { count: c.count, is_exact: c.is_exact, method: c.method.into() }
    }
}

/// The library version, `"MAJOR.MINOR.PATCH"`, matching the `KANO_VERSION_*` macros.
///
/// Returns a static string: never NULL, never freed. Thread-safe.
#[no_mangle]
pub extern "C" fn kano_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// What the per-thread caches of piece counts have done since the process started, summed over
/// threads, and what they hold now (`kano_cache_stats`). A thread's latest lookups (fewer than
/// 4,096) are added when it makes more or ends; the calling thread's are always included.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KanoCacheStats {
    /// Lookups of pieces of up to 64 bytes.
    pub lookups: u64,
    /// Those that found their count.
    pub hits: u64,
    /// Lookups of long pieces and whole chunks of text (65 to 1,024 bytes).
    pub long_lookups: u64,
    /// Those that found their count.
    pub long_hits: u64,
    /// Share of all lookups that hit, from 0 to 1 (0 before any lookup).
    pub hit_rate: f64,
    /// Threads that hold a cache now.
    pub threads: u64,
    /// Bytes those caches hold now.
    pub bytes: u64,
}

/// Writes the piece caches' figures to `*out`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn kano_cache_stats(out: *mut KanoCacheStats) -> KanoStatus {
    ffi_boundary!("kano_cache_stats", {
        out_param(out, "out")?;
        let s = crate::cache_stats();
        let stats = KanoCacheStats {
            lookups: s.lookups,
            hits: s.hits,
            long_lookups: s.long_lookups,
            long_hits: s.long_hits,
            hit_rate: s.hit_rate(),
            threads: s.threads,
            bytes: s.bytes,
        };
        // SAFETY: checked by out_param.
        unsafe { write_out(out, stats) };
        Ok(())
    })
}
