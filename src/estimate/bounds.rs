//! Bounds on the exact count that hold for every input, derived from what each tokenizer
//! guarantees. `tests/estimate.rs` checks them on the golden data and on adversarial text.
//!
//! # OpenAI encodings (byte-level BPE after a split pattern)
//! - Upper: every byte is a token of every encoding and merging only joins tokens, so a text
//!   never has more tokens than bytes.
//! - Lower, from the length: no token is longer than the table's longest token, `L` bytes, so
//!   a text has at least `ceil(bytes / L)` tokens.
//! - Lower, from the pieces: the split pattern cuts the text into pieces and no token crosses a
//!   piece boundary, so each piece is at least one token. A piece that holds letters holds
//!   letters only, apart from one leading non-letter and, in o200k, an apostrophe of a
//!   contraction; a piece that holds digits holds only digits (and, in r50k, one leading space).
//!   So two letters separated by an ASCII character other than a letter or an apostrophe are in
//!   different pieces, and so are two digits separated by an ASCII non-digit or a letter. The
//!   scan counts such runs, treating non-ASCII characters whose class it does not check as
//!   possibly joining (see `features.rs`). cl100k and o200k cut digit runs into groups of at
//!   most three, so a run of `n` digits is at least `ceil(n / 3)` pieces.
//!   The lower bound is the larger of the two.
//!
//! # `tokenizer.json`
//! - Upper: every model type gives at most one token per byte of the text it receives (WordPiece,
//!   WordLevel, BPE and Unigram pieces are at least one character, byte fallback is one token
//!   per byte, and a byte-level pre-tokenizer maps each byte to one character). Each normalizer
//!   and pre-tokenizer step can grow the text by a bounded factor, computed from its settings
//!   when the tokenizer loads (`PipelineBound`); the post-processor adds a fixed number of
//!   special tokens. A step whose growth is not bounded here (a `Precompiled` character map, an
//!   unknown type) makes the upper bound `u64::MAX`.
//! - Lower: the post-processor's special tokens, plus one when the text holds an ASCII letter or
//!   digit and no step can delete it.

use super::features::{f, Features};

/// The bounds of an OpenAI encoding for a scanned text.
pub(crate) fn tiktoken(x: &Features, max_token_bytes: u64, digits_in_threes: bool) -> (u64, u64) {
    let upper = x.bytes;
    let by_length = x.bytes.div_ceil(max_token_bytes.max(1));
    let digit_pieces = if digits_in_threes { x.digit_runs.max(x.values[f::DIGITS].div_ceil(3)) } else { x.digit_runs };
    let by_pieces = x.letter_runs + digit_pieces;
    (by_length.max(by_pieces).min(upper), upper)
}

/// How much a `tokenizer.json` pipeline can grow a text, in bytes: the bytes the model receives
/// are at most `ascii * A + other * O + constant`, where `A` and `O` are the ASCII and non-ASCII
/// bytes of the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PipelineBound {
    ascii: f64,
    other: f64,
    constant: f64,
    /// ASCII input bytes are still ASCII (every step so far keeps ASCII as ASCII, byte for
    /// byte), so a later step's non-ASCII growth does not apply to them.
    ascii_preserved: bool,
    /// An ASCII letter or digit in the input always yields at least one token.
    keeps_alphanumerics: bool,
    /// Special tokens the post-processor adds to a single sequence.
    pub(crate) specials: u64,
    /// How many times the post-processor's single template holds the text (usually once; a
    /// `TemplateProcessing` may leave it out or repeat it), with special tokens or without.
    text_copies: u64,
}

/// UTF-8 growth factors, checked over every code point by the tests of this module.
pub(crate) const NFC_NFD_GROWTH: f64 = 3.0;
pub(crate) const NFKC_NFKD_GROWTH: f64 = 11.0;
pub(crate) const LOWERCASE_GROWTH: f64 = 1.5;

impl PipelineBound {
    pub(crate) fn identity() -> Self {
        PipelineBound {
            ascii: 1.0,
            other: 1.0,
            constant: 0.0,
            ascii_preserved: true,
            keeps_alphanumerics: true,
            specials: 0,
            text_copies: 1,
        }
    }

