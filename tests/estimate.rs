//! Estimates: the bounds hold for every input (golden data and adversarial text), the estimate
//! is accurate per content type, and the limit check is always right for exact adapters.

mod common;

use std::collections::BTreeMap;

use common::*;
use kano_tokenizer::{Adapter, AdapterName, Config, EncodingName, Registry};

/// Every adapter the golden data has counts for, by golden key.
fn golden_adapters() -> Vec<(String, Adapter)> {
    let mut with_special = Config::default();
    for name in TOKENIZERS {
        with_special.huggingface.models.insert(name.to_string(), tokenizer_path(name));
    }
    let mut without_special = with_special.clone();
    without_special.huggingface.add_special_tokens = false;
    let special = registry_with(with_special);
    let plain = registry_with(without_special);
    let mut out = Vec::new();
    for name in ["r50k_base", "p50k_base", "cl100k_base", "o200k_base"] {
        out.push((name.to_string(), special.resolve(AdapterName::Tiktoken, name).expect("encoding")));
    }
    for name in TOKENIZERS {
        out.push((format!("hf:{name}"), special.resolve(AdapterName::Huggingface, name).expect("fixture")));
        out.push((format!("hf:{name}:no_special"), plain.resolve(AdapterName::Huggingface, name).expect("fixture")));
    }
    out
}

fn category(id: &str) -> &str {
    id.split(':').next().unwrap_or(id)
}

fn is_real_content(category: &str) -> bool {
    category.starts_with("prose") || category.starts_with("code")
}

