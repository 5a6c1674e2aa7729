//! `KanoAdapter`: a resolved adapter that counts tokens.

use std::ffi::{c_char, CString};

use parking_lot::Mutex;

use super::boundary::{
    array, array_mut, bytes, free_handle, handle, out_param, text as text_arg, write_out, FfiError, FfiResult,
};
use super::error::KanoStatus;
use super::process::KanoCount;
use crate::adapter::Adapter;

/// A resolved adapter for one model. Created by `kano_registry_resolve`, freed by
/// `kano_adapter_free`. It owns what it counts with, so it outlives its registry. A
/// `const KanoAdapter *` may be used from many threads at once; counting takes no lock.
///
/// With `registry` from `kano_registry_new`:
///
/// ```c
/// KanoAdapter *adapter = NULL;
/// if (kano_registry_resolve(registry, NULL, "gpt-4o", &adapter) != KANO_STATUS_OK) {
///     fprintf(stderr, "kano: %s\n", kano_last_error());
///     return 1;
/// }
/// // count with it from any thread, even after kano_registry_free
/// kano_adapter_free(adapter);
/// ```
pub struct KanoAdapter {
    adapter: Adapter,
    name: CString,
    model: CString,
    fallback_reason: Option<CString>,
}

impl KanoAdapter {
    pub(crate) fn new(adapter: Adapter) -> FfiResult<KanoAdapter> {
        let c = |s: &str| {
            CString::new(s)
                .map_err(|_| FfiError::new(KanoStatus::InvalidArgument, format!("name {s:?} contains a NUL byte")))
        };
        // A reason quotes error messages, which may quote file content: NUL bytes are shown as
        // `\0`, not refused.
        let fallback_reason =
            adapter.fallback_reason().map(|r| CString::new(r.replace('\0', "\\0")).expect("no NUL byte is left"));
        Ok(KanoAdapter { name: c(adapter.name())?, model: c(adapter.model())?, fallback_reason, adapter })
    }

    pub(crate) fn adapter(&self) -> &Adapter {
        &self.adapter
    }
}

/// Frees an adapter. NULL is a no-op. Must not be called twice, nor while another thread uses
/// the adapter.
///
/// With `registry` from `kano_registry_new`:
///
/// ```c
/// KanoAdapter *adapter = NULL;
/// if (kano_registry_resolve(registry, "heuristic", "my-model", &adapter) != KANO_STATUS_OK)
///     return 1;
/// // ... count with it ...
/// kano_adapter_free(adapter);
/// adapter = NULL; // never free it twice
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_adapter_free(adapter: *mut KanoAdapter) {
    // SAFETY: the caller passes NULL or a live adapter, once.
    let _ = ffi_boundary!("kano_adapter_free", {
        unsafe { free_handle(adapter) };
        Ok(())
    });
}

/// The adapter's name: `"heuristic"`, `"tiktoken"` or `"huggingface"` (for `auto`, the one that
/// served). Owned by the adapter, valid until it is freed. NULL for a NULL adapter, which also
/// sets the last error.
///
/// With `registry` from `kano_registry_new`:
///
/// ```c
/// KanoAdapter *adapter = NULL;
/// if (kano_registry_resolve(registry, "auto", "gpt-4o", &adapter) != KANO_STATUS_OK)
///     return 1;
/// printf("%s\n", kano_adapter_name(adapter)); // "tiktoken": the one that served
/// kano_adapter_free(adapter);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_adapter_name(adapter: *const KanoAdapter) -> *const c_char {
    ffi_boundary!("kano_adapter_name", fallback = std::ptr::null(), {
        // SAFETY: the caller passes NULL or a live adapter.
        Ok(unsafe { handle(adapter, "adapter") }?.name.as_ptr())
    })
}

/// What the adapter resolved to: the encoding (`"cl100k_base"`), the tokenizer (a file path or
/// `"embedded:sentence-transformers/all-MiniLM-L6-v2"`), or for the heuristic the model asked
/// for. Owned by the adapter, valid until it is freed. NULL for a NULL adapter, which also sets
/// the last error.
///
/// With `registry` from `kano_registry_new`:
///
/// ```c
/// KanoAdapter *adapter = NULL;
/// if (kano_registry_resolve(registry, "tiktoken", "gpt-4", &adapter) != KANO_STATUS_OK)
///     return 1;
/// printf("%s\n", kano_adapter_model(adapter)); // "cl100k_base"
/// kano_adapter_free(adapter);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_adapter_model(adapter: *const KanoAdapter) -> *const c_char {
    ffi_boundary!("kano_adapter_model", fallback = std::ptr::null(), {
        // SAFETY: the caller passes NULL or a live adapter.
        Ok(unsafe { handle(adapter, "adapter") }?.model.as_ptr())
    })
}