    pub(crate) fn unbounded() -> Self {
        PipelineBound { ascii: f64::INFINITY, other: f64::INFINITY, keeps_alphanumerics: false, ..Self::identity() }
    }

    /// A step that maps ASCII to ASCII byte for byte (or deletes it) and grows other bytes by at
    /// most `growth`.
    fn ascii_preserving(&mut self, growth: f64) {
        self.other *= growth;
        self.constant *= growth;
        if !self.ascii_preserved {
            self.ascii *= growth;
        }
    }

    /// A step that grows any text to at most `growth * len + constant` bytes.
    fn any(&mut self, growth: f64, constant: f64) {
        self.ascii *= growth;
        self.other *= growth;
        self.constant = self.constant * growth + constant;
        self.ascii_preserved = false;
    }

    /// Reads the pipeline of a parsed `tokenizer.json`.
    pub(crate) fn from_json(json: &serde_json::Value, specials: u64) -> Self {
        let mut bound = Self::identity();
        bound.specials = specials;
        let text_copies = template_copies(&json["post_processor"]);
        bound.normalizer(&json["normalizer"]);
        bound.pre_tokenizer(&json["pre_tokenizer"]);
        let model = &json["model"];
        match model["type"].as_str() {
            Some("WordPiece") | Some("WordLevel") | Some("Unigram") => {}
            // A BPE model without an unknown token drops characters it lacks, unless every byte
            // has a token: `<0xNN>` for byte fallback, or its character under a byte-level
            // pre-tokenizer (without a subword prefix or suffix, which would change the lookup).
            // Byte fallback or a byte-level pre-tokenizer alone is not enough: the fuzzer found
            // files whose vocabulary lacks those tokens, where a letter gives no token at all
            // (fuzz/corpus/tokenizer_json/regression-bpe-*).
            Some("BPE") => {
                let vocab = model["vocab"].as_object();
                let has = |token: &str| vocab.is_some_and(|v| v.contains_key(token));
                let byte_tokens = model["byte_fallback"] == true && (0..=255u8).all(|b| has(&format!("<0x{b:02X}>")));
                let byte_level = json["pre_tokenizer"].to_string().contains("\"ByteLevel\"")
                    && model["continuing_subword_prefix"].is_null()
                    && model["end_of_word_suffix"].is_null()
                    && crate::bpe::byte_level::BYTE_CHARS.iter().all(|c| has(c.encode_utf8(&mut [0; 4])));
                if !model["unk_token"].is_string() && !byte_tokens && !byte_level {
                    bound.keeps_alphanumerics = false;
                }
            }
            _ => return Self { specials, text_copies, ..Self::unbounded() },
        }
        Self { text_copies, ..bound }
    }

    /// How much the normalizer and the pre-tokenizer of a parsed `tokenizer.json` can grow a
    /// text, in bytes (the model and the post-processor left out); `charsmap_growth` gives the
    /// most bytes a `Precompiled` normalizer makes of one byte, from its `precompiled_charsmap`
    /// (`None`: unknown, and the growth unbounded).
    pub(crate) fn growth(json: &serde_json::Value, charsmap_growth: &dyn Fn(&str) -> Option<f64>) -> Self {
        let mut bound = Self::identity();
        bound.normalizer_with(&json["normalizer"], charsmap_growth);
        bound.pre_tokenizer(&json["pre_tokenizer"]);
        bound
    }

    /// Whether a text's growth has a finite bound.
    pub(crate) fn is_bounded(&self) -> bool {
        self.grown_bytes(1, 1).is_finite()
    }

    fn normalizer(&mut self, n: &serde_json::Value) {
        self.normalizer_with(n, &|_| None)
    }

