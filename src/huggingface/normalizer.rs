//! `tokenizer.json` normalizers, count-only: each maps a text to the text the `tokenizers`
//! crate's normalizer leaves, without the alignments the crate keeps (counting never needs
//! them). Unicode forms come from `unicode-normalization-alignments`, the crate the `tokenizers`
//! crate itself uses, so every composition, decomposition and reordering is the same.

use std::borrow::Cow;

use serde_json::Value;
use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::{
    is_nfc_quick, is_nfd_quick, is_nfkc_quick, is_nfkd_quick, IsNormalized, UnicodeNormalization,
};

use super::load::{field_bool, field_str, kind_of, LoadError};
use super::precompiled::Precompiled;
use super::split_regex::SplitRegex;

/// One normalizer of a pipeline.
pub(crate) enum Normalizer {
    Nfc,
    Nfd,
    Nfkc,
    Nfkd,
    Lowercase,
    StripAccents,
    Strip { left: bool, right: bool },
    Prepend(String),
    Replace { pattern: ReplacePattern, content: String },
    Bert { clean_text: bool, chinese_chars: bool, strip_accents: bool, lowercase: bool },
    Nmt,
    ByteLevel,
    Precompiled(Box<Precompiled>),
    Sequence(Vec<Normalizer>),
}

pub(crate) enum ReplacePattern {
    Literal(String),
    Regex(Box<SplitRegex>),
}

impl Normalizer {
    /// Whether this normalizer is one of the Unicode forms, whose quick check can show that a
    /// text stays as it is (`leaves_unchanged`).
    pub(crate) fn is_unicode_form(&self) -> bool {
        matches!(self, Normalizer::Nfc | Normalizer::Nfd | Normalizer::Nfkc | Normalizer::Nfkd)
    }

    /// Whether the quick check of a Unicode form finds `text` in that form already (then `apply`
    /// returns it as it is); false for every other normalizer, and when the check is unsure.
    pub(crate) fn leaves_unchanged(&self, text: &str) -> bool {
        match self {
            Normalizer::Nfc => is_nfc_quick(text.chars()) == IsNormalized::Yes,
            Normalizer::Nfd => is_nfd_quick(text.chars()) == IsNormalized::Yes,
            Normalizer::Nfkc => is_nfkc_quick(text.chars()) == IsNormalized::Yes,
            Normalizer::Nfkd => is_nfkd_quick(text.chars()) == IsNormalized::Yes,
            _ => false,
        }
    }

    /// From a `normalizer` value (`null` is no normalizer: `None`).
    pub(crate) fn from_json(value: &Value) -> Result<Option<Normalizer>, LoadError> {
        if value.is_null() {
            return Ok(None);
        }
        Normalizer::parse(value).map(Some)
    }

    fn parse(value: &Value) -> Result<Normalizer, LoadError> {
        let kind = match kind_of(value, "normalizer")? {
            Some(kind) => kind,
            None => infer_kind(value)?,
        };
        Ok(match kind {
            "NFC" => Normalizer::Nfc,
            "NFD" => Normalizer::Nfd,
            "NFKC" => Normalizer::Nfkc,
            "NFKD" => Normalizer::Nfkd,
            "Lowercase" => Normalizer::Lowercase,
            "StripAccents" => Normalizer::StripAccents,
            "Nmt" => Normalizer::Nmt,
            "ByteLevel" => Normalizer::ByteLevel,
            "Strip" => Normalizer::Strip {
                left: field_bool(value, "strip_left", "Strip normalizer")?,
                right: field_bool(value, "strip_right", "Strip normalizer")?,
            },
            "Prepend" => Normalizer::Prepend(field_str(value, "prepend", "Prepend normalizer")?.to_string()),
            "Replace" => {
                let content = field_str(value, "content", "Replace normalizer")?.to_string();
                let pattern = match (&value["pattern"]["String"], &value["pattern"]["Regex"]) {
                    (Value::String(s), _) => {
                        if s.is_empty() {
                            return Err(LoadError::Invalid(format!(
                                "a Replace normalizer with an empty pattern inserts {content:?} between every two \
                                 characters (the text grows without bound); refused"
                            )));
                        }
                        ReplacePattern::Literal(s.clone())
                    }
                    (_, Value::String(r)) => {
                        let regex = SplitRegex::new(r).map_err(|e| {
                            LoadError::Unsupported(format!("the Replace normalizer's regex {r:?}: {e}"))
                        })?;
                        if regex.matches_empty() {
                            return Err(LoadError::Invalid(format!(
                                "a Replace normalizer whose regex {r:?} matches the empty string inserts \
                                 {content:?} between every two characters (the text grows without bound); refused"
                            )));
                        }
                        ReplacePattern::Regex(Box::new(regex))
                    }
                    _ => {
                        return Err(LoadError::Invalid(
                            "a Replace normalizer needs a pattern {\"String\": ...} or {\"Regex\": ...}".into(),
                        ))
                    }
                };
                Normalizer::Replace { pattern, content }
            }
            "BertNormalizer" | "Bert" => {
                let lowercase = value["lowercase"].as_bool().unwrap_or(true);
                let strip_accents = match &value["strip_accents"] {
                    Value::Null => lowercase,
                    Value::Bool(b) => *b,
                    _ => {
                        return Err(LoadError::Invalid(
                            "BertNormalizer: strip_accents must be a boolean or null".into(),
                        ))
                    }
                };
                Normalizer::Bert {
                    clean_text: value["clean_text"].as_bool().unwrap_or(true),
                    chinese_chars: value["handle_chinese_chars"].as_bool().unwrap_or(true),
                    strip_accents,
                    lowercase,
                }
            }
            "Precompiled" => {
                let map = field_str(value, "precompiled_charsmap", "Precompiled normalizer")?;
                Normalizer::Precompiled(Box::new(
                    Precompiled::from_base64(map)
                        .map_err(|e| LoadError::Invalid(format!("Precompiled normalizer: {e}")))?,
                ))
            }
            "Sequence" => {
                let items = value["normalizers"]
                    .as_array()
                    .ok_or_else(|| LoadError::Invalid("a Sequence normalizer needs a \"normalizers\" array".into()))?;
                Normalizer::Sequence(items.iter().map(Normalizer::parse).collect::<Result<_, _>>()?)
            }
            other => return Err(LoadError::Unsupported(format!("the normalizer type {other:?}"))),
        })
    }

