//! Where pieces start, for a whole window of class maps at once: r50k's pattern (GPT-2,
//! RoBERTa, Whisper and the other byte-level exports that use it).
//!
//! Whether a piece starts at a byte depends only on the bytes around it, once the window starts
//! at a piece start: a run of letters, numbers or other characters starts a piece, unless a
//! space before it joins it (` ?\p{L}+`); a run of white space starts one; and a white-space
//! run followed by something else gives up its last character (`\s+(?!\S)`), which starts a
//! piece of its own. Those rules are a few bit operations per 64 bytes. Contractions (`'s`,
//! `'ll`, ...) and a run that ends in a multi-byte space character are rare and fixed up one
//! by one. `split.rs` cuts the pieces between the starts and leaves the last piece of a window,
//! whose end is past it, to the scanner.

use super::class_maps::{
    ClassMaps, APOSTROPHES, BLANKS, CONTINUATIONS, LETTERS, LOWERS, NEWLINES, NUMBERS, SPACES, UPPERS, WINDOW,
};

const WORDS: usize = WINDOW / 64;

/// Bytes at the end of a window whose starts are left undecided: a decision looks at most three
/// bytes ahead (a contraction's letters, the rest of a space character).
const LOOKAHEAD: usize = 4;

/// The piece starts of a window: bit `j` of word `k` is a piece starting at byte
/// `start + 64k + j`, decided for the bytes before `decided` (relative to the window).
pub(crate) struct Starts {
    pub(crate) bits: [u64; WORDS],
    pub(crate) decided: usize,
}

impl Starts {
    pub(crate) fn new() -> Self {
        Starts { bits: [0; WORDS], decided: 0 }
    }

    #[inline(always)]
    fn set(&mut self, i: usize) {
        self.bits[i / 64] |= 1 << (i % 64);
    }

    #[inline(always)]
    fn clear(&mut self, i: usize) {
        self.bits[i / 64] &= !(1 << (i % 64));
    }
}

/// The bits below `n` of a 64-byte word that has `rest` bytes of the window in it.
#[inline(always)]
fn valid(rest: usize) -> u64 {
    if rest >= 64 {
        !0
    } else {
        (1u64 << rest) - 1
    }
}

/// r50k's starts in the window of `maps`, which starts a piece; `text` is the whole text.
pub(crate) fn r50k(maps: &ClassMaps, text: &[u8], starts: &mut Starts) {
    let (start, end) = (maps.start(), maps.end());
    let len = end - start;
    let words = len.div_ceil(64);
    // The bit 63 of the word before, for the masks that look one byte back.
    let (mut letter_in, mut number_in, mut space_in, mut other_in, mut blank_in) = (0, 0, 0, 0, 0);
    for k in 0..words {
        let v = valid(len - 64 * k);
        let letter = maps.word(LETTERS, k);
        let number = maps.word(NUMBERS, k);
        let space = maps.word(SPACES, k);
        let other = !(letter | number | space) & v;
        let blank = maps.word(BLANKS, k);
        let before = |m: u64, carry: u64| m << 1 | carry;
        let runs = (letter & !before(letter, letter_in))
            | (number & !before(number, number_in))
            | (other & !before(other, other_in));
        let space_runs = space & !before(space, space_in);
        // The last byte of a white-space run that something follows inside the window.
        let next_space = space >> 1 | maps.word(SPACES, k + 1) << 63;
        let followed = v >> 1 | (valid((len - 64 * k).saturating_sub(64)) & 1) << 63;
        let gives_up_last = space & !next_space & followed;
        starts.bits[k] = (runs & !before(blank, blank_in)) | space_runs | gives_up_last;
        (letter_in, number_in, space_in, other_in, blank_in) =
            (letter >> 63, number >> 63, space >> 63, other >> 63, blank >> 63);
    }
    if words > 0 {
        starts.bits[0] |= 1;
    }
    starts.decided = if end == text.len() { len } else { len.saturating_sub(LOOKAHEAD) };

    move_to_leads(maps, text, starts);
    for k in 0..words {
        // An apostrophe that starts a piece takes a contraction after it first.
        let mut apostrophes = starts.bits[k] & maps.word(APOSTROPHES, k);
        while apostrophes != 0 {
            let a = 64 * k + apostrophes.trailing_zeros() as usize;
            apostrophes &= apostrophes - 1;
            if a >= starts.decided {
                break;
            }
            let at = |i: usize| text.get(start + i).copied();
            let letters = match (at(a + 1), at(a + 2)) {
                (Some(b's' | b't' | b'm' | b'd'), _) => 1,
                (Some(b'r' | b'v'), Some(b'e')) | (Some(b'l'), Some(b'l')) => 2,
                _ => continue,
            };
            starts.clear(a + 1);
            if a + 1 + letters < len {
                starts.set(a + 1 + letters);
            }
        }
    }
}

