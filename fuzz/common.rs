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

use kano_tokenizer::{Adapter, AdapterName, Config, ConfigSource, HfTokenizer, Registry};

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

/// Called once by every fuzz target, after libFuzzer's hook (which aborts on any panic) is in
/// place: sets [`IN_FUZZER`], and lets through, without aborting, the panics raised inside the
/// `tokenizers` crate. Our crate path catches those on purpose and turns them into errors
/// (src/huggingface/crate_path.rs: "AddedVocabulary bad split" on some texts); a crate panic
/// that escapes our API still aborts, in libfuzzer-sys's `catch_unwind` around each input, and
/// so does every panic anywhere else.
pub fn fuzz_init() {
    IN_FUZZER.store(true, Ordering::Relaxed);
    let libfuzzer_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_crate = info.location().is_some_and(|l| l.file().contains("/tokenizers-"));
        if !in_crate {
            libfuzzer_hook(info);
        }
    }));
}

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
        let adapter = registry.resolve(AdapterName::Tiktoken, name).unwrap_or_else(|e| panic!("{name}: {e}"));
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
            let resolve = |r: &Registry| r.resolve(AdapterName::Huggingface, path).unwrap_or_else(|e| panic!("{e}"));
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
        if let Ok(a) = match model {
            Some(m) => registry.resolve(AdapterName::Heuristic, m),
            None => registry.resolve_adapter(AdapterName::Heuristic),
        } {
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
        let _ = Config::from_toml_str(text, None, ConfigSource::Toml);
        let _ = Config::from_toml_str(text, Some(Path::new("/nonexistent/base")), ConfigSource::Toml);
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

// ---------------------------------------------------------------------------------------------
// hf_normalizers, hf_pre_tokenizers, hf_added_tokens, hf_unigram, hf_sentencepiece_bpe
//
// Each builds a small tokenizer.json from the input, byte by byte: the part the target is named
// for is drawn from everything our engine reads (and some things it refuses), the others from a
// few plain choices. Our engine loads it; where it serves the file (not the crate path), its
// count of the input's text must equal the `tokenizers` crate's, and the estimate must bound it.
// Files the generator marks hostile (a mutated charsmap, an empty Replace pattern, ...) only go
// to our loader, which must refuse them or count without panicking.

use serde_json::{json, Value};

/// The part a pipeline target draws richly.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Part {
    Normalizer,
    PreTokenizer,
    AddedTokens,
    Unigram,
    SentencePieceBpe,
}

/// The input's first byte `n`: the next `n` bytes drive the generator (zeros once they run out),
/// the rest is the text. So a mutation of the text leaves the pipeline alone, and back.
struct Gen<'a> {
    data: &'a [u8],
    /// Set when the file holds something the crate mishandles: ours alone loads it.
    hostile: bool,
}