/// Why `auto` passed over the adapters of the fallback chain before the one that serves:
/// `"adapter: why"` for each, joined by `"; "` (a `tokenizer.json` that does not load, a model
/// no encoding knows). NULL when the first adapter of the chain served or the adapter was asked
/// for by name, and for a NULL adapter, which also sets the last error. Owned by the adapter,
/// valid until it is freed.
///
/// With `registry` from `kano_registry_new`:
///
/// ```c
/// KanoAdapter *adapter = NULL;
/// if (kano_registry_resolve(registry, "auto", "my-private-model", &adapter) != KANO_STATUS_OK)
///     return 1;
/// const char *reason = kano_adapter_fallback_reason(adapter);
/// if (reason != NULL) // the heuristic served: why tiktoken and huggingface did not
///     fprintf(stderr, "kano: %s: %s\n", kano_adapter_name(adapter), reason);
/// kano_adapter_free(adapter);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_adapter_fallback_reason(adapter: *const KanoAdapter) -> *const c_char {
    ffi_boundary!("kano_adapter_fallback_reason", fallback = std::ptr::null(), {
        // SAFETY: the caller passes NULL or a live adapter.
        let adapter = unsafe { handle(adapter, "adapter") }?;
        Ok(adapter.fallback_reason.as_ref().map_or(std::ptr::null(), |r| r.as_ptr()))
    })
}

/// Counts the tokens of `len` bytes of UTF-8 text at `text` (not NUL-terminated; may contain
/// NUL bytes). `text` may be NULL when `len` is 0.
///
/// On success writes the count to `*out`. Invalid UTF-8 is `KANO_STATUS_INVALID_UTF8`, and
/// `kano_last_error()` gives the offset of the first bad byte. A text longer than the registry's
/// `max_input_bytes` is `KANO_STATUS_INPUT_TOO_LARGE`, refused before it is read. Thread-safe and
/// lock-free: many threads may count with one adapter at once. Time is linear in `len`.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *text = "Hello, world!";
/// KanoCount count;
/// KanoStatus status = kano_adapter_count(adapter, text, strlen(text), &count);
/// if (status != KANO_STATUS_OK) {
///     fprintf(stderr, "kano: %s: %s\n", kano_status_str(status), kano_last_error());
///     return 1;
/// }
/// printf("%llu tokens\n", (unsigned long long)count.count); // 4 for gpt-4o
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_adapter_count(
    adapter: *const KanoAdapter,
    text: *const c_char,
    len: usize,
    out: *mut KanoCount,
) -> KanoStatus {
    ffi_boundary!("kano_adapter_count", {
        out_param(out, "out")?;
        // SAFETY: the caller passes NULL or a live adapter, and `len` readable bytes.
        let adapter = unsafe { handle(adapter, "adapter") }?;
        // The input limit is checked before the text is read (and after the length is sane).
        let text = adapter.adapter.text_from_bytes(unsafe { bytes(text, len, "text") }?)?;
        let count = adapter.adapter.count(text)?;
        // SAFETY: checked by out_param.
        unsafe { write_out(out, KanoCount::from(count)) };
        Ok(())
    })
}

