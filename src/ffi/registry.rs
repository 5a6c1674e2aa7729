//! `KanoRegistry`: configuration and the loaded encodings and tokenizers.

use std::ffi::c_char;

use super::adapter::KanoAdapter;
use super::boundary::{free_handle, handle, into_handle, optional_name, out_param, required_name, text, write_out};
use super::error::KanoStatus;
use crate::registry::Registry;

/// A registry: the effective configuration plus every encoding and tokenizer loaded so far,
/// each loaded once and shared by the adapters resolved from it.
///
/// Created by `kano_registry_new`, `kano_registry_from_config` or `kano_registry_from_toml`;
/// freed by `kano_registry_free`. A `const KanoRegistry *` may be used from many threads at
/// once.
///
/// ```c
/// KanoRegistry *registry = NULL;
/// if (kano_registry_new(&registry) != KANO_STATUS_OK) {
///     fprintf(stderr, "kano: %s\n", kano_last_error());
///     return 1;
/// }
/// // resolve adapters from it, from any thread
/// kano_registry_free(registry);
/// ```
pub struct KanoRegistry {
    registry: Registry,
}

/// Creates a registry from the defaults, the file named by `KANO_TOKENIZER_CONFIG` (if set)
/// and the other `KANO_TOKENIZER_*` environment variables.
///
/// On success writes a new registry to `*out`, which the caller frees with
/// `kano_registry_free`. On failure `*out` is untouched and `kano_last_error()` says why.
///
/// ```c
/// KanoRegistry *registry = NULL;
/// KanoStatus status = kano_registry_new(&registry);
/// if (status != KANO_STATUS_OK) { // a bad KANO_TOKENIZER_* variable: KANO_STATUS_CONFIG_ERROR
///     fprintf(stderr, "kano: %s: %s\n", kano_status_str(status), kano_last_error());
///     return 1;
/// }
/// kano_registry_free(registry);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_registry_new(out: *mut *mut KanoRegistry) -> KanoStatus {
    ffi_boundary!("kano_registry_new", {
        out_param(out, "out")?;
        let registry = Registry::new()?;
        // SAFETY: checked by out_param.
        unsafe { write_out(out, into_handle(KanoRegistry { registry })) };
        Ok(())
    })
}

/// Creates a registry from the TOML config file at `toml_path` (NUL-terminated UTF-8), with
/// the `KANO_TOKENIZER_*` environment variables taking precedence over the file.
///
/// Relative paths in the file resolve against the file's folder. Errors name the key, the
/// value and the reason, with line and column for syntax errors. On success the caller frees
/// `*out` with `kano_registry_free`.
///
/// ```c
/// KanoRegistry *registry = NULL;
/// if (kano_registry_from_config("examples/kano-tokenizer.toml", &registry) != KANO_STATUS_OK) {
///     fprintf(stderr, "kano: %s\n", kano_last_error()); // the key, line and column
///     return 1;
/// }
/// kano_registry_free(registry);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_registry_from_config(
    toml_path: *const c_char,
    out: *mut *mut KanoRegistry,
) -> KanoStatus {
    ffi_boundary!("kano_registry_from_config", {
        out_param(out, "out")?;
        // SAFETY: the caller passes NULL or a NUL-terminated string.
        let path = unsafe { required_name(toml_path, "toml_path") }?;
        let registry = Registry::from_config_file(path)?;
        // SAFETY: checked by out_param.
        unsafe { write_out(out, into_handle(KanoRegistry { registry })) };
        Ok(())
    })
}

/// Creates a registry from TOML text (`len` bytes of UTF-8 at `toml`, not NUL-terminated),
/// with the `KANO_TOKENIZER_*` environment variables taking precedence over it.
///
/// `toml` may be NULL when `len` is 0 (the empty config: defaults). On success the caller frees
/// `*out` with `kano_registry_free`.
///
/// ```c
/// const char *toml = "[tokenizer]\nadapter = \"tiktoken\"\nmodel = \"gpt-4o\"\n";
/// KanoRegistry *registry = NULL;
/// if (kano_registry_from_toml(toml, strlen(toml), &registry) != KANO_STATUS_OK) {
///     fprintf(stderr, "kano: %s\n", kano_last_error());
///     return 1;
/// }
/// kano_registry_free(registry);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_registry_from_toml(
    toml: *const c_char,
    len: usize,
    out: *mut *mut KanoRegistry,
) -> KanoStatus {
    ffi_boundary!("kano_registry_from_toml", {
        out_param(out, "out")?;
        // SAFETY: the caller passes `len` readable bytes at `toml`.
        let toml = unsafe { text(toml, len, "toml") }?;
        let registry = Registry::from_toml(toml)?;
        // SAFETY: checked by out_param.
        unsafe { write_out(out, into_handle(KanoRegistry { registry })) };
        Ok(())
    })
}

/// Frees a registry. NULL is a no-op. Adapters resolved from it stay valid and must still be
/// freed with `kano_adapter_free`. Must not be called twice, nor while another thread uses the
/// registry.
///
/// With `registry` from `kano_registry_new`:
///
/// ```c
/// KanoAdapter *adapter = NULL;
/// KanoStatus status = kano_registry_resolve(registry, "tiktoken", "gpt-4o", &adapter);
/// kano_registry_free(registry); // the adapter, if any, stays valid
/// registry = NULL;
/// if (status != KANO_STATUS_OK)
///     return 1;
/// kano_adapter_free(adapter);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_registry_free(registry: *mut KanoRegistry) {
    // SAFETY: the caller passes NULL or a live registry, once.
    let _ = ffi_boundary!("kano_registry_free", {
        unsafe { free_handle(registry) };
        Ok(())
    });
}

/// Resolves an adapter for a model.
///
/// `adapter` is `"auto"`, `"heuristic"`, `"tiktoken"` or `"huggingface"`, or NULL for the
/// configured adapter. `model` is an OpenAI model or encoding name, a `tokenizer.json` path or
/// folder, a name from the config, or a Hugging Face repository in the local cache; NULL means
/// the configured model. Both are NUL-terminated UTF-8. Nothing is ever downloaded.
///
/// On success writes a new adapter to `*out`, which the caller frees with `kano_adapter_free`;
/// it stays valid after the registry is freed. Thread-safe: many threads may resolve from one
/// registry at once, and each encoding or tokenizer file is loaded only once.
///
/// With `registry` from `kano_registry_new`:
///
/// ```c
/// KanoAdapter *adapter = NULL;
/// KanoStatus status = kano_registry_resolve(registry, "tiktoken", "gpt-4o", &adapter);
/// if (status != KANO_STATUS_OK) { // KANO_STATUS_UNKNOWN_MODEL...
///     fprintf(stderr, "kano: %s: %s\n", kano_status_str(status), kano_last_error());
///     return 1;
/// }
/// kano_adapter_free(adapter);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_registry_resolve(
    registry: *const KanoRegistry,
    adapter: *const c_char,
    model: *const c_char,
    out: *mut *mut KanoAdapter,
) -> KanoStatus {
    ffi_boundary!("kano_registry_resolve", {
        out_param(out, "out")?;
        // SAFETY: the caller passes NULL or live handles and NUL-terminated strings.
        let registry = unsafe { handle(registry, "registry") }?;
        let adapter_name = unsafe { optional_name(adapter, "adapter") }?;
        let model = unsafe { optional_name(model, "model") }?;
        let resolved = registry.registry.resolve_named(adapter_name, model)?;
        let handle = into_handle(KanoAdapter::new(resolved)?);
        // SAFETY: checked by out_param.
        unsafe { write_out(out, handle) };
        Ok(())
    })
}