/// The first byte at or after `from` (relative to the window) that is not in the map word
/// `of(k)` gives, or `len` when the run reaches the window's end.
#[inline(always)]
fn run_end(from: usize, len: usize, of: impl Fn(usize) -> u64) -> usize {
    let mut k = from / 64;
    let mut stop = !of(k) & (!0u64 << (from % 64));
    loop {
        if stop != 0 {
            return (64 * k + stop.trailing_zeros() as usize).min(len);
        }
        k += 1;
        if 64 * k >= len {
            return len;
        }
        stop = !of(k);
    }
}

/// The starts of cl100k's pattern and the patterns built like it (Llama 3, Qwen: `DIGITS`
/// numbers at most in a piece; `END_RUN`: tiktoken's `\s++$`) in the window of `maps`, which
/// starts a piece; `contraction(i)` is where a contraction at the apostrophe `i` ends.
pub(crate) fn cl100k<const END_RUN: bool, const DIGITS: usize>(
    maps: &ClassMaps,
    text: &[u8],
    starts: &mut Starts,
    contraction: impl Fn(usize) -> Option<usize>,
) {
    let (start, end) = (maps.start(), maps.end());
    let len = end - start;
    let mut decided = if end == text.len() { len } else { len.saturating_sub(LOOKAHEAD) };
    let is_space = |i: usize| maps.word(SPACES, i / 64) >> (i % 64) & 1 == 1;
    if END_RUN && end == text.len() && len > 0 && is_space(len - 1) {
        // White space to the end of the text is one piece (`\s++$`): left to the scanner.
        let mut run = len - 1;
        while run > 0 && is_space(run - 1) {
            run -= 1;
        }
        decided = run;
    }
    let mut after_attached = [0u64; WORDS];
    words_and_spaces::<DIGITS>(maps, text, starts, &mut decided, &mut after_attached);
    let words = len.div_ceil(64);
    for k in 0..words {
        // An apostrophe that starts a piece takes a contraction after it first; the letters
        // after the contraction start a piece of their own.
        let mut apostrophes = starts.bits[k] & maps.word(APOSTROPHES, k);
        while apostrophes != 0 {
            let a = 64 * k + apostrophes.trailing_zeros() as usize;
            apostrophes &= apostrophes - 1;
            if a >= decided {
                break;
            }
            if let Some(e) = contraction(start + a) {
                if e - start < len {
                    starts.set(e - start);
                }
            }
        }
    }
    starts.decided = decided;
}

