//! The checks behind the fuzz targets. Each target is one call into this file, and
//! tests/fuzz_regressions.rs includes the same file (`#[path]`), so every input the fuzzer saved
//! is replayed by `cargo test` with exactly the check that found it.
//!
//! A failed comparison panics with the input; a crash anywhere in the library aborts the
//! fuzzer. Errors returned by the library are fine unless a check says otherwise.

#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::{c_char, CStr, CString, OsString};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;

use kano_tokenizer::config::{Config, Source};
use kano_tokenizer::huggingface::HfTokenizer;
use kano_tokenizer::{Adapter, Registry};

/// Texts longer than this are not compared with tiktoken-rs (our own count, estimate and limit
/// checks still run on them). tiktoken-rs splits with fancy-regex, a backtracking engine with a
/// step limit: on long runs (whitespace, letters followed by a look-ahead) it either hits the
/// limit and panics inside `encode_ordinary` (`mat.unwrap()`), or takes quadratic time. Our
/// splitter is linear and has no limit, so past a few KB a difference would be tiktoken-rs's
/// failure, not ours. The megabyte-run tests in tests/tiktoken_reference.rs cover long runs
/// against tiktoken's merge on pieces cut by the backtracking engine on shorter runs.
pub const REFERENCE_MAX_BYTES: usize = 4096;

/// Set by the fuzz targets: while the reference runs, its panics (the backtracking limit) are
/// caught silently instead of aborting through libFuzzer's panic hook. Off in `cargo test`, where
/// `catch_unwind` works with the default hook.
pub static IN_FUZZER: AtomicBool = AtomicBool::new(false);

/// Runs a reference implementation; `None` when it panicked (tiktoken-rs's backtrack limit).
fn run_reference<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Option<T> {
    if !IN_FUZZER.load(Ordering::Relaxed) {
        return std::panic::catch_unwind(f).ok();
    }
    // libFuzzer's hook aborts on any panic; swap it out around the reference only (the fuzzer
    // runs one input at a time on one thread).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(f);
    std::panic::set_hook(hook);
    result.ok()
}

/// Shortens a text for a panic message (the fuzzer saves the whole input anyway).
fn show(text: &str) -> String {
    if text.len() <= 600 {
        return format!("{text:?}");
    }
    let mut end = 600;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}... ({} bytes)", &text[..end], text.len())
}

