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

use super::class_maps::{self, Class, ClassMaps};
use super::classes::{self, LETTER, LOWERISH, NUMBER, SPACE, UPPERISH};
use super::piece_starts::{self, Starts};

/// Pieces handed over at a time (`for_each_batch`).
const BATCH: usize = 256;

/// Texts shorter than this are scanned without class maps (filling them would cost more
/// than it saves).
const MAPPED_FROM: usize = 128;

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
        let b = text.as_bytes();
        self.for_each_batch(text, |mut from, ends| {
            for &end in ends {
                piece(&b[from..end])?;
                from = end;
            }
            ControlFlow::Continue(())
        })
    }

    /// Calls `batch(from, ends)` with the pieces of `text` a batch at a time, in order, until it
    /// breaks: `text[from..ends[0]]`, `text[ends[0]..ends[1]]`, and so on. A caller that loops
    /// over a batch itself keeps its work on a piece in its own loop, with no call per piece.
    #[inline(always)]
    pub(crate) fn for_each_batch(self, text: &str, batch: impl FnMut(usize, &[usize]) -> ControlFlow<()>) {
        self.for_each_batch_in_windows(text, class_maps::WINDOW, batch)
    }

    /// `for_each_batch` with class maps of `window` bytes (smaller ones in tests).
    #[inline(always)]
    fn for_each_batch_in_windows(
        self,
        text: &str,
        window: usize,
        mut batch: impl FnMut(usize, &[usize]) -> ControlFlow<()>,
    ) {
        let b = text.as_bytes();
        let mut ends = [0usize; BATCH];
        let mut n = 0;
        // The start of the batch being gathered.
        let mut from = 0;
        macro_rules! push {
            ($end:expr) => {{
                let end = $end;
                debug_assert!(text.is_char_boundary(end));
                ends[n] = end;
                n += 1;
                if n == BATCH {
                    if batch(from, &ends).is_break() {
                        return;
                    }
                    from = end;
                    n = 0;
                }
            }};
        }
        // One loop per pattern, so each scanner is inlined into its own loop. Long texts are
        // mapped a window at a time, from the piece that starts past the last window.
        macro_rules! pieces {
            ($next:ident) => {{
                let mut pos = 0;
                if b.len() < MAPPED_FROM {
                    while pos < b.len() {
                        pos = Scanner { b, maps: &ClassMaps::EMPTY }.$next(pos);
                        push!(pos);
                    }
                } else {
                    let mut maps = ClassMaps::new();
                    while pos < b.len() {
                        if pos >= maps.end() {
                            maps.fill(b, pos, window);
                        }
                        pos = Scanner { b, maps: &maps }.$next(pos);
                        push!(pos);
                    }
                }
            }};
            // Patterns with piece starts for a whole window (`piece_starts.rs`): the pieces
            // between its starts, then the last one, which may run past it, by the scanner.
            ($next:ident, $starts:path) => {{
                if b.len() < MAPPED_FROM {
                    pieces!($next);
                } else {
                    let mut maps = ClassMaps::new();
                    let mut starts = Starts::new();
                    let mut pos = 0;
                    while pos < b.len() {
                        maps.fill(b, pos, window);
                        $starts(&maps, b, &mut starts);
                        let decided = starts.decided;
                        if decided == 0 {
                            // A window the starts leave to the scanner.
                            let scan = Scanner { b, maps: &maps };
                            while pos < maps.end() {
                                pos = scan.$next(pos);
                                push!(pos);
                            }
                            continue;
                        }
                        let mut last = pos;
                        for k in 0..decided.div_ceil(64) {
                            let mut bits = starts.bits[k];
                            if decided - 64 * k < 64 {
                                bits &= (1u64 << (decided - 64 * k)) - 1;
                            }
                            if k == 0 {
                                bits &= !1;
                            }
                            while bits != 0 {
                                last = pos + 64 * k + bits.trailing_zeros() as usize;
                                bits &= bits - 1;
                                push!(last);
                            }
                        }
                        pos = Scanner { b, maps: &maps }.$next(last);
                        push!(pos);
                    }
                }
            }};
        }
        match self {
            SplitPattern::R50k => pieces!(r50k, piece_starts::r50k),
            SplitPattern::Cl100k => pieces!(cl100k, cl100k_starts),
            SplitPattern::O200k => pieces!(o200k, o200k_starts),
            SplitPattern::Llama3 => pieces!(llama3, llama3_starts),
            SplitPattern::Qwen => pieces!(qwen, qwen_starts),
            SplitPattern::Tekken => pieces!(tekken, tekken_starts),
        }
        if n > 0 {
            let _ = batch(from, &ends[..n]);
        }
    }
}

