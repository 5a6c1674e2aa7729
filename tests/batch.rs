//! Batch counting, through the Rust API and the C ABI: every result equals the single count,
//! failures stay per text, and large batches run on several threads with the same results.

mod common;

use std::ffi::{c_char, CStr};
use std::ptr::{null, null_mut};

use common::{golden, registry_with, tokenizer_path};
use kano_tokenizer::ffi::*;
use kano_tokenizer::{Adapter, AdapterName, Config, ConfigSource, ErrorKind, Registry};

/// Every adapter the golden data has counts for: (golden key, adapter).
fn golden_adapters(registry: &Registry) -> Vec<(String, Adapter)> {
    let mut adapters = Vec::new();
    for encoding in ["cl100k_base", "o200k_base", "p50k_base", "r50k_base"] {
        adapters.push((encoding.to_string(), registry.resolve(AdapterName::Tiktoken, encoding).unwrap()));
    }
    for name in ["gpt2", "llama-style-bpe", "t5-style-unigram"] {
        let path = tokenizer_path(name);
        adapters
            .push((format!("hf:{name}"), registry.resolve(AdapterName::Huggingface, path.to_str().unwrap()).unwrap()));
    }
    adapters
}

fn registry(toml: &str) -> Registry {
    registry_with(Config::from_toml_str(toml, None, ConfigSource::Toml).unwrap())
}

/// `n` texts of 100 to 2000 bytes, made of the short golden texts (so of every script in them).
fn big_texts(n: usize) -> Vec<String> {
    let short: Vec<String> = golden().into_iter().map(|c| c.text).filter(|t| !t.is_empty() && t.len() < 500).collect();
    let mut texts = Vec::with_capacity(n);
    let mut next = 0;
    for i in 0..n {
        let target = 100 + (i * 7919) % 1900;
        let mut text = String::new();
        while text.len() < target {
            text.push_str(&short[next % short.len()]);
            text.push(' ');
            next += 1;
        }
        let mut end = target;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        texts.push(text);
    }
    texts
}

#[test]
fn batch_counts_equal_the_golden_single_counts() {
    let cases = golden();
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    let registry = registry("");
    for (key, adapter) in golden_adapters(&registry) {
        let results = adapter.count_batch(&texts);
        assert_eq!(results.len(), texts.len());
        let mut checked = 0;
        for (case, result) in cases.iter().zip(&results) {
            let count = result.as_ref().unwrap();
            assert_eq!(count.count, adapter.count(&case.text).unwrap().count, "{key} {}", case.id);
            assert_eq!((count.is_exact, count.method), (adapter.is_exact(), adapter.method()));
            if let Some((_, golden)) = case.counts.iter().find(|(k, _)| *k == key) {
                assert_eq!(count.count, *golden, "{key} {}", case.id);
                checked += 1;
            }
        }
        assert!(checked > 50, "{key}: only {checked} golden counts");
    }
}

#[test]
fn large_batches_on_several_threads_equal_single_counts() {
    let texts = big_texts(600);
    assert!(texts.iter().map(String::len).sum::<usize>() > 8 * kano_tokenizer::BATCH_INLINE_BYTES);
    for threads in [1, 2, 4] {
        let registry = registry(&format!("[tokenizer]\nbatch_threads = {threads}\n"));
        for (key, adapter) in golden_adapters(&registry) {
            assert_eq!(adapter.batch_threads(), threads);
            let results = adapter.count_batch(&texts);
            for (i, (text, result)) in texts.iter().zip(&results).enumerate() {
                assert_eq!(result.as_ref().unwrap().count, adapter.count(text).unwrap().count, "{key} text {i}");
            }
            // The same through the caller's slice.
            let mut out = vec![Err(kano_tokenizer::Error::new(ErrorKind::Closed, "unset")); texts.len()];
            adapter.count_batch_into(&texts, &mut out);
            assert_eq!(out, results, "{key}");
        }
    }
}

