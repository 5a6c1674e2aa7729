//! How much a `tokenizer.json` pipeline can grow a text, read from the file: each normalizer and
//! pre-tokenizer step becomes a growth step of the estimate's [`PipelineBound`], which holds the
//! arithmetic and knows nothing of the format.

use serde_json::Value;

use crate::estimate::PipelineBound;

/// UTF-8 growth factors, checked over every code point by the tests of this module.
const NFC_NFD_GROWTH: f64 = 3.0;
const NFKC_NFKD_GROWTH: f64 = 11.0;
const LOWERCASE_GROWTH: f64 = 1.5;

/// The bound of a parsed `tokenizer.json`'s whole pipeline, with `specials` special tokens from
/// its post-processor.
pub(crate) fn from_json(json: &Value, specials: u64) -> PipelineBound {
    let mut bound = PipelineBound::identity();
    let text_copies = template_copies(&json["post_processor"]);
    normalizer(&mut bound, &json["normalizer"], &|_| None);
    pre_tokenizer(&mut bound, &json["pre_tokenizer"]);
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
                bound.may_drop_alphanumerics();
            }
        }
        _ => bound = PipelineBound::unbounded(),
    }
    bound.with_post_processor(specials, text_copies)
}

/// How much the normalizer and the pre-tokenizer of a parsed `tokenizer.json` can grow a text,
/// in bytes (the model and the post-processor left out); `charsmap_growth` gives the most bytes
/// a `Precompiled` normalizer makes of one byte, from its `precompiled_charsmap` (`None`:
/// unknown, and the growth unbounded).
pub(crate) fn growth(json: &Value, charsmap_growth: &dyn Fn(&str) -> Option<f64>) -> PipelineBound {
    let mut bound = PipelineBound::identity();
    normalizer(&mut bound, &json["normalizer"], charsmap_growth);
    pre_tokenizer(&mut bound, &json["pre_tokenizer"]);
    bound
}

fn normalizer(b: &mut PipelineBound, n: &Value, charsmap_growth: &dyn Fn(&str) -> Option<f64>) {
    if n.is_null() {
        return;
    }
    let str_len = |v: &Value| v.as_str().map_or(0, str::len) as f64;
    match n["type"].as_str().unwrap_or("") {
        "Sequence" => n["normalizers"].as_array().into_iter().flatten().for_each(|n| normalizer(b, n, charsmap_growth)),
        "Precompiled" => match n["precompiled_charsmap"].as_str().and_then(charsmap_growth) {
            Some(growth) => b.any(growth.max(1.0), 0.0),
            None => *b = PipelineBound::unbounded(),
        },
        "NFC" | "NFD" => b.ascii_preserving(NFC_NFD_GROWTH),
        "NFKC" | "NFKD" => b.ascii_preserving(NFKC_NFKD_GROWTH),
        "Lowercase" => b.ascii_preserving(LOWERCASE_GROWTH),
        "Strip" | "StripAccents" | "Nmt" => {}
        "BertNormalizer" => {
            // Spaces around CJK characters (3 or 4 bytes) add at most 2 bytes each; accent
            // stripping decomposes first; lowercasing.
            b.ascii_preserving(5.0 / 3.0 * NFC_NFD_GROWTH * LOWERCASE_GROWTH)
        }
        // Added once per segment between added tokens; at most one segment per input byte.
        "Prepend" => {
            let p = str_len(&n["prepend"]);
            b.any(1.0 + p, p)
        }
        "Replace" => {
            let content = str_len(&n["content"]);
            match (&n["pattern"]["String"], &n["pattern"]["Regex"]) {
                (Value::String(p), _) if !p.is_empty() => b.any((content / p.len() as f64).ceil().max(1.0), 0.0),
                // A regex may match the empty string before every byte, and an empty String
                // pattern does (the tokenizers crate puts the content between every two
                // characters, and at both ends).
                (Value::String(_), _) | (_, Value::String(_)) => b.any(1.0 + content, content),
                _ => *b = PipelineBound::unbounded(),
            }
            // A letter or digit replaced by content without one (empty, or only spaces and
            // punctuation, which a later pre-tokenizer may drop) may leave no token.
            if !n["content"].as_str().is_some_and(|c| c.chars().any(|c| c.is_ascii_alphanumeric())) {
                b.may_drop_alphanumerics();
            }
        }
        // Each byte becomes one character of at most two bytes.
        "ByteLevel" => b.any(2.0, 0.0),
        _ => *b = PipelineBound::unbounded(),
    }
}

