//! Every `tokenizer.json` fixture (ten real published files, tests/fixtures/real, and the four
//! of tests/fixtures/tokenizers) against counts from the Python `tokenizers` package 0.23.3,
//! with and without special tokens: texts in every script of the corpus, added tokens in every
//! position, Unicode edge cases, and hostile runs of 100 KiB and 1 MiB. Each file must be
//! counted by our own engine, not the `tokenizers` crate.

mod common;

use std::io::Read;

use kano_tokenizer::huggingface::HfTokenizer;
use serde_json::Value;

fn real_dir() -> std::path::PathBuf {
    common::fixtures().join("real")
}

fn gunzip(path: &std::path::Path) -> Vec<u8> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(file).read_to_end(&mut out).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    out
}

/// Every fixture, keyed as the golden files key them.
fn tokenizers() -> Vec<(String, HfTokenizer)> {
    let mut out = Vec::new();
    let mut real: Vec<_> = std::fs::read_dir(real_dir())
        .expect("tests/fixtures/real")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .collect();
    real.sort();
    for path in real {
        let name = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".json.gz")).expect("name");
        let tokenizer = HfTokenizer::from_bytes(&gunzip(&path), name).unwrap_or_else(|e| panic!("{name}: {e}"));
        out.push((format!("real/{name}"), tokenizer));
    }
    for name in common::TOKENIZERS {
        let bytes = std::fs::read(common::tokenizer_path(name)).expect("fixture");
        out.push((format!("tokenizers/{name}"), HfTokenizer::from_bytes(&bytes, name).expect("loads")));
    }
    assert_eq!(out.len(), 14, "ten real files and four fixtures");
    out
}

fn lines(bytes: &[u8]) -> Vec<Value> {
    std::str::from_utf8(bytes)
        .expect("UTF-8")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// Checks one text on every tokenizer against a record's counts; returns the failures.
fn check(
    tokenizers: &[(String, HfTokenizer)],
    id: &str,
    text: &str,
    counts: &Value,
    failures: &mut Vec<String>,
) -> usize {
    let mut checked = 0;
    for (key, tokenizer) in tokenizers {
        let expected = &counts[key.as_str()];
        let [with, without] =
            [0, 1].map(|i| expected[i].as_u64().unwrap_or_else(|| panic!("{id}: no count for {key}")));
        for (special, want) in [(true, with), (false, without)] {
            checked += 1;
            match tokenizer.count(text, special) {
                Ok(got) if got == want => {}
                got => failures.push(format!(
                    "{key}, {id}, special tokens {special}: ours {:?}, Python {want}",
                    got.map_err(|e| e.to_string())
                )),
            }
        }
    }
    checked
}

#[test]
fn every_fixture_is_counted_by_our_engine() {
    for (key, tokenizer) in tokenizers() {
        assert_ne!(tokenizer.engine(), "tokenizers", "{key}: {:?}", tokenizer.fallback_reason());
    }
}

#[test]
fn texts_count_as_python_counts_them() {
    let tokenizers = tokenizers();
    let records = lines(&gunzip(&real_dir().join("golden_text.jsonl.gz")));
    assert!(records.len() > 3000, "{} texts", records.len());
    let mut failures = Vec::new();
    let mut checked = 0;
    for record in &records {
        let id = record["id"].as_str().expect("id");
        let text = record["text"].as_str().expect("text");
        checked += check(&tokenizers, id, text, &record["counts"], &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} counts differ:\n{}",
        failures.len(),
        failures[..failures.len().min(30)].join("\n")
    );
}

/// The text of a `golden_runs.jsonl` record: a unit repeated, or a generated text (the
/// generator of tests/fixtures/real/README.md).
fn run_text(record: &Value) -> String {
    if let Some(unit) = record["unit"].as_str() {
        return unit.repeat(record["repeat"].as_u64().expect("repeat") as usize);
    }
    let seed = record["seed"].as_u64().expect("seed");
    let bytes = record["bytes"].as_u64().expect("bytes") as usize;
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    match record["gen"].as_str().expect("gen") {
        "digits" => (0..bytes).map(|_| char::from(b'0' + (next() % 10) as u8)).collect(),
        "base64" => (0..bytes).map(|_| char::from(BASE64[(next() % 64) as usize])).collect(),
        "cjk" => (0..bytes / 3).map(|_| char::from_u32(0x4E00 + (next() % 0x5200) as u32).expect("CJK")).collect(),
        other => panic!("unknown generator {other}"),
    }
}

#[test]
fn hostile_runs_count_as_python_counts_them() {
    let tokenizers = tokenizers();
    let records = lines(&std::fs::read(real_dir().join("golden_runs.jsonl")).expect("golden_runs.jsonl"));
    assert_eq!(records.len(), 22, "11 kinds of run, at 100 KiB and 1 MiB");
    let mut failures = Vec::new();
    for record in &records {
        let id = record["id"].as_str().expect("id");
        let text = run_text(record);
        assert_eq!(text.len() as u64, record["bytes"].as_u64().expect("bytes"), "{id}: the generator");
        check(&tokenizers, id, &text, &record["counts"], &mut failures);
    }
    assert!(failures.is_empty(), "{} counts differ:\n{}", failures.len(), failures.join("\n"));
}
