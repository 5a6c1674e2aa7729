//! Errors at the C ABI, in one place: the status codes, how the core's errors map to them, and
//! the calling thread's last error message (`kano_last_error`), as rustls-ffi keeps them.

use std::cell::RefCell;
use std::ffi::{c_char, CString};

use crate::error::{Error, ErrorKind};

/// The result of every fallible function. Values are stable: a released value never changes
/// meaning, and new values are only appended.
///
/// With `registry` from `kano_registry_new`:
///
/// ```c
/// KanoAdapter *adapter = NULL;
/// KanoStatus status = kano_registry_resolve(registry, "tiktoken", "my-private-model", &adapter);
/// if (status == KANO_STATUS_UNKNOWN_MODEL) // not an OpenAI model: estimate instead
///     status = kano_registry_resolve(registry, "heuristic", "my-private-model", &adapter);
/// if (status != KANO_STATUS_OK) {
///     fprintf(stderr, "kano: %s: %s\n", kano_status_str(status), kano_last_error());
///     return 1;
/// }
/// kano_adapter_free(adapter);
/// ```
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
    /// adapter that has no chat template beside it (or one MiniJinja cannot compile), or with an
    /// encoding no chat model uses (`r50k_base`, `p50k_base`).
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

/// A failure on its way to C: the status to return and the message for `kano_last_error`.
pub(crate) struct FfiError {
    pub status: KanoStatus,
    pub message: String,
}

impl FfiError {
    pub fn new(status: KanoStatus, message: impl Into<String>) -> Self {
        FfiError { status, message: message.into() }
    }
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        let status = match e.kind() {
            ErrorKind::InvalidUtf8 => KanoStatus::InvalidUtf8,
            ErrorKind::InvalidArgument => KanoStatus::InvalidArgument,
            ErrorKind::UnknownAdapter => KanoStatus::UnknownAdapter,
            ErrorKind::UnknownModel => KanoStatus::UnknownModel,
            ErrorKind::AdapterUnavailable => KanoStatus::AdapterUnavailable,
            ErrorKind::Config => KanoStatus::ConfigError,
            ErrorKind::Io => KanoStatus::IoError,
            ErrorKind::QueueFull => KanoStatus::QueueFull,
            ErrorKind::Timeout => KanoStatus::Timeout,
            ErrorKind::Closed => KanoStatus::Closed,
            ErrorKind::InputTooLarge => KanoStatus::InputTooLarge,
            ErrorKind::Unsupported => KanoStatus::Unsupported,
        };
        FfiError { status, message: e.message().to_string() }
    }
}

pub(crate) type FfiResult<T = ()> = Result<T, FfiError>;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as this thread's last error.
pub(crate) fn set_last_error(message: &str) {
    // C strings end at the first NUL, so escape any inside the message (from user text).
    let c_message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // During thread teardown the slot may be gone; there is nobody left to read it then.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = c_message);
}

/// This thread's last error message; valid until the next failing call on this thread.
fn last_error_ptr() -> *const c_char {
    LAST_ERROR.try_with(|slot| slot.borrow().as_ptr()).unwrap_or(c"".as_ptr())
}

/// A short static description of `status`, such as `"unknown model"`.
///
/// Returns a static string: never NULL, never freed. Thread-safe. Any value is safe: one that is
/// no `KanoStatus` of this library (from a newer header, say) gives `"unknown status"`.
///
/// With `registry` from `kano_registry_new`:
///
/// ```c
/// KanoAdapter *adapter = NULL;
/// KanoStatus status = kano_registry_resolve(registry, "tiktoken", "my-private-model", &adapter);
/// if (status != KANO_STATUS_OK) {
///     fprintf(stderr, "kano: %s\n", kano_status_str(status)); // "kano: unknown model"
///     return 1;
/// }
/// kano_adapter_free(adapter);
/// ```
#[unsafe(no_mangle)]
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
///
/// ```c
/// KanoRegistry *registry = NULL;
/// if (kano_registry_from_config("missing.toml", &registry) != KANO_STATUS_OK) {
///     fprintf(stderr, "kano: %s\n", kano_last_error()); // names the function, the file and why
///     return 1;
/// }
/// kano_registry_free(registry);
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn kano_last_error() -> *const c_char {
    last_error_ptr()
}
