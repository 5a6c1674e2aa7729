//! Property tests of the tokenizer.json engine: random pipelines built from the format's parts
//! (normalizers, pre-tokenizers, models, post-processors, added tokens with every flag), with
//! random small vocabularies and merges, counted by our engine and by the `tokenizers` crate on
//! random texts. Every count must agree, with and without special tokens; a file the crate
//! refuses must not load in ours either, and one the crate loads must load in ours (counted by
//! our engine or, for a part it lacks, by the crate).

use kano_tokenizer::huggingface::HfTokenizer;
use serde_json::{json, Value};

/// xorshift64*: deterministic, so a failure repeats from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Characters the texts and vocabularies are made of: ASCII letters of both cases, digits,
/// spaces of several kinds, punctuation, accents precomposed and combining, a dotted capital I
/// (whose lowercase grows), CJK, an emoji, the metaspace mark, a full-width letter, a ligature,
/// a control character.
const ALPHABET: &[&str] = &[
    "a", "b", "c", "A", "B", "0", "1", "7", " ", " ", " ", "\n", "\t", "\r\n", ".", ",", "'", "!", "-", "é",
    "e\u{301}", "İ", "中", "文", "😀", "▁", "Ａ", "ﬁ", "\u{a0}", "\u{3000}", "\u{1}", "ß", "ñ", "\u{2028}",
];

fn random_text(rng: &mut Rng, added: &[String]) -> String {
    let len = match rng.below(10) {
        0 => 0,
        1..=6 => 1 + rng.below(12),
        7 | 8 => 20 + rng.below(60),
        _ => 200 + rng.below(600),
    };
    let mut s = String::new();
    for _ in 0..len {
        if !added.is_empty() && rng.chance(6) {
            s.push_str(rng.pick(added).as_str());
        } else {
            s.push_str(*rng.pick(ALPHABET));
        }
    }
    s
}

/// A string of 1 to 3 alphabet characters.
fn random_word(rng: &mut Rng) -> String {
    (0..1 + rng.below(3)).map(|_| *rng.pick(ALPHABET)).collect()
}

const BEHAVIORS: [&str; 5] = ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"];

const REGEXES: [&str; 6] = [
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    r"\p{N}{1,3}",
    r"[0-9][0-9][0-9]",
    r" ?[a-z]+",
];

fn random_normalizer(rng: &mut Rng) -> Value {
    let one = |rng: &mut Rng| -> Value {
        match rng.below(12) {
            0 => json!({"type": "NFC"}),
            1 => json!({"type": "NFD"}),
            2 => json!({"type": "NFKC"}),
            3 => json!({"type": "NFKD"}),
            4 => json!({"type": "Lowercase"}),
            5 => json!({"type": "StripAccents"}),
            6 => json!({"type": "Strip", "strip_left": rng.chance(50), "strip_right": rng.chance(50)}),
            7 => json!({"type": "Prepend", "prepend": *rng.pick(&["▁", "x", " "])}),
            8 => {
                json!({"type": "Replace", "pattern": {"String": random_word(rng)}, "content": *rng.pick(&["▁", "", "ab", " "])})
            }
            9 => json!({"type": "BertNormalizer", "clean_text": rng.chance(50), "handle_chinese_chars": rng.chance(50),
                        "strip_accents": *rng.pick(&[json!(null), json!(true), json!(false)]), "lowercase": rng.chance(50)}),
            10 => json!({"type": "Nmt"}),
            _ => json!({"type": "Replace", "pattern": {"String": " "}, "content": "▁"}),
        }
    };
    match rng.below(4) {
        0 => Value::Null,
        1 => one(rng),
        _ => {
            let n = 1 + rng.below(3);
            json!({"type": "Sequence", "normalizers": (0..n).map(|_| one(rng)).collect::<Vec<_>>()})
        }
    }
}

