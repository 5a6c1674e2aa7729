//! The tiktoken engine against its references: the split against tiktoken's own patterns on
//! the backtracking engine, counts against tiktoken-rs, and megabyte-long runs of one
//! character class for every encoding.

mod common;

use std::sync::OnceLock;

use common::*;
use kano_tokenizer::{AdapterName, Encoding, EncodingName};
use rustc_hash::FxHashMap;
use tiktoken_rs::CoreBPE;

// tiktoken's split patterns, as the Python package and tiktoken-rs define them.
const R50K_PATTERN: &str = r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s";
const CL100K_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
const O200K_PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
);

fn pattern_of(name: EncodingName) -> &'static str {
    match name {
        EncodingName::R50kBase | EncodingName::Gpt2 | EncodingName::P50kBase | EncodingName::P50kEdit => R50K_PATTERN,
        EncodingName::Cl100kBase => CL100K_PATTERN,
        EncodingName::O200kBase | EncodingName::O200kHarmony => O200K_PATTERN,
        // `EncodingName` is non-exhaustive: a new encoding needs its reference here.
        other => panic!("no reference pattern for {other:?}"),
    }
}

fn reference_bpe(name: EncodingName) -> &'static CoreBPE {
    match name {
        EncodingName::R50kBase | EncodingName::Gpt2 => tiktoken_rs::r50k_base_singleton(),
        EncodingName::P50kBase => tiktoken_rs::p50k_base_singleton(),
        EncodingName::P50kEdit => tiktoken_rs::p50k_edit_singleton(),
        EncodingName::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        EncodingName::O200kBase => tiktoken_rs::o200k_base_singleton(),
        EncodingName::O200kHarmony => tiktoken_rs::o200k_harmony_singleton(),
        other => panic!("no reference encoder for {other:?}"),
    }
}

/// tiktoken-rs's merge alone: the same ranks with a pattern that matches a whole piece at once,
/// so its byte-pair merge runs on exactly the piece given.
fn reference_merge(name: EncodingName) -> &'static CoreBPE {
    static TABLES: OnceLock<Vec<(EncodingName, CoreBPE)>> = OnceLock::new();
    let tables = TABLES.get_or_init(|| {
        EncodingName::ALL
            .iter()
            .map(|&enc| {
                let full = reference_bpe(enc);
                let specials = full.special_tokens();
                let mut ranks = FxHashMap::default();
                for rank in 0..210_000u32 {
                    if let Ok(bytes) = full.decode_bytes(&[rank]) {
                        if !std::str::from_utf8(&bytes).is_ok_and(|s| specials.contains(s)) {
                            ranks.insert(bytes, rank);
                        }
                    }
                }
                (enc, CoreBPE::new(ranks, FxHashMap::default(), r"[\s\S]+").expect("merge-only encoder"))
            })
            .collect()
    });
    &tables.iter().find(|(e, _)| *e == name).expect("every encoding").1
}

fn encodings() -> Vec<Encoding> {
    let registry = plain_registry();
    EncodingName::ALL.iter().map(|&e| registry.encoding(e).expect("loads")).collect()
}

/// A small deterministic generator (no dependency needed for test data).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() as usize) % items.len()]
    }
}

/// Text that stresses every alternative of the split patterns: contractions in both cases,
/// runs of each whitespace kind, letters with marks, numbers of every length, mixed scripts.
fn tricky_text(rng: &mut Lcg, atoms: usize) -> String {
    const ATOMS: &[&str] = &[
        "a",
        "Z",
        "hello",
        "World",
        "HELLO",
        "camelCase",
        "o'clock",
        "'s",
        "'S",
        "'ll",
        "'VE",
        "'re",
        "'d",
        "'M",
        "'t",
        "ſ",
        "K",
        " ",
        "  ",
        "   ",
        "\t",
        "\n",
        "\r\n",
        "\n\n",
        " \n ",
        "\u{a0}",
        "\u{3000}",
        "\u{2028}",
        "\u{85}",
        "0",
        "12",
        "123",
        "1234567",
        "٣٤",
        "½",
        "Ⅻ",
        ".",
        ",",
        "!?",
        "...",
        "--",
        "/",
        "//",
        "<|endoftext|>",
        "<|fim_prefix|>",
        "@#$%",
        "(",
        ")",
        "\"",
        "e\u{301}",
        "a\u{308}\u{304}",
        "\u{301}",
        "日本語",
        "中文",
        "한국어",
        "ひらがな",
        "カタカナ",
        "Привет",
        "мир",
        "ΑΒΓ",
        "δε",
        "مرحبا",
        "שלום",
        "नमस्ते",
        "สวัสดี",
        "👍",
        "👨\u{200d}👩\u{200d}👧",
        "🏳\u{fe0f}\u{200d}🌈",
        "\u{0}",
        "\u{1b}",
        "\u{7f}",
        "\u{fffd}",
        "\u{10ffff}",
        "ǅ",
        "ǈ",
        "ᾈ",
        "ʰ",
        "ꜰ",
    ];
    (0..atoms).map(|_| rng.pick(ATOMS)).collect()
}

