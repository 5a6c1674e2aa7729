//! Chat requests: `kano_adapter_count_chat`, and the `KanoChatCount` it fills in.

use std::ffi::{c_char, CString};

use super::adapter::KanoAdapter;
use super::boundary::{bytes, free_handle, handle, into_handle, out_param, write_out, FfiError};
use super::error::KanoStatus;
use super::process::KanoMethod;

/// The prompt tokens of a chat request, filled in by `kano_adapter_count_chat`. The caller owns
/// the struct; the breakdown and the reasons it points to are owned by `detail`, until
/// `kano_chat_count_free`.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *json = "{\"model\": \"gpt-4o\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}";
/// KanoChatCount chat;
/// if (kano_adapter_count_chat(adapter, json, strlen(json), &chat) != KANO_STATUS_OK)
///     return 1;
/// printf("%llu prompt tokens, %zu messages\n", (unsigned long long)chat.total, chat.message_count);
/// if (!chat.is_exact)
///     printf("estimated: %s\n", chat.reasons);
/// kano_chat_count_free(&chat);
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct KanoChatCount {
    /// Every message, the tools and the reply priming; when not exact, the nearest rule's count.
    pub total: u64,
    /// For exact adapters the API's count is not below this (equal to `total` when exact).
    pub lower_bound: u64,
    /// Nor above this (`UINT64_MAX` when something cannot be bounded, such as audio).
    pub upper_bound: u64,
    /// The tokens of `tools` (0 without tools).
    pub tools: u64,
    /// The tokens that prime the reply (3).
    pub reply_priming: u64,
    /// The number of messages; read each with `kano_chat_count_message`.
    pub message_count: usize,
    /// Whether the published rules cover the request exactly and the adapter counts exactly.
    pub is_exact: bool,
    /// The adapter that counted.
    pub method: KanoMethod,
    /// Why the count is not exact, one reason per line; the empty string when exact. Owned by
    /// `detail`: valid until `kano_chat_count_free`.
    pub reasons: *const c_char,
    /// The per-message breakdown; freed by `kano_chat_count_free`.
    pub detail: *mut KanoChatDetail,
}

/// What a `KanoChatCount` owns: each message's tokens and the reasons text.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *json = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}";
/// KanoChatCount chat; // chat.detail owns the breakdown and chat.reasons
/// if (kano_adapter_count_chat(adapter, json, strlen(json), &chat) != KANO_STATUS_OK)
///     return 1;
/// kano_chat_count_free(&chat); // frees chat.detail and sets it to NULL
/// ```
pub struct KanoChatDetail {
    messages: Vec<u64>,
    reasons: CString,
}

/// Counts the prompt tokens of an OpenAI Chat Completions request body: `len` bytes of UTF-8
/// JSON with `messages` (`role`, `content` as a string or parts, `name`, `tool_calls`...) and
/// optionally `model`, `tools`, `tool_choice`. On success fills in `*out`; free what it owns
/// with `kano_chat_count_free`.
///
/// Rules: the OpenAI cookbook's (3 tokens per message, 1 per name, the encoded value of every
/// field, 3 to prime the reply; `gpt-3.5-turbo-0301`: 4 and -1), and its `num_tokens_for_tools`
/// for tools (7 per function for o200k models, 10 for cl100k ones, and the rest of its
/// constants). The request's `model`, or else the adapter's, picks the message rules; the
/// adapter counts. Anything the rules do not cover exactly (content parts, images, audio, tool
/// calls, nested or array parameters, `tool_choice`, `response_format`, other fields) is counted
/// by the nearest rule and named in `reasons`, with `is_exact` false. Images count by the
/// published tile rule when `detail` and `width`/`height` are given beside the `url`, and as
/// bounds otherwise; no URL is ever fetched.
///
/// A `tokenizer.json` adapter counts with the model's chat template instead (the
/// `chat_template.jinja` or `tokenizer_config.json` beside the file), as `transformers`'
/// `apply_chat_template(messages, tools=tools, add_generation_prompt=True)` renders and
/// tokenizes it; `chat_template_kwargs` in the request are passed to the template. Exact; the
/// message breakdown is what each turn adds (see docs/BUDGETS-AND-CHAT.md).
///
/// Errors: `KANO_STATUS_INVALID_UTF8` (with the offset), `KANO_STATUS_INPUT_TOO_LARGE` (over
/// `max_input_bytes`, refused before it is read), `KANO_STATUS_INVALID_ARGUMENT` (JSON that does
/// not parse, nesting deeper than 64 levels, a wrong type; the message names the place, such as
/// `messages[2].role`), `KANO_STATUS_UNSUPPORTED` (a `tokenizer.json` adapter with no
/// chat template beside it, or one that does not compile; the `r50k_base`/`p50k_base`
/// encodings); `KANO_STATUS_INVALID_ARGUMENT` also when the template refuses the request
/// (`raise_exception`), with its message. Time and
/// memory are linear in `len`. Thread-safe.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *json = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hello, world!\"}]}";
/// KanoChatCount chat;
/// KanoStatus status = kano_adapter_count_chat(adapter, json, strlen(json), &chat);
/// if (status != KANO_STATUS_OK) { // KANO_STATUS_UNSUPPORTED for a tokenizer.json adapter
///     fprintf(stderr, "kano: %s: %s\n", kano_status_str(status), kano_last_error());
///     return 1;
/// }
/// printf("%llu prompt tokens\n", (unsigned long long)chat.total);
/// kano_chat_count_free(&chat);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_adapter_count_chat(
    adapter: *const KanoAdapter,
    json: *const c_char,
    len: usize,
    out: *mut KanoChatCount,
) -> KanoStatus {
    ffi_boundary!("kano_adapter_count_chat", {
        out_param(out, "out")?;
        // SAFETY: the caller passes NULL or a live adapter, and `len` readable bytes.
        let adapter = unsafe { handle(adapter, "adapter") }?.adapter();
        adapter.check_input_len(len)?;
        let json = unsafe { bytes(json, len, "json") }?;
        let c = adapter.count_chat_bytes(json)?;
        let reasons = CString::new(c.reasons.join("\n").replace('\0', "\\0")).unwrap_or_default();
        let detail = into_handle(KanoChatDetail { messages: c.messages, reasons });
        // SAFETY: `detail` was just made and is live.
        let (message_count, reasons) = unsafe { ((*detail).messages.len(), (*detail).reasons.as_ptr()) };
        let count = KanoChatCount {
            total: c.total,
            lower_bound: c.lower_bound,
            upper_bound: c.upper_bound,
            tools: c.tools,
            reply_priming: c.reply_priming,
            message_count,
            is_exact: c.is_exact,
            method: c.method.into(),
            reasons,
            detail,
        };
        // SAFETY: checked by out_param.
        unsafe { write_out(out, count) };
        Ok(())
    })
}