/// A pre-tokenizer, and whether it ends in a `ByteLevel` step (the model then needs the
/// byte-level alphabet).
fn random_pre_tokenizer(rng: &mut Rng) -> (Value, bool) {
    let one = |rng: &mut Rng| -> Value {
        match rng.below(11) {
            0 => json!({"type": "Whitespace"}),
            1 => json!({"type": "WhitespaceSplit"}),
            2 => json!({"type": "Punctuation", "behavior": *rng.pick(&BEHAVIORS)}),
            3 => json!({"type": "Digits", "individual_digits": rng.chance(50)}),
            4 => {
                json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": *rng.pick(&["always", "first", "never"]), "split": rng.chance(50)})
            }
            5 => {
                json!({"type": "Split", "pattern": {"String": random_word(rng)}, "behavior": *rng.pick(&BEHAVIORS), "invert": rng.chance(30)})
            }
            6 => {
                json!({"type": "Split", "pattern": {"Regex": *rng.pick(&REGEXES)}, "behavior": *rng.pick(&BEHAVIORS), "invert": rng.chance(30)})
            }
            7 => json!({"type": "BertPreTokenizer"}),
            8 => json!({"type": "CharDelimiterSplit", "delimiter": *rng.pick(&[" ", "a", "▁"])}),
            9 => json!({"type": "FixedLength", "length": 1 + rng.below(6)}),
            _ => json!({"type": "WhitespaceSplit"}),
        }
    };
    let mut steps: Vec<Value> = (0..rng.below(3)).map(|_| one(rng)).collect();
    let byte_level = rng.chance(35);
    if byte_level {
        steps.push(json!({"type": "ByteLevel", "add_prefix_space": rng.chance(50), "trim_offsets": true, "use_regex": rng.chance(50)}));
    }
    let value = match steps.len() {
        0 => Value::Null,
        1 if rng.chance(50) => steps.pop().unwrap_or(Value::Null),
        _ => json!({"type": "Sequence", "pretokenizers": steps}),
    };
    (value, byte_level)
}

