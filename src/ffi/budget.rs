//! Token budgets: `kano_adapter_truncate`, and `kano_adapter_split` with its `KanoChunks`
//! result handle.

use std::ffi::c_char;

use super::adapter::KanoAdapter;
use super::boundary::{bytes, free_handle, handle, into_handle, out_param, write_out, FfiError};
use super::error::KanoStatus;
use super::process::KanoMethod;
use crate::budget::Chunks;

/// The longest prefix of a text within a token budget.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *text = "Hello, world! And a longer tail to cut.";
/// KanoTruncation cut;
/// if (kano_adapter_truncate(adapter, text, strlen(text), 4, &cut) != KANO_STATUS_OK)
///     return 1;
/// printf("%.*s (%llu tokens)\n", (int)cut.byte_len, text, (unsigned long long)cut.count);
/// ```
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KanoTruncation {
    /// The prefix's length in bytes; always on a UTF-8 character boundary.
    pub byte_len: usize,
    /// The prefix's tokens, counted alone; at most `max_tokens`.
    pub count: u64,
    /// False for the heuristic adapter, whose counts (and so the cut) are estimates.
    pub is_exact: bool,
    /// The adapter that counted.
    pub method: KanoMethod,
}

/// The chunks of a split text. Created by `kano_adapter_split`, read with `kano_chunks_len`
/// and `kano_chunks_get`, freed by `kano_chunks_free`. Immutable: a `const KanoChunks *` may be
/// read from many threads at once.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *text = "First paragraph.\nSecond paragraph.\n";
/// KanoChunks *chunks = NULL;
/// if (kano_adapter_split(adapter, text, strlen(text), 4, 0, &chunks) != KANO_STATUS_OK)
///     return 1;
/// size_t start, end;
/// for (size_t i = 0; i < kano_chunks_len(chunks); i++)
///     if (kano_chunks_get(chunks, i, &start, &end, NULL) == KANO_STATUS_OK)
///         printf("[%.*s]\n", (int)(end - start), text + start);
/// kano_chunks_free(chunks);
/// ```
pub struct KanoChunks {
    chunks: Chunks,
}

/// Finds the longest prefix of `len` bytes of UTF-8 text with at most `max_tokens` tokens, and
/// writes its byte length and count (the prefix counted alone, as `kano_adapter_count` counts
/// it) to `*out`. The cut is on a character boundary; the prefix one character longer counts
/// more than `max_tokens` (or the prefix is the whole text).
///
/// Cost: for OpenAI encodings, about three counts of the prefix, whatever `len` is; only the
/// first `max_tokens × longest token` bytes (and a few more) are read, checked for UTF-8 and held
/// against `max_input_bytes` (a 1 MB English text cut to 1,000 tokens keeps about 3.4 KB and takes
/// about 26 us). For `tokenizer.json` adapters, about a dozen counts of the prefix;
/// the whole text is checked. For the heuristic adapter the result is an estimate
/// (`is_exact` false).
///
/// Text rules as `kano_adapter_count`; invalid UTF-8 in the part read is
/// `KANO_STATUS_INVALID_UTF8`. `KANO_STATUS_INVALID_ARGUMENT` when not even the empty text fits
/// (a tokenizer that adds `[CLS]` and `[SEP]` to every text, with `max_tokens` below 2).
/// Thread-safe.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *text = "Hello, world! And a longer tail to cut.";
/// KanoTruncation cut;
/// KanoStatus status = kano_adapter_truncate(adapter, text, strlen(text), 4, &cut);
/// if (status != KANO_STATUS_OK) {
///     fprintf(stderr, "kano: %s: %s\n", kano_status_str(status), kano_last_error());
///     return 1;
/// }
/// printf("keep %zu of %zu bytes\n", cut.byte_len, strlen(text)); // nothing to free
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_adapter_truncate(
    adapter: *const KanoAdapter,
    text: *const c_char,
    len: usize,
    max_tokens: u64,
    out: *mut KanoTruncation,
) -> KanoStatus {
    ffi_boundary!("kano_adapter_truncate", {
        out_param(out, "out")?;
        // SAFETY: the caller passes NULL or a live adapter, and `len` readable bytes.
        let adapter = unsafe { handle(adapter, "adapter") }?.adapter();
        let text = unsafe { bytes(text, len, "text") }?;
        let t = adapter.truncate_bytes(text, max_tokens)?;
        let t = KanoTruncation { byte_len: t.byte_len, count: t.count, is_exact: t.is_exact, method: t.method.into() };
        // SAFETY: checked by out_param.
        unsafe { write_out(out, t) };
        Ok(())
    })
}

