//! Pre-tokenization for the OpenAI encodings: hand-written scanners for tiktoken's split
//! patterns, linear in the input, with no regex engine and no allocation.
//!
//! Each scanner returns where the piece starting at a position ends, trying the pattern's
//! alternatives in order, as the backtracking regex does (leftmost-first). Where an alternative
//! backtracks inside itself, the comment on it gives the match that backtracking ends with.
//! The character classes come from the same Unicode tables as the regex engines (`classes.rs`).
//! `tests/tiktoken_reference.rs` compares every split with tiktoken's own patterns run by a
//! backtracking engine, and the fuzz target `count_tiktoken` compares counts with tiktoken-rs.

use std::ops::ControlFlow;

use super::classes::{self, LETTER, LOWERISH, NUMBER, SPACE, UPPERISH};

/// The split pattern families of the OpenAI encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SplitPattern {
    /// r50k_base, gpt2, p50k_base, p50k_edit:
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    R50k,
    /// cl100k_base: `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+|
    /// ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`
    Cl100k,
    /// o200k_base, o200k_harmony: two word alternatives built from
    /// `U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]` and `L = [\p{Ll}\p{Lm}\p{Lo}\p{M}]`,
    /// `[^\r\n\p{L}\p{N}]?U*L+(?i:'s|'t|'re|'ve|'m|'ll|'d)?` then `[^\r\n\p{L}\p{N}]?U+L*(?i:...)?`,
    /// followed by `\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    O200k,
    /// cl100k_base's pattern as `tokenizer.json` files (Llama 3, OLMo 2, GLM) write it:
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`. Without tiktoken's `\s++$`,
    /// white space that ends the text is cut after its last newline, as anywhere else.
    Llama3,
    /// `Llama3` with single digits (`\p{N}` for `\p{N}{1,3}`): Qwen 2 and 3.
    Qwen,
    /// `O200k` without the contractions and with single digits: Mistral's Tekken (Nemo).
    Tekken,
}

/// `tokenizer.json` split regexes that are one of these patterns, as their files write them:
/// each matches, at every position, what the scanner's piece is.
const KNOWN_REGEXES: [(&str, SplitPattern); 6] = [
    // GPT-2 (and a ByteLevel pre-tokenizer's own regex).
    (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", SplitPattern::R50k),
    // cl100k_base as tiktoken writes it, and as Llama 3, OLMo 2 and others write it.
    (
        r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s",
        SplitPattern::Cl100k,
    ),
    (
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        SplitPattern::Llama3,
    ),
    (
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        SplitPattern::Qwen,
    ),
    (
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        SplitPattern::Tekken,
    ),
    // o200k_base (gpt-oss, Llama 4).
    (
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        SplitPattern::O200k,
    ),
];

impl SplitPattern {
    /// The scanner for a `tokenizer.json` split regex written as one of these patterns is.
    pub(crate) fn for_regex(regex: &str) -> Option<SplitPattern> {
        KNOWN_REGEXES.iter().find(|(known, _)| *known == regex).map(|&(_, pattern)| pattern)
    }

    /// Calls `piece` with each piece of `text`, in order, until it breaks. The pieces cover the
    /// text.
    pub(crate) fn for_each_piece(self, text: &str, mut piece: impl FnMut(&[u8]) -> ControlFlow<()>) {
        let scan = Scanner { b: text.as_bytes() };
        // One loop per pattern, so each scanner is inlined into its own loop.
        macro_rules! pieces {
            ($next:ident) => {{
                let mut pos = 0;
                while pos < scan.b.len() {
                    let end = scan.$next(pos);
                    debug_assert!(end > pos && text.is_char_boundary(end));
                    if piece(&scan.b[pos..end]).is_break() {
                        return;
                    }
                    pos = end;
                }
            }};
        }
        match self {
            SplitPattern::R50k => pieces!(r50k),
            SplitPattern::Cl100k => pieces!(cl100k),
            SplitPattern::O200k => pieces!(o200k),
            SplitPattern::Llama3 => pieces!(llama3),
            SplitPattern::Qwen => pieces!(qwen),
            SplitPattern::Tekken => pieces!(tekken),
        }
    }
}

/// Neither a letter, a number nor white space: `[^\s\p{L}\p{N}]`.
#[inline(always)]
fn is_other(flags: u8) -> bool {
    flags & (LETTER | NUMBER | SPACE) == 0
}

#[inline(always)]
fn is_newline(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}

/// A whitespace run: where it ends, where its last character starts, and where its last `\r` or
/// `\n` is.
struct SpaceRun {
    end: usize,
    last_start: usize,
    last_newline: Option<usize>,
}

/// The text as UTF-8 bytes (valid: it comes from a `&str`).
struct Scanner<'t> {
    b: &'t [u8],
}

impl Scanner<'_> {
    /// The class flags and UTF-8 length of the character at `i`.
    #[inline(always)]
    fn at(&self, i: usize) -> (u8, usize) {
        let b0 = self.b[i];
        if b0 < 0x80 {
            (classes::ascii(b0), 1)
        } else {
            self.decode(i)
        }
    }

    #[inline(never)]
    fn decode(&self, i: usize) -> (u8, usize) {
        let b = self.b;
        let cont = |k: usize| (b[i + k] & 0x3f) as u32;
        let b0 = b[i] as u32;
        let (code, len) = if b0 < 0xe0 {
            (((b0 & 0x1f) << 6) | cont(1), 2)
        } else if b0 < 0xf0 {
            (((b0 & 0x0f) << 12) | (cont(1) << 6) | cont(2), 3)
        } else {
            (((b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3), 4)
        };
        (classes::of(char::from_u32(code).unwrap_or('\u{fffd}')), len)
    }

    /// The end of the run of characters from `i` whose flags satisfy `keep`.
    #[inline(always)]
    fn run(&self, mut i: usize, keep: impl Fn(u8) -> bool) -> usize {
        while i < self.b.len() {
            let (flags, len) = self.at(i);
            if !keep(flags) {
                break;
            }
            i += len;
        }
        i
    }

    /// The end of the run of bytes from `i` in `set`.
    #[inline(always)]
    fn byte_run(&self, mut i: usize, set: impl Fn(u8) -> bool) -> usize {
        while i < self.b.len() && set(self.b[i]) {
            i += 1;
        }
        i
    }

    /// Up to three numbers from `i`, which starts one: `\p{N}{1,3}`.
    #[inline(always)]
    fn up_to_three_numbers(&self, i: usize, first_len: usize) -> usize {
        let mut end = i + first_len;
        for _ in 0..2 {
            if end >= self.b.len() {
                break;
            }
            let (flags, len) = self.at(end);
            if flags & NUMBER == 0 {
                break;
            }
            end += len;
        }
        end
    }

    fn space_run(&self, i: usize) -> SpaceRun {
        let mut run = SpaceRun { end: i, last_start: i, last_newline: None };
        while run.end < self.b.len() {
            let (flags, len) = self.at(run.end);
            if flags & SPACE == 0 {
                break;
            }
            if is_newline(self.b[run.end]) {
                run.last_newline = Some(run.end);
            }
            run.last_start = run.end;
            run.end += len;
        }
        run
    }

    /// `\s+(?!\S)|\s+` on the run at `i` (no newline alternative before it): to the end of the
    /// text the whole run; otherwise the look-ahead gives back the last character, unless the
    /// run is a single character, which `\s+` (or `\s`) then takes.
    #[inline(always)]
    fn space_lookahead(&self, i: usize, run: &SpaceRun) -> usize {
        if run.end == self.b.len() || run.last_start == i {
            run.end
        } else {
            run.last_start
        }
    }

    /// A contraction after the apostrophe at `j - 1`: `'s|'t|'re|'ve|'m|'ll|'d`, in any case
    /// when `ignore_case` (case folding also maps U+017F LATIN SMALL LETTER LONG S to `s`).
    #[inline(always)]
    fn contraction(&self, j: usize, ignore_case: bool) -> Option<usize> {
        let b = self.b;
        let fold = |x: u8| if ignore_case { x.to_ascii_lowercase() } else { x };
        let first = fold(*b.get(j)?);
        let second = b.get(j + 1).map(|&x| fold(x));
        match (first, second) {
            (b's' | b'd' | b'm' | b't', _) => Some(j + 1),
            (b'l', Some(b'l')) | (b'v' | b'r', Some(b'e')) => Some(j + 2),
            (0xc5, Some(0xbf)) if ignore_case => Some(j + 2),
            _ => None,
        }
    }

    /// A contraction starting at `i` with its apostrophe.
    #[inline(always)]
    fn contraction_at(&self, i: usize, ignore_case: bool) -> Option<usize> {
        if self.b[i] == b'\'' {
            self.contraction(i + 1, ignore_case)
        } else {
            None
        }
    }

    fn r50k(&self, i: usize) -> usize {
        if let Some(end) = self.contraction_at(i, false) {
            return end;
        }
        let (f0, l0) = self.at(i);
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: the same three runs, after an optional space.
        let (flags, from) = match self.b[i] {
            b' ' if i + 1 < self.b.len() => match self.at(i + 1) {
                (f1, l1) if f1 & SPACE == 0 => (f1, i + 1 + l1),
                _ => (f0, i + l0),
            },
            _ => (f0, i + l0),
        };
        if flags & LETTER != 0 {
            return self.run(from, |f| f & LETTER != 0);
        }
        if flags & NUMBER != 0 {
            return self.run(from, |f| f & NUMBER != 0);
        }
        if is_other(flags) {
            return self.run(from, is_other);
        }
        let run = self.space_run(i);
        self.space_lookahead(i, &run)
    }

    fn cl100k(&self, i: usize) -> usize {
        self.cl100k_like::<true, 3>(i)
    }

    fn llama3(&self, i: usize) -> usize {
        self.cl100k_like::<false, 3>(i)
    }

    fn qwen(&self, i: usize) -> usize {
        self.cl100k_like::<false, 1>(i)
    }

    /// cl100k's alternatives; `END_RUN`: tiktoken's `\s++$` (white space to the end of the
    /// text is one piece); `DIGITS`: at most this many numbers in a piece (1 or 3).
    #[inline(always)]
    fn cl100k_like<const END_RUN: bool, const DIGITS: usize>(&self, i: usize) -> usize {
        if let Some(end) = self.contraction_at(i, true) {
            return end;
        }
        let b0 = self.b[i];
        let (f0, l0) = self.at(i);
        let next = i + l0;
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if f0 & LETTER != 0 {
            return self.run(next, |f| f & LETTER != 0);
        }
        if f0 & NUMBER == 0 && !is_newline(b0) && next < self.b.len() {
            let (f1, l1) = self.at(next);
            if f1 & LETTER != 0 {
                return self.run(next + l1, |f| f & LETTER != 0);
            }
        }
        // `\p{N}{1,3}`
        if f0 & NUMBER != 0 {
            return if DIGITS == 1 { next } else { self.up_to_three_numbers(i, l0) };
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        if is_other(f0) {
            return self.byte_run(self.run(next, is_other), is_newline);
        }
        if b0 == b' ' && next < self.b.len() {
            let (f1, l1) = self.at(next);
            if is_other(f1) {
                return self.byte_run(self.run(next + l1, is_other), is_newline);
            }
        }
        // `\s+$`, then `\s*[\r\n]` (backtracking ends just after the run's last newline), then
        // `\s+(?!\S)|\s`.
        let run = self.space_run(i);
        if END_RUN && run.end == self.b.len() {
            return run.end;
        }
        if let Some(newline) = run.last_newline {
            return newline + 1;
        }
        self.space_lookahead(i, &run)
    }

    fn o200k(&self, i: usize) -> usize {
        self.o200k_like::<true, 3>(i)
    }

    fn tekken(&self, i: usize) -> usize {
        self.o200k_like::<false, 1>(i)
    }

    /// o200k's alternatives; `CONTRACTIONS`: the words take `(?i:'s|'t|'re|'ve|'m|'ll|'d)?`;
    /// `DIGITS`: at most this many numbers in a piece (1 or 3).
    #[inline(always)]
    fn o200k_like<const CONTRACTIONS: bool, const DIGITS: usize>(&self, i: usize) -> usize {
        let b0 = self.b[i];
        let (f0, l0) = self.at(i);
        let next = i + l0;
        // The word alternatives: each first with the optional prefix character, then without.
        let prefix = f0 & (LETTER | NUMBER) == 0 && !is_newline(b0);
        if prefix {
            if let Some(end) = self.lower_word(next) {
                return if CONTRACTIONS { self.o200k_contraction(end) } else { end };
            }
        }
        if f0 & (UPPERISH | LOWERISH) != 0 {
            if let Some(end) = self.lower_word(i) {
                return if CONTRACTIONS { self.o200k_contraction(end) } else { end };
            }
        }
        if prefix {
            if let Some(end) = self.upper_word(next) {
                return if CONTRACTIONS { self.o200k_contraction(end) } else { end };
            }
        }
        if let Some(end) = self.upper_word(i) {
            return if CONTRACTIONS { self.o200k_contraction(end) } else { end };
        }
        // `\p{N}{1,3}`
        if f0 & NUMBER != 0 {
            return if DIGITS == 1 { next } else { self.up_to_three_numbers(i, l0) };
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n/]*`
        let newline_or_slash = |b: u8| is_newline(b) || b == b'/';
        if is_other(f0) {
            return self.byte_run(self.run(next, is_other), newline_or_slash);
        }
        if b0 == b' ' && next < self.b.len() {
            let (f1, l1) = self.at(next);
            if is_other(f1) {
                return self.byte_run(self.run(next + l1, is_other), newline_or_slash);
            }
        }
        // `\s*[\r\n]+` (backtracking ends just after the run's last newline), then
        // `\s+(?!\S)|\s+`.
        let run = self.space_run(i);
        if let Some(newline) = run.last_newline {
            return newline + 1;
        }
        self.space_lookahead(i, &run)
    }

    /// o200k's `U*L+` from `s`. Backtracking gives the longest `U*` that an `L` follows: the
    /// whole `U` run when an `L` comes after it (then `L+` runs on), otherwise the run up to its
    /// last character that is also an `L` (then `L+` takes that one character, since the ones
    /// after it in the run are not `L`).
    #[inline(always)]
    fn lower_word(&self, s: usize) -> Option<usize> {
        let mut j = s;
        let mut after_last_lower = None;
        while j < self.b.len() {
            let (flags, len) = self.at(j);
            if flags & UPPERISH == 0 {
                if flags & LOWERISH != 0 {
                    return Some(self.run(j + len, |f| f & LOWERISH != 0));
                }
                break;
            }
            j += len;
            if flags & LOWERISH != 0 {
                after_last_lower = Some(j);
            }
        }
        after_last_lower
    }

    /// o200k's `U+L*` from `s` (greedy, no backtracking needed).
    #[inline(always)]
    fn upper_word(&self, s: usize) -> Option<usize> {
        if s >= self.b.len() || self.at(s).0 & UPPERISH == 0 {
            return None;
        }
        let upper_end = self.run(s, |f| f & UPPERISH != 0);
        Some(self.run(upper_end, |f| f & LOWERISH != 0))
    }

    /// o200k's optional `(?i:'s|'t|'re|'ve|'m|'ll|'d)` after a word ending at `end`.
    #[inline(always)]
    fn o200k_contraction(&self, end: usize) -> usize {
        if self.b.get(end) == Some(&b'\'') {
            if let Some(after) = self.contraction(end + 1, true) {
                return after;
            }
        }
        end
    }
}
