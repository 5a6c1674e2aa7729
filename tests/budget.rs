//! Token budgets on every kind of adapter available offline: every OpenAI rank table,
//! `tokenizer.json` fixtures of each model type (byte-level BPE, SentencePiece BPE, WordPiece,
//! Unigram, and real published files), and the heuristic. Each prefix and chunk must count, alone,
//! what the result says.

mod common;

use std::io::Read;

use kano_tokenizer::{Adapter, AdapterName, ErrorKind, Registry};

fn texts() -> Vec<(&'static str, String)> {
    let prose = "The quick brown fox jumps over the lazy dog. It's 2024-05-01, and naïve café \
                 owners re-price 1234567 items.\n\n    Indented line with   runs   of spaces.\n"
        .repeat(6);
    let code =
        "fn main() {\n    let x: Vec<u32> = (0..10).map(|i| i * i).collect();\n    println!(\"{x:?}\");\n}\n".repeat(6);
    let cjk = "日本語の文章を数えます。中文句子，한국어 문장도 있습니다. ".repeat(8);
    let emoji = "👍🏽 family: 👨‍👩‍👧‍👦, flags 🇫🇷🇯🇵 and é́ combining marks. ".repeat(6);
    let letters = "a".repeat(700) + &"xyz".repeat(100);
    let spaces = "word".to_string() + &" ".repeat(300) + "\n\n\n\t\t" + &"x ".repeat(100);
    // Short lines: chunks of OpenAI encodings end at line starts found while walking the pieces.
    let lines = "First line of the text.\nsecond line, no stop\nThird: 42 items\r\nfourth\n\nFifth one\n".repeat(10);
    vec![
        ("prose", prose),
        ("code", code),
        ("cjk", cjk),
        ("emoji", emoji),
        ("letters", letters),
        ("spaces", spaces),
        ("lines", lines),
        // GPT-2's added token in the text: the chunks that hold one are not cut by walking pieces.
        ("added", "Some words before it <|endoftext|> and more words after it.\n".repeat(12)),
        // Letters with combining accents, which Qwen's NFC composes: those chunks are not walked.
        ("decomposed", "Cafe\u{301} menus and re\u{301}sume\u{301}s of naive people.\n".repeat(14)),
    ]
}

fn gunzip(path: &std::path::Path) -> Vec<u8> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(file).read_to_end(&mut out).expect("gzip");
    out
}

/// Every adapter kind: the four OpenAI rank tables, the tokenizer.json fixtures, two real
/// published files, the embedded MiniLM, and the heuristic.
fn adapters(registry: &Registry) -> Vec<(String, Adapter)> {
    let mut out = Vec::new();
    for model in ["r50k_base", "p50k_base", "cl100k_base", "o200k_base"] {
        out.push((model.to_string(), registry.resolve(AdapterName::Tiktoken, model).expect(model)));
    }
    for name in common::TOKENIZERS {
        let path = common::tokenizer_path(name);
        out.push((name.to_string(), registry.resolve(AdapterName::Huggingface, path.to_str().unwrap()).expect(name)));
    }
    let dir = std::env::temp_dir().join(format!("kano-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for name in ["bert_base_uncased", "mistral_7b_v0_1", "gpt2", "qwen2_5"] {
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, gunzip(&common::fixtures().join("real").join(format!("{name}.json.gz")))).expect("write");
        out.push((name.to_string(), registry.resolve(AdapterName::Huggingface, path.to_str().unwrap()).expect(name)));
    }
    out.push(("heuristic".to_string(), registry.resolve(AdapterName::Heuristic, "gpt-4o").expect("heuristic")));
    out
}

fn count(adapter: &Adapter, text: &str) -> u64 {
    adapter.count(text).expect("count").count
}

fn next_char_end(text: &str, at: usize) -> usize {
    at + text[at..].chars().next().map_or(0, char::len_utf8)
}

#[test]
fn truncations_are_within_budget_and_one_more_character_is_not() {
    let registry = common::plain_registry();
    for (name, adapter) in adapters(&registry) {
        for (kind, text) in texts() {
            let total = count(&adapter, &text);
            let empty = count(&adapter, "");
            for max in [empty, empty + 1, empty + 2, empty + 7, total / 3, total / 2, total - 1, total, total + 5] {
                if max < empty {
                    let e = adapter.truncate(&text, max).unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{name}/{kind}/{max}");
                    continue;
                }
                let t = adapter.truncate(&text, max).unwrap_or_else(|e| panic!("{name}/{kind}/{max}: {e}"));
                let what = format!("{name}/{kind}: max {max}, cut {}", t.byte_len);
                assert!(text.is_char_boundary(t.byte_len), "{what}: not a character boundary");
                let prefix = &text[..t.byte_len];
                assert_eq!(t.count, count(&adapter, prefix), "{what}: the count is not the prefix's alone");
                assert!(t.count <= max, "{what}: over budget ({})", t.count);
                assert_eq!(t.is_exact, name != "heuristic", "{what}");
                if t.byte_len < text.len() {
                    let longer = &text[..next_char_end(&text, t.byte_len)];
                    assert!(count(&adapter, longer) > max, "{what}: one more character still fits");
                } else {
                    assert!(total <= max, "{what}: the whole text does not fit");
                }
                // The bytes entry point agrees.
                assert_eq!(adapter.truncate_bytes(text.as_bytes(), max).expect("bytes"), t, "{what}");
            }
        }
    }
}