/// The starts of o200k's pattern and Tekken's (`CONTRACTIONS`: o200k's contractions after a
/// word; `DIGITS` numbers at most in a piece) in the window of `maps`, which starts a piece.
/// `word_end(i)` is where o200k's word (`U*L+|U+L*`, no prefix) from the letter at `i` ends;
/// `contraction(i)` where a contraction at the apostrophe `i` ends. A window with marks
/// (`\p{M}`, both other characters and word characters here) is left to the scanner:
/// `decided` is 0.
///
/// The pieces are cl100k's, but for three things: a word ends before an upper-case letter
/// that follows a lower-case one (found one run at a time by `word_end`, from the run's
/// first piece); a contraction after a word joins it; and an other's piece takes slashes
/// along with the newlines after it (`[\r\n/]*`).
pub(crate) fn o200k<const CONTRACTIONS: bool, const DIGITS: usize>(
    maps: &ClassMaps,
    text: &[u8],
    starts: &mut Starts,
    word_end: impl Fn(usize) -> Option<usize>,
    contraction: impl Fn(usize) -> Option<usize>,
) {
    let (start, end) = (maps.start(), maps.end());
    let len = end - start;
    let words = len.div_ceil(64);
    if (0..words).any(|k| (maps.word(UPPERS, k) | maps.word(LOWERS, k)) & !maps.word(LETTERS, k) != 0) {
        starts.decided = 0;
        return;
    }
    let mut decided = if end == text.len() { len } else { len.saturating_sub(LOOKAHEAD) };
    let mut after_attached = [0u64; WORDS];
    words_and_spaces::<DIGITS>(maps, text, starts, &mut decided, &mut after_attached);
    let byte = |i: usize| text[start + i];

    'slashes: for k in 0..words {
        // Slashes after the newlines an other took join its piece, and newlines after them.
        let mut tails = after_attached[k];
        while tails != 0 {
            let q = 64 * k + tails.trailing_zeros() as usize;
            tails &= tails - 1;
            if q >= decided {
                break 'slashes;
            }
            if byte(q) != b'/' {
                continue;
            }
            let mut e = q;
            while e < len && matches!(byte(e), b'/' | b'\r' | b'\n') {
                starts.clear(e);
                e += 1;
            }
            if e + LOOKAHEAD >= decided {
                decided = q;
                break 'slashes;
            }
            starts.set(e);
            // An other after the tail starts a run of its own: alone, a letter joins it.
            let is = |map: usize, i: usize| maps.word(map, i / 64) >> (i % 64) & 1 == 1;
            let next = e + utf8_len(byte(e));
            if !is(LETTERS, e) && !is(NUMBERS, e) && !is(SPACES, e) && is(LETTERS, next) {
                starts.clear(next);
            }
        }
    }
    if CONTRACTIONS {
        // Where the last contraction ends: an apostrophe there follows no word.
        let mut after_contraction = usize::MAX;
        'contractions: for k in 0..words {
            // An apostrophe right after a word: a contraction there ends the word's piece.
            let mut apostrophes =
                maps.word(APOSTROPHES, k) & (maps.word(LETTERS, k) << 1 | bit_before(maps, LETTERS, k));
            while apostrophes != 0 {
                let a = 64 * k + apostrophes.trailing_zeros() as usize;
                apostrophes &= apostrophes - 1;
                if a >= decided {
                    break 'contractions;
                }
                if a == after_contraction {
                    continue;
                }
                if let Some(e) = contraction(start + a) {
                    starts.clear(a);
                    after_contraction = e - start;
                    if e - start < len {
                        starts.set(e - start);
                    }
                }
            }
        }
    }
    // Upper-case letters after lower-case ones, where a word may end inside a run of letters.
    let mut walked = 0;
    'cases: for k in 0..words {
        let upper_only = maps.word(UPPERS, k) & !maps.word(LOWERS, k);
        let after_lower = maps.word(LOWERS, k) << 1 | bit_before(maps, LOWERS, k);
        let mut cases = upper_only & after_lower;
        while cases != 0 {
            let i = 64 * k + cases.trailing_zeros() as usize;
            cases &= cases - 1;
            if i < walked {
                continue;
            }
            if i >= decided {
                break 'cases;
            }
            // The run's first piece starts at its first letter, or at the last start in it
            // (after a contraction).
            let mut run = i;
            while run > 0 && maps.word(LETTERS, (run - 1) / 64) >> ((run - 1) % 64) & 1 == 1 {
                run -= 1;
            }
            let mut from = run;
            for j in (run..i).rev() {
                if starts.bits[j / 64] >> (j % 64) & 1 == 1 {
                    from = j;
                    break;
                }
            }
            let e = run_end(i, len, |k| maps.word(LETTERS, k));
            if e == len && end < text.len() {
                decided = decided.min(from);
                break 'cases;
            }
            let mut at = from;
            while at < e {
                let Some(next) = word_end(start + at).map(|n| n - start).filter(|&n| n > at && n <= e) else {
                    decided = decided.min(from);
                    break 'cases;
                };
                if next < e {
                    starts.set(next);
                }
                at = next;
            }
            walked = e;
        }
    }
    starts.decided = decided;
}