/// The estimate must bound the exact count, and `check_limit` must give the right verdict (with
/// a `tokens` value consistent with it) for limits around the count and derived from the text.
pub fn check_estimate_and_limits(label: &str, adapter: &Adapter, text: &str, exact: u64) {
    let e = adapter.estimate(text);
    if !(e.lower_bound <= exact && exact <= e.upper_bound && e.lower_bound <= e.estimate && e.estimate <= e.upper_bound)
    {
        panic!("{label}: estimate {e:?} does not bound the exact count {exact} of {}", show(text));
    }
    // Limits at the count (verdicts flip there) and ones the bounds decide without counting.
    let limits = [0, exact.saturating_sub(1), exact, exact.saturating_add(1), e.lower_bound, u64::MAX];
    for limit in limits {
        let c = adapter
            .check_limit(text, limit)
            .unwrap_or_else(|err| panic!("{label}: check_limit({limit}) failed: {err} on {}", show(text)));
        let consistent = c.within_limit == (exact <= limit)
            && if c.is_exact {
                c.tokens == exact
            } else if c.within_limit {
                // An upper bound that proved the text fits.
                exact <= c.tokens && c.tokens <= limit
            } else {
                // A lower bound, or a partial count, that proved it does not.
                limit < c.tokens && c.tokens <= exact
            };
        if !consistent {
            panic!("{label}: check_limit({limit}) gave {c:?} but the exact count is {exact}, for {}", show(text));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// count_tiktoken

struct TiktokenCase {
    name: &'static str,
    adapter: Adapter,
    reference: &'static tiktoken_rs::CoreBPE,
}

static TIKTOKEN: LazyLock<Vec<TiktokenCase>> = LazyLock::new(|| {
    let registry = Registry::with_config(Config::default());
    [
        ("r50k_base", tiktoken_rs::r50k_base_singleton()),
        ("p50k_base", tiktoken_rs::p50k_base_singleton()),
        ("cl100k_base", tiktoken_rs::cl100k_base_singleton()),
        ("o200k_base", tiktoken_rs::o200k_base_singleton()),
    ]
    .into_iter()
    .map(|(name, reference)| {
        let adapter = registry.resolve(Some("tiktoken"), Some(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        TiktokenCase { name, adapter, reference }
    })
    .collect()
});

/// Every OpenAI encoding: our count equals tiktoken-rs's `encode_ordinary` (texts up to
/// [`REFERENCE_MAX_BYTES`]), and the estimate and limit checks agree with the count.
pub fn check_tiktoken(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for case in TIKTOKEN.iter() {
        let count = case.adapter.count(&text).unwrap_or_else(|e| panic!("{}: count failed: {e}", case.name));
        assert!(count.is_exact, "{}: tiktoken count not exact", case.name);
        let exact = count.count;
        if text.len() <= REFERENCE_MAX_BYTES {
            let reference = case.reference;
            if let Some(expected) = run_reference(|| reference.encode_ordinary(&text).len()) {
                if exact != expected as u64 {
                    panic!("{}: we count {exact}, tiktoken-rs counts {expected}, for {}", case.name, show(&text));
                }
            }
        }
        check_estimate_and_limits(case.name, &case.adapter, &text, exact);
    }
}

// ---------------------------------------------------------------------------------------------
// count_huggingface

/// The fixture tokenizers, built into the binary.
pub const FIXTURES: [(&str, &[u8]); 4] = [
    ("all-MiniLM-L6-v2", include_bytes!("../tests/fixtures/tokenizers/all-MiniLM-L6-v2/tokenizer.json")),
    ("gpt2", include_bytes!("../tests/fixtures/tokenizers/gpt2/tokenizer.json")),
    ("llama-style-bpe", include_bytes!("../tests/fixtures/tokenizers/llama-style-bpe/tokenizer.json")),
    ("t5-style-unigram", include_bytes!("../tests/fixtures/tokenizers/t5-style-unigram/tokenizer.json")),
];

/// tests/fixtures, from this crate (fuzz/) or the main one.
fn fixtures_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    [manifest.join("tests/fixtures"), manifest.join("../tests/fixtures")]
        .into_iter()
        .find(|p| p.join("tokenizers").is_dir())
        .expect("tests/fixtures next to the manifest or one level up")
}

struct HfCase {
    name: &'static str,
    /// Counting with and without the special tokens, through the registry like a user would.
    adapters: [(bool, Adapter); 2],
    reference: tokenizers::Tokenizer,
}

static HUGGINGFACE: LazyLock<Vec<HfCase>> = LazyLock::new(|| {
    let with_specials = Registry::from_toml("[tokenizer.huggingface]\nadd_special_tokens = true\n").expect("config");
    let without = Registry::from_toml("[tokenizer.huggingface]\nadd_special_tokens = false\n").expect("config");
    let dir = fixtures_dir().join("tokenizers");
    FIXTURES
        .iter()
        .map(|&(name, bytes)| {
            let path = dir.join(name).join("tokenizer.json");
            let path = path.to_str().expect("UTF-8 path");
            let resolve = |r: &Registry| r.resolve(Some("huggingface"), Some(path)).unwrap_or_else(|e| panic!("{e}"));
            let mut reference = tokenizers::Tokenizer::from_bytes(bytes).expect("fixture loads");
            reference.with_truncation(None).expect("no truncation");
            reference.with_padding(None);
            HfCase { name, adapters: [(true, resolve(&with_specials)), (false, resolve(&without))], reference }
        })
        .collect()
});

/// Every fixture tokenizer, with and without special tokens: our count equals the `tokenizers`
/// crate's `encode(text, add_special).len()` (both fail or neither), and the bounds hold.
pub fn check_huggingface(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for case in HUGGINGFACE.iter() {
        for (add_special, adapter) in &case.adapters {
            let label = format!("{} (add_special_tokens = {add_special})", case.name);
            let ours = adapter.count(&text).map(|c| c.count);
            let expected = case.reference.encode(&*text, *add_special).map(|e| e.len() as u64);
            match (ours, expected) {
                (Ok(ours), Ok(expected)) if ours == expected => check_estimate_and_limits(&label, adapter, &text, ours),
                (Err(_), Err(_)) => {}
                (ours, expected) => panic!(
                    "{label}: we count {:?}, tokenizers counts {:?}, for {}",
                    ours.map_err(|e| e.to_string()),
                    expected.map_err(|e| e.to_string()),
                    show(&text)
                ),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// config

/// The variables `Config::from_env` and `Registry::from_env` read, except
/// `KANO_TOKENIZER_CONFIG` (a file path: it would make the target read arbitrary files).
pub const ENV_NAMES: [&str; 10] = [
    "KANO_TOKENIZER_ADAPTER",
    "KANO_TOKENIZER_MODEL",
    "KANO_TOKENIZER_FALLBACK_CHAIN",
    "KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN",
    "KANO_TOKENIZER_TIKTOKEN_ENCODING",
    "KANO_TOKENIZER_MAX_INPUT_BYTES",
    "HF_HUB_CACHE",
    "HF_HOME",
    "XDG_CACHE_HOME",
    "HOME",
];

/// Uses a registry built from fuzzed settings, without touching the file system: the heuristic
/// adapter (chars_per_token, max_input_bytes). Not tiktoken: each new registry loads its rank
/// tables (about a second under ASan), which would make the target too slow to be useful; the
/// encoding and model settings are parsed here and resolved in the `ffi` target.
fn exercise_registry(registry: &Registry) {
    for model in [None, Some("gpt-4o"), Some("llama-3")] {
        if let Ok(a) = registry.resolve(Some("heuristic"), model) {
            for text in ["", "Hello, world!", "日本語のテキスト 123456"] {
                let count = a.count(text);
                let e = a.estimate(text);
                let check = a.check_limit(text, 3);
                if let (Ok(count), Ok(check)) = (count, check) {
                    assert_eq!((e.estimate, e.lower_bound, e.upper_bound), (count.count, count.count, count.count));
                    assert_eq!(check.within_limit, count.count <= 3, "heuristic check_limit: {check:?} for {count:?}");
                }
            }
        }
    }
}

/// The input as TOML (when it is UTF-8), then as environment values: each line is a variable,
/// its first byte picking the name from [`ENV_NAMES`] and the rest being the value. Never
/// panics; errors are fine.
pub fn check_config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::from_toml_str(text, None, Source::Toml);
        let _ = Config::from_toml_str(text, Some(Path::new("/nonexistent/base")), Source::Toml);
        if let Ok(registry) = Registry::from_toml(text) {
            exercise_registry(&registry);
        }
    }
    // Values are bytes, as in the process environment: not necessarily UTF-8.
    let vars: HashMap<&str, OsString> = data
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let (&pick, value) = line.split_first()?;
            Some((ENV_NAMES[pick as usize % ENV_NAMES.len()], OsString::from_vec(value.to_vec())))
        })
        .collect();
    let env = |name: &str| vars.get(name).cloned();
    if let Ok(mut config) = Config::from_env(&env) {
        let _ = config.apply_env(&env);
    }
    if let Ok(registry) = Registry::from_env(&env) {
        exercise_registry(&registry);
    }
}

// ---------------------------------------------------------------------------------------------
// tokenizer_json

/// Texts counted with every tokenizer that loads: empty, ASCII, accents, CJK, emoji, control
/// characters, long runs, digits, what special tokens look like.
pub const SAMPLE_TEXTS: [&str; 8] = [
    "",
    "Hello, world! The quick brown fox.",
    "naïve café Ünïcödé — 日本語のテキスト 🤖🎉 Привет",
    "    \n\t\r\n  x \u{0}\u{7f}\u{200b}",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
    "1234567890 3.14159 0xDEADBEEF",
    "[CLS] <s> </s> [SEP] <unk> <|endoftext|> [MASK] <pad>",
    "fn main() { println!(\"{}\", 1 + 2); }",
];

/// Arbitrary bytes as a tokenizer.json: loading may fail, but nothing panics, and for a
/// tokenizer that loads, counting the sample texts either fails or gives a count within the
/// estimate's bounds.
pub fn check_tokenizer_json(data: &[u8]) {
    let Ok(tokenizer) = HfTokenizer::from_bytes(data, "fuzz input") else { return };
    let _ = tokenizer.family();
    for text in SAMPLE_TEXTS {
        for add_special in [false, true] {
            let e = tokenizer.estimate(text, add_special);
            if let Ok(exact) = tokenizer.count(text, add_special) {
                if !(e.lower_bound <= exact && exact <= e.upper_bound) {
                    panic!(
                        "estimate {e:?} does not bound the exact count {exact} of {text:?} \
                         (add_special_tokens = {add_special})"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ffi

use kano_tokenizer::ffi::*;

const ADAPTER_NAMES: [&str; 7] = ["auto", "heuristic", "tiktoken", "huggingface", "", "Tiktoken", "bert"];
const MODEL_NAMES: [&str; 14] = [
    "gpt-4o",
    "gpt-4",
    "cl100k_base",
    "o200k_base",
    "r50k_base",
    "p50k_base",
    "text-davinci-003",
    "gpt2",
    "sentence-transformers/all-MiniLM-L6-v2",
    "text-embedding-3-small",
    "gpt-3.5-turbo-0301",
    "llama-3",
    "",
    "no-such-model",
];

/// A name from a fuzzed field: none (NULL) when the field is empty, a known name when it is one
/// byte, otherwise the bytes themselves (possibly invalid UTF-8). Fuzzed model names that could
/// be paths are replaced by a known name, so the target never reads arbitrary files.
fn pick_name(field: &[u8], known: &[&str], is_model: bool) -> Option<CString> {
    match field {
        [] => None,
        [b] => Some(CString::new(known[*b as usize % known.len()]).expect("no NUL")),
        bytes
            if is_model
                && (bytes.contains(&b'/')
                    || bytes.contains(&b'\\')
                    || bytes.starts_with(b"~")
                    || bytes.ends_with(b".json")) =>
        {
            Some(CString::new(known[bytes.len() % known.len()]).expect("no NUL"))
        }
        bytes => Some(CString::new(bytes).expect("split on NUL")),
    }
}

fn ptr(name: &Option<CString>) -> *const c_char {
    name.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

/// After a failure, the last error is a readable C string.
fn check_last_error(what: &str, status: KanoStatus) {
    assert_ne!(status, KanoStatus::Panic, "{what}: an internal panic was caught at the boundary");
    if status != KanoStatus::Ok {
        let message = kano_last_error();
        assert!(!message.is_null(), "{what}: {status:?} without a last error");
        // SAFETY: the library returns a NUL-terminated string valid until the next call.
        let _ = unsafe { CStr::from_ptr(message) }.to_bytes().len();
        let name = kano_status_str(status as u32);
        assert!(!name.is_null(), "{what}: no name for {status:?}");
    }
}

/// Splits the input on its first three NUL bytes: TOML for `kano_registry_from_toml`, the
/// adapter name, the model name, and the text (which may contain NULs and invalid UTF-8).
/// Every call returns a status; none panics or crashes; results are consistent.
pub fn check_ffi(data: &[u8]) {
    let mut parts = data.splitn(4, |&b| b == 0);
    let toml = parts.next().unwrap_or_default();
    let adapter_name = pick_name(parts.next().unwrap_or_default(), &ADAPTER_NAMES, false);
    let model_name = pick_name(parts.next().unwrap_or_default(), &MODEL_NAMES, true);
    let text = parts.next().unwrap_or_default();

    // SAFETY (this whole block): every pointer passed is NULL, or valid for the length given,
    // and each handle is freed once.
    unsafe {
        let mut registry: *mut KanoRegistry = std::ptr::null_mut();
        assert_eq!(
            kano_registry_from_toml(toml.as_ptr().cast(), toml.len(), std::ptr::null_mut()),
            KanoStatus::NullPointer
        );
        let status = kano_registry_from_toml(toml.as_ptr().cast(), toml.len(), &mut registry);
        check_last_error("kano_registry_from_toml", status);
        if status != KanoStatus::Ok {
            assert!(
                matches!(status, KanoStatus::InvalidUtf8 | KanoStatus::ConfigError),
                "kano_registry_from_toml: unexpected {status:?}"
            );
            assert_eq!(kano_registry_from_toml(std::ptr::null(), 0, &mut registry), KanoStatus::Ok);
        }
        assert!(!registry.is_null());

        // The fuzzed registry resolves the heuristic adapter (cheap: no rank table to load).
        let heuristic = CString::new("heuristic").expect("no NUL");
        let mut adapter: *mut KanoAdapter = std::ptr::null_mut();
        let status = kano_registry_resolve(registry, heuristic.as_ptr(), ptr(&model_name), &mut adapter);
        check_last_error("kano_registry_resolve(heuristic)", status);
        if status == KanoStatus::Ok {
            check_adapter(adapter, text);
        } else {
            assert!(adapter.is_null(), "kano_registry_resolve wrote an adapter on {status:?}");
        }
        // Adapters outlive their registry.
        kano_registry_free(registry);
        kano_registry_free(std::ptr::null_mut());
        if !adapter.is_null() {
            check_adapter(adapter, text);
            kano_adapter_free(adapter);
        }

        // The fuzzed names on a registry shared by every run (rank tables load once).
        let mut adapter: *mut KanoAdapter = std::ptr::null_mut();
        let status = kano_registry_resolve(SHARED_REGISTRY.0, ptr(&adapter_name), ptr(&model_name), &mut adapter);
        check_last_error("kano_registry_resolve", status);
        if status != KanoStatus::Ok {
            assert!(adapter.is_null(), "kano_registry_resolve wrote an adapter on {status:?}");
        }
        assert_eq!(
            kano_registry_resolve(SHARED_REGISTRY.0, ptr(&adapter_name), ptr(&model_name), std::ptr::null_mut()),
            KanoStatus::NullPointer
        );
        let mut unused: *mut KanoAdapter = std::ptr::null_mut();
        let status = kano_registry_resolve(std::ptr::null(), ptr(&adapter_name), ptr(&model_name), &mut unused);
        assert_eq!((status, unused), (KanoStatus::NullPointer, std::ptr::null_mut()));
        if adapter.is_null() {
            return;
        }
        check_adapter(adapter, text);
        kano_adapter_free(adapter);
        kano_adapter_free(std::ptr::null_mut());
    }
}

/// A registry from the FFI, created once and never freed.
struct SharedRegistry(*mut KanoRegistry);
// SAFETY: a KanoRegistry may be used from many threads at once (see kano_registry_resolve).
unsafe impl Send for SharedRegistry {}
unsafe impl Sync for SharedRegistry {}

static SHARED_REGISTRY: LazyLock<SharedRegistry> = LazyLock::new(|| {
    let mut registry = std::ptr::null_mut();
    // SAFETY: an empty TOML text may be NULL; `registry` is a valid out-pointer.
    let status = unsafe { kano_registry_from_toml(std::ptr::null(), 0, &mut registry) };
    assert_eq!(status, KanoStatus::Ok);
    SharedRegistry(registry)
});

/// Counting calls on a live adapter with the fuzzed text.
///
/// # Safety
/// `adapter` is a live adapter.
unsafe fn check_adapter(adapter: *const KanoAdapter, text: &[u8]) {
    unsafe {
        assert!(!kano_adapter_name(adapter).is_null() && !kano_adapter_model(adapter).is_null());
        let reason = kano_adapter_fallback_reason(adapter);
        assert!(reason.is_null() || !CStr::from_ptr(reason).to_bytes().is_empty());

        let utf8 = std::str::from_utf8(text).is_ok();
        let mut count = std::mem::zeroed::<KanoCount>();
        let status = kano_adapter_count(adapter, text.as_ptr().cast(), text.len(), &mut count);
        check_last_error("kano_adapter_count", status);
        let allowed = if utf8 {
            matches!(status, KanoStatus::Ok | KanoStatus::AdapterUnavailable | KanoStatus::InputTooLarge)
        } else {
            // The input limit is checked before the text is read, so it may come first.
            matches!(status, KanoStatus::InvalidUtf8 | KanoStatus::InputTooLarge)
        };
        assert!(allowed, "kano_adapter_count: {status:?} for {} bytes (UTF-8: {utf8})", text.len());
        assert!(utf8 || status != KanoStatus::Ok, "kano_adapter_count accepted invalid UTF-8");

        let mut estimate = std::mem::zeroed::<KanoEstimate>();
        let e_status = kano_adapter_estimate(adapter, text.as_ptr().cast(), text.len(), &mut estimate);
        check_last_error("kano_adapter_estimate", e_status);
        assert_eq!(e_status == KanoStatus::Ok, utf8, "kano_adapter_estimate: {e_status:?} (UTF-8: {utf8})");

        let max_tokens = if status == KanoStatus::Ok { count.count } else { text.len() as u64 / 3 };
        let mut check = std::mem::zeroed::<KanoLimitCheck>();
        let c_status = kano_adapter_check_limit(adapter, text.as_ptr().cast(), text.len(), max_tokens, &mut check);
        check_last_error("kano_adapter_check_limit", c_status);
        if status == KanoStatus::Ok {
            if count.is_exact {
                let exact = count.count;
                assert!(
                    estimate.lower_bound <= exact && exact <= estimate.upper_bound,
                    "kano_adapter_estimate: {estimate:?} does not bound the exact count {exact}"
                );
                assert_eq!(c_status, KanoStatus::Ok, "kano_adapter_check_limit failed where count succeeded");
                assert!(check.within_limit, "kano_adapter_check_limit: {check:?} with max_tokens = count = {exact}");
            }
        } else if !utf8 {
            assert_eq!(c_status, status, "count and check_limit disagree on invalid UTF-8");
        }

        // Misuse that must give a status, never a read: NULL text with a length, NULL out, a
        // length past any buffer, zero length with NULL.
        let null_text = kano_adapter_count(adapter, std::ptr::null(), text.len().max(1), &mut count);
        assert_ne!(null_text, KanoStatus::Ok, "NULL text with a length accepted");
        check_last_error("kano_adapter_count(NULL, n)", null_text);
        let empty = kano_adapter_count(adapter, std::ptr::null(), 0, &mut count);
        assert_eq!(empty, KanoStatus::Ok, "NULL text with length 0 refused");
        let null_out = kano_adapter_count(adapter, text.as_ptr().cast(), text.len(), std::ptr::null_mut());
        assert_eq!(null_out, KanoStatus::NullPointer);
        let huge = kano_adapter_estimate(adapter, text.as_ptr().cast(), usize::MAX / 2 + 1, &mut estimate);
        assert_ne!(huge, KanoStatus::Ok, "a length beyond SIZE_MAX/2 accepted");
        check_last_error("kano_adapter_estimate(huge)", huge);
        let huge =
            kano_adapter_check_limit(adapter, text.as_ptr().cast(), usize::MAX - text.len() as usize, 1, &mut check);
        assert_ne!(huge, KanoStatus::Ok, "a length beyond SIZE_MAX/2 accepted");
    }
}