impl Gen<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    fn below(&mut self, n: usize) -> usize {
        self.byte() as usize % n.max(1)
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.byte() as usize * 100 < percent * 256
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// What text bytes 0x80-0xff stand for (ASCII bytes stand for themselves): the characters the
/// pipelines treat specially. Indexes past this list pick the file's own tokens.
const TEXT_PIECES: [&str; 48] = [
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\u{a0}",
    "\u{3000}",
    "\u{2028}",
    "\u{200b}",
    "\u{feff}",
    "\u{0}",
    "\u{1}",
    "\u{7f}",
    "\u{85}",
    "é",
    "e\u{301}",
    "\u{301}",
    "İ",
    "ß",
    "ñ",
    "Å",
    "ﬁ",
    "Ａ",
    "²",
    "٣",
    "中",
    "文",
    "東京",
    "ひら",
    "한",
    "😀",
    "👩\u{200d}💻",
    "🇩🇪",
    "▁",
    "▁▁",
    "'s",
    "'T",
    "...",
    "¿",
    "€",
    "\u{1d165}\u{1d16d}",
    "Ω",
    "ΣΊ",
    "\u{fffd}",
    "\u{e000}",
    "<s>",
    "</s>",
    "<unk>",
];

fn fuzz_text(bytes: &[u8], tokens: &[String]) -> String {
    let mut text = String::new();
    for &b in bytes {
        if text.len() >= REFERENCE_MAX_BYTES {
            break;
        }
        if b < 0x80 {
            text.push(b as char);
        } else {
            let i = (b & 0x7f) as usize;
            match TEXT_PIECES.get(i) {
                Some(piece) => text.push_str(piece),
                None if !tokens.is_empty() => text.push_str(&tokens[(i - TEXT_PIECES.len()) % tokens.len()]),
                None => text.push_str(TEXT_PIECES[i % TEXT_PIECES.len()]),
            }
        }
    }
    text
}

/// Characters vocabularies are made of.
const VOCAB_CHARS: [&str; 24] = [
    "a", "b", "c", "d", "e", "A", "B", "0", "1", " ", "▁", ".", ",", "'", "!", "é", "ß", "中", "文", "😀", "\u{301}",
    "İ", "\n", "s",
];

fn gen_word(g: &mut Gen, max: usize) -> String {
    (0..1 + g.below(max)).map(|_| g.pick(&VOCAB_CHARS)).collect()
}

const BEHAVIORS_ALL: [&str; 5] = ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"];

/// Split and Replace patterns both engines take, and that backtrack in linear time in the
/// crate: the real split patterns and short ones.
const SAFE_REGEXES: [&str; 16] = [
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"\p{N}{1,3}",
    r"[0-9][0-9][0-9]",
    r" ?[a-z]+",
    r"\s+",
    r" {2,}",
    r"\w+|[^\w\s]+",
    r"(?i)ab",
    r"a|b",
    r"▁",
    r"\d",
    r"[\p{P}\p{S}]",
    r"\p{Han}|\p{Hiragana}",
    r".",
];

fn gen_normalizer(g: &mut Gen, rich: bool, depth: usize) -> Value {
    if !rich {
        return match g.below(6) {
            0 | 1 => Value::Null,
            2 => json!({"type": "NFKC"}),
            3 => json!({"type": "Lowercase"}),
            4 => json!({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                        {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}),
            _ => json!({"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                        "strip_accents": null, "lowercase": true}),
        };
    }
    match g.below(if depth < 2 { 17 } else { 16 }) {
        0 => json!({"type": "NFC"}),
        1 => json!({"type": "NFD"}),
        2 => json!({"type": "NFKC"}),
        3 => json!({"type": "NFKD"}),
        4 => json!({"type": "Lowercase"}),
        5 => json!({"type": "StripAccents"}),
        6 => json!({"type": "Strip", "strip_left": g.chance(50), "strip_right": g.chance(50)}),
        7 => json!({"type": "Prepend", "prepend": g.pick(&["▁", "x", " ", "", "ab", "\u{301}"])}),
        8 | 9 => {
            let pattern = if g.chance(8) {
                // Hostile: an empty pattern inserts the content between every two characters.
                g.hostile = true;
                String::new()
            } else {
                gen_word(g, 2)
            };
            let content = match g.below(6) {
                0 => "".to_string(),
                1 => "▁".to_string(),
                2 => " ".to_string(),
                3 => gen_word(g, 3),
                // Long content: growth the engine must bound.
                4 => "ab".repeat(1 + g.below(40)),
                _ => "\u{301}".to_string(),
            };
            json!({"type": "Replace", "pattern": {"String": pattern}, "content": content})
        }
        10 => {
            let content = g.pick(&["", " ", "▁", "x", "  "]);
            json!({"type": "Replace", "pattern": {"Regex": g.pick(&SAFE_REGEXES)}, "content": content})
        }
        11 => {
            let strip_accents = [json!(null), json!(true), json!(false)][g.below(3)].clone();
            json!({"type": "BertNormalizer", "clean_text": g.chance(50), "handle_chinese_chars": g.chance(50),
                   "strip_accents": strip_accents, "lowercase": g.chance(50)})
        }
        12 => json!({"type": "Nmt"}),
        13 => json!({"type": "Precompiled", "precompiled_charsmap": gen_charsmap(g)}),
        14 => json!({"type": "ByteLevel"}),
        15 => json!({"type": "Replace", "pattern": {"String": " "}, "content": "▁"}),
        _ => {
            let n = g.below(4);
            json!({"type": "Sequence", "normalizers": (0..n).map(|_| gen_normalizer(g, true, depth + 1)).collect::<Vec<_>>()})
        }
    }
}

/// The small SentencePiece charsmap of tests/fixtures/unigram/spm_small.json, as is or, now and
/// then, mutated (hostile: truncated, sizes changed, bytes flipped).
fn gen_charsmap(g: &mut Gen) -> String {
    let good = SPM_SMALL["normalizer"]["precompiled_charsmap"].as_str().expect("a charsmap");
    if !g.chance(20) {
        return good.to_string();
    }
    g.hostile = true;
    let mut bytes = decode_base64_loose(good);
    match g.below(4) {
        0 => bytes.truncate(g.below(bytes.len() + 1)),
        1 => {
            let at = g.below(4);
            bytes[at] = g.byte();
        }
        2 => {
            for _ in 0..1 + g.below(8) {
                let at = g.below(bytes.len());
                bytes[at] ^= 1 << g.below(8);
            }
        }
        _ => bytes = (0..g.below(12)).map(|_| g.byte()).collect(),
    }
    encode_base64(&bytes)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn encode_base64(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn decode_base64_loose(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let Some(v) = B64.iter().position(|&x| x == c) else { continue };
        acc = acc << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

static SPM_SMALL: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_slice(include_bytes!("../tests/fixtures/unigram/spm_small.json")).expect("spm_small.json")
});

fn gen_pre_step(g: &mut Gen) -> Value {
    match g.below(14) {
        0 => json!({"type": "Whitespace"}),
        1 => json!({"type": "WhitespaceSplit"}),
        2 => json!({"type": "Punctuation", "behavior": g.pick(&BEHAVIORS_ALL)}),
        3 => json!({"type": "Digits", "individual_digits": g.chance(50)}),
        4 | 5 => {
            let scheme = g.pick(&["always", "first", "never"]);
            let mut m = json!({"type": "Metaspace", "replacement": g.pick(&["▁", "▁", "_", " "]), "prepend_scheme": scheme,
                               "split": g.chance(50)});
            if g.chance(20) {
                m["add_prefix_space"] = json!(scheme != "never");
            }
            m
        }
        6 => json!({"type": "Split", "pattern": {"String": gen_word(g, 2)}, "behavior": g.pick(&BEHAVIORS_ALL),
                    "invert": g.chance(30)}),
        7 | 8 => {
            json!({"type": "Split", "pattern": {"Regex": g.pick(&SAFE_REGEXES)}, "behavior": g.pick(&BEHAVIORS_ALL),
                        "invert": g.chance(30)})
        }
        9 => json!({"type": "BertPreTokenizer"}),
        10 => json!({"type": "CharDelimiterSplit", "delimiter": g.pick(&[" ", "a", "▁", "中"])}),
        11 => json!({"type": "FixedLength", "length": g.below(7)}),
        12 => json!({"type": "UnicodeScripts"}),
        _ => json!({"type": "ByteLevel", "add_prefix_space": g.chance(50), "trim_offsets": g.chance(50),
                    "use_regex": g.chance(50)}),
    }
}

/// A pre-tokenizer, and whether it has a `ByteLevel` step.
fn gen_pre_tokenizer(g: &mut Gen, rich: bool) -> (Value, bool) {
    if !rich {
        return match g.below(5) {
            0 | 1 => (Value::Null, false),
            2 => (json!({"type": "WhitespaceSplit"}), false),
            3 => (json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}), false),
            _ => (json!({"type": "Whitespace"}), false),
        };
    }
    let steps: Vec<Value> = (0..g.below(4)).map(|_| gen_pre_step(g)).collect();
    let byte_level = steps.iter().any(|s| s["type"] == "ByteLevel");
    let value = match steps.len() {
        0 => Value::Null,
        1 if g.chance(50) => steps[0].clone(),
        _ => json!({"type": "Sequence", "pretokenizers": steps}),
    };
    (value, byte_level)
}

/// The byte-level character of each byte (GPT-2's table).
fn byte_level_chars() -> Vec<char> {
    let mut extra = 0u32;
    (0..=255u32)
        .map(|b| {
            if matches!(b, 0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff) {
                char::from_u32(b).unwrap_or('?')
            } else {
                extra += 1;
                char::from_u32(255 + extra).unwrap_or('?')
            }
        })
        .collect()
}

/// A vocabulary under construction: tokens in id order, without repeats.
#[derive(Default)]
struct Vocab {
    tokens: Vec<String>,
    seen: std::collections::HashSet<String>,
}

impl Vocab {
    fn add(&mut self, token: String) -> bool {
        if self.seen.insert(token.clone()) {
            self.tokens.push(token);
            true
        } else {
            false
        }
    }
}

/// A BPE model: base characters, random merges in training order, byte fallback with all or some
/// `<0xNN>` tokens, and the SentencePiece options (fuse_unk, an unk_token maybe missing).
fn gen_bpe(g: &mut Gen, rich: bool, byte_level: bool) -> Value {
    let mut v = Vocab::default();
    if byte_level {
        for c in byte_level_chars() {
            v.add(c.to_string());
        }
    } else {
        for c in VOCAB_CHARS {
            if !rich || g.chance(80) {
                v.add(c.to_string());
            }
        }
    }
    let byte_fallback = !byte_level && (!rich || g.chance(70));
    if byte_fallback {
        let partial = rich && g.chance(15);
        for b in 0..=255u32 {
            if !partial || g.chance(90) {
                v.add(format!("<0x{b:02X}>"));
            }
        }
    }
    let unk = match if rich { g.below(4) } else { 0 } {
        0 | 1 => Some("<unk>"),
        2 => None,
        // Hostile-looking but valid for both: an unk_token that is not in the vocabulary.
        _ => Some("<missing>"),
    };
    if unk == Some("<unk>") {
        v.add("<unk>".into());
    }
    let bases = v.tokens.len();
    let mut merges: Vec<(String, String)> = Vec::new();
    let mut merged = std::collections::HashSet::new();
    for _ in 0..g.below(if rich { 160 } else { 60 }) {
        if v.tokens.is_empty() {
            break;
        }
        let pool = if g.chance(60) { bases } else { v.tokens.len() };
        let a = v.tokens[g.below(pool)].clone();
        let b = v.tokens[g.below(v.tokens.len())].clone();
        if a.starts_with("<0x") || b.starts_with("<0x") || a.starts_with('<') || b.starts_with('<') {
            continue;
        }
        if a.chars().count() + b.chars().count() > 8 || !merged.insert((a.clone(), b.clone())) {
            continue;
        }
        v.add(format!("{a}{b}"));
        merges.push((a, b));
    }
    if !byte_level {
        for (x, y) in [("▁", "a"), ("▁", "b"), ("a", "b"), ("▁a", "b"), ("a", "a"), ("▁", "▁")] {
            if v.seen.contains(x) && v.seen.contains(y) && merged.insert((x.to_string(), y.to_string())) {
                v.add(format!("{x}{y}"));
                merges.push((x.to_string(), y.to_string()));
            }
        }
    }
    let vocab: serde_json::Map<String, Value> =
        v.tokens.iter().enumerate().map(|(i, t)| (t.clone(), json!(i))).collect();
    let as_strings = g.chance(50) && merges.iter().all(|(a, b)| !a.contains(' ') && !b.contains(' '));
    let merges: Vec<Value> =
        merges.iter().map(|(a, b)| if as_strings { json!(format!("{a} {b}")) } else { json!([a, b]) }).collect();
    json!({
        "type": "BPE",
        "dropout": null,
        "unk_token": unk,
        "continuing_subword_prefix": null,
        "end_of_word_suffix": null,
        "fuse_unk": rich && g.chance(50) || !rich,
        "byte_fallback": byte_fallback,
        "ignore_merges": rich && g.chance(25),
        "vocab": vocab,
        "merges": merges,
    })
}

/// A Unigram model: `<unk>` (or none), characters, short words with scores from the input (ties
/// included), byte fallback with all or some byte tokens, and now and then a hostile part.
fn gen_unigram(g: &mut Gen, rich: bool) -> Value {
    let mut v = Vocab::default();
    let unk_at = if rich { g.below(3) } else { 0 };
    let has_unk = !rich || g.chance(80);
    let mut pieces: Vec<(String, f64)> = Vec::new();
    let score = |g: &mut Gen| -> f64 {
        match g.below(16) {
            0 => 0.0,
            1 => -1e30,
            2 => 3.5,
            // Ties: the same score again and again.
            3 | 4 | 5 => -2.0,
            _ => -(g.byte() as f64) / 16.0 - 0.25,
        }
    };
    for c in VOCAB_CHARS {
        if !rich || g.chance(75) {
            let s = score(g);
            if v.add(c.to_string()) {
                pieces.push((c.to_string(), s));
            }
        }
    }
    for _ in 0..g.below(if rich { 120 } else { 40 }) {
        let w = if g.chance(40) { format!("▁{}", gen_word(g, 3)) } else { gen_word(g, 4) };
        let s = score(g);
        if v.add(w.clone()) {
            pieces.push((w, s));
        } else if rich && g.chance(5) {
            // A repeated piece: both keep the first id.
            pieces.push((w, s));
        }
    }
    let byte_fallback = rich && g.chance(40);
    if byte_fallback {
        let partial = g.chance(20);
        for b in 0..=255u32 {
            if !partial || g.chance(90) {
                pieces.push((format!("<0x{b:02X}>"), 0.0));
            }
        }
    }
    let unk_id = if has_unk {
        let at = unk_at.min(pieces.len());
        pieces.insert(at, ("<unk>".into(), 0.0));
        match if rich { g.below(20) } else { 1 } {
            // Out of range: both refuse.
            0 => json!(pieces.len() + g.below(3)),
            _ => json!(at),
        }
    } else {
        Value::Null
    };
    if rich && g.chance(3) {
        pieces.push((String::new(), -1.0));
    }
    let vocab: Vec<Value> = pieces.iter().map(|(p, s)| json!([p, s])).collect();
    json!({"type": "Unigram", "unk_id": unk_id, "vocab": vocab, "byte_fallback": byte_fallback})
}

fn gen_wordpiece(g: &mut Gen) -> Value {
    let mut vocab = serde_json::Map::new();
    for t in ["[UNK]", "[CLS]", "[SEP]"] {
        vocab.insert(t.into(), json!(vocab.len()));
    }
    for c in VOCAB_CHARS {
        let n = vocab.len();
        vocab.entry(c.to_string()).or_insert(json!(n));
        let n = vocab.len();
        vocab.entry(format!("##{c}")).or_insert(json!(n));
    }
    for _ in 0..g.below(60) {
        let w = gen_word(g, 3);
        let w = if g.chance(40) { format!("##{w}") } else { w };
        let n = vocab.len();
        vocab.entry(w).or_insert(json!(n));
    }
    json!({"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
           "max_input_chars_per_word": g.pick(&[3usize, 8, 100]), "vocab": vocab})
}

/// The tokens a model's vocabulary holds, for texts and added tokens to use.
fn model_tokens(model: &Value) -> Vec<String> {
    match &model["vocab"] {
        Value::Object(map) => map.keys().filter(|k| !k.starts_with("<0x")).cloned().collect(),
        Value::Array(list) => {
            list.iter().filter_map(|e| e[0].as_str()).filter(|k| !k.starts_with("<0x")).map(String::from).collect()
        }
        _ => Vec::new(),
    }
}

/// Added tokens: contents from the vocabulary, specials, words, whitespace and (hostile-looking
/// but loaded by both) an empty content; flags at random; ids in the vocabulary or past it.
fn gen_added(g: &mut Gen, rich: bool, tokens: &[String], vocab_len: usize) -> (Value, Vec<String>) {
    let n = if rich { g.below(8) } else { g.below(3) };
    let mut list = Vec::new();
    let mut contents = Vec::new();
    for i in 0..n {
        let content = match g.below(if rich { 10 } else { 3 }) {
            0 => g.pick(&["<s>", "</s>", "<unk>", "[CLS]", "[SEP]", "<|endoftext|>", "<pad>"]).to_string(),
            1 => format!("[T{i}]"),
            2 if !tokens.is_empty() => tokens[g.below(tokens.len())].clone(),
            3 => gen_word(g, 3),
            4 => g.pick(&[" ", "▁", "\n", "  ", "a", "é", "e\u{301}", "İ", "<0x41>", "中文"]).to_string(),
            5 => format!("{}{}", gen_word(g, 2), g.pick(&[" ", "▁", "!"])),
            6 => "A".repeat(1 + g.below(5)),
            7 if g.chance(10) => String::new(),
            _ => format!("<s{i}>"),
        };
        let id = if g.chance(30) { g.below(vocab_len.max(1)) } else { vocab_len + i + g.below(2) * 1000 };
        list.push(json!({"id": id, "content": content, "single_word": rich && g.chance(30),
                         "lstrip": rich && g.chance(30), "rstrip": rich && g.chance(30),
                         "normalized": g.chance(50), "special": g.chance(50)}));
        if !content.is_empty() {
            contents.push(content);
        }
    }
    (Value::Array(list), contents)
}

fn gen_post(g: &mut Gen, specials: &[&str]) -> Value {
    let special = |s: &str| json!({"SpecialToken": {"id": s, "type_id": 0}});
    let a = json!({"Sequence": {"id": "A", "type_id": 0}});
    let b = json!({"Sequence": {"id": "B", "type_id": 1}});
    let tokens: serde_json::Map<String, Value> =
        specials.iter().map(|s| (s.to_string(), json!({"id": s, "ids": [1], "tokens": [s]}))).collect();
    match g.below(4) {
        0 | 1 => Value::Null,
        2 => json!({"type": "TemplateProcessing", "single": [special(specials[0]), a.clone()],
                    "pair": [special(specials[0]), a, b], "special_tokens": tokens}),
        _ => json!({"type": "TemplateProcessing", "single": [a.clone(), special(specials[1])],
                    "pair": [a, special(specials[1]), b, special(specials[1])], "special_tokens": tokens}),
    }
}

/// A tokenizer.json from the generator, and the strings its texts should be made of.
fn gen_tokenizer(g: &mut Gen, part: Part) -> (Value, Vec<String>) {
    let normalizer = gen_normalizer(g, part == Part::Normalizer, 0);
    let (pre_tokenizer, byte_level) = match part {
        Part::PreTokenizer => gen_pre_tokenizer(g, true),
        Part::Unigram | Part::SentencePieceBpe => match g.below(4) {
            0 => (Value::Null, false),
            1 => (
                json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": g.pick(&["always", "first", "never"]),
                         "split": g.chance(50)}),
                false,
            ),
            2 => (
                json!({"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"},
                         {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}]}),
                false,
            ),
            _ => gen_pre_tokenizer(g, false),
        },
        _ => gen_pre_tokenizer(g, false),
    };
    let byte_level = byte_level || normalizer.to_string().contains("\"ByteLevel\"");
    let model = match part {
        Part::Unigram => gen_unigram(g, true),
        Part::SentencePieceBpe => gen_bpe(g, true, false),
        _ => match g.below(5) {
            _ if byte_level => gen_bpe(g, false, true),
            0 | 1 => gen_bpe(g, false, false),
            2 => gen_unigram(g, false),
            3 => gen_wordpiece(g),
            _ => gen_bpe(g, part == Part::AddedTokens, false),
        },
    };
    let mut tokens = model_tokens(&model);
    let vocab_len = tokens.len() + 300;
    let (added, contents) = gen_added(g, part == Part::AddedTokens, &tokens, vocab_len);
    let post = gen_post(g, &["<s>", "</s>"]);
    // Added tokens first: texts pick them most.
    let mut pieces = contents;
    tokens.truncate(64);
    pieces.extend(tokens);
    let json = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": normalizer, "pre_tokenizer": pre_tokenizer, "post_processor": post,
        "decoder": null, "model": model,
    });
    (json, pieces)
}