/// Moves each start on a byte that continues a character to that character's first byte: the
/// last character of a white-space run is found at its last byte, and it may have several
/// (every other start is found at a first byte already).
fn move_to_leads(maps: &ClassMaps, text: &[u8], starts: &mut Starts) {
    let start = maps.start();
    for k in 0..(maps.end() - start).div_ceil(64) {
        let mut tails = starts.bits[k] & maps.word(CONTINUATIONS, k);
        while tails != 0 {
            let j = 64 * k + tails.trailing_zeros() as usize;
            tails &= tails - 1;
            starts.clear(j);
            let mut lead = j;
            while text[start + lead] & 0xC0 == 0x80 {
                lead -= 1;
            }
            starts.set(lead);
        }
    }
}

/// Bit 63 of word `k - 1` of `map` (0 for the first word): whether the byte before word `k` is
/// in the map.
#[inline(always)]
fn bit_before(maps: &ClassMaps, map: usize, k: usize) -> u64 {
    if k == 0 {
        0
    } else {
        maps.word(map, k - 1) >> 63
    }
}

/// The starts that cl100k's and o200k's families share, for the bytes before `decided`, which
/// may come down (white space that runs past the window): see `cl100k`. `after_attached` gets
/// the bytes right after the newlines that others take.
///
/// A letter run starts a piece unless the character before it joins it
/// (`[^\r\n\p{L}\p{N}]?\p{L}+`): white space always does, since the last character of a
/// white-space run always starts a piece, and an other character does when it starts a piece
/// itself, that is when it is alone and no space takes it (` ?[^\s\p{L}\p{N}]+`). A run of
/// others starts one unless a space takes it, and the newlines right after it join it
/// (`[\r\n]*`). Inside white space, pieces start at the run (or at its first white character
/// after the newlines an other took), after its last newline (`\s*[\r\n]+`), and at its last
/// character (`\s+(?!\S)`). Numbers start a piece at each run and every `DIGITS` characters.
#[inline(always)]
fn words_and_spaces<const DIGITS: usize>(
    maps: &ClassMaps,
    text: &[u8],
    starts: &mut Starts,
    decided: &mut usize,
    after_attached: &mut [u64; WORDS],
) {
    let (start, end) = (maps.start(), maps.end());
    let len = end - start;
    let words = len.div_ceil(64);
    let white = |k: usize| maps.word(SPACES, k) & !maps.word(NEWLINES, k);
    // White space right after a newline that no other takes: a start only if the run has no
    // newline after it, decided below.
    let mut after_newline = [0u64; WORDS];
    // Bit 63 of the word before, for the masks that look one byte back; `attached_carry` is
    // the carry out of the addition that finds the newlines others take.
    let (mut letter_in, mut number_in, mut space_in, mut other_in, mut blank_in) = (0, 0, 0, 0, 0);
    let (mut white_in, mut newline_in, mut alone_in, mut attached_in, mut attached_carry) = (0, 0, 0, 0, 0);
    for k in 0..words {
        let v = valid(len - 64 * k);
        let letter = maps.word(LETTERS, k);
        let number = maps.word(NUMBERS, k);
        let space = maps.word(SPACES, k);
        let newline = maps.word(NEWLINES, k);
        let blank = maps.word(BLANKS, k);
        let cont = maps.word(CONTINUATIONS, k);
        let other = !(letter | number | space) & v;
        let white = space & !newline;
        let before = |m: u64, carry: u64| m << 1 | carry;
        let other_runs = other & !before(other, other_in);
        let own_others = other_runs & !before(blank, blank_in);
        // The bytes of the first character of each run of others that no space takes: when
        // a letter follows that character, it starts the letters' piece.
        let mut alone = own_others | (alone_in & other & cont & 1);
        for _ in 0..3 {
            alone |= alone << 1 & other & cont;
        }
        let joined = before(white, white_in) | before(alone, alone_in);
        let mut bits = letter & !before(letter, letter_in) & !joined;
        bits |= own_others;
        bits |= if DIGITS == 1 { number & !cont } else { number & !before(number, number_in) };
        bits |= space & !before(space, space_in) & !(before(other, other_in) & newline);
        // The newline runs that start right after an other: adding a bit at the start of a
        // run carries through it.
        let seeds = newline & before(other, other_in);
        let (sum, c1) = newline.overflowing_add(seeds);
        let (sum, c2) = sum.overflowing_add(attached_carry);
        let attached = (sum ^ newline) & newline;
        bits |= white & before(attached, attached_in);
        after_attached[k] = before(attached, attached_in) & !attached & v;
        after_newline[k] = white & before(newline, newline_in) & !before(attached, attached_in);
        // The last character of a white-space run that something follows in the window (its
        // last byte here; moved to its first below).
        let next_space = space >> 1 | maps.word(SPACES, k + 1) << 63;
        let followed = v >> 1 | (valid((len - 64 * k).saturating_sub(64)) & 1) << 63;
        bits |= white & !next_space & followed;
        starts.bits[k] = bits & v;
        (letter_in, number_in, space_in, other_in, blank_in) =
            (letter >> 63, number >> 63, space >> 63, other >> 63, blank >> 63);
        (white_in, newline_in, alone_in, attached_in) = (white >> 63, newline >> 63, alone >> 63, attached >> 63);
        attached_carry = (c1 | c2) as u64;
    }
    if words > 0 {
        starts.bits[0] |= 1;
    }

    'candidates: for k in 0..words {
        // A white-space character after a newline starts a piece when no newline follows it
        // in its run; a run past the window is left to the scanner.
        let mut candidates = after_newline[k];
        while candidates != 0 {
            let c = 64 * k + candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            if c >= *decided {
                break 'candidates;
            }
            let e = run_end(c, len, white);
            if e == len && end < text.len() {
                *decided = c;
                break 'candidates;
            }
            if e == len || maps.word(NEWLINES, e / 64) >> (e % 64) & 1 == 0 {
                starts.set(c);
            }
        }
    }
    move_to_leads(maps, text, starts);
    if DIGITS > 1 {
        // Where the last run walked ends: its later starts are not runs of their own.
        let mut walked = 0;
        for k in 0..words {
            // A run of more than `DIGITS` bytes may hold more than `DIGITS` numbers.
            let mut runs = starts.bits[k] & maps.word(NUMBERS, k);
            while runs != 0 {
                let r = 64 * k + runs.trailing_zeros() as usize;
                runs &= runs - 1;
                if r < walked {
                    continue;
                }
                let probe = r + DIGITS;
                if probe >= len || maps.word(NUMBERS, probe / 64) >> (probe % 64) & 1 == 0 {
                    continue;
                }
                let e = run_end(r, len, |k| maps.word(NUMBERS, k));
                walked = e;
                let (mut i, mut n) = (r, 0);
                while i < e {
                    if n == DIGITS {
                        starts.set(i);
                        n = 0;
                    }
                    i += utf8_len(text[start + i]);
                    n += 1;
                }
            }
        }
    }
}

/// The length of the UTF-8 character whose first byte is `b`.
#[inline(always)]
fn utf8_len(b: u8) -> usize {
    match b {
        0..0xC0 => 1,
        0xC0..0xE0 => 2,
        0xE0..0xF0 => 3,
        _ => 4,
    }
}