/// Cuts `len` bytes of UTF-8 text into chunks of at most `max_tokens` tokens each that cover
/// it, and writes a new `KanoChunks` to `*out` (free it with `kano_chunks_free`). Each chunk's
/// count is its count alone. The next chunk starts `overlap` tokens (at most) before the
/// previous one ends; 0 gives chunks that meet end to end. A cut prefers a line end, then a
/// whitespace character, within the last 10% of a chunk's bytes (the cut falls after it). Cuts
/// are byte offsets on character boundaries. An empty text gives no chunks.
///
/// `KANO_STATUS_INVALID_ARGUMENT` when `max_tokens` is 0, when `overlap` is not below
/// `max_tokens`, or when one character alone takes more than `max_tokens` tokens. Text rules and
/// input limit as `kano_adapter_count`. For the heuristic adapter the counts are estimates
/// (`kano_chunks_is_exact` is false). Thread-safe.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *text = "First paragraph.\nSecond paragraph.\n";
/// KanoChunks *chunks = NULL;
/// KanoStatus status = kano_adapter_split(adapter, text, strlen(text), 512, 64, &chunks);
/// if (status != KANO_STATUS_OK) {
///     fprintf(stderr, "kano: %s: %s\n", kano_status_str(status), kano_last_error());
///     return 1;
/// }
/// printf("%zu chunks\n", kano_chunks_len(chunks));
/// kano_chunks_free(chunks);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_adapter_split(
    adapter: *const KanoAdapter,
    text: *const c_char,
    len: usize,
    max_tokens: u64,
    overlap: u64,
    out: *mut *mut KanoChunks,
) -> KanoStatus {
    ffi_boundary!("kano_adapter_split", {
        out_param(out, "out")?;
        // SAFETY: the caller passes NULL or a live adapter, and `len` readable bytes.
        let adapter = unsafe { handle(adapter, "adapter") }?.adapter();
        let text = adapter.text_from_bytes(unsafe { bytes(text, len, "text") }?)?;
        let chunks = adapter.split(text, max_tokens, overlap)?;
        // SAFETY: checked by out_param.
        unsafe { write_out(out, into_handle(KanoChunks { chunks })) };
        Ok(())
    })
}

/// The number of chunks; 0 for NULL (which also sets the last error).
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *text = "First paragraph.\nSecond paragraph.\n";
/// KanoChunks *chunks = NULL;
/// if (kano_adapter_split(adapter, text, strlen(text), 4, 0, &chunks) != KANO_STATUS_OK)
///     return 1;
/// printf("%zu chunks\n", kano_chunks_len(chunks)); // 0 for an empty text
/// kano_chunks_free(chunks);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_chunks_len(chunks: *const KanoChunks) -> usize {
    ffi_boundary!("kano_chunks_len", fallback = 0, {
        // SAFETY: the caller passes NULL or a live KanoChunks.
        Ok(unsafe { handle(chunks, "chunks") }?.chunks.chunks.len())
    })
}

/// Whether the chunks' counts are exact (false for the heuristic adapter, and for NULL).
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *text = "First paragraph.\nSecond paragraph.\n";
/// KanoChunks *chunks = NULL;
/// if (kano_adapter_split(adapter, text, strlen(text), 4, 0, &chunks) != KANO_STATUS_OK)
///     return 1;
/// if (!kano_chunks_is_exact(chunks)) // the heuristic adapter: estimated counts
///     fprintf(stderr, "kano: chunk counts are estimates\n");
/// kano_chunks_free(chunks);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_chunks_is_exact(chunks: *const KanoChunks) -> bool {
    ffi_boundary!("kano_chunks_is_exact", fallback = false, {
        // SAFETY: the caller passes NULL or a live KanoChunks.
        Ok(unsafe { handle(chunks, "chunks") }?.chunks.is_exact)
    })
}

/// Chunk `i`: the text's bytes `[*start, *end)` and their tokens counted alone. Any of the
/// three out-pointers may be NULL when not wanted. `KANO_STATUS_INVALID_ARGUMENT` when `i` is
/// not below `kano_chunks_len`. Thread-safe.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *text = "First paragraph.\nSecond paragraph.\n";
/// KanoChunks *chunks = NULL;
/// if (kano_adapter_split(adapter, text, strlen(text), 4, 1, &chunks) != KANO_STATUS_OK)
///     return 1;
/// for (size_t i = 0, start, end; i < kano_chunks_len(chunks); i++) {
///     uint64_t count;
///     if (kano_chunks_get(chunks, i, &start, &end, &count) == KANO_STATUS_OK)
///         printf("%zu..%zu: %llu tokens\n", start, end, (unsigned long long)count);
/// }
/// kano_chunks_free(chunks);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_chunks_get(
    chunks: *const KanoChunks,
    i: usize,
    start: *mut usize,
    end: *mut usize,
    count: *mut u64,
) -> KanoStatus {
    ffi_boundary!("kano_chunks_get", {
        // SAFETY: the caller passes NULL or a live KanoChunks.
        let list = &unsafe { handle(chunks, "chunks") }?.chunks.chunks;
        let chunk = list.get(i).ok_or_else(|| {
            FfiError::new(KanoStatus::InvalidArgument, format!("chunk {i} of {}: out of range", list.len()))
        })?;
        // SAFETY: each non-NULL out-pointer is writable by the caller's contract.
        unsafe {
            write_optional(start, chunk.start);
            write_optional(end, chunk.end);
            write_optional(count, chunk.count);
        }
        Ok(())
    })
}

/// Frees chunks from `kano_adapter_split`. NULL is a no-op. Must not be called twice.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// KanoChunks *chunks = NULL;
/// if (kano_adapter_split(adapter, "Hello, world!", 13, 2, 0, &chunks) != KANO_STATUS_OK)
///     return 1;
/// // ... read them with kano_chunks_len and kano_chunks_get ...
/// kano_chunks_free(chunks);
/// chunks = NULL; // never free them twice
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_chunks_free(chunks: *mut KanoChunks) {
    // SAFETY: the caller passes NULL or live chunks, once.
    let _ = ffi_boundary!("kano_chunks_free", {
        unsafe { free_handle(chunks) };
        Ok(())
    });
}

/// Writes `value` through `ptr` unless it is NULL.
///
/// # Safety
/// `ptr` is NULL or valid for writes.
unsafe fn write_optional<T>(ptr: *mut T, value: T) {
    if !ptr.is_null() {
        // SAFETY: non-NULL, writable by the caller's contract.
        unsafe { write_out(ptr, value) };
    }
}