#[test]
fn a_text_over_the_limit_fails_alone() {
    let registry = registry("[tokenizer]\nmax_input_bytes = 2000\n");
    let mut texts = big_texts(300);
    texts[5] = "x".repeat(2001);
    let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o").unwrap();
    let results = adapter.count_batch(&texts);
    for (i, (text, result)) in texts.iter().zip(&results).enumerate() {
        if i == 5 {
            assert_eq!(result.as_ref().unwrap_err().kind(), ErrorKind::InputTooLarge, "text {i}");
        } else {
            assert_eq!(result.as_ref().unwrap().count, adapter.count(text).unwrap().count, "text {i}");
        }
    }
    assert!(results[5].is_err() && results.iter().filter(|r| r.is_ok()).count() == 299);
    assert!(adapter.count_batch::<&str>(&[]).is_empty());
}

#[test]
#[should_panic(expected = "2 texts but 1 result slots")]
fn count_batch_into_needs_one_slot_per_text() {
    let adapter = registry("").resolve_adapter(AdapterName::Heuristic).unwrap();
    let mut out = vec![Err(kano_tokenizer::Error::new(ErrorKind::Closed, "unset"))];
    adapter.count_batch_into(&["a", "b"], &mut out);
}

#[test]
fn batch_threads_setting() {
    let default = Config::default();
    assert_eq!(default.batch_threads, 0);
    let auto = registry("").resolve_adapter(AdapterName::Heuristic).unwrap().batch_threads();
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(auto, cores.min(8));
    let c = Config::from_toml_str("[tokenizer]\nbatch_threads = 3\n", None, ConfigSource::Toml).unwrap();
    assert_eq!((c.batch_threads, c.source_of("tokenizer.batch_threads")), (3, ConfigSource::Toml));
    let mut c = c;
    c.apply_env(&|name| (name == "KANO_TOKENIZER_BATCH_THREADS").then(|| "1".into())).unwrap();
    assert_eq!(c.batch_threads, 1, "the variable wins over the file");
    assert_eq!(c.source_of("tokenizer.batch_threads"), ConfigSource::Env("KANO_TOKENIZER_BATCH_THREADS"));
    assert_eq!(registry_with(c).resolve_adapter(AdapterName::Heuristic).unwrap().batch_threads(), 1);
    for bad in ["batch_threads = -1", "batch_threads = 65", "batch_threads = \"4\"", "batch_threads = 2.5"] {
        let e = Config::from_toml_str(&format!("[tokenizer]\n{bad}\n"), None, ConfigSource::Toml).unwrap_err();
        assert!(e.message().contains("tokenizer.batch_threads"), "{bad}: {}", e.message());
    }
    for bad in ["-2", "many", "1000"] {
        let mut c = Config::default();
        let e = c.apply_env(&|name| (name == "KANO_TOKENIZER_BATCH_THREADS").then(|| bad.into())).unwrap_err();
        assert!(e.message().contains("KANO_TOKENIZER_BATCH_THREADS"), "{bad}: {}", e.message());
    }
}

// --- The C ABI ---

fn last_error() -> String {
    // SAFETY: never NULL, valid until the next failure on this thread.
    unsafe { CStr::from_ptr(kano_last_error()) }.to_string_lossy().into_owned()
}

fn c_adapter(toml: &str, adapter: &str, model: &str) -> (*mut KanoRegistry, *mut KanoAdapter) {
    let mut reg = null_mut();
    assert_eq!(unsafe { kano_registry_from_toml(toml.as_ptr().cast(), toml.len(), &mut reg) }, KanoStatus::Ok);
    let (adapter, model) = (std::ffi::CString::new(adapter).unwrap(), std::ffi::CString::new(model).unwrap());
    let mut out = null_mut();
    assert_eq!(unsafe { kano_registry_resolve(reg, adapter.as_ptr(), model.as_ptr(), &mut out) }, KanoStatus::Ok);
    (reg, out)
}

fn free(reg: *mut KanoRegistry, adapter: *mut KanoAdapter) {
    unsafe {
        kano_adapter_free(adapter);
        kano_registry_free(reg);
    }
}

