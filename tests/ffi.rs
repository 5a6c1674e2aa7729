//! The C ABI called from Rust: NULLs, bad UTF-8, unknown names, hostile config, ownership.

mod common;

use std::ffi::{c_char, CStr, CString};
use std::ptr::{null, null_mut};

use kano_tokenizer::ffi::*;

fn last_error() -> String {
    // SAFETY: kano_last_error never returns NULL and the string is valid until the next failure.
    unsafe { CStr::from_ptr(kano_last_error()) }.to_string_lossy().into_owned()
}

fn s(text: &str) -> CString {
    CString::new(text).unwrap()
}

fn registry_from_toml(toml: &str) -> Result<*mut KanoRegistry, (KanoStatus, String)> {
    let mut out = null_mut();
    let status = unsafe { kano_registry_from_toml(toml.as_ptr().cast(), toml.len(), &mut out) };
    if status == KanoStatus::Ok {
        Ok(out)
    } else {
        assert!(out.is_null(), "out-parameter written on failure");
        Err((status, last_error()))
    }
}

fn resolve(
    registry: *const KanoRegistry,
    adapter: Option<&str>,
    model: Option<&str>,
) -> Result<*mut KanoAdapter, (KanoStatus, String)> {
    let adapter = adapter.map(s);
    let model = model.map(s);
    let sentinel = std::ptr::dangling_mut::<KanoAdapter>();
    let mut out = sentinel;
    let status = unsafe {
        kano_registry_resolve(
            registry,
            adapter.as_ref().map_or(null(), |a| a.as_ptr()),
            model.as_ref().map_or(null(), |m| m.as_ptr()),
            &mut out,
        )
    };
    if status == KanoStatus::Ok {
        Ok(out)
    } else {
        assert_eq!(out, sentinel, "out-parameter written on failure");
        Err((status, last_error()))
    }
}

fn count(adapter: *const KanoAdapter, bytes: &[u8]) -> Result<KanoCount, (KanoStatus, String)> {
    let mut out = KanoCount { count: 12345, is_exact: false, method: KanoMethod::Heuristic };
    let status = unsafe { kano_adapter_count(adapter, bytes.as_ptr().cast(), bytes.len(), &mut out) };
    if status == KanoStatus::Ok {
        Ok(out)
    } else {
        assert_eq!(out.count, 12345, "out-parameter written on failure");
        Err((status, last_error()))
    }
}