    /// `text` as this normalizer leaves it.
    pub(crate) fn apply<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if text.is_empty() {
            return Cow::Borrowed(text);
        }
        match self {
            // ASCII is in every normal form.
            Normalizer::Nfc if text.is_ascii() => Cow::Borrowed(text),
            Normalizer::Nfd if text.is_ascii() => Cow::Borrowed(text),
            Normalizer::Nfkc if text.is_ascii() => Cow::Borrowed(text),
            Normalizer::Nfkd if text.is_ascii() => Cow::Borrowed(text),
            // A text the quick check finds in the form already stays as it is; the check reads
            // one table entry a character, the full form decomposes and recomposes.
            Normalizer::Nfc if is_nfc_quick(text.chars()) == IsNormalized::Yes => Cow::Borrowed(text),
            Normalizer::Nfd if is_nfd_quick(text.chars()) == IsNormalized::Yes => Cow::Borrowed(text),
            Normalizer::Nfkc if is_nfkc_quick(text.chars()) == IsNormalized::Yes => Cow::Borrowed(text),
            Normalizer::Nfkd if is_nfkd_quick(text.chars()) == IsNormalized::Yes => Cow::Borrowed(text),
            Normalizer::Nfc => Cow::Owned(text.nfc().map(|(c, _)| c).collect()),
            Normalizer::Nfd => Cow::Owned(text.nfd().map(|(c, _)| c).collect()),
            Normalizer::Nfkc => Cow::Owned(text.nfkc().map(|(c, _)| c).collect()),
            Normalizer::Nfkd => Cow::Owned(text.nfkd().map(|(c, _)| c).collect()),
            Normalizer::Lowercase => lowercase(text),
            Normalizer::StripAccents => filter(text, |c| !unicode_normalization_alignments::char::is_combining_mark(c)),
            Normalizer::Strip { left, right } => {
                let mut s = text;
                if *left {
                    s = s.trim_start_matches(char::is_whitespace);
                }
                if *right {
                    s = s.trim_end_matches(char::is_whitespace);
                }
                Cow::Borrowed(s)
            }
            Normalizer::Prepend(prefix) => Cow::Owned(format!("{prefix}{text}")),
            Normalizer::Replace { pattern, content } => replace(text, pattern, content),
            Normalizer::Bert { clean_text, chinese_chars, strip_accents, lowercase } => {
                bert(text, *clean_text, *chinese_chars, *strip_accents, *lowercase)
            }
            Normalizer::Nmt => nmt(text),
            Normalizer::ByteLevel => Cow::Owned(crate::bpe::byte_level::to_chars(text.as_bytes())),
            Normalizer::Precompiled(map) => {
                let mut out = String::with_capacity(text.len());
                map.normalize(text, &mut out);
                Cow::Owned(out)
            }
            Normalizer::Sequence(items) => {
                let mut current = Cow::Borrowed(text);
                for item in items {
                    current = match item.apply(&current) {
                        Cow::Borrowed(b) if b.len() == current.len() => current,
                        Cow::Borrowed(b) => Cow::Owned(b.to_string()),
                        Cow::Owned(o) => Cow::Owned(o),
                    };
                }
                current
            }
        }
    }

    /// An upper bound on the bytes this normalizer can make of `bytes` bytes of text, so that
    /// a caller can refuse a text before the work; `None` when it cannot be bounded.
    pub(crate) fn max_output(&self, bytes: u64) -> u64 {
        match self {
            // A character of at most 4 bytes becomes at most 18 characters under NFKD/NFKC
            // (U+FDFA), each of at most 3 bytes: 54 bytes; per byte, at most 18x (U+FDFA is 3).
            Normalizer::Nfkc | Normalizer::Nfkd => bytes.saturating_mul(18),
            // Canonical decompositions are at most 4 characters (U+1F85 and its kin: 3 bytes to 12).
            Normalizer::Nfc | Normalizer::Nfd | Normalizer::StripAccents => bytes.saturating_mul(4),
            // Lowercasing grows a character to at most 3 characters (U+0130: 2 bytes to 3).
            Normalizer::Lowercase => bytes.saturating_mul(3),
            Normalizer::Strip { .. } | Normalizer::Nmt => bytes,
            Normalizer::Prepend(prefix) => bytes.saturating_add(prefix.len() as u64),
            Normalizer::Replace { pattern, content } => {
                let shortest = match pattern {
                    ReplacePattern::Literal(s) => s.len() as u64,
                    ReplacePattern::Regex(r) => r.shortest_match() as u64,
                }
                .max(1);
                bytes.saturating_mul(content.len() as u64).div_ceil(shortest).max(bytes)
            }
            // Clean text never grows; Chinese characters gain two spaces (3 bytes to 5); then
            // accents (x4 at most) and lowercasing (x3).
            Normalizer::Bert { strip_accents, lowercase, .. } => {
                let mut n = bytes.saturating_mul(5).div_ceil(3);
                if *strip_accents {
                    n = n.saturating_mul(4);
                }
                if *lowercase {
                    n = n.saturating_mul(3);
                }
                n
            }
            // Every byte becomes one character of one or two bytes.
            Normalizer::ByteLevel => bytes.saturating_mul(2),
            Normalizer::Precompiled(map) => (bytes as f64 * map.max_growth()).ceil() as u64,
            Normalizer::Sequence(items) => items.iter().fold(bytes, |n, item| item.max_output(n)),
        }
    }

    /// Whether this normalizer can remove the first character of a text, or put characters
    /// before it that come from no character (the `tokenizers` crate then gives the normalized
    /// text an original offset past 0, which a `Metaspace` with `prepend_scheme: first` reads).
    pub(crate) fn can_drop_leading(&self) -> bool {
        match self {
            Normalizer::Nfc
            | Normalizer::Nfd
            | Normalizer::Nfkc
            | Normalizer::Nfkd
            | Normalizer::Lowercase
            | Normalizer::Prepend(_)
            | Normalizer::ByteLevel => false,
            Normalizer::Bert { clean_text, .. } => *clean_text,
            Normalizer::StripAccents
            | Normalizer::Strip { .. }
            | Normalizer::Nmt
            | Normalizer::Replace { .. }
            | Normalizer::Precompiled(_) => true,
            Normalizer::Sequence(items) => items.iter().any(Normalizer::can_drop_leading),
        }
    }
}