#[test]
fn chunks_cover_the_text_and_count_alone_within_budget() {
    let registry = common::plain_registry();
    for (name, adapter) in adapters(&registry) {
        for (kind, text) in texts() {
            let empty = count(&adapter, "");
            for (max, overlap) in [(empty + 8, 0), (empty + 20, 0), (empty + 20, 5), (empty + 64, 16), (empty + 300, 0)]
            {
                let what = format!("{name}/{kind}: max {max} overlap {overlap}");
                let chunks = adapter.split(&text, max, overlap).unwrap_or_else(|e| panic!("{what}: {e}"));
                let chunks = chunks.chunks;
                assert!(!chunks.is_empty(), "{what}");
                assert_eq!(chunks[0].start, 0, "{what}");
                assert_eq!(chunks.last().unwrap().end, text.len(), "{what}");
                for (i, c) in chunks.iter().enumerate() {
                    assert!(c.start < c.end, "{what}: chunk {i} is empty");
                    assert!(text.is_char_boundary(c.start) && text.is_char_boundary(c.end), "{what}: chunk {i}");
                    let alone = count(&adapter, &text[c.start..c.end]);
                    assert_eq!(c.count, alone, "{what}: chunk {i} {:?}", &text[c.start..c.end]);
                    assert!(c.count <= max, "{what}: chunk {i} has {} tokens", c.count);
                    if i > 0 {
                        let p = chunks[i - 1];
                        assert!(
                            c.start > p.start && c.start <= p.end && c.end > p.end,
                            "{what}: chunk {i} {c:?} after {p:?}"
                        );
                        if overlap == 0 {
                            assert_eq!(c.start, p.end, "{what}: chunk {i} leaves a gap or overlaps");
                        } else {
                            assert!(
                                count(&adapter, &text[c.start..p.end]) <= overlap.max(empty),
                                "{what}: overlap {i}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn chunks_prefer_to_end_at_whitespace() {
    let registry = common::plain_registry();
    let adapter = registry.resolve(AdapterName::Tiktoken, "cl100k_base").unwrap();
    let text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. ".repeat(40);
    let chunks = adapter.split(&text, 50, 0).unwrap().chunks;
    assert!(chunks.len() > 5);
    for c in &chunks[..chunks.len() - 1] {
        let (head, tail) = text.split_at(c.end);
        assert!(
            head.ends_with(char::is_whitespace) || tail.starts_with(char::is_whitespace),
            "chunk {c:?} ends inside a word: {:?}",
            &text[c.end.saturating_sub(10)..c.end + 10]
        );
        // Within the last 10% of the chunk: not much shorter than the longest prefix.
        let longest = adapter.truncate(&text[c.start..], 50).unwrap();
        assert!(c.end - c.start >= longest.byte_len - longest.byte_len / 10, "{c:?} vs {longest:?}");
    }
}

#[test]
fn truncating_a_megabyte_reads_only_its_start() {
    let registry = common::plain_registry();
    let adapter = registry.resolve(AdapterName::Tiktoken, "o200k_base").unwrap();
    let mut text = "Some ordinary English prose, with words and numbers 12345. ".repeat(18_000).into_bytes();
    assert!(text.len() > 1_000_000);
    // An invalid byte at the end: never read, so no error.
    *text.last_mut().unwrap() = 0xFF;
    let t = adapter.truncate_bytes(&text, 1000).expect("the end is not read");
    assert_eq!(t.count, 1000.min(t.count));
    let prefix = std::str::from_utf8(&text[..t.byte_len]).unwrap();
    assert_eq!(t.count, count(&adapter, prefix));
    assert!(t.byte_len < 10_000, "{}", t.byte_len);
    // Within what is read, invalid UTF-8 is an error naming its offset.
    text[100] = 0xFF;
    let e = adapter.truncate_bytes(&text, 1000).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidUtf8);
    assert!(e.message().contains("offset 100"), "{e}");
    // tokenizer.json adapters read it all.
    let bert = registry
        .resolve(AdapterName::Huggingface, common::tokenizer_path("all-MiniLM-L6-v2").to_str().unwrap())
        .unwrap();
    text[100] = b' ';
    assert_eq!(bert.truncate_bytes(&text, 1000).unwrap_err().kind(), ErrorKind::InvalidUtf8);
}

#[test]
fn impossible_budgets_are_invalid_arguments() {
    let registry = common::plain_registry();
    let bert = registry
        .resolve(AdapterName::Huggingface, common::tokenizer_path("all-MiniLM-L6-v2").to_str().unwrap())
        .unwrap();
    let empty = count(&bert, "");
    assert!(empty >= 2, "BERT adds [CLS] and [SEP]");
    assert_eq!(bert.truncate("hello", empty - 1).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(bert.truncate("hello", empty).unwrap().byte_len, 0);
    assert_eq!(bert.split("hello world", empty, 0).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let gpt = registry.resolve(AdapterName::Tiktoken, "cl100k_base").unwrap();
    assert_eq!(gpt.split("hello", 0, 0).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(gpt.split("hello", 4, 4).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert!(gpt.split("", 4, 1).unwrap().chunks.is_empty());
    assert_eq!(gpt.truncate("", 0).unwrap().byte_len, 0);
    assert_eq!(gpt.truncate("hello", 0).unwrap().byte_len, 0);
}