fn cstr(p: *const c_char) -> String {
    assert!(!p.is_null());
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

#[test]
fn version_and_status_strings() {
    assert_eq!(cstr(kano_version()), env!("CARGO_PKG_VERSION"));
    let statuses = [
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
    let strings: std::collections::HashSet<String> =
        statuses.iter().map(|&st| cstr(kano_status_str(st as u32))).collect();
    assert_eq!(strings.len(), statuses.len());
    for (i, st) in statuses.iter().enumerate() {
        assert_eq!(*st as i32, i as i32, "status values are stable");
    }
    // Any integer is safe: one that is no status (from a newer header, say) is described as such.
    for unknown in [16, 999, u32::MAX] {
        assert_eq!(cstr(kano_status_str(unknown)), "unknown status");
    }
    assert_eq!(KanoMethod::Heuristic as i32, 0);
    assert_eq!(KanoMethod::Tiktoken as i32, 1);
    assert_eq!(KanoMethod::Huggingface as i32, 2);
}

#[test]
fn header_version_macros_match_cargo() {
    let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/kano_tokenizer.h")).unwrap();
    for (macro_name, value) in [
        ("KANO_VERSION_MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("KANO_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("KANO_VERSION_PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ] {
        assert!(header.contains(&format!("#define {macro_name} {value}\n")), "{macro_name}");
    }
}

#[test]
fn null_pointers_are_reported() {
    unsafe {
        assert_eq!(kano_registry_new(null_mut()), KanoStatus::NullPointer);
        assert!(last_error().contains("out"), "{}", last_error());
        assert_eq!(kano_registry_from_toml(null(), 0, null_mut()), KanoStatus::NullPointer);
        let mut reg = null_mut();
        assert_eq!(kano_registry_from_toml(null(), 5, &mut reg), KanoStatus::NullPointer);
        assert!(reg.is_null());
        assert_eq!(kano_registry_from_config(null(), &mut reg), KanoStatus::NullPointer);
        assert!(last_error().contains("toml_path"), "{}", last_error());
        let mut adapter = null_mut();
        assert_eq!(kano_registry_resolve(null(), null(), null(), &mut adapter), KanoStatus::NullPointer);
        assert!(last_error().contains("registry"), "{}", last_error());
        assert!(kano_adapter_name(null()).is_null());
        assert!(kano_adapter_model(null()).is_null());
        assert!(kano_adapter_fallback_reason(null()).is_null());
        assert!(last_error().contains("kano_adapter_fallback_reason: adapter is NULL"), "{}", last_error());
        let mut out = KanoCount { count: 7, is_exact: true, method: KanoMethod::Tiktoken };
        assert_eq!(kano_adapter_count(null(), null(), 0, &mut out), KanoStatus::NullPointer);
        assert_eq!(out.count, 7);
        kano_adapter_free(null_mut());
        kano_registry_free(null_mut());
    }
    // NULL registry pointer in resolve, NULL out.
    let reg = registry_from_toml("").unwrap();
    unsafe {
        assert_eq!(kano_registry_resolve(reg, null(), null(), null_mut()), KanoStatus::NullPointer);
        kano_registry_free(reg);
    }
}

#[test]
fn text_rules() {
    let reg = registry_from_toml("").unwrap();
    let tik = resolve(reg, Some("tiktoken"), Some("gpt-4")).unwrap();
    unsafe {
        // NULL with length 0 is the empty text.
        let mut out = KanoCount { count: 99, is_exact: false, method: KanoMethod::Heuristic };
        assert_eq!(kano_adapter_count(tik, null(), 0, &mut out), KanoStatus::Ok);
        assert_eq!((out.count, out.is_exact, out.method), (0, true, KanoMethod::Tiktoken));
        // NULL with a length is an error.
        assert_eq!(kano_adapter_count(tik, null(), 3, &mut out), KanoStatus::NullPointer);
        assert!(last_error().contains("text"), "{}", last_error());
        // NULL out.
        assert_eq!(kano_adapter_count(tik, b"hi".as_ptr().cast(), 2, null_mut()), KanoStatus::NullPointer);
        // A length no buffer can have.
        assert_eq!(kano_adapter_count(tik, b"hi".as_ptr().cast(), usize::MAX, &mut out), KanoStatus::InvalidArgument);
    }
    // Embedded NUL bytes are text like any other.
    assert_eq!(count(tik, b"a\0b").unwrap().count, 3);
    // Invalid UTF-8 names the offset of the first bad byte.
    let (status, message) = count(tik, b"hello \xff world").unwrap_err();
    assert_eq!(status, KanoStatus::InvalidUtf8);
    assert!(message.contains("offset 6"), "{message}");
    let (status, message) = count(tik, b"\xe4\xb8").unwrap_err();
    assert_eq!(status, KanoStatus::InvalidUtf8);
    assert!(message.contains("offset 0"), "{message}");
    // Special-token text is ordinary text.
    assert_eq!(count(tik, b"<|endoftext|>").unwrap().count, 7);
    unsafe {
        kano_adapter_free(tik);
        kano_registry_free(reg);
    }
}

#[test]
fn names_and_resolution() {
    let reg = registry_from_toml("").unwrap();
    for (adapter, model, name, resolved) in [
        (Some("tiktoken"), Some("gpt-4o"), "tiktoken", "o200k_base"),
        (Some("auto"), Some("gpt-4"), "tiktoken", "cl100k_base"),
        (Some("auto"), Some("all-MiniLM-L6-v2"), "huggingface", "embedded:sentence-transformers/all-MiniLM-L6-v2"),
        (Some("auto"), Some("unknown-model"), "heuristic", "unknown-model"),
        (Some("heuristic"), None, "heuristic", "default"),
        (None, Some("gpt-3.5-turbo"), "tiktoken", "cl100k_base"),
    ] {
        let a = resolve(reg, adapter, model).unwrap();
        unsafe {
            assert_eq!(cstr(kano_adapter_name(a)), name);
            assert_eq!(cstr(kano_adapter_model(a)), resolved);
            // `auto` says why it passed over the adapters before the one that serves.
            let reason = kano_adapter_fallback_reason(a);
            if adapter == Some("auto") && name != "tiktoken" {
                let reason = cstr(reason);
                assert!(reason.starts_with("tiktoken: "), "{reason}");
                assert_eq!(reason.contains("; huggingface: "), name == "heuristic", "{reason}");
            } else {
                assert!(reason.is_null(), "{adapter:?} {model:?}: {}", cstr(reason));
            }
            kano_adapter_free(a);
        }
    }
    let (status, message) = resolve(reg, Some("tiktokenz"), Some("gpt-4")).unwrap_err();
    assert_eq!(status, KanoStatus::UnknownAdapter);
    assert!(message.contains("tiktokenz") && message.starts_with("kano_registry_resolve"), "{message}");
    let (status, message) = resolve(reg, Some("tiktoken"), Some("llama-3")).unwrap_err();
    assert_eq!(status, KanoStatus::UnknownModel);
    assert!(message.contains("llama-3"), "{message}");
    let (status, message) = resolve(reg, Some("huggingface"), Some("/nonexistent/tokenizer.json")).unwrap_err();
    assert_eq!(status, KanoStatus::IoError);
    assert!(message.contains("/nonexistent/tokenizer.json"), "{message}");
    // Invalid UTF-8 in a name.
    let bad = [b'g', 0xff, 0];
    let mut out = null_mut();
    let status = unsafe { kano_registry_resolve(reg, bad.as_ptr().cast(), null(), &mut out) };
    assert_eq!(status, KanoStatus::InvalidUtf8);
    assert!(last_error().contains("adapter"), "{}", last_error());
    unsafe { kano_registry_free(reg) };
}

#[test]
fn hostile_config_through_the_abi() {
    for (toml, status, needle) in [
        ("[tokenizer\n", KanoStatus::ConfigError, ":1:"),
        ("[tokenizer.heuristic]\nchars_per_token = 0\n", KanoStatus::ConfigError, "chars_per_token"),
        ("[tokenizer]\nadapter = \"nope\"\n", KanoStatus::ConfigError, "nope"),
        ("[tokenizer]\nfallback_chain = [\"tiktoken\", \"x\"]\n", KanoStatus::ConfigError, "\"x\""),
        ("[tokenizer.tiktoken]\nencoding = \"o300k\"\n", KanoStatus::ConfigError, "o300k"),
        ("[tokenizer]\nunknown = 1\n", KanoStatus::ConfigError, "tokenizer.unknown"),
    ] {
        let (got, message) = registry_from_toml(toml).unwrap_err();
        assert_eq!(got, status, "{toml}");
        assert!(message.contains(needle), "{message}");
    }
    let invalid = b"[tokenizer]\nmodel = \"\xff\"\n";
    let mut out = null_mut();
    assert_eq!(
        unsafe { kano_registry_from_toml(invalid.as_ptr().cast(), invalid.len(), &mut out) },
        KanoStatus::InvalidUtf8
    );
    let path = s("/nonexistent/kano.toml");
    assert_eq!(unsafe { kano_registry_from_config(path.as_ptr(), &mut out) }, KanoStatus::IoError);
    assert!(last_error().contains("/nonexistent/kano.toml"));
    assert!(out.is_null());
}

#[test]
fn adapters_outlive_the_registry_and_threads_share_one() {
    let reg = registry_from_toml("[tokenizer]\nmodel = \"gpt-4o\"\n").unwrap();
    let adapter = resolve(reg, Some("tiktoken"), None).unwrap();
    unsafe { kano_registry_free(reg) };
    let text = "Threads share one adapter through the C ABI. ".repeat(20);
    let expected = count(adapter, text.as_bytes()).unwrap().count;
    let shared = adapter as usize;
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..100 {
                    assert_eq!(count(shared as *const KanoAdapter, text.as_bytes()).unwrap().count, expected);
                }
            });
        }
    });
    unsafe { kano_adapter_free(adapter) };
}