    fn normalizer_with(&mut self, n: &serde_json::Value, charsmap_growth: &dyn Fn(&str) -> Option<f64>) {
        if n.is_null() {
            return;
        }
        let str_len = |v: &serde_json::Value| v.as_str().map_or(0, str::len) as f64;
        match n["type"].as_str().unwrap_or("") {
            "Sequence" => {
                n["normalizers"].as_array().into_iter().flatten().for_each(|n| self.normalizer_with(n, charsmap_growth))
            }
            "Precompiled" => match n["precompiled_charsmap"].as_str().and_then(charsmap_growth) {
                Some(growth) => self.any(growth.max(1.0), 0.0),
                None => *self = Self { specials: self.specials, ..Self::unbounded() },
            },
            "NFC" | "NFD" => self.ascii_preserving(NFC_NFD_GROWTH),
            "NFKC" | "NFKD" => self.ascii_preserving(NFKC_NFKD_GROWTH),
            "Lowercase" => self.ascii_preserving(LOWERCASE_GROWTH),
            "Strip" | "StripAccents" | "Nmt" => {}
            "BertNormalizer" => {
                // Spaces around CJK characters (3 or 4 bytes) add at most 2 bytes each; accent
                // stripping decomposes first; lowercasing.
                let growth = 5.0 / 3.0 * NFC_NFD_GROWTH * LOWERCASE_GROWTH;
                self.ascii_preserving(growth)
            }
            // Added once per segment between added tokens; at most one segment per input byte.
            "Prepend" => {
                let p = str_len(&n["prepend"]);
                self.any(1.0 + p, p)
            }
            "Replace" => {
                let content = str_len(&n["content"]);
                match (&n["pattern"]["String"], &n["pattern"]["Regex"]) {
                    (serde_json::Value::String(p), _) if !p.is_empty() => {
                        self.any((content / p.len() as f64).ceil().max(1.0), 0.0)
                    }
                    // A regex may match the empty string before every byte, and an empty String
                    // pattern does (the tokenizers crate puts the content between every two
                    // characters, and at both ends).
                    (serde_json::Value::String(_), _) | (_, serde_json::Value::String(_)) => {
                        self.any(1.0 + content, content)
                    }
                    _ => *self = Self { specials: self.specials, ..Self::unbounded() },
                }
                // A letter or digit replaced by content without one (empty, or only spaces and
                // punctuation, which a later pre-tokenizer may drop) may leave no token.
                let content_alphanumeric =
                    n["content"].as_str().is_some_and(|c| c.chars().any(|c| c.is_ascii_alphanumeric()));
                self.keeps_alphanumerics &= content_alphanumeric;
            }
            // Each byte becomes one character of at most two bytes.
            "ByteLevel" => self.any(2.0, 0.0),
            _ => *self = Self { specials: self.specials, ..Self::unbounded() },
        }
    }

    fn pre_tokenizer(&mut self, p: &serde_json::Value) {
        if p.is_null() {
            return;
        }
        match p["type"].as_str().unwrap_or("") {
            "Sequence" => p["pretokenizers"].as_array().into_iter().flatten().for_each(|p| self.pre_tokenizer(p)),
            // These only split, or drop whitespace.
            "BertPreTokenizer" | "Whitespace" | "WhitespaceSplit" | "Punctuation" | "Digits" | "UnicodeScripts"
            | "FixedLength" => {}
            // These may drop what they split on, which may be a letter or a digit.
            "Split" | "CharDelimiterSplit" => {
                if p["behavior"] == "Removed" || p["type"] == "CharDelimiterSplit" {
                    self.keeps_alphanumerics = false;
                }
            }
            // Each byte becomes one character and the model counts characters, so the bound on
            // bytes stays; a prefix space adds one per split, at most one per byte.
            "ByteLevel" => {
                if p["add_prefix_space"] == true {
                    self.any(2.0, 1.0)
                }
            }
            // Spaces become the 3-byte replacement, and a replacement may be prepended to every
            // split.
            "Metaspace" => {
                let r = p["replacement"].as_str().map_or(3, str::len) as f64;
                self.any(2.0 * r, r)
            }
            _ => *self = Self { specials: self.specials, ..Self::unbounded() },
        }
    }

    /// At most how many bytes the model receives for a text of `ascii` ASCII bytes and `other`
    /// other bytes; infinite when a step is unbounded.
    pub(crate) fn grown_bytes(&self, ascii: u64, other: u64) -> f64 {
        let grown = self.ascii * ascii as f64 + self.other * other as f64 + self.constant;
        // A NaN (infinity times zero) means a step is unbounded.
        if grown.is_nan() {
            f64::INFINITY
        } else {
            grown
        }
    }

