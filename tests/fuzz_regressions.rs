//! Inputs the fuzzers (fuzz/) found problems with, replayed by `cargo test` with the fuzz
//! targets' own checks (fuzz/common.rs is included as a module), so no fixed crash comes back
//! unnoticed without running the fuzzer. Every file named `regression-*` in
//! fuzz/corpus/<target>/ is replayed; the named tests below say what each one was.

#[path = "../fuzz/common.rs"]
mod fuzz_common;

use std::path::{Path, PathBuf};

use kano_tokenizer::{ErrorKind, HfTokenizer};

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target)
}

fn regression(target: &str, name: &str) -> Vec<u8> {
    let path = corpus(target).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `regression-*` input of a target, through the target's check.
fn replay_all(target: &str, check: fn(&[u8])) -> usize {
    let mut replayed = 0;
    for entry in std::fs::read_dir(corpus(target)).expect("fuzz corpus") {
        let path = entry.expect("corpus entry").path();
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("regression-")) {
            let data = std::fs::read(&path).expect("read corpus file");
            eprintln!("replaying {}", path.display());
            check(&data);
            replayed += 1;
        }
    }
    replayed
}

#[test]
fn every_saved_regression_input_passes_its_target() {
    let replayed = replay_all("count_tiktoken", fuzz_common::check_tiktoken)
        + replay_all("count_huggingface", fuzz_common::check_huggingface)
        + replay_all("config", fuzz_common::check_config)
        + replay_all("tokenizer_json", fuzz_common::check_tokenizer_json)
        + replay_all("ffi", fuzz_common::check_ffi)
        + replay_all("hf_normalizers", fuzz_common::check_hf_normalizers)
        + replay_all("hf_pre_tokenizers", fuzz_common::check_hf_pre_tokenizers)
        + replay_all("hf_added_tokens", fuzz_common::check_hf_added_tokens)
        + replay_all("hf_unigram", fuzz_common::check_hf_unigram)
        + replay_all("hf_sentencepiece_bpe", fuzz_common::check_hf_sentencepiece_bpe);
    assert!(replayed >= 4, "only {replayed} regression inputs found");
}

/// Refused, with a message holding one of the `|`-separated `needles`.
fn assert_refused(data: &[u8], needles: &str) {
    let e = HfTokenizer::from_bytes(data, "fuzz regression").err().expect("refused, not loaded");
    assert_eq!(e.kind(), ErrorKind::AdapterUnavailable, "{e}");
    assert!(needles.split('|').any(|n| e.message().contains(n)), "none of {needles:?} in {e}");
}

/// `{"decoder":` made the `tokenizers` crate panic (`expect("Helper")` in its decoder
/// deserializer) instead of returning an error. Malformed JSON is now refused before it gets there.
#[test]
fn tokenizer_json_truncated_decoder_is_an_error_not_a_panic() {
    let data = regression("tokenizer_json", "regression-decoder-truncated");
    assert_eq!(data, b"{\"decoder\":");
    fuzz_common::check_tokenizer_json(&data);
    assert_refused(&data, "EOF");
}

/// A `TemplateProcessing` post-processor naming a special token that is not in its
/// `special_tokens` loaded fine, then panicked in `encode` (a map index). Refused at load now.
#[test]
fn tokenizer_json_template_with_unknown_special_token_is_refused() {
    for name in ["regression-template-missing-special", "regression-template-missing-special-found"] {
        let data = regression("tokenizer_json", name);
        fuzz_common::check_tokenizer_json(&data);
        assert_refused(&data, "not in special_tokens");
    }
}

/// A single-sequence template using sequence `B` panicked in `encode` (index out of bounds).
#[test]
fn tokenizer_json_single_template_with_second_sequence_is_refused() {
    let data = regression("tokenizer_json", "regression-template-single-b");
    fuzz_common::check_tokenizer_json(&data);
    assert_refused(&data, "second sequence");
}