#[test]
fn last_error_is_per_thread() {
    let reg = registry_from_toml("").unwrap();
    let _ = resolve(reg, Some("no-such-adapter"), None).unwrap_err();
    std::thread::spawn(|| assert_eq!(last_error(), "")).join().unwrap();
    assert!(last_error().contains("no-such-adapter"));
    unsafe { kano_registry_free(reg) };
}

#[test]
fn texts_over_max_input_bytes_are_refused_before_they_are_read() {
    let reg = registry_from_toml("[tokenizer]\nmax_input_bytes = 16\n").unwrap();
    for adapter in ["tiktoken", "huggingface", "heuristic"] {
        let model = if adapter == "huggingface" { "all-MiniLM-L6-v2" } else { "gpt-4" };
        let a = resolve(reg, Some(adapter), Some(model)).unwrap();
        assert_eq!(count(a, b"sixteen bytes ok").unwrap().count > 0, true, "{adapter}: 16 bytes fit");
        let (status, message) = count(a, b"seventeen bytes!!").unwrap_err();
        assert_eq!(status, KanoStatus::InputTooLarge, "{adapter}");
        assert!(message.contains("17 bytes") && message.contains("16"), "{message}");
        // The limit is checked before UTF-8, so an oversized invalid text is still "too large".
        let (status, _) = count(a, &[0xff; 32]).unwrap_err();
        assert_eq!(status, KanoStatus::InputTooLarge);
        let mut check = KanoLimitCheck { within_limit: false, tokens: 7, is_exact: false };
        let text = b"seventeen bytes!!";
        let status = unsafe { kano_adapter_check_limit(a, text.as_ptr().cast(), text.len(), 100, &mut check) };
        assert_eq!((status, check.tokens), (KanoStatus::InputTooLarge, 7));
        // The estimate is one allocation-free pass and takes any length.
        let mut e = KanoEstimate { estimate: 0, lower_bound: 0, upper_bound: 0 };
        let status = unsafe { kano_adapter_estimate(a, text.as_ptr().cast(), text.len(), &mut e) };
        assert_eq!(status, KanoStatus::Ok);
        assert!(e.estimate > 0);
        // The counter refuses it at submit and counts the refusal.
        let mut counter = null_mut();
        assert_eq!(unsafe { kano_counter_new(a, null(), &mut counter) }, KanoStatus::Ok);
        let status = unsafe { kano_counter_submit(counter, 1, text.as_ptr().cast(), text.len()) };
        assert_eq!(status, KanoStatus::InputTooLarge);
        let mut stats = std::mem::MaybeUninit::<KanoCounterStats>::zeroed();
        assert_eq!(unsafe { kano_counter_stats(counter, stats.as_mut_ptr()) }, KanoStatus::Ok);
        let stats = unsafe { stats.assume_init() };
        assert_eq!((stats.submitted, stats.rejected), (0, 1));
        unsafe {
            kano_counter_free(counter);
            kano_adapter_free(a);
        }
    }
    // A length no buffer can have is an invalid argument, whatever the limit.
    let a = resolve(reg, Some("tiktoken"), Some("gpt-4")).unwrap();
    let mut out = KanoCount { count: 0, is_exact: false, method: KanoMethod::Heuristic };
    let status = unsafe { kano_adapter_count(a, b"hi".as_ptr().cast(), usize::MAX / 2 + 1, &mut out) };
    assert_eq!(status, KanoStatus::InvalidArgument);
    assert_eq!(cstr(kano_status_str(KanoStatus::InputTooLarge as u32)), "input too large");
    assert_eq!(KanoStatus::InputTooLarge as i32, 13, "status values are stable");
    unsafe {
        kano_adapter_free(a);
        kano_registry_free(reg);
    }
}