/// Counts the tokens of `n` texts in one call: text `i` is `lens[i]` bytes of UTF-8 at
/// `texts[i]`, read as by `kano_adapter_count` (not NUL-terminated; NULL when its length is 0).
///
/// Results: `counts_out[i]` receives text `i`'s count and `status_out[i]` what
/// `kano_adapter_count` would return for it: `KANO_STATUS_OK`, `KANO_STATUS_INVALID_UTF8`,
/// `KANO_STATUS_INPUT_TOO_LARGE` (over `max_input_bytes`, not read), `KANO_STATUS_NULL_POINTER`
/// (NULL with a length above 0), `KANO_STATUS_INVALID_ARGUMENT` (a length past `SIZE_MAX / 2`),
/// `KANO_STATUS_PANIC`... A failed text's count is 0, and it does not stop the others. Whether
/// counts are exact and which method counted are the adapter's (`kano_adapter_name`), the same
/// for every text.
///
/// Returns `KANO_STATUS_OK` when every text was counted, and `KANO_STATUS_BATCH_PARTIAL` when
/// some failed; with both, every entry of both arrays was written, and with the latter
/// `kano_last_error()` names the first failed text and how many failed. Any other status means
/// the call itself was refused and nothing was written: a NULL adapter, a NULL array while
/// `n > 0` (`KANO_STATUS_NULL_POINTER`), `n` larger than any array
/// (`KANO_STATUS_INVALID_ARGUMENT`). With `n == 0` the arrays may be NULL and the result is
/// `KANO_STATUS_OK`.
///
/// Threads: a batch whose texts total less than 64 KiB is counted on the calling thread. A
/// larger one is split across up to `tokenizer.batch_threads` threads
/// (`KANO_TOKENIZER_BATCH_THREADS`; by default the cores, at most 8), the calling thread among
/// them; the others are started for the call and joined before it returns, so no library thread
/// outlives the call or is left running when the library is unloaded. The arrays and texts are
/// read during the call only. Thread-safe: many threads may count batches with one adapter at
/// once (each call starts its own threads).
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *texts[] = {"Hello, world!", "Goodbye."};
/// size_t lens[] = {13, 8};
/// uint64_t counts[2];
/// KanoStatus statuses[2];
/// KanoStatus status = kano_adapter_count_batch(adapter, texts, lens, 2, counts, statuses);
/// if (status != KANO_STATUS_OK && status != KANO_STATUS_BATCH_PARTIAL)
///     return 1; // refused: nothing was written
/// for (size_t i = 0; i < 2; i++) // with BATCH_PARTIAL, statuses[i] says which failed
///     printf("%zu: %s, %llu\n", i, kano_status_str(statuses[i]), (unsigned long long)counts[i]);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_adapter_count_batch(
    adapter: *const KanoAdapter,
    texts: *const *const c_char,
    lens: *const usize,
    n: usize,
    counts_out: *mut u64,
    status_out: *mut KanoStatus,
) -> KanoStatus {
    ffi_boundary!("kano_adapter_count_batch", {
        // SAFETY: the caller passes NULL or a live adapter.
        let adapter = &unsafe { handle(adapter, "adapter") }?.adapter;
        // SAFETY (all four): when n > 0 each points to n elements (the outputs writable and not
        // overlapping anything else); `array` checks NULL, size and alignment first. A text
        // pointer is only read, so it may be shared with the batch's threads.
        let texts = unsafe { array(texts.cast::<TextPtr>(), n, "texts") }?;
        let lens = unsafe { array(lens, n, "lens") }?;
        let counts = unsafe { array_mut(counts_out, n, "counts_out") }?;
        let statuses = unsafe { array_mut(status_out, n, "status_out") }?;
        // The lowest-numbered failure's index and message, for kano_last_error.
        let first_failure: Mutex<Option<(usize, String)>> = Mutex::new(None);
        adapter.run_batch(
            (&mut *counts, &mut *statuses),
            |i| lens[i],
            |start, (counts, statuses)| {
                for k in 0..counts.len() {
                    let i = start + k;
                    // A panic while counting one text fails that text only, and is not
                    // printed on this thread either (it may be one of the batch's).
                    let result = crate::quiet_panic::catch(|| -> FfiResult<u64> {
                        // SAFETY: the caller guarantees `lens[i]` readable bytes at a non-NULL
                        // `texts[i]`; the input limit is checked before the text is read.
                        let text = adapter.text_from_bytes(unsafe { bytes(texts[i].0, lens[i], "text") }?)?;
                        Ok(adapter.count(text)?.count)
                    })
                    .unwrap_or_else(|message| {
                        Err(FfiError::new(KanoStatus::Panic, format!("internal error (panic): {message}")))
                    });
                    (counts[k], statuses[k]) = match result {
                        Ok(count) => (count, KanoStatus::Ok),
                        Err(e) => {
                            let mut first = first_failure.lock();
                            if first.as_ref().is_none_or(|(j, _)| i < *j) {
                                *first = Some((i, e.message));
                            }
                            (0, e.status)
                        }
                    };
                }
            },
        );
        match first_failure.into_inner() {
            None => Ok(()),
            Some((first, message)) => {
                let failed = statuses.iter().filter(|s| **s != KanoStatus::Ok).count();
                Err(FfiError::new(
                    KanoStatus::BatchPartial,
                    format!("{failed} of {n} texts failed; the first, text {first}: {message}"),
                ))
            }
        }
    })
}

/// A text pointer of a batch, read by the batch's threads.
#[repr(transparent)]
struct TextPtr(*const c_char);

// SAFETY: the batch only reads through the pointers, during the call, as the caller allows.
unsafe impl Sync for TextPtr {}

/// A fast estimate and bounds on the exact count.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *text = "Hello, world!";
/// KanoEstimate e;
/// if (kano_adapter_estimate(adapter, text, strlen(text), &e) != KANO_STATUS_OK)
///     return 1;
/// if (e.upper_bound <= 4096) // fits for sure, without an exact count
///     printf("at most %llu tokens\n", (unsigned long long)e.upper_bound);
/// ```
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KanoEstimate {
    /// The estimate, between the bounds.
    pub estimate: u64,
    /// For exact adapters, the exact count is never below this.
    pub lower_bound: u64,
    /// For exact adapters, the exact count is never above this (`UINT64_MAX` when a
    /// `tokenizer.json` step cannot be bounded).
    pub upper_bound: u64,
}