/// A batch call on (pointer, length) pairs; the outputs start as sentinels.
fn c_batch(adapter: *const KanoAdapter, texts: &[(*const c_char, usize)]) -> (KanoStatus, Vec<u64>, Vec<KanoStatus>) {
    let ptrs: Vec<*const c_char> = texts.iter().map(|t| t.0).collect();
    let lens: Vec<usize> = texts.iter().map(|t| t.1).collect();
    let mut counts = vec![u64::MAX; texts.len()];
    let mut statuses = vec![KanoStatus::Closed; texts.len()];
    let status = unsafe {
        kano_adapter_count_batch(
            adapter,
            ptrs.as_ptr(),
            lens.as_ptr(),
            texts.len(),
            counts.as_mut_ptr(),
            statuses.as_mut_ptr(),
        )
    };
    (status, counts, statuses)
}

fn c_count(adapter: *const KanoAdapter, text: &[u8]) -> u64 {
    let mut out = KanoCount { count: 0, is_exact: false, method: KanoMethod::Heuristic };
    assert_eq!(unsafe { kano_adapter_count(adapter, text.as_ptr().cast(), text.len(), &mut out) }, KanoStatus::Ok);
    out.count
}

fn pairs(texts: &[String]) -> Vec<(*const c_char, usize)> {
    texts.iter().map(|t| (t.as_ptr().cast(), t.len())).collect()
}

#[test]
fn c_batch_equals_single_counts_inline_and_on_threads() {
    let golden: Vec<String> = golden().into_iter().map(|c| c.text).collect();
    let big = big_texts(400);
    for (toml, texts) in [("", &golden), ("[tokenizer]\nbatch_threads = 4\n", &big)] {
        for (adapter, model) in [("tiktoken", "gpt-4o"), ("huggingface", "all-MiniLM-L6-v2"), ("heuristic", "gpt-4")] {
            let (reg, a) = c_adapter(toml, adapter, model);
            let (status, counts, statuses) = c_batch(a, &pairs(texts));
            assert_eq!(status, KanoStatus::Ok, "{adapter}: {}", last_error());
            for (i, text) in texts.iter().enumerate() {
                assert_eq!((counts[i], statuses[i]), (c_count(a, text.as_bytes()), KanoStatus::Ok), "{adapter} {i}");
            }
            free(reg, a);
        }
    }
}

#[test]
fn c_batch_mixed_valid_and_invalid_entries() {
    let (reg, a) = c_adapter("[tokenizer]\nmax_input_bytes = 64\n", "tiktoken", "gpt-4o");
    let bad_utf8: &[u8] = b"ok then \xff here";
    let too_large = "y".repeat(65);
    let valid = "Hello, world!";
    let entries: Vec<(*const c_char, usize)> = vec![
        (valid.as_ptr().cast(), valid.len()),
        (bad_utf8.as_ptr().cast(), bad_utf8.len()),
        (null(), 5),
        (null(), 0),
        (too_large.as_ptr().cast(), too_large.len()),
        (valid.as_ptr().cast(), usize::MAX / 2 + 1),
        (valid.as_ptr().cast(), 5),
    ];
    let (status, counts, statuses) = c_batch(a, &entries);
    assert_eq!(status, KanoStatus::BatchPartial);
    assert_eq!(
        statuses,
        [
            KanoStatus::Ok,
            KanoStatus::InvalidUtf8,
            KanoStatus::NullPointer,
            KanoStatus::Ok,
            KanoStatus::InputTooLarge,
            KanoStatus::InvalidArgument,
            KanoStatus::Ok,
        ]
    );
    assert_eq!(counts, [4, 0, 0, 0, 0, 0, c_count(a, b"Hello")]);
    let message = last_error();
    assert!(
        message.starts_with("kano_adapter_count_batch: 4 of 7 texts failed; the first, text 1: ")
            && message.contains("offset 8"),
        "{message}"
    );
    assert_eq!(
        unsafe { CStr::from_ptr(kano_status_str(KanoStatus::BatchPartial as u32)) }.to_str().unwrap(),
        "some texts of the batch failed"
    );
    assert_eq!(KanoStatus::BatchPartial as i32, 14, "status values are stable");
    free(reg, a);
}