/// The type of a `normalizer` without `"type"`, as the `tokenizers` crate infers it (it tries
/// each kind in turn): only the kinds with fields can be told apart.
fn infer_kind(value: &Value) -> Result<&'static str, LoadError> {
    let has = |key: &str| value.get(key).is_some();
    Ok(if has("clean_text") && has("handle_chinese_chars") && has("lowercase") {
        "BertNormalizer"
    } else if has("strip_left") && has("strip_right") {
        "Strip"
    } else if has("normalizers") {
        "Sequence"
    } else if has("precompiled_charsmap") {
        "Precompiled"
    } else if has("pattern") && has("content") {
        "Replace"
    } else if has("prepend") {
        "Prepend"
    } else {
        return Err(LoadError::Unsupported("a normalizer without \"type\" whose kind its fields do not tell".into()));
    })
}

fn lowercase(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|b| b.is_ascii_uppercase() || b >= 0x80) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
    Cow::Owned(out)
}

fn filter(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if text.chars().all(&keep) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().filter(|&c| keep(c)).collect())
}

fn replace<'t>(text: &'t str, pattern: &ReplacePattern, content: &str) -> Cow<'t, str> {
    if let ReplacePattern::Literal(s) = pattern {
        if let &[needle] = s.as_bytes() {
            return replace_byte(text, needle, content);
        }
    }
    let mut out = String::new();
    let mut last = 0;
    let mut any = false;
    let mut on_match = |start: usize, end: usize| {
        out.push_str(&text[last..start]);
        out.push_str(content);
        last = end;
        any = true;
    };
    match pattern {
        ReplacePattern::Literal(s) => {
            for (start, m) in text.match_indices(s.as_str()) {
                on_match(start, start + m.len());
            }
        }
        ReplacePattern::Regex(regex) => regex.for_each_match(text, |start, end| {
            on_match(start, end);
            std::ops::ControlFlow::Continue(())
        }),
    }
    if !any {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

/// `text` with every `needle` (an ASCII byte) replaced by `content`, one pass over the bytes:
/// SentencePiece's spaces to `▁` are too close together for a search per match to pay.
pub(crate) fn replace_byte<'t>(text: &'t str, needle: u8, content: &str) -> Cow<'t, str> {
    debug_assert!(needle.is_ascii());
    let bytes = text.as_bytes();
    let Some(first) = memchr::memchr(needle, bytes) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + (text.len() - first) / 4 * content.len());
    out.push_str(&text[..first]);
    let mut last = first;
    for (i, &b) in bytes.iter().enumerate().skip(first) {
        if b == needle {
            // Every byte between two ASCII bytes of UTF-8 is whole characters.
            out.push_str(&text[last..i]);
            out.push_str(content);
            last = i + 1;
        }
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

/// The BERT normalizer's steps, in its order: clean the text, space out Chinese characters,
/// strip accents (NFD, then drop nonspacing marks), lowercase.
fn bert(text: &str, clean_text: bool, chinese_chars: bool, strip_accents: bool, lowercase_it: bool) -> Cow<'_, str> {
    let mut current = Cow::Borrowed(text);
    if clean_text {
        let needs =
            current.chars().any(|c| c == '\0' || c == '\u{fffd}' || bert_control(c) || bert_whitespace(c) && c != ' ');
        if needs {
            current = Cow::Owned(
                current
                    .chars()
                    .filter(|&c| !(c == '\0' || c == '\u{fffd}' || bert_control(c)))
                    .map(|c| if bert_whitespace(c) { ' ' } else { c })
                    .collect(),
            );
        }
    }
    if chinese_chars && current.chars().any(is_chinese_char) {
        let mut out = String::with_capacity(current.len() + current.len() / 2);
        for c in current.chars() {
            if is_chinese_char(c) {
                out.push(' ');
                out.push(c);
                out.push(' ');
            } else {
                out.push(c);
            }
        }
        current = Cow::Owned(out);
    }
    if strip_accents && !current.is_ascii() {
        let keep = |c: &char| c.is_ascii() || !c.is_mark_nonspacing();
        current = if is_nfd_quick(current.chars()) == IsNormalized::Yes {
            if current.chars().all(|c| keep(&c)) {
                current
            } else {
                Cow::Owned(current.chars().filter(keep).collect())
            }
        } else {
            Cow::Owned(current.nfd().map(|(c, _)| c).filter(keep).collect())
        };
    }
    if lowercase_it {
        current = match lowercase(&current) {
            Cow::Borrowed(_) => current,
            Cow::Owned(o) => Cow::Owned(o),
        };
    }
    current
}