/// `KANO_TOKENIZER_CONFIG` names a file, and file names are bytes: one that is not UTF-8 is
/// opened as it is, never the file whose name has U+FFFD in place of the bad byte.
#[test]
fn kano_tokenizer_config_path_that_is_not_utf8_is_used_as_bytes() {
    const NAME: &str = "kano_tokenizer_config_path_that_is_not_utf8_is_used_as_bytes";
    if common::is_child(NAME) {
        let mut reg = null_mut();
        let status = unsafe { kano_registry_new(&mut reg) };
        assert_eq!(status, KanoStatus::Ok, "{}", last_error());
        let adapter = resolve(reg, None, None).unwrap();
        println!("model={}", cstr(unsafe { kano_adapter_model(adapter) }));
        unsafe { kano_adapter_free(adapter) };
        unsafe { kano_registry_free(reg) };
        return;
    }
    use std::os::unix::ffi::OsStrExt;
    let dir = std::env::temp_dir().join(format!("kano-ffi-nonutf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = |model: &str| format!("[tokenizer]\nadapter = \"heuristic\"\nmodel = \"{model}\"\n");
    let named_by_bytes = dir.join(std::ffi::OsStr::from_bytes(b"kano-\xff.toml"));
    std::fs::write(&named_by_bytes, config("the-named-file")).unwrap();
    std::fs::write(dir.join("kano-\u{FFFD}.toml"), config("the-lossy-name")).unwrap();

    let output = common::run_child(NAME, &[("KANO_TOKENIZER_CONFIG", named_by_bytes.as_os_str())]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("model=the-named-file"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A `chars_per_token` of 5e-324 was accepted, and 25 bytes then counted 2^64-1 tokens; it is
/// a configuration error now, and the range's ends count sanely.
#[test]
fn chars_per_token_outside_its_range_is_a_config_error() {
    let text = b"twenty-five bytes of text";
    for bad in ["5e-324", "0.1", "100"] {
        match registry_from_toml(&format!("[tokenizer.heuristic]\nchars_per_token = {bad}\n")) {
            Err((status, message)) => {
                assert_eq!(status, KanoStatus::ConfigError, "{message}");
                assert!(message.contains("chars_per_token") && message.contains("[0.5, 64]"), "{message}");
            }
            Ok(reg) => {
                let adapter = resolve(reg, Some("heuristic"), None).unwrap();
                panic!("chars_per_token = {bad} accepted; 25 bytes count {:?}", count(adapter, text));
            }
        }
    }
    for (ratio, most) in [("0.5", 25 * 4), ("64", 1)] {
        let reg = registry_from_toml(&format!("[tokenizer.heuristic]\nchars_per_token = {ratio}\n")).unwrap();
        let adapter = resolve(reg, Some("heuristic"), None).unwrap();
        let n = count(adapter, text).unwrap().count;
        assert!((1..=most).contains(&n), "chars_per_token = {ratio}: {n} tokens");
        unsafe { kano_adapter_free(adapter) };
        unsafe { kano_registry_free(reg) };
    }
}
