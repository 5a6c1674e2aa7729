//! The count every handle returns (`KanoCount`, `KanoMethod`) and the process-wide functions:
//! the version and the cache figures. Statuses and the last error are in `error.rs`.

use std::ffi::c_char;

use super::boundary::{out_param, write_out};
use super::error::KanoStatus;
use crate::adapter::{Count, Method};

/// Which adapter produced a count.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// KanoCount count;
/// if (kano_adapter_count(adapter, "Hello, world!", 13, &count) != KANO_STATUS_OK)
///     return 1;
/// if (count.method == KANO_METHOD_HEURISTIC) // an estimate, never exact
///     printf("about %llu tokens\n", (unsigned long long)count.count);
/// ```
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
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *text = "Hello, world!";
/// KanoCount count;
/// if (kano_adapter_count(adapter, text, strlen(text), &count) != KANO_STATUS_OK)
///     return 1;
/// printf("%llu tokens (exact: %d, method %d)\n", (unsigned long long)count.count, count.is_exact,
///        (int)count.method); // 4 tokens (exact: 1, method 1) for tiktoken and gpt-4o
/// ```
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
///
/// ```c
/// int major = -1; // the library loaded at run time, against the header compiled in
/// if (sscanf(kano_version(), "%d", &major) != 1 || major != KANO_VERSION_MAJOR) {
///     fprintf(stderr, "kano-tokenizer %s, built for %d.x\n", kano_version(), KANO_VERSION_MAJOR);
///     return 1;
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn kano_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// What the per-thread caches of piece counts have done since the process started, summed over
/// threads, and what they hold now (`kano_cache_stats`). A thread's latest lookups (fewer than
/// 4,096) are added when it makes more or ends; the calling thread's are always included.
///
/// ```c
/// KanoCacheStats stats;
/// if (kano_cache_stats(&stats) != KANO_STATUS_OK)
///     return 1;
/// printf("%llu of %llu short lookups hit; %llu threads hold %llu bytes\n",
///        (unsigned long long)stats.hits, (unsigned long long)stats.lookups,
///        (unsigned long long)stats.threads, (unsigned long long)stats.bytes);
/// ```
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
///
/// ```c
/// KanoCacheStats stats;
/// if (kano_cache_stats(&stats) != KANO_STATUS_OK) {
///     fprintf(stderr, "kano: %s\n", kano_last_error());
///     return 1;
/// }
/// printf("cache hit rate %.2f\n", stats.hit_rate); // nothing to free
/// ```
#[unsafe(no_mangle)]
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