#[test]
fn c_batch_over_threads_with_failures_reports_the_first() {
    let (reg, a) = c_adapter("[tokenizer]\nbatch_threads = 4\nmax_input_bytes = 1500\n", "tiktoken", "gpt-4o");
    let texts = big_texts(500);
    let mut entries = pairs(&texts);
    let bad = b"\xc3(";
    entries[450] = (bad.as_ptr().cast(), bad.len());
    let over: Vec<usize> = texts.iter().enumerate().filter(|(_, t)| t.len() > 1500).map(|(i, _)| i).collect();
    assert!(over.len() > 10 && over[0] < 450);
    let (status, counts, statuses) = c_batch(a, &entries);
    assert_eq!(status, KanoStatus::BatchPartial);
    for (i, text) in texts.iter().enumerate() {
        let expected = if i == 450 {
            (0, KanoStatus::InvalidUtf8)
        } else if text.len() > 1500 {
            (0, KanoStatus::InputTooLarge)
        } else {
            (c_count(a, text.as_bytes()), KanoStatus::Ok)
        };
        assert_eq!((counts[i], statuses[i]), expected, "text {i}");
    }
    let message = last_error();
    let head = format!("{} of 500 texts failed; the first, text {}: ", over.len() + 1, over[0]);
    assert!(message.contains(&head) && message.contains("over the limit of 1500"), "{message}");
    free(reg, a);
}

#[test]
fn c_batch_null_arguments() {
    let (reg, a) = c_adapter("", "tiktoken", "gpt-4o");
    let text = "some text";
    let ptrs = [text.as_ptr().cast::<c_char>()];
    let lens = [text.len()];
    let mut counts = [7u64];
    let mut statuses = [KanoStatus::Closed];
    unsafe {
        // n == 0: every array may be NULL.
        assert_eq!(kano_adapter_count_batch(a, null(), null(), 0, null_mut(), null_mut()), KanoStatus::Ok);
        assert_eq!(
            kano_adapter_count_batch(a, ptrs.as_ptr(), lens.as_ptr(), 0, counts.as_mut_ptr(), statuses.as_mut_ptr()),
            KanoStatus::Ok
        );
        assert_eq!((counts[0], statuses[0]), (7, KanoStatus::Closed), "nothing written for n == 0");
        // The adapter is required even for n == 0.
        assert_eq!(
            kano_adapter_count_batch(null(), null(), null(), 0, null_mut(), null_mut()),
            KanoStatus::NullPointer
        );
        assert!(last_error().contains("adapter is NULL"), "{}", last_error());
        // n > 0: each NULL array is refused and nothing is written.
        let (p, l, c, s) = (ptrs.as_ptr(), lens.as_ptr(), counts.as_mut_ptr(), statuses.as_mut_ptr());
        for (case, status, name) in [
            (kano_adapter_count_batch(a, null(), l, 1, c, s), KanoStatus::NullPointer, "texts"),
            (kano_adapter_count_batch(a, p, null(), 1, c, s), KanoStatus::NullPointer, "lens"),
            (kano_adapter_count_batch(a, p, l, 1, null_mut(), s), KanoStatus::NullPointer, "counts_out"),
            (kano_adapter_count_batch(a, p, l, 1, c, null_mut()), KanoStatus::NullPointer, "status_out"),
        ] {
            assert_eq!(case, status, "{name}");
        }
        assert!(last_error().contains("status_out is NULL"), "{}", last_error());
        assert_eq!((counts[0], statuses[0]), (7, KanoStatus::Closed), "nothing written on a refused call");
        // A count no array can hold.
        assert_eq!(kano_adapter_count_batch(a, p, l, usize::MAX / 4, c, s), KanoStatus::InvalidArgument);
        assert!(last_error().contains("larger than any array"), "{}", last_error());
        assert_eq!(kano_adapter_count_batch(a, p, l, 1, c, s), KanoStatus::Ok);
        assert_eq!((counts[0], statuses[0]), (2, KanoStatus::Ok));
    }
    free(reg, a);
}

#[test]
fn c_batches_from_many_threads_at_once() {
    let (reg, a) = c_adapter("[tokenizer]\nbatch_threads = 2\n", "tiktoken", "cl100k_base");
    let texts = big_texts(200);
    let expected: Vec<u64> = texts.iter().map(|t| c_count(a, t.as_bytes())).collect();
    let shared = a as usize;
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..3 {
                    let (status, counts, _) = c_batch(shared as *const KanoAdapter, &pairs(&texts));
                    assert_eq!(status, KanoStatus::Ok);
                    assert_eq!(counts, expected);
                }
            });
        }
    });
    free(reg, a);
}