/// The tokens of message `i` (its per-message tokens included) of a count from
/// `kano_adapter_count_chat`, written to `*tokens`. `KANO_STATUS_INVALID_ARGUMENT` when `i` is
/// not below `message_count`, or the count was freed. Thread-safe.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *json = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}";
/// KanoChatCount chat;
/// if (kano_adapter_count_chat(adapter, json, strlen(json), &chat) != KANO_STATUS_OK)
///     return 1;
/// for (size_t i = 0; i < chat.message_count; i++) {
///     uint64_t tokens;
///     if (kano_chat_count_message(&chat, i, &tokens) == KANO_STATUS_OK)
///         printf("message %zu: %llu tokens\n", i, (unsigned long long)tokens);
/// }
/// kano_chat_count_free(&chat);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_chat_count_message(
    count: *const KanoChatCount,
    i: usize,
    tokens: *mut u64,
) -> KanoStatus {
    ffi_boundary!("kano_chat_count_message", {
        out_param(tokens, "tokens")?;
        // SAFETY: the caller passes NULL or a count filled in by kano_adapter_count_chat, whose
        // `detail` is NULL (freed) or live.
        let count = unsafe { handle(count, "count") }?;
        let detail = unsafe { count.detail.as_ref() }
            .ok_or_else(|| FfiError::new(KanoStatus::InvalidArgument, "the count was freed"))?;
        let value = *detail.messages.get(i).ok_or_else(|| {
            FfiError::new(
                KanoStatus::InvalidArgument,
                format!("message {i} of {}: out of range", detail.messages.len()),
            )
        })?;
        // SAFETY: checked by out_param.
        unsafe { write_out(tokens, value) };
        Ok(())
    })
}

/// Frees what a count from `kano_adapter_count_chat` owns (not the struct itself, which is the
/// caller's), and sets `detail` and `reasons` to NULL and `message_count` to 0, so a second call
/// is a no-op. NULL is a no-op. Not while another thread reads the count.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// const char *json = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}";
/// KanoChatCount chat;
/// if (kano_adapter_count_chat(adapter, json, strlen(json), &chat) != KANO_STATUS_OK)
///     return 1;
/// // ... read chat.total, chat.reasons, kano_chat_count_message ...
/// kano_chat_count_free(&chat); // not free(&chat): the struct is the caller's
/// kano_chat_count_free(&chat); // a second call is a no-op
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_chat_count_free(count: *mut KanoChatCount) {
    let _ = ffi_boundary!("kano_chat_count_free", {
        // SAFETY: the caller passes NULL or a count filled in by kano_adapter_count_chat.
        if let Some(count) = unsafe { count.as_mut() } {
            // SAFETY: `detail` is NULL or the live handle made for this count.
            unsafe { free_handle(count.detail) };
            count.detail = std::ptr::null_mut();
            count.reasons = std::ptr::null();
            count.message_count = 0;
        }
        Ok(())
    });
}