fn cl100k_starts(maps: &ClassMaps, b: &[u8], starts: &mut Starts) {
    piece_starts::cl100k::<true, 3>(maps, b, starts, |i| Scanner { b, maps }.contraction_at(i, true));
}

fn llama3_starts(maps: &ClassMaps, b: &[u8], starts: &mut Starts) {
    piece_starts::cl100k::<false, 3>(maps, b, starts, |i| Scanner { b, maps }.contraction_at(i, true));
}

fn qwen_starts(maps: &ClassMaps, b: &[u8], starts: &mut Starts) {
    piece_starts::cl100k::<false, 1>(maps, b, starts, |i| Scanner { b, maps }.contraction_at(i, true));
}

fn o200k_starts(maps: &ClassMaps, b: &[u8], starts: &mut Starts) {
    let scan = Scanner { b, maps };
    piece_starts::o200k::<true, 3>(maps, b, starts, |i| scan.o200k_word(i), |i| scan.contraction_at(i, true));
}

fn tekken_starts(maps: &ClassMaps, b: &[u8], starts: &mut Starts) {
    let scan = Scanner { b, maps };
    piece_starts::o200k::<false, 1>(maps, b, starts, |i| scan.o200k_word(i), |i| scan.contraction_at(i, true));
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

/// Whether a character with `flags` is in `class`.
#[inline(always)]
fn member(class: Class, flags: u8) -> bool {
    match class {
        Class::Letter => flags & LETTER != 0,
        Class::Number => flags & NUMBER != 0,
        Class::Space => flags & SPACE != 0,
        Class::Upperish => flags & UPPERISH != 0,
        Class::Lowerish => flags & LOWERISH != 0,
        Class::Other => is_other(flags),
    }
}

/// The text as UTF-8 bytes (valid: it comes from a `&str`), and its class maps around the
/// piece being scanned.
struct Scanner<'t, 'm> {
    b: &'t [u8],
    maps: &'m ClassMaps,
}

impl Scanner<'_, '_> {
    /// The end of the run of `class` from `i`: found in the maps inside their window, one
    /// character at a time past it.
    #[inline(always)]
    fn class_run(&self, i: usize, class: Class) -> usize {
        match self.maps.run_end(i, class) {
            Ok(end) => end,
            Err(at) => self.run(at, |f| member(class, f)),
        }
    }

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
        if let Ok(end) = self.maps.run_end(i, Class::Space) {
            // The run's last character starts at its last byte unless that continues one.
            let mut last_start = end - 1;
            while self.b[last_start] & 0xC0 == 0x80 {
                last_start -= 1;
            }
            return SpaceRun { end, last_start, last_newline: self.maps.last_newline(i, end) };
        }
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
            return self.class_run(from, Class::Letter);
        }
        if flags & NUMBER != 0 {
            return self.class_run(from, Class::Number);
        }
        if is_other(flags) {
            return self.class_run(from, Class::Other);
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
            return self.class_run(next, Class::Letter);
        }
        if f0 & NUMBER == 0 && !is_newline(b0) && next < self.b.len() {
            let (f1, l1) = self.at(next);
            if f1 & LETTER != 0 {
                return self.class_run(next + l1, Class::Letter);
            }
        }
        // `\p{N}{1,3}`
        if f0 & NUMBER != 0 {
            return if DIGITS == 1 { next } else { self.up_to_three_numbers(i, l0) };
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        if is_other(f0) {
            return self.byte_run(self.class_run(next, Class::Other), is_newline);
        }
        if b0 == b' ' && next < self.b.len() {
            let (f1, l1) = self.at(next);
            if is_other(f1) {
                return self.byte_run(self.class_run(next + l1, Class::Other), is_newline);
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
            return self.byte_run(self.class_run(next, Class::Other), newline_or_slash);
        }
        if b0 == b' ' && next < self.b.len() {
            let (f1, l1) = self.at(next);
            if is_other(f1) {
                return self.byte_run(self.class_run(next + l1, Class::Other), newline_or_slash);
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
        if let Ok(upper_end) = self.maps.run_end(s, Class::Upperish) {
            if upper_end < self.b.len() {
                let (flags, len) = self.at(upper_end);
                if flags & LOWERISH != 0 {
                    return Some(self.class_run(upper_end + len, Class::Lowerish));
                }
            }
            return self.maps.end_of_last_lowerish(s, upper_end);
        }
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

    /// o200k's word from `s`, a letter, without a prefix: `U*L+`, else `U+L*`.
    #[inline(always)]
    fn o200k_word(&self, s: usize) -> Option<usize> {
        self.lower_word(s).or_else(|| self.upper_word(s))
    }

    /// o200k's `U+L*` from `s` (greedy, no backtracking needed).
    #[inline(always)]
    fn upper_word(&self, s: usize) -> Option<usize> {
        if s >= self.b.len() || self.at(s).0 & UPPERISH == 0 {
            return None;
        }
        let upper_end = self.class_run(s, Class::Upperish);
        Some(self.class_run(upper_end, Class::Lowerish))
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

#[cfg(test)]
mod tests {
    use super::*;

    const PATTERNS: [SplitPattern; 6] = [
        SplitPattern::R50k,
        SplitPattern::Cl100k,
        SplitPattern::O200k,
        SplitPattern::Llama3,
        SplitPattern::Qwen,
        SplitPattern::Tekken,
    ];

    /// The pieces one character at a time, without class maps: the scanners as
    /// `tests/tiktoken_reference.rs` checks them against the regexes.
    fn unmapped(pattern: SplitPattern, text: &str) -> Vec<usize> {
        let scan = Scanner { b: text.as_bytes(), maps: &ClassMaps::EMPTY };
        let mut ends = Vec::new();
        let mut pos = 0;
        while pos < text.len() {
            pos = match pattern {
                SplitPattern::R50k => scan.r50k(pos),
                SplitPattern::Cl100k => scan.cl100k(pos),
                SplitPattern::O200k => scan.o200k(pos),
                SplitPattern::Llama3 => scan.llama3(pos),
                SplitPattern::Qwen => scan.qwen(pos),
                SplitPattern::Tekken => scan.tekken(pos),
            };
            ends.push(pos);
        }
        ends
    }

    fn mapped(pattern: SplitPattern, text: &str, window: usize) -> Vec<usize> {
        let mut all = Vec::new();
        pattern.for_each_batch_in_windows(text, window, |from, ends| {
            assert!(all.last().copied().unwrap_or(0) == from && !ends.is_empty());
            all.extend_from_slice(ends);
            ControlFlow::Continue(())
        });
        all
    }

    /// Pieces long mixed texts are made of.
    const ATOMS: &[&str] = &[
        "a",
        "The",
        "WORD",
        "é",
        "Ünïcode",
        "中文",
        "日本語",
        "한국어",
        "٣٤",
        "12345",
        "7",
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "\n\n ",
        "\u{3000}",
        "\u{a0}",
        "\u{85}",
        ",",
        ".",
        "!?",
        "'s",
        "'LL",
        "'re",
        "'",
        "😀",
        "ǅ",
        "ʰ",
        "e\u{301}",
        "ſ",
        "/",
        "//",
        "::",
        "ꜰ",
        "Ⅻ",
        "_",
        "-",
        "'d",
        "'ve",
        "'m",
        "'t",
        "'x",
        "'S",
        "''",
        " '",
        "\u{2009}",
        "\u{2009}a",
        "\u{85}.",
        "don't",
        "we'll",
        " \u{a0}b",
        ";\n",
        ";\n    ",
        "!\n\n",
        "\r",
        "\u{2014}",
        "。",
        "\u{b}",
        "\n  ",
        " \n",
        "0",
        "１２",
        "1234567",
        " !",
        "\t'",
        "\u{3000}\n",
    ];

    /// With class maps of any window size, every pattern cuts long mixed text where the
    /// character-at-a-time scan does.
    #[test]
    fn class_maps_cut_where_the_character_scan_does() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..60 {
            let len = [130usize, 300, 1000, 5000, 20_000][round % 5];
            let mut text = String::new();
            while text.len() < len {
                text.push_str(ATOMS[(next() % ATOMS.len() as u64) as usize]);
            }
            for pattern in PATTERNS {
                let want = unmapped(pattern, &text);
                for window in [4usize, 5, 31, 64, 129, class_maps::WINDOW] {
                    let got = mapped(pattern, &text, window);
                    if let Some(i) = (0..got.len().max(want.len())).find(|&i| got.get(i) != want.get(i)) {
                        let from = if i > 2 { want[i - 3] } else { 0 };
                        let to = (from + 40).min(text.len());
                        let to = (to..=text.len()).find(|&t| text.is_char_boundary(t)).unwrap();
                        panic!(
                            "{pattern:?}, window {window}: piece {i} ends at {:?}, not {:?}, in {:?} (from byte {from})",
                            got.get(i),
                            want.get(i),
                            &text[from..to]
                        );
                    }
                }
            }
        }
    }

    /// Runs longer than a window: one class, and runs that end right at a window's edge.
    #[test]
    fn runs_across_windows_cut_where_the_character_scan_does() {
        for unit in ["a", " ", "\n", "7", "中", "😀", "a ", " \n", "=", "Aa", "aA", "ǅ"] {
            for n in [class_maps::WINDOW - 1, class_maps::WINDOW, class_maps::WINDOW + 1, 3 * class_maps::WINDOW] {
                let text = unit.repeat(n / unit.len()) + "x y";
                for pattern in PATTERNS {
                    assert_eq!(
                        mapped(pattern, &text, class_maps::WINDOW),
                        unmapped(pattern, &text),
                        "{pattern:?} {unit:?} x {n}"
                    );
                }
            }
        }
    }

    /// Cut at every space between two ASCII letters (`bpe::chunks::ascii_word_gap`), a text
    /// splits into the same pieces, chunk by chunk, as it does whole, with every pattern.
    #[test]
    fn cuts_at_word_gaps_and_line_starts_leave_the_pieces_unchanged() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (mut cuts, mut lines) = (0, 0);
        for round in 0..200 {
            let len = [40usize, 130, 300, 1000, 3000][round % 5];
            let mut text = String::new();
            while text.len() < len {
                // Words and spaces often, for many cuts among everything else.
                let r = next();
                if r % 3 == 0 {
                    text.push_str(
                        [
                            "a b",
                            " The",
                            "word ",
                            "x",
                            " ",
                            "'s ",
                            ".\nA",
                            "x\ny",
                            "\n",
                            "\r\nb",
                            " \nc",
                            "\n\nd",
                            "。\n中",
                            "中\n文",
                            "\u{3000}\n中",
                            "한\n국",
                            "é\nb",
                            "\u{a0}\nx",
                            "\n日",
                            "1\n2",
                        ][(r / 3 % 20) as usize],
                    );
                } else {
                    text.push_str(ATOMS[(r % ATOMS.len() as u64) as usize]);
                }
            }
            let b = text.as_bytes();
            let mut bounds = vec![0];
            while let Some(i) = crate::bpe::chunks::ascii_word_gap(b, bounds[bounds.len() - 1] + 1, b.len()) {
                bounds.push(i);
            }
            // The point tests agree with the search, and line starts are cuts too.
            for p in 0..=b.len() {
                assert_eq!(crate::bpe::chunks::is_ascii_word_gap(b, p), bounds[1..].contains(&p), "{p} in {text:?}");
            }
            lines += (0..b.len()).filter(|&p| crate::bpe::chunks::is_line_start(b, p)).count();
            bounds.extend((0..b.len()).filter(|&p| crate::bpe::chunks::is_line_start(b, p)));
            bounds.sort_unstable();
            bounds.push(text.len());
            cuts += bounds.len() - 2;
            for pattern in PATTERNS {
                let whole = mapped(pattern, &text, class_maps::WINDOW);
                let mut pieces = Vec::new();
                for w in bounds.windows(2) {
                    pieces.extend(mapped(pattern, &text[w[0]..w[1]], class_maps::WINDOW).iter().map(|e| e + w[0]));
                }
                assert_eq!(pieces, whole, "{pattern:?} in {text:?} cut at {bounds:?}");
            }
        }
        assert!(cuts > 500 && lines > 200, "{cuts} cuts, {lines} of them line starts");
    }
}