/// The BERT normalizer's whitespace: `\t`, `\n`, `\r` and Unicode White_Space.
#[inline]
fn bert_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

/// The BERT normalizer's control characters: the "other" categories (Cc, Cf, Cn, Co, Cs)
/// except `\t`, `\n`, `\r`. In ASCII, only Cc is "other".
#[inline]
fn bert_control(c: char) -> bool {
    if c.is_ascii() {
        return (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{7f}';
    }
    c.is_other()
}

/// The `tokenizers` crate's "Chinese character" ranges (CJK ideograph blocks).
pub(crate) fn is_chinese_char(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

/// The NMT normalizer: drop control characters, map other spacing characters to a space.
fn nmt(text: &str) -> Cow<'_, str> {
    let drop = |c: char| matches!(c as u32, 0x0001..=0x0008 | 0x000B | 0x000E..=0x001F | 0x007F | 0x008F | 0x009F);
    let to_space = |c: char| {
        matches!(
            c as u32,
            0x0009 | 0x000A | 0x000C | 0x000D | 0x1680 | 0x200B..=0x200F | 0x2028 | 0x2029 | 0x2581 | 0xFEFF | 0xFFFD
        )
    };
    if !text.chars().any(|c| drop(c) || to_space(c)) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().filter(|&c| !drop(c)).map(|c| if to_space(c) { ' ' } else { c }).collect())
}