/// The byte-level character of each byte (GPT-2's table).
fn byte_chars() -> Vec<char> {
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

/// A BPE model: base symbols (some of the alphabet's characters, or all 256 byte-level ones),
/// random merges of existing tokens in training order, and random options.
fn random_bpe(rng: &mut Rng, byte_level: bool) -> Value {
    let mut vocab: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let add = |t: String, vocab: &mut Vec<String>, seen: &mut std::collections::HashSet<String>| {
        if seen.insert(t.clone()) {
            vocab.push(t);
        }
    };
    if byte_level {
        for c in byte_chars() {
            add(c.to_string(), &mut vocab, &mut seen);
        }
    } else {
        for s in ALPHABET {
            for c in s.chars() {
                if rng.chance(85) {
                    add(c.to_string(), &mut vocab, &mut seen);
                }
            }
        }
        for c in ['▁', 'a', 'b', ' '] {
            add(c.to_string(), &mut vocab, &mut seen);
        }
    }
    let byte_fallback = !byte_level && rng.chance(50);
    if byte_fallback {
        for b in 0..=255u32 {
            if rng.chance(95) {
                add(format!("<0x{b:02X}>"), &mut vocab, &mut seen);
            }
        }
    }
    let unk = rng.chance(60);
    if unk {
        add("<unk>".into(), &mut vocab, &mut seen);
    }
    let bases = vocab.len();
    let mut merges: Vec<(String, String)> = Vec::new();
    let mut merged = std::collections::HashSet::new();
    for _ in 0..(40 + rng.below(200)) {
        // Favour short, frequent symbols so merges build on each other.
        let pool = if rng.chance(60) { bases.min(vocab.len()) } else { vocab.len() };
        let a = vocab[rng.below(pool)].clone();
        let b = vocab[rng.below(vocab.len())].clone();
        if a.starts_with("<0x") || b.starts_with("<0x") || a == "<unk>" || b == "<unk>" {
            continue;
        }
        if a.chars().count() + b.chars().count() > 6 || !merged.insert((a.clone(), b.clone())) {
            continue;
        }
        add(format!("{a}{b}"), &mut vocab, &mut seen);
        merges.push((a, b));
    }
    if !byte_level {
        // Pieces a text often has.
        for w in ["▁a", "▁b", "ab", "▁ab", "aa"] {
            let (x, y) = w.split_at(w.chars().next().map_or(1, char::len_utf8));
            if seen.contains(x) && seen.contains(y) && merged.insert((x.to_string(), y.to_string())) {
                add(w.to_string(), &mut vocab, &mut seen);
                merges.push((x.to_string(), y.to_string()));
            }
        }
    }
    let vocab_map: serde_json::Map<String, Value> =
        vocab.iter().enumerate().map(|(i, t)| (t.clone(), json!(i))).collect();
    // All strings or all pairs (a mix is refused, by the crate and by ours: a few such files
    // check that).
    let as_strings =
        rng.chance(50) && (rng.chance(5) || merges.iter().all(|(a, b)| !a.contains(' ') && !b.contains(' ')));
    let merges: Vec<Value> =
        merges
            .iter()
            .map(|(a, b)| {
                if as_strings && !a.contains(' ') && !b.contains(' ') {
                    json!(format!("{a} {b}"))
                } else {
                    json!([a, b])
                }
            })
            .collect();
    json!({
        "type": "BPE",
        "dropout": null,
        "unk_token": if unk { json!("<unk>") } else { json!(null) },
        "continuing_subword_prefix": null,
        "end_of_word_suffix": null,
        "fuse_unk": rng.chance(50),
        "byte_fallback": byte_fallback,
        "ignore_merges": rng.chance(30),
        "vocab": vocab_map,
        "merges": merges,
    })
}

fn random_wordpiece(rng: &mut Rng) -> Value {
    let mut vocab = serde_json::Map::new();
    for t in ["[UNK]", "[CLS]", "[SEP]"] {
        vocab.insert(t.into(), json!(vocab.len()));
    }
    for _ in 0..(30 + rng.below(100)) {
        let w = random_word(rng);
        let w = if rng.chance(40) { format!("##{w}") } else { w };
        let n = vocab.len();
        vocab.entry(w).or_insert(json!(n));
    }
    json!({"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
           "max_input_chars_per_word": *rng.pick(&[3usize, 8, 100]), "vocab": vocab})
}

fn random_wordlevel(rng: &mut Rng) -> Value {
    let mut vocab = serde_json::Map::new();
    vocab.insert("<unk>".into(), json!(0));
    for _ in 0..(20 + rng.below(60)) {
        let n = vocab.len();
        vocab.entry(random_word(rng)).or_insert(json!(n));
    }
    json!({"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"})
}

fn random_added(rng: &mut Rng) -> (Value, Vec<String>) {
    let mut list = Vec::new();
    let mut contents = Vec::new();
    for i in 0..rng.below(4) {
        let content = match rng.below(3) {
            0 => format!("<s{i}>"),
            1 => random_word(rng),
            _ => format!("[T{i}]"),
        };
        let special = rng.chance(50);
        list.push(json!({"id": 1000 + i, "content": content, "single_word": rng.chance(30), "lstrip": rng.chance(30),
                         "rstrip": rng.chance(30), "normalized": rng.chance(50), "special": special}));
        contents.push(content);
    }
    (Value::Array(list), contents)
}

fn random_post(rng: &mut Rng) -> Value {
    let template = |rng: &mut Rng| {
        let mut single = Vec::new();
        if rng.chance(60) {
            single.push(json!({"SpecialToken": {"id": "[CLS]", "type_id": 0}}));
        }
        single.push(json!({"Sequence": {"id": "A", "type_id": 0}}));
        if rng.chance(20) {
            single.push(json!({"Sequence": {"id": "A", "type_id": 0}}));
        }
        if rng.chance(60) {
            single.push(json!({"SpecialToken": {"id": "[SEP]", "type_id": 0}}));
        }
        json!({"type": "TemplateProcessing", "single": single, "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
               "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [1], "tokens": ["[CLS]"]},
                                  "[SEP]": {"id": "[SEP]", "ids": [2, 3], "tokens": ["[SEP]", "[SEP]"]}}})
    };
    match rng.below(6) {
        0 => Value::Null,
        1 => template(rng),
        2 => json!({"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1]}),
        3 => {
            json!({"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": true, "add_prefix_space": false})
        }
        4 => json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}),
        _ => {
            json!({"type": "Sequence", "processors": [{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}, template(rng)]})
        }
    }
}