/// Whether a text fits a token limit.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *text = "Hello, world!";
/// KanoLimitCheck check;
/// if (kano_adapter_check_limit(adapter, text, strlen(text), 4096, &check) != KANO_STATUS_OK)
///     return 1;
/// if (!check.within_limit)
///     printf("over 4096 tokens (%llu%s)\n", (unsigned long long)check.tokens, check.is_exact ? "" : " or more");
/// ```
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KanoLimitCheck {
    /// Whether the text has at most `max_tokens` tokens; always right for exact adapters.
    pub within_limit: bool,
    /// The exact count when `is_exact`; otherwise what proved the verdict: a bound, or the
    /// partial count at which counting stopped past the limit (for the heuristic adapter, the
    /// estimate).
    pub tokens: u64,
    /// True when `tokens` is the text's exact count; false when it is a bound or a partial count.
    pub is_exact: bool,
}

/// Estimates the tokens of `len` bytes of UTF-8 text in one pass, without allocating. For exact
/// adapters `lower_bound <= exact count <= upper_bound` holds for every text; for the heuristic
/// adapter both bounds are the estimate. Text rules as `kano_adapter_count`, but no input limit
/// applies: the cost is one allocation-free pass. Thread-safe.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *text = "Hello, world!";
/// KanoEstimate e;
/// if (kano_adapter_estimate(adapter, text, strlen(text), &e) != KANO_STATUS_OK) {
///     fprintf(stderr, "kano: %s\n", kano_last_error());
///     return 1;
/// }
/// printf("about %llu tokens (%llu to %llu)\n", (unsigned long long)e.estimate,
///        (unsigned long long)e.lower_bound, (unsigned long long)e.upper_bound);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_adapter_estimate(
    adapter: *const KanoAdapter,
    text: *const c_char,
    len: usize,
    out: *mut KanoEstimate,
) -> KanoStatus {
    ffi_boundary!("kano_adapter_estimate", {
        out_param(out, "out")?;
        // SAFETY: the caller passes NULL or a live adapter, and `len` readable bytes.
        let adapter = unsafe { handle(adapter, "adapter") }?;
        let text = unsafe { text_arg(text, len, "text") }?;
        let e = adapter.adapter.estimate(text);
        let e = KanoEstimate { estimate: e.estimate, lower_bound: e.lower_bound, upper_bound: e.upper_bound };
        // SAFETY: checked by out_param.
        unsafe { write_out(out, e) };
        Ok(())
    })
}

/// Checks whether `len` bytes of UTF-8 text have at most `max_tokens` tokens. For exact
/// adapters the verdict is always right. OpenAI encodings decide from the length when it
/// settles the question (at most one token per byte, at least one per longest token), and
/// otherwise count, stopping at the first piece past the limit: the cost is about that of
/// counting `max_tokens` tokens, whatever `len` is. `tokenizer.json` adapters decide from the
/// estimate's bounds when they can, and otherwise count to the end. Text rules and input limit as `kano_adapter_count`. Thread-safe.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *text = "Hello, world!";
/// KanoLimitCheck check;
/// KanoStatus status = kano_adapter_check_limit(adapter, text, strlen(text), 4096, &check);
/// if (status != KANO_STATUS_OK) {
///     fprintf(stderr, "kano: %s: %s\n", kano_status_str(status), kano_last_error());
///     return 1;
/// }
/// printf("%s\n", check.within_limit ? "fits" : "too long");
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_adapter_check_limit(
    adapter: *const KanoAdapter,
    text: *const c_char,
    len: usize,
    max_tokens: u64,
    out: *mut KanoLimitCheck,
) -> KanoStatus {
    ffi_boundary!("kano_adapter_check_limit", {
        out_param(out, "out")?;
        // SAFETY: the caller passes NULL or a live adapter, and `len` readable bytes.
        let adapter = unsafe { handle(adapter, "adapter") }?;
        // The input limit is checked before the text is read (and after the length is sane).
        let text = adapter.adapter.text_from_bytes(unsafe { bytes(text, len, "text") }?)?;
        let c = adapter.adapter.check_limit(text, max_tokens)?;
        let c = KanoLimitCheck { within_limit: c.within_limit, tokens: c.tokens, is_exact: c.is_exact };
        // SAFETY: checked by out_param.
        unsafe { write_out(out, c) };
        Ok(())
    })
}