fn pre_tokenizer(b: &mut PipelineBound, p: &Value) {
    if p.is_null() {
        return;
    }
    match p["type"].as_str().unwrap_or("") {
        "Sequence" => p["pretokenizers"].as_array().into_iter().flatten().for_each(|p| pre_tokenizer(b, p)),
        // These only split, or drop whitespace.
        "BertPreTokenizer" | "Whitespace" | "WhitespaceSplit" | "Punctuation" | "Digits" | "UnicodeScripts"
        | "FixedLength" => {}
        // These may drop what they split on, which may be a letter or a digit.
        "Split" | "CharDelimiterSplit" => {
            if p["behavior"] == "Removed" || p["type"] == "CharDelimiterSplit" {
                b.may_drop_alphanumerics();
            }
        }
        // Each byte becomes one character and the model counts characters, so the bound on
        // bytes stays; a prefix space adds one per split, at most one per byte.
        "ByteLevel" => {
            if p["add_prefix_space"] == true {
                b.any(2.0, 1.0)
            }
        }
        // Spaces become the 3-byte replacement, and a replacement may be prepended to every
        // split.
        "Metaspace" => {
            let r = p["replacement"].as_str().map_or(3, str::len) as f64;
            b.any(2.0 * r, r)
        }
        _ => *b = PipelineBound::unbounded(),
    }
}

/// How many times a post-processor's single template holds the text: the `Sequence` pieces of a
/// `TemplateProcessing`, multiplied through a `Sequence` of processors; once for the others.
fn template_copies(processor: &Value) -> u64 {
    if let Some(processors) = processor.get("processors").and_then(Value::as_array) {
        return processors.iter().map(template_copies).fold(1, u64::saturating_mul);
    }
    match processor.get("single").and_then(Value::as_array) {
        Some(single) => single.iter().filter(|piece| piece.get("Sequence").is_some()).count() as u64,
        None => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::Features;
    use tokenizers::normalizers::unicode::{NFD, NFKD};
    use tokenizers::{NormalizedString, Normalizer};

    fn max_growth(normalize: impl Fn(&str) -> String) -> f64 {
        let mut buf = [0u8; 4];
        (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
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
    fn unknown_steps_are_unbounded() {
        let json = serde_json::json!({"normalizer": {"type": "Precompiled"}, "model": {"type": "Unigram"}});
        let b = from_json(&json, 1);
        assert_eq!(b.bounds(&Features::scan("abc"), true), (1, u64::MAX));
        assert_eq!(b.bounds(&Features::scan("abc"), false).1, u64::MAX);
    }

    #[test]
    fn steps_multiply_and_specials_add() {
        // Lowercase (1.5x on non-ASCII only), then a 3-byte Metaspace: 6 x ASCII + 3.
        let json = serde_json::json!({
            "normalizer": {"type": "Lowercase"},
            "pre_tokenizer": {"type": "Metaspace", "replacement": "\u{2581}"},
            "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}]},
            "model": {"type": "Unigram"}
        });
        let b = from_json(&json, 1);
        assert_eq!(b.bounds(&Features::scan("abcd"), true), (2, 6 * 4 + 3 + 1));
        assert_eq!(b.bounds(&Features::scan("abcd"), false), (1, 6 * 4 + 3));
    }
}