    /// The bounds for a scanned text, with or without the special tokens.
    pub(crate) fn bounds(&self, x: &Features, add_special_tokens: bool) -> (u64, u64) {
        let specials = if add_special_tokens { self.specials } else { 0 };
        // The crate applies the template's pieces of text with or without the special tokens.
        let copies = self.text_copies;
        let grown = self.grown_bytes(x.bytes - x.non_ascii_bytes, x.non_ascii_bytes) * copies as f64;
        // Infinite, or NaN (infinity times zero copies): a step is unbounded.
        let upper = if grown.is_finite() {
            (grown.ceil() as u64).saturating_add(specials)
        } else if x.bytes == 0 && self.constant.is_finite() {
            ((self.constant * copies as f64).ceil() as u64).saturating_add(specials)
        } else {
            u64::MAX
        };
        let has_alphanumeric = x.values[f::LOWER] + x.values[f::UPPER] + x.values[f::DIGITS] > 0;
        let lower = specials + copies.min(1) * u64::from(has_alphanumeric && self.keeps_alphanumerics);
        (lower.min(upper), upper)
    }
}

/// How many times a post-processor's single template holds the text: the `Sequence` pieces of a
/// `TemplateProcessing`, multiplied through a `Sequence` of processors; once for the others.
pub(crate) fn template_copies(processor: &serde_json::Value) -> u64 {
    if let Some(processors) = processor.get("processors").and_then(serde_json::Value::as_array) {
        return processors.iter().map(template_copies).fold(1, u64::saturating_mul);
    }
    match processor.get("single").and_then(serde_json::Value::as_array) {
        Some(single) => single.iter().filter(|piece| piece.get("Sequence").is_some()).count() as u64,
        None => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::normalizers::unicode::{NFD, NFKD};
    use tokenizers::{NormalizedString, Normalizer};

    fn all_chars() -> impl Iterator<Item = char> {
        (0..=0x10FFFFu32).filter_map(char::from_u32)
    }

    fn max_growth(normalize: impl Fn(&str) -> String) -> f64 {
        let mut buf = [0u8; 4];
        all_chars()
            .map(|c| {
                let s = c.encode_utf8(&mut buf);
                normalize(s).len() as f64 / s.len() as f64
            })
            .fold(0.0, f64::max)
    }

    fn with(normalizer: &dyn Normalizer) -> impl Fn(&str) -> String + '_ {
        move |s| {
            let mut n = NormalizedString::from(s);
            normalizer.normalize(&mut n).expect("normalize");
            n.get().to_owned()
        }
    }

    #[test]
    fn growth_constants_hold_for_every_code_point() {
        assert!(max_growth(with(&NFD)) <= NFC_NFD_GROWTH);
        assert!(max_growth(with(&NFKD)) <= NFKC_NFKD_GROWTH);
        let lowercase = tokenizers::normalizers::utils::Lowercase;
        assert!(max_growth(with(&lowercase)) <= LOWERCASE_GROWTH);
    }

    #[test]
    fn tiktoken_bounds_from_runs_and_length() {
        let x = Features::scan("hello world 1234567");
        // 2 letter runs + ceil(7 / 3) digit groups.
        assert_eq!(tiktoken(&x, 128, true), (5, 19));
        assert_eq!(tiktoken(&x, 128, false), (3, 19));
        let run = "a".repeat(1000);
        assert_eq!(tiktoken(&Features::scan(&run), 128, true), (8, 1000));
        assert_eq!(tiktoken(&Features::scan(""), 128, true), (0, 0));
    }

    #[test]
    fn unknown_steps_are_unbounded() {
        let json = serde_json::json!({"normalizer": {"type": "Precompiled"}, "model": {"type": "Unigram"}});
        let b = PipelineBound::from_json(&json, 1);
        assert_eq!(b.bounds(&Features::scan("abc"), true), (1, u64::MAX));
        assert_eq!(b.bounds(&Features::scan("abc"), false).1, u64::MAX);
    }
}
