//! Status codes, result types and the process-wide functions.

use std::ffi::c_char;

use super::boundary::{last_error_ptr, out_param, write_out};
use crate::adapter::{Count, Method};

/// The result of every fallible function. Values are stable: a released value never changes
/// meaning, and new values are only appended.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KanoStatus {
    /// Success; out-parameters were written.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullPointer = 1,
    /// Text or a name was not valid UTF-8; the message gives the byte offset.
    InvalidUtf8 = 2,
    /// An argument was malformed or out of range (an empty model name, a length larger than any
    /// buffer).
    InvalidArgument = 3,
    /// The adapter name is not `auto`, `heuristic`, `tiktoken` or `huggingface`.
    UnknownAdapter = 4,
    /// The adapter does not know the model.
    UnknownModel = 5,
    /// The adapter cannot serve: a tokenizer file that does not load or is larger than
    /// `max_file_bytes` (256 MiB by default), text it cannot encode, or an `auto` fallback chain
    /// where no adapter could serve.
    AdapterUnavailable = 6,
    /// A config file, TOML text or `KANO_TOKENIZER_*` variable is invalid (syntax, unknown key,
    /// bad value such as a `chars_per_token` outside [0.5, 64], a file that is not UTF-8 or
    /// larger than 1 MiB); the message lists every problem.
    ConfigError = 7,
    /// A file could not be found or read.
    IoError = 8,
    /// An internal error was caught at the boundary; the library is still usable.
    Panic = 9,
    /// A background counter's queue is at capacity, by requests or by pending bytes; the
    /// request was not accepted (and is counted in `rejected`).
    QueueFull = 10,
    /// `kano_counter_flush` returned before every earlier request was delivered.
    Timeout = 11,
    /// The counter is being freed and accepts no more requests.
    Closed = 12,
    /// The text is longer than the registry's `max_input_bytes` (config
    /// `tokenizer.max_input_bytes`, `KANO_TOKENIZER_MAX_INPUT_BYTES`; 64 MiB by default). It was
    /// refused before any of it was read. Also a text that a `tokenizer.json` pipeline could grow
    /// past 256 MiB before its model (a `Replace` normalizer with long content).
    InputTooLarge = 13,
    /// `kano_adapter_count_batch` counted the batch, but at least one text failed: every entry of
    /// `status_out` and `counts_out` was written, the failed texts' statuses say why, and
    /// `kano_last_error()` names the first failed text.
    BatchPartial = 14,
    /// The adapter cannot do what was asked: `kano_adapter_count_chat` with a `tokenizer.json`
    /// adapter (the model's chat template is needed, which is not supported yet) or an encoding
    /// no chat model uses (`r50k_base`, `p50k_base`).
    Unsupported = 15,
}

impl KanoStatus {
    /// Every value, in order (`kano_status_str` maps integers through it).
    const ALL: [KanoStatus; 16] = [
        KanoStatus::Ok,
        KanoStatus::NullPointer,
        KanoStatus::InvalidUtf8,
        KanoStatus::InvalidArgument,
        KanoStatus::UnknownAdapter,
        KanoStatus::UnknownModel,
        KanoStatus::AdapterUnavailable,
        KanoStatus::ConfigError,
        KanoStatus::IoError,
        KanoStatus::Panic,
        KanoStatus::QueueFull,
        KanoStatus::Timeout,
        KanoStatus::Closed,
        KanoStatus::InputTooLarge,
        KanoStatus::BatchPartial,
        KanoStatus::Unsupported,
    ];
}

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

/// A short static description of `status`, such as `"unknown model"`.
///
/// Returns a static string: never NULL, never freed. Thread-safe. Any value is safe: one that is
/// no `KanoStatus` of this library (from a newer header, say) gives `"unknown status"`.
#[no_mangle]
pub extern "C" fn kano_status_str(status: u32) -> *const c_char {
    // Taken as an integer: an out-of-range value in a Rust enum would be undefined behaviour.
    let Some(status) = KanoStatus::ALL.into_iter().find(|&s| s as u32 == status) else {
        return c"unknown status".as_ptr();
    };
    let s: &'static std::ffi::CStr = match status {
        KanoStatus::Ok => c"ok",
        KanoStatus::NullPointer => c"null pointer",
        KanoStatus::InvalidUtf8 => c"invalid UTF-8",
        KanoStatus::InvalidArgument => c"invalid argument",
        KanoStatus::UnknownAdapter => c"unknown adapter",
        KanoStatus::UnknownModel => c"unknown model",
        KanoStatus::AdapterUnavailable => c"adapter unavailable",
        KanoStatus::ConfigError => c"configuration error",
        KanoStatus::IoError => c"I/O error",
        KanoStatus::Panic => c"internal error (panic)",
        KanoStatus::QueueFull => c"queue full",
        KanoStatus::Timeout => c"timeout",
        KanoStatus::Closed => c"closed",
        KanoStatus::InputTooLarge => c"input too large",
        KanoStatus::BatchPartial => c"some texts of the batch failed",
        KanoStatus::Unsupported => c"unsupported by this adapter",
    };
    s.as_ptr()
}

/// The message of the most recent failure on the calling thread: which function failed, what
/// and why (the unknown name, the missing path, the byte offset of invalid UTF-8...).
///
/// Never NULL; the empty string before any failure. Success does not clear it. The string is
/// owned by the library and stays valid until the next failing call on the same thread; copy
/// it to keep it. Read it on the thread that made the failing call.
#[no_mangle]
pub extern "C" fn kano_last_error() -> *const c_char {
    last_error_ptr()
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