fn random_tokenizer(rng: &mut Rng) -> (Value, Vec<String>) {
    let normalizer = random_normalizer(rng);
    let (pre_tokenizer, byte_level) = random_pre_tokenizer(rng);
    let model = match rng.below(10) {
        0..=6 => random_bpe(rng, byte_level),
        7 | 8 => random_wordpiece(rng),
        _ => random_wordlevel(rng),
    };
    let (added, contents) = random_added(rng);
    let json = json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": added, "normalizer": normalizer, "pre_tokenizer": pre_tokenizer,
        "post_processor": random_post(rng), "decoder": null, "model": model,
    });
    (json, contents)
}

fn crate_tokenizer(bytes: &[u8]) -> Option<tokenizers::Tokenizer> {
    let loaded = std::panic::catch_unwind(|| tokenizers::Tokenizer::from_bytes(bytes)).ok()?;
    if let Err(e) = &loaded {
        if std::env::var_os("SHOW_CRATE_ERRORS").is_some() {
            eprintln!("crate: {e}");
        }
    }
    let mut t = loaded.ok()?;
    t.with_truncation(None).ok()?;
    t.with_padding(None);
    Some(t)
}

#[test]
fn random_pipelines_count_like_the_crate() {
    // The crate's panics are expected here (see below): keep them off the output.
    // Ours must never panic: its panics are reported, the crate's are not.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.location().is_some_and(|l| l.file().contains("tokenizers-")) {
            default_hook(info);
        }
    }));
    let mut ours_served = 0;
    let mut compared = 0;
    let mut loaded = 0;
    for seed in 1..=3000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let (json, added) = random_tokenizer(&mut rng);
        let bytes = serde_json::to_vec(&json).expect("serializes");
        let reference = crate_tokenizer(&bytes);
        let ours = HfTokenizer::from_bytes(&bytes, "random pipeline");
        let (reference, ours) = match (reference, ours) {
            (Some(r), Ok(o)) => (r, o),
            (None, Err(_)) => continue,
            // The crate picks either of two added tokens matched as the same text at random.
            (Some(_), Err(e)) if e.message().contains("at random") => continue,
            (Some(_), Err(e)) => {
                drop(std::panic::take_hook());
                panic!("seed {seed}: the crate loads it, ours refuses: {e}\n{json}")
            }
            // Ours may refuse what the crate would only fail on later; loading what the crate
            // refuses is a bug.
            (None, Ok(o)) => {
                drop(std::panic::take_hook());
                panic!("seed {seed}: the crate refuses it, ours loads it ({})\n{json}", o.engine())
            }
        };
        loaded += 1;
        if ours.engine() != "tokenizers" {
            ours_served += 1;
        } else if std::env::var_os("SHOW_FALLBACKS").is_some() {
            eprintln!("seed {seed}: {:?}", ours.fallback_reason());
        }
        for _ in 0..30 {
            let text = random_text(&mut rng, &added);
            for special in [true, false] {
                // The crate panics on some inputs (an added token whose strips overlap the
                // next one's span): no reference count then.
                let Ok(want) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    reference.encode(text.as_str(), special).map(|e| e.len() as u64)
                })) else {
                    continue;
                };
                let got = ours.count(&text, special);
                compared += 1;
                match (&got, &want) {
                    (Ok(g), Ok(w)) if g == w => {}
                    (Err(_), Err(_)) => {}
                    _ => {
                        drop(std::panic::take_hook());
                        let dump = std::env::temp_dir().join(format!("hf_properties_seed{seed}"));
                        let _ = std::fs::write(dump.with_extension("json"), &bytes);
                        let _ = std::fs::write(dump.with_extension("txt"), &text);
                        panic!(
                        "seed {seed}, special {special}, engine {}: ours {:?}, crate {:?}\ntext {text:?}\n(pipeline and text in {})",
                        ours.engine(),
                        got.map_err(|e| e.to_string()),
                        want.map_err(|e| e.to_string()),
                        dump.display()
                    )
                    }
                }
            }
        }
    }
    drop(std::panic::take_hook());
    eprintln!("{loaded} pipelines loaded, {ours_served} counted by our engine, {compared} counts compared");
    // Most random pipelines must be ours, not the crate's.
    assert!(loaded > 1000, "{loaded} pipelines loaded");
    assert!(ours_served * 10 > loaded * 9, "ours served {ours_served} of {loaded}");
    assert!(compared > 50_000, "{compared} counts compared");
}