/// The fixture tokenizers still load with the template check in place (they all use
/// `TemplateProcessing` or `ByteLevel` post-processors).
#[test]
fn fixture_tokenizers_pass_the_template_check() {
    for (name, bytes) in fuzz_common::FIXTURES {
        HfTokenizer::from_bytes(bytes, name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// A BPE model with byte fallback but without the `<0xNN>` tokens in its vocabulary, and no
/// unknown token, drops the characters it lacks: "Hello" gave 0 tokens while the estimate's lower
/// bound said at least 1 (so `check_limit(text, 0)` would have said "over"). The lower bound now
/// counts on byte fallback only when all 256 byte tokens are there.
#[test]
fn bpe_byte_fallback_without_byte_tokens_has_a_zero_lower_bound() {
    for name in
        ["regression-bpe-byte-fallback-without-byte-tokens", "regression-bpe-byte-fallback-without-byte-tokens-found"]
    {
        let data = regression("tokenizer_json", name);
        fuzz_common::check_tokenizer_json(&data);
    }
    let data = regression("tokenizer_json", "regression-bpe-byte-fallback-without-byte-tokens");
    let tokenizer = HfTokenizer::from_bytes(&data, "byte fallback, no byte tokens").expect("loads");
    assert_eq!(tokenizer.count("Hello", false).expect("counts"), 0);
    assert_eq!(tokenizer.estimate("Hello", false).lower_bound, 0);
}

/// The same with a byte-level pre-tokenizer whose vocabulary lacks most byte characters.
#[test]
fn bpe_byte_level_with_partial_vocabulary_has_a_zero_lower_bound() {
    let data = regression("tokenizer_json", "regression-bpe-byte-level-partial-vocab");
    fuzz_common::check_tokenizer_json(&data);
    let tokenizer = HfTokenizer::from_bytes(&data, "byte-level, partial vocabulary").expect("loads");
    assert_eq!(tokenizer.count("Hello", false).expect("counts"), 0);
    assert_eq!(tokenizer.estimate("Hello", false).lower_bound, 0);
    // A full byte-level vocabulary (gpt2) still guarantees a token for a letter.
    let gpt2 = HfTokenizer::from_bytes(fuzz_common::FIXTURES[1].1, "gpt2").expect("loads");
    assert_eq!(gpt2.estimate("Hello", false).lower_bound, 1);
}

/// BPE merges the `tokenizers` crate panicked on while building the model: a merge longer than
/// every vocabulary entry (its join buffer overflowed), and a second token that does not start
/// with the `continuing_subword_prefix` (it cut the prefix's length off unchecked); both again
/// in a model without a "type" (a CI fuzz run found that one).
#[test]
fn bpe_merges_that_cannot_fit_are_refused() {
    for (name, needle) in [
        // The merged token is no vocabulary entry: our engine names the merge and its index;
        // a file it leaves to the crate is refused before the crate's loader panics.
        ("regression-bpe-merge-longer-than-vocab", "is not in the vocabulary|longer than every vocabulary entry"),
        ("regression-bpe-merge-longer-than-vocab-found", "is not in the vocabulary|longer than every vocabulary entry"),
        ("regression-bpe-merge-without-prefix", "does not start with the continuing_subword_prefix"),
        // The `tokenizers` crate reads a model without "type" as BPE when it can; one whose
        // "type" is not a string is malformed.
        (
            "regression-bpe-untyped-merge-longer-than-vocab",
            "is not in the vocabulary|longer than every vocabulary entry",
        ),
        (
            "regression-bpe-non-string-type-merge-without-prefix",
            "not a string|does not start with the continuing_subword_prefix",
        ),
    ] {
        let data = regression("tokenizer_json", name);
        fuzz_common::check_tokenizer_json(&data);
        assert_refused(&data, needle);
    }
}

/// A WordPiece vocabulary with one id of 1,450,022,000: an earlier fast path walked every id up
/// to it (minutes, a fuzz timeout). Ids are not indexes in our engine: it loads at once.
#[test]
fn sparse_vocabulary_ids_load_at_once() {
    let data = regression("tokenizer_json", "regression-sparse-vocabulary-id");
    fuzz_common::check_tokenizer_json(&data);
    let start = std::time::Instant::now();
    let tokenizer = HfTokenizer::from_bytes(&data, "sparse vocabulary").expect("loads");
    println!("loaded in {:?}", start.elapsed());
    assert_eq!(tokenizer.engine(), "kano-wordpiece");
    assert!(tokenizer.count("hello world", false).is_ok());
}

/// A `FixedLength` pre-tokenizer of length 0: our engine leaves the file to the `tokenizers`
/// crate, which loaded it and then panicked on every non-empty text ("chunk size must be
/// non-zero"; caught, but through the panic hook, on every count). Refused at load now, alone or
/// inside a `Sequence` behind a step only the crate has (`UnicodeScripts`, as the fuzzer found it).
#[test]
fn fixed_length_zero_is_refused() {
    let data = regression("hf_pre_tokenizers", "regression-fixed-length-zero");
    fuzz_common::check_hf_pre_tokenizers(&data);
    let model = r#""model":{"type":"WordLevel","vocab":{"a":0,"[UNK]":1},"unk_token":"[UNK]"}"#;
    for pre in [
        r#"{"type":"FixedLength","length":0}"#,
        r#"{"type":"Sequence","pretokenizers":[{"type":"UnicodeScripts"},{"type":"FixedLength","length":0}]}"#,
    ] {
        let json = format!(r#"{{"pre_tokenizer":{pre},{model}}}"#);
        assert_refused(json.as_bytes(), "FixedLength pre_tokenizer of length 0");
    }
    // A length above 0 still loads, and counts.
    let json = format!(r#"{{"pre_tokenizer":{{"type":"FixedLength","length":2}},{model}}}"#);
    let tokenizer = HfTokenizer::from_bytes(json.as_bytes(), "FixedLength 2").expect("loads");
    assert_eq!(tokenizer.count("aaaa", false).expect("counts"), 2);
}
