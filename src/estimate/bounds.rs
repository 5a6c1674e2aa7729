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
//!   when the tokenizer loads (`PipelineBound`, which the Hugging Face loader builds step by step
//!   from the file: this module knows no file format); the post-processor adds a fixed number of
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
    pub(crate) fn ascii_preserving(&mut self, growth: f64) {
        self.other *= growth;
        self.constant *= growth;
        if !self.ascii_preserved {
            self.ascii *= growth;
        }
    }

    /// A step that grows any text to at most `growth * len + constant` bytes.
    pub(crate) fn any(&mut self, growth: f64, constant: f64) {
        self.ascii *= growth;
        self.other *= growth;
        self.constant = self.constant * growth + constant;
        self.ascii_preserved = false;
    }

    /// A step that may delete a letter or a digit (so the text may give no token).
    pub(crate) fn may_drop_alphanumerics(&mut self) {
        self.keeps_alphanumerics = false;
    }

    /// The post-processor: `specials` special tokens, and the text `copies` times.
    pub(crate) fn with_post_processor(self, specials: u64, copies: u64) -> Self {
        Self { specials, text_copies: copies, ..self }
    }

    /// Whether a text's growth has a finite bound.
    pub(crate) fn is_bounded(&self) -> bool {
        self.grown_bytes(1, 1).is_finite()
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn an_unbounded_step_makes_the_upper_bound_infinite() {
        let mut b = PipelineBound::identity();
        b.any(2.0, 1.0);
        assert!(b.is_bounded());
        assert_eq!(b.bounds(&Features::scan("abc"), false), (1, 7));
        let b = PipelineBound::unbounded().with_post_processor(2, 1);
        assert_eq!(b.bounds(&Features::scan("abc"), true), (2, u64::MAX));
    }
}