/// Refusals of ours that are deliberate where the crate loads the file: growth without bound,
/// added tokens the crate matches at random, a FixedLength of 0 (the crate loops forever).
const DELIBERATE_REFUSALS: [&str; 3] = ["refused", "at random", "FixedLength pre_tokenizer of length 0"];

/// The crate's tokenizer for `bytes`, with truncation and padding off; `None` if it refuses or
/// panics.
fn crate_tokenizer(bytes: &[u8]) -> Option<tokenizers::Tokenizer> {
    let mut t = run_reference(|| tokenizers::Tokenizer::from_bytes(bytes))?.ok()?;
    t.with_truncation(None).ok()?;
    t.with_padding(None);
    Some(t)
}

/// One pipeline target: see the comment above [`Part`].
pub fn check_pipeline(part: Part, data: &[u8]) {
    let (&n, rest) = data.split_first().unwrap_or((&0, &[]));
    let (spec, text_bytes) = rest.split_at((n as usize).min(rest.len()));
    let mut g = Gen { data: spec, hostile: false };
    let (json, pieces) = gen_tokenizer(&mut g, part);
    let text = fuzz_text(text_bytes, &pieces);
    let bytes = serde_json::to_vec(&json).expect("serializes");
    if std::env::var_os("FUZZ_SHOW").is_some() {
        // To look at an input: FUZZ_SHOW=1 fuzz/target/<triple>/release/<target> <file>
        eprintln!("tokenizer.json: {json}\ntext: {text:?}");
    }
    let ours = HfTokenizer::from_bytes(&bytes, "fuzz pipeline");
    if let Ok(t) = &ours {
        check_bounds(t, &text);
    }
    if g.hostile {
        return;
    }
    let reference = crate_tokenizer(&bytes);
    let ours = match (ours, reference) {
        (Ok(o), Some(r)) => (o, r),
        (Err(_), None) => return,
        (Err(e), Some(_)) if DELIBERATE_REFUSALS.iter().any(|d| e.message().contains(d)) => return,
        (Err(e), Some(_)) => panic!("{part:?}: the crate loads it, ours refuses: {e}\n{json}"),
        (Ok(o), None) => panic!("{part:?}: the crate refuses it (or panics), ours loads it ({})\n{json}", o.engine()),
    };
    let (ours, reference) = ours;
    if ours.engine() == "tokenizers" {
        return;
    }
    for add_special in [false, true] {
        let Some(want) = run_reference(std::panic::AssertUnwindSafe(|| {
            reference.encode(text.as_str(), add_special).map(|e| e.len() as u64)
        })) else {
            continue;
        };
        let got = ours.count(&text, add_special);
        match (&got, &want) {
            (Ok(a), Ok(b)) if a == b => {}
            (Err(_), Err(_)) => {}
            (Err(e), Ok(_)) if e.kind() == kano_tokenizer::ErrorKind::InputTooLarge => {}
            _ => panic!(
                "{part:?}, add_special_tokens = {add_special}, engine {}: we count {:?}, tokenizers counts {:?}, for {}\n{json}",
                ours.engine(),
                got.map_err(|e| e.to_string()),
                want.map_err(|e| e.to_string()),
                show(&text)
            ),
        }
    }
}

/// The estimate bounds every exact count.
fn check_bounds(tokenizer: &HfTokenizer, text: &str) {
    for add_special in [false, true] {
        let e = tokenizer.estimate(text, add_special);
        if let Ok(exact) = tokenizer.count(text, add_special) {
            if !(e.lower_bound <= exact && exact <= e.upper_bound) {
                panic!(
                    "{}: estimate {e:?} does not bound the exact count {exact} of {} (add_special_tokens = {add_special})",
                    tokenizer.engine(),
                    show(text)
                );
            }
        }
    }
}

pub fn check_hf_normalizers(data: &[u8]) {
    check_pipeline(Part::Normalizer, data)
}
pub fn check_hf_pre_tokenizers(data: &[u8]) {
    check_pipeline(Part::PreTokenizer, data)
}
pub fn check_hf_added_tokens(data: &[u8]) {
    check_pipeline(Part::AddedTokens, data)
}
pub fn check_hf_unigram(data: &[u8]) {
    check_pipeline(Part::Unigram, data)
}
pub fn check_hf_sentencepiece_bpe(data: &[u8]) {
    check_pipeline(Part::SentencePieceBpe, data)
}