#[test]
fn bounds_hold_on_the_golden_data() {
    let cases = golden();
    let mut violations = Vec::new();
    let mut checked = 0;
    for (key, adapter) in golden_adapters() {
        for case in &cases {
            let Some(&(_, exact)) = case.counts.iter().find(|(k, _)| *k == key) else { continue };
            let e = adapter.estimate(&case.text);
            checked += 1;
            if !(e.lower_bound <= exact
                && exact <= e.upper_bound
                && e.lower_bound <= e.estimate
                && e.estimate <= e.upper_bound)
            {
                violations.push(format!("{} [{key}]: exact {exact}, got {e:?}", case.id));
            }
        }
    }
    eprintln!("bounds: {checked} golden counts checked, {} violations", violations.len());
    assert!(checked >= 2400, "golden data is missing: {checked}");
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// Deterministic text made to sit on the edges of the bounds' reasoning: apostrophes inside
/// words, non-ASCII digits and letters next to ASCII runs, marks, long runs, CJK, and characters
/// whose class the scan does not check.
fn adversarial_texts() -> Vec<String> {
    const PARTS: &[&str] = &[
        "a",
        "Z",
        "it's",
        "'S",
        "'ll",
        "’",
        "0",
        "12",
        "1234567",
        "٣٤",
        "²",
        "Ⅻ",
        "１２",
        "é",
        "e\u{301}",
        "ß",
        "日本",
        "語",
        "の",
        "ー",
        "゙",
        "한",
        "국",
        "Привет",
        "ç",
        " ",
        "  ",
        "\n",
        "\r\n",
        "\t",
        ".",
        "...",
        "-",
        "=",
        "_",
        "'",
        "\"",
        "👍🏽",
        "\u{200d}",
        "\u{0}",
        "<|endoftext|>",
        "[CLS]",
        "<s>",
        "</s>",
        "▁",
        "Ａ",
        "ｆｆ",
        "ﬀ",
        "ﷺ",
        "İ",
        "ǅ",
        "ᾂ",
        "\u{3000}",
        "。",
        "、",
        "x",
        "word",
        "Word",
        "WORD",
        "camelCase",
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut texts = Vec::new();
    for _ in 0..3000 {
        let parts = 1 + next() % 24;
        let text: String = (0..parts).map(|_| PARTS[(next() % PARTS.len() as u64) as usize]).collect();
        texts.push(text);
    }
    for c in ["a", " ", "7", "漢", "'", "é", "=", "\n", "ab", "1a", "a'"] {
        for n in [1, 2, 3, 5, 64, 129, 1000, 20_000] {
            texts.push(c.repeat(n));
        }
    }
    texts
}

#[test]
fn bounds_hold_on_adversarial_text() {
    let texts = adversarial_texts();
    let mut violations = Vec::new();
    let mut checked = 0;
    for (key, adapter) in golden_adapters() {
        for text in &texts {
            let exact = adapter.count(text).expect("count").count;
            let e = adapter.estimate(text);
            checked += 1;
            if !(e.lower_bound <= exact
                && exact <= e.upper_bound
                && e.lower_bound <= e.estimate
                && e.estimate <= e.upper_bound)
            {
                violations.push(format!("{text:?} [{key}]: exact {exact}, got {e:?}"));
            }
        }
    }
    // Every encoding name, including the aliases with their own special tokens.
    let registry = plain_registry();
    for name in EncodingName::ALL_NAMES {
        let adapter = registry.resolve(AdapterName::Tiktoken, name).expect("encoding");
        for text in texts.iter().step_by(7) {
            let exact = adapter.count(text).expect("count").count;
            let e = adapter.estimate(text);
            checked += 1;
            if !(e.lower_bound <= exact && exact <= e.upper_bound) {
                violations.push(format!("{text:?} [{name}]: exact {exact}, got {e:?}"));
            }
        }
    }
    eprintln!("bounds: {checked} adversarial counts checked, {} violations", violations.len());
    assert!(
        violations.is_empty(),
        "{} violations:\n{}",
        violations.len(),
        violations[..violations.len().min(20)].join("\n")
    );
}

#[test]
fn the_lower_bound_is_not_trivial() {
    let registry = plain_registry();
    let adapter = registry.resolve(AdapterName::Tiktoken, "cl100k_base").expect("encoding");
    let text = "The quick brown fox jumps over the lazy dog 1234567. ".repeat(40);
    let e = adapter.estimate(&text);
    let exact = adapter.count(&text).unwrap().count;
    assert!(e.lower_bound * 2 >= exact, "lower {} for exact {exact}", e.lower_bound);
    assert_eq!(e.upper_bound, text.len() as u64);
}

/// Mean relative error of the estimate per golden content type and key; prints the table.
#[test]
fn estimates_are_accurate_per_content_type() {
    let cases = golden();
    let mut table: BTreeMap<String, BTreeMap<String, (f64, usize)>> = BTreeMap::new();
    for (key, adapter) in golden_adapters() {
        for case in &cases {
            let Some(&(_, exact)) = case.counts.iter().find(|(k, _)| *k == key) else { continue };
            if exact == 0 {
                // No relative error to take (the bounds test covers these: lower bound 0).
                continue;
            }
            let estimate = adapter.estimate(&case.text).estimate as f64;
            let entry = table.entry(key.clone()).or_default().entry(category(&case.id).to_string()).or_default();
            entry.0 += (estimate - exact as f64).abs() / exact as f64;
            entry.1 += 1;
        }
    }
    let categories: Vec<String> = table.values().next().unwrap().keys().cloned().collect();
    let mut printed = format!(
        "| content type | {} |\n|---|{}\n",
        table.keys().cloned().collect::<Vec<_>>().join(" | "),
        "---|".repeat(table.len())
    );
    let mut failures = Vec::new();
    for cat in &categories {
        let mut row = format!("| {cat} |");
        for (key, errors) in &table {
            let Some(&(sum, n)) = errors.get(cat) else {
                row.push_str(" - |");
                continue;
            };
            let mae = sum / n as f64;
            row.push_str(&format!(" {:.1}% |", 100.0 * mae));
            // The targets hold for the OpenAI encodings and byte-level BPE (GPT-2); the WordPiece,
            // Llama- and T5-style fixtures are reported, not held to them (see the README).
            let held = !key.starts_with("hf:") || key.starts_with("hf:gpt2");
            let limit = if is_real_content(cat) { 0.10 } else { 0.25 };
            if held && mae > limit {
                failures.push(format!("{key} {cat}: {:.1}% > {:.0}%", 100.0 * mae, 100.0 * limit));
            }
        }
        printed.push_str(&row);
        printed.push('\n');
    }
    eprintln!("mean relative error of the estimate on the golden data:\n{printed}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn limit_checks_are_always_right_for_exact_adapters() {
    let cases = golden();
    let mut checked = 0;
    for (key, adapter) in golden_adapters() {
        for case in cases.iter().step_by(3) {
            let exact = adapter.count(&case.text).unwrap().count;
            for limit in [0, exact.saturating_sub(1), exact, exact + 1, exact * 2, u64::MAX] {
                let check = adapter.check_limit(&case.text, limit).expect("check");
                checked += 1;
                assert_eq!(check.within_limit, exact <= limit, "{} [{key}] limit {limit}: {check:?}", case.id);
                if check.is_exact {
                    assert_eq!(check.tokens, exact, "{} [{key}] limit {limit}", case.id);
                } else if check.within_limit {
                    assert!(exact <= check.tokens && check.tokens <= limit, "{} [{key}]: {check:?}", case.id);
                } else {
                    assert!(limit < check.tokens && check.tokens <= exact, "{} [{key}]: {check:?}", case.id);
                }
            }
        }
    }
    assert!(checked > 4000, "{checked}");
}

#[test]
fn a_megabyte_against_a_small_limit_is_decided_without_a_full_count() {
    let registry = plain_registry();
    for name in ["cl100k_base", "o200k_base", "r50k_base"] {
        let adapter = registry.resolve(AdapterName::Tiktoken, name).unwrap();
        for text in ["word ".repeat(200_000), "a".repeat(1 << 20), " ".repeat(1 << 20), "漢".repeat(350_000)] {
            let check = adapter.check_limit(&text, 128).unwrap();
            assert!(!check.within_limit && check.tokens > 128, "{name}: {check:?}");
        }
        let small = "Hello, world!";
        let check = adapter.check_limit(small, 128).unwrap();
        assert!(check.within_limit && check.tokens <= 128);
    }
}

#[test]
fn the_heuristic_uses_the_family_estimate_scaled_by_chars_per_token() {
    let registry = plain_registry();
    let text = "Tokenizers split text into pieces. 日本語のテキストも数えます。".repeat(10);
    let exact = registry.resolve(AdapterName::Tiktoken, "gpt-4o").unwrap();
    let heuristic = registry.resolve(AdapterName::Heuristic, "gpt-4o").unwrap();
    let e = heuristic.estimate(&text);
    assert_eq!(e.estimate, exact.estimate(&text).estimate);
    assert_eq!((e.lower_bound, e.upper_bound), (e.estimate, e.estimate));
    assert!(!heuristic.check_limit(&text, 0).unwrap().is_exact);

    let mut config = Config::default();
    config.heuristic.chars_per_token = 8.0;
    let halved = Registry::with_env(config, &|_| None).resolve(AdapterName::Heuristic, "gpt-4o").unwrap();
    let ratio = e.estimate as f64 / halved.count(&text).unwrap().count as f64;
    assert!((ratio - 2.0).abs() < 0.02, "{ratio}");
}

/// Mean relative error of the estimate on the held-out last 30% of each corpus file (the
/// calibration tool fits on the first 70%), in slices of the golden data's sizes; prints the
/// table. The OpenAI encodings and GPT-2 are held to 10%; the bounds hold on every slice.
#[test]
fn estimates_are_accurate_on_held_out_corpus_text() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/corpus");
    // Every corpus file but the README: the calibration tool fits on the same set.
    let mut files: Vec<String> = std::fs::read_dir(&corpus)
        .expect("bench/corpus")
        .map(|entry| entry.expect("corpus entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name != "README.md")
        .collect();
    files.sort();
    assert_eq!(files.len(), 9, "{files:?}");
    let adapters: Vec<(String, Adapter)> = golden_adapters()
        .into_iter()
        .filter(|(key, _)| !key.starts_with("hf:") || key.ends_with(":no_special"))
        .collect();
    let mut printed = format!(
        "| file | {} |\n|---|{}\n",
        adapters.iter().map(|(k, _)| k.trim_end_matches(":no_special")).collect::<Vec<_>>().join(" | "),
        "---:|".repeat(adapters.len())
    );
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(corpus.join(file)).expect("corpus file");
        let chars: Vec<char> = text.chars().collect();
        let held_out = &chars[chars.len() * 7 / 10..];
        // Slices at fixed offsets (not random: the test is the same on every run).
        let mut slices = Vec::new();
        for size in [200, 512, 1000, 2000, 8000] {
            for k in 0..6 {
                let start = (k * 7919 * size / 13) % held_out.len().saturating_sub(size).max(1);
                slices.push(held_out[start..(start + size).min(held_out.len())].iter().collect::<String>());
            }
        }
        let mut row = format!("| {file} |");
        for (key, adapter) in &adapters {
            let mut sum = 0.0;
            for slice in &slices {
                let exact = adapter.count(slice).unwrap().count;
                let e = adapter.estimate(slice);
                assert!(e.lower_bound <= exact && exact <= e.upper_bound, "{key} {file}: {e:?} for {exact}");
                sum += (e.estimate as f64 - exact as f64).abs() / exact.max(1) as f64;
            }
            let mae = sum / slices.len() as f64;
            row.push_str(&format!(" {:.1}% |", 100.0 * mae));
            let held = !key.starts_with("hf:") || key.starts_with("hf:gpt2");
            if held && mae > 0.10 {
                failures.push(format!("{key} {file}: {:.1}% > 10%", 100.0 * mae));
            }
        }
        printed.push_str(&row);
        printed.push('\n');
    }
    eprintln!("mean relative error of the estimate on held-out corpus text:\n{printed}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Short prose in scripts the corpus lacks (the calibration tool's samples are other slices of
/// the same paragraphs): the heuristic is no longer off by a factor of several on them.
#[test]
fn estimates_hold_up_in_other_scripts() {
    let registry = plain_registry();
    let texts = [
        "Привет, как дела? Сегодня хорошая погода, и мы идём гулять в парк.",
        "这是一个用于测试的中文句子，我们今天去公园散步。",
        "مرحبا كيف حالك اليوم؟ الطقس جميل ونحن ذاهبون إلى الحديقة.",
        "नमस्ते, आप कैसे हैं? आज मौसम अच्छा है।",
        "สวัสดีครับ วันนี้อากาศดีมาก",
        "Γειά σου κόσμε, τι κάνεις σήμερα;",
        "안녕하세요 여러분 오늘 날씨가 좋네요",
        "שלום לכולם, מה שלומכם היום?",
    ];
    for model in ["gpt-4", "gpt-4o"] {
        let exact = registry.resolve(AdapterName::Tiktoken, model).unwrap();
        let heuristic = registry.resolve(AdapterName::Heuristic, model).unwrap();
        let mut total_error = 0.0;
        for text in texts {
            let want = exact.count(text).unwrap().count as f64;
            let got = heuristic.count(text).unwrap().count as f64;
            let error = (got - want).abs() / want;
            assert!(error <= 0.5, "{model}: {got} for {want} on {text}");
            total_error += error;
        }
        let mae = total_error / texts.len() as f64;
        assert!(mae <= 0.25, "{model}: mean relative error {:.1}%", 100.0 * mae);
    }
}
