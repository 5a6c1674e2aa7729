//! `KanoAdapter`: a resolved adapter that counts tokens.

use std::ffi::{c_char, CString};

use super::boundary::{bytes, free_handle, handle, out_param, text as text_arg, write_out, FfiError, FfiResult};
use super::status::{KanoCount, KanoStatus};
use crate::adapter::Adapter;

/// A resolved adapter for one model. Created by `kano_registry_resolve`, freed by
/// `kano_adapter_free`. It owns what it counts with, so it outlives its registry. A
/// `const KanoAdapter *` may be used from many threads at once; counting takes no lock.
pub struct KanoAdapter {
    adapter: Adapter,
    name: CString,
    model: CString,
}

impl KanoAdapter {
    pub(crate) fn new(adapter: Adapter) -> FfiResult<KanoAdapter> {
        let c = |s: &str| {
            CString::new(s)
                .map_err(|_| FfiError::new(KanoStatus::InvalidArgument, format!("name {s:?} contains a NUL byte")))
        };
        Ok(KanoAdapter { name: c(adapter.name())?, model: c(adapter.model())?, adapter })
    }

    pub(crate) fn adapter(&self) -> &Adapter {
        &self.adapter
    }
}

/// Frees an adapter. NULL is a no-op. Must not be called twice, nor while another thread uses
/// the adapter.
#[no_mangle]
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
#[no_mangle]
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
#[no_mangle]
pub unsafe extern "C" fn kano_adapter_model(adapter: *const KanoAdapter) -> *const c_char {
    ffi_boundary!("kano_adapter_model", fallback = std::ptr::null(), {
        // SAFETY: the caller passes NULL or a live adapter.
        Ok(unsafe { handle(adapter, "adapter") }?.model.as_ptr())
    })
}

/// Counts the tokens of `len` bytes of UTF-8 text at `text` (not NUL-terminated; may contain
/// NUL bytes). `text` may be NULL when `len` is 0.
///
/// On success writes the count to `*out`. Invalid UTF-8 is `KANO_STATUS_INVALID_UTF8`, and
/// `kano_last_error()` gives the offset of the first bad byte. A text longer than the registry's
/// `max_input_bytes` is `KANO_STATUS_INPUT_TOO_LARGE`, refused before it is read. Thread-safe and
/// lock-free: many threads may count with one adapter at once. Time is linear in `len`.
#[no_mangle]
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

/// A fast estimate and bounds on the exact count.
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
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KanoLimitCheck {
    /// Whether the text has at most `max_tokens` tokens; always right for exact adapters.
    pub within_limit: bool,
    /// The exact count when `is_exact`; otherwise what proved the verdict: a bound, or the
    /// partial count at which counting stopped past the limit (for the heuristic adapter, the
    /// estimate).
    pub tokens: u64,
    pub is_exact: bool,
}

/// Estimates the tokens of `len` bytes of UTF-8 text in one pass, without allocating. For exact
/// adapters `lower_bound <= exact count <= upper_bound` holds for every text; for the heuristic
/// adapter both bounds are the estimate. Text rules as `kano_adapter_count`, but no input limit
/// applies: the cost is one allocation-free pass. Thread-safe.
#[no_mangle]
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
#[no_mangle]
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