#[test]
fn split_matches_tiktoken_patterns() {
    let mut rng = Lcg(7);
    let mut texts: Vec<String> = golden().into_iter().map(|c| c.text).collect();
    texts.extend((0..3000).map(|i| tricky_text(&mut rng, 1 + i % 40)));
    let mut compared = 0;
    for enc in encodings() {
        let reference = fancy_regex::Regex::new(pattern_of(enc.name())).expect("tiktoken pattern");
        for text in &texts {
            let Ok(expected) = reference.find_iter(text).map(|m| m.map(|m| m.as_str())).collect::<Result<Vec<_>, _>>()
            else {
                continue; // the backtracking engine gave up (long runs); covered by megabyte_runs
            };
            assert_eq!(enc.split(text), expected, "{} splits {:?} differently", enc.name(), text);
            compared += 1;
        }
    }
    assert!(compared > 20_000, "only {compared} texts compared");
}

#[test]
fn counts_match_tiktoken_rs() {
    let mut rng = Lcg(11);
    let mut texts: Vec<String> = golden().into_iter().map(|c| c.text).collect();
    texts.extend((0..1500).map(|i| tricky_text(&mut rng, 1 + i % 200)));
    for enc in encodings() {
        let reference = reference_bpe(enc.name());
        for text in &texts {
            let expected = std::panic::catch_unwind(|| reference.encode_ordinary(text).len());
            let Ok(expected) = expected else { continue };
            assert_eq!(enc.count(text), expected as u64, "{} counts {:?} differently", enc.name(), text);
        }
    }
}

#[test]
fn long_pieces_merge_like_tiktoken_rs() {
    // Pieces longer than the small-piece path, in each encoding: exercises the heap merge.
    let mut rng = Lcg(3);
    for enc in encodings() {
        let merge = reference_merge(enc.name());
        for len in [97usize, 150, 400, 1000, 5000] {
            let words: String = (0..len).map(|_| rng.pick(&["a", "b", "ab", "ba", "x", "yz", "e"])).collect();
            for piece in [words.clone(), "中".repeat(len), "7".repeat(len), " ".repeat(len), "=".repeat(len)] {
                let got: u64 = enc.split(&piece).iter().map(|p| merge.encode_ordinary(p).len() as u64).sum();
                assert_eq!(enc.count(&piece), got, "{} on {} bytes", enc.name(), piece.len());
            }
        }
    }
}

/// A megabyte of one character class, for every encoding: the count must be the one tiktoken's
/// merge gives for the pieces tiktoken's pattern cuts. The pieces are checked against the
/// backtracking engine on a short run of the same shape (which it can still handle), and the
/// merge of each piece against tiktoken-rs.
#[test]
fn megabyte_runs() {
    const MB: usize = 1 << 20;
    let mut rng = Lcg(5);
    let base64: String = (0..MB).map(|_| rng.pick(&["A", "z", "0", "9", "+", "/", "Q", "k"])).collect();
    type Shape = Box<dyn Fn(usize) -> String>;
    let shapes: Vec<(&str, Shape)> = vec![
        ("one letter", Box::new(|n| "a".repeat(n))),
        ("spaces", Box::new(|n| " ".repeat(n))),
        ("spaces then a word", Box::new(|n| " ".repeat(n - 1) + "x")),
        ("newlines", Box::new(|n| "\n".repeat(n))),
        ("digits", Box::new(|n| "7".repeat(n))),
        ("unspaced CJK", Box::new(|n| "中".repeat(n / 3))),
        ("punctuation", Box::new(|n| "=".repeat(n))),
        ("base64", Box::new(move |n| base64[..n].to_string())),
    ];
    for enc in encodings() {
        let pattern = fancy_regex::Regex::new(pattern_of(enc.name())).expect("pattern");
        let merge = reference_merge(enc.name());
        for (label, make) in &shapes {
            let small = make(60);
            let expected_small: Vec<&str> = pattern.find_iter(&small).map(|m| m.expect("short run").as_str()).collect();
            assert_eq!(enc.split(&small), expected_small, "{} {label} (short)", enc.name());

            let text = make(MB);
            let pieces = enc.split(&text);
            assert_eq!(pieces.concat().len(), text.len());
            let expected: u64 = pieces.iter().map(|p| merge.encode_ordinary(p).len() as u64).sum();
            let got = enc.count(&text);
            assert_eq!(got, expected, "{} {label}: {} pieces", enc.name(), pieces.len());
            assert!(got > 0);
        }
    }
}

