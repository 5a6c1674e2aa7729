//! Every golden count (Python tiktoken 0.14 `encode_ordinary`, Python tokenizers 0.23.3 with
//! and without special tokens) must match exactly.

mod common;

use std::collections::BTreeMap;

use common::*;
use kano_tokenizer::{AdapterName, Config, EncodingName};

#[test]
fn golden_counts_match_exactly() {
    let cases = golden();
    assert!(cases.len() >= 200, "golden data is missing");

    let mut with_special = Config::default();
    let mut without_special = Config::default();
    for name in TOKENIZERS {
        with_special.huggingface.models.insert(name.to_string(), tokenizer_path(name));
    }
    without_special.huggingface = with_special.huggingface.clone();
    without_special.huggingface.add_special_tokens = false;
    let special = registry_with(with_special);
    let plain = registry_with(without_special);

    let mut checked: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in &cases {
        for (key, expected) in &case.counts {
            let got = if let Some(rest) = key.strip_prefix("hf:") {
                let (name, registry) = match rest.strip_suffix(":no_special") {
                    Some(name) => (name, &plain),
                    None => (rest, &special),
                };
                let adapter = registry.resolve(AdapterName::Huggingface, name).expect("fixture resolves");
                adapter.count(&case.text).expect("count").count
            } else {
                let enc = EncodingName::parse(key).unwrap_or_else(|| panic!("unknown encoding {key}"));
                special.encoding(enc).expect("encoding loads").count(&case.text)
            };
            *checked.entry(key.clone()).or_default() += 1;
            if got != *expected {
                failures.push(format!("{} [{}]: expected {}, got {}", case.id, key, expected, got));
            }
        }
    }
    let total: usize = checked.values().sum();
    eprintln!("conformance: {total} counts over {} texts, {} keys: {checked:?}", cases.len(), checked.len());
    assert!(checked.len() >= 12, "every encoding and tokenizer variant is covered: {checked:?}");
    assert!(failures.is_empty(), "{} of {total} counts differ:\n{}", failures.len(), failures.join("\n"));
}