#[test]
fn every_table_counts_long_pieces_by_backtracking() {
    for enc in encodings() {
        assert!(enc.backtracks(), "{}", enc.name());
    }
}

/// One long piece of `bytes` bytes or a little more, in one of several shapes: real and random
/// unspaced CJK, Hangul, Cyrillic, random Latin letters from small and full alphabets (many
/// merges, much backtracking), whitespace mixes and digits (one piece in r50k and p50k).
fn long_piece(rng: &mut Lcg, shape: usize, bytes: usize, zh: &[char]) -> String {
    let mut s = String::with_capacity(bytes + 4);
    let from = |rng: &mut Lcg, lo: u32, hi: u32| char::from_u32(lo + rng.next() as u32 % (hi - lo)).expect("in range");
    let start = rng.next() as usize % zh.len();
    while s.len() < bytes {
        let c = match shape {
            0 => zh[(start + s.len()) % zh.len()],
            1 => from(rng, 0x4E00, 0x9FA6),
            2 => from(rng, 0xAC00, 0xD7A4),
            3 => from(rng, 0x0430, 0x0450),
            4 => ['a', 'b', 'a', 'a', 'n'][rng.next() as usize % 5],
            5 => from(rng, 'a' as u32, 'z' as u32 + 1),
            6 => [' ', ' ', ' ', '\t', ' '][rng.next() as usize % 5],
            _ => from(rng, '0' as u32, '9' as u32 + 1),
        };
        s.push(c);
    }
    s
}

/// Generated long pieces against tiktoken-rs's merge (whose cost grows with the square of the
/// piece, so these stay below 40 KB; `src/tiktoken/backtrack.rs` checks megabytes against the
/// heap merge).
#[test]
fn generated_long_pieces_match_tiktoken_rs() {
    let corpus =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/corpus/prose_zh.txt"))
            .expect("bench corpus");
    let zh: Vec<char> = corpus.chars().filter(|c| c.is_alphabetic() && !c.is_ascii()).collect();
    let mut rng = Lcg(17);
    for enc in encodings() {
        if matches!(enc.name(), EncodingName::Gpt2 | EncodingName::P50kEdit | EncodingName::O200kHarmony) {
            continue; // the same rank table as another encoding
        }
        let merge = reference_merge(enc.name());
        for shape in 0..8 {
            for bytes in [97, 140, 500, 3000, 40_000] {
                let text = long_piece(&mut rng, shape, bytes, &zh);
                let expected: u64 = enc.split(&text).iter().map(|p| merge.encode_ordinary(p).len() as u64).sum();
                assert_eq!(enc.count(&text), expected, "{} shape {shape}, {} bytes", enc.name(), text.len());
            }
        }
    }
}

/// Counts interleaved across rank tables on one thread: the backtracking encoder keeps a pair
/// memo per thread and per table, so a memo shared by mistake between tables, or kept past
/// its eviction (two registries hold eight tables; a thread keeps memos for four), would change
/// counts here. The text is the bench corpus in 2 KB chunks, mostly CJK, Hangul and Cyrillic.
#[test]
fn interleaved_tables_on_one_thread_count_like_tiktoken_rs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/corpus");
    let mut chunks = Vec::new();
    for name in ["prose_zh.txt", "prose_ja.txt", "prose_ko.txt", "prose_ru.txt", "code_python.py"] {
        let text = std::fs::read_to_string(dir.join(name)).expect("bench corpus");
        let mut start = 0;
        for _ in 0..40 {
            if start >= text.len() {
                break;
            }
            let mut end = (start + 2048).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            chunks.push(text[start..end].to_owned());
            start = end;
        }
    }
    let distinct =
        |e: &EncodingName| !matches!(e, EncodingName::Gpt2 | EncodingName::P50kEdit | EncodingName::O200kHarmony);
    let names: Vec<EncodingName> = EncodingName::ALL.into_iter().filter(distinct).collect();
    let registries = [plain_registry(), plain_registry()];
    let mut compared = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        for (j, &name) in names.iter().enumerate() {
            let enc = registries[(i + j) % 2].encoding(name).expect("loads");
            let expected = reference_bpe(name).encode_ordinary(chunk).len() as u64;
            assert_eq!(enc.count(chunk), expected, "{name} on chunk {i}");
            compared += 1;
        }
    }
    assert!(compared > 600, "only {compared} counts compared");
}

/// Whole chunks of a text are cached (`bpe::chunks`): a text counted again, texts that share
/// their start, and texts that share chunks at other offsets keep tiktoken-rs's counts, across
/// encodings on one thread (each keeps its own chunks).
#[test]
fn texts_counted_again_and_sharing_chunks_count_like_tiktoken_rs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/corpus");
    let cut = |t: &str, n: usize| {
        let mut end = n.min(t.len());
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        t[..end].to_string()
    };
    let en = std::fs::read_to_string(dir.join("prose_en.txt")).expect("bench corpus");
    let de = std::fs::read_to_string(dir.join("prose_de.txt")).expect("bench corpus");
    let code = std::fs::read_to_string(dir.join("code_rust.rs")).expect("bench corpus");
    let json = std::fs::read_to_string(dir.join("data_json.json")).expect("bench corpus");
    let base = cut(&en, 30_000);
    let texts = [
        base.clone(),
        cut(&de, 20_000),
        cut(&code, 20_000),
        cut(&json, 20_000),
        // The same start, other endings: the shared chunks hit, the last differ.
        format!("{}{}", cut(&en, 9_000), cut(&de, 3_000)),
        format!("{} extra words here", cut(&en, 9_000)),
        // The same words one byte later: chunks cut elsewhere.
        format!("x{base}"),
        format!("{}\n\n{}", cut(&code, 4_000), cut(&en, 4_000)),
    ];
    let names = [EncodingName::R50kBase, EncodingName::P50kBase, EncodingName::Cl100kBase, EncodingName::O200kBase];
    let registry = plain_registry();
    for round in 0..3 {
        for text in &texts {
            for &name in &names {
                let enc = registry.encoding(name).expect("loads");
                let expected = reference_bpe(name).encode_ordinary(text).len() as u64;
                assert_eq!(enc.count(text), expected, "{name}, round {round}, {} bytes", text.len());
            }
        }
    }
}

/// A large text counted on several threads, cut at word gaps, gives the one-thread count (and
/// tiktoken-rs's), whatever the number of threads; a text with no gap is counted whole.
#[test]
fn large_texts_counted_in_parts_count_like_one_thread() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/corpus");
    let mut text = String::new();
    for name in ["prose_en.txt", "code_rust.rs", "prose_zh.txt", "data_json.json", "prose_ru.txt"] {
        text.push_str(&std::fs::read_to_string(dir.join(name)).expect("bench corpus"));
        text.push_str("\n  \t");
    }
    let no_gaps = "中文字".repeat(200_000);
    let registry = plain_registry();
    for name in [EncodingName::Cl100kBase, EncodingName::O200kBase, EncodingName::R50kBase] {
        let enc = registry.encoding(name).expect("loads");
        let whole = enc.count(&text);
        assert_eq!(whole, reference_bpe(name).encode_ordinary(&text).len() as u64, "{name}");
        for threads in [1, 2, 3, 4, 8] {
            assert_eq!(enc.count_in_parts(&text, threads), whole, "{name}, {threads} threads");
        }
        assert_eq!(enc.count_in_parts(&no_gaps, 4), enc.count(&no_gaps), "{name}, no gaps");
    }
    // The adapter takes this path for texts of PARALLEL_TEXT_BYTES and more.
    let big = text.repeat(kano_tokenizer::PARALLEL_TEXT_BYTES / text.len() + 1);
    let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4").expect("adapter");
    let enc = registry.encoding(EncodingName::Cl100kBase).expect("loads");
    assert_eq!(adapter.count(&big).expect("counts").count, enc.count(&big));
}
