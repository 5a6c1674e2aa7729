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

use super::class_maps::{ClassMaps, APOSTROPHES, BLANKS, CONTINUATIONS, LETTERS, NUMBERS, SPACES, WINDOW};

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

    for k in 0..words {
        // A run's last character that has several bytes starts at its first.
        let mut tails = starts.bits[k] & maps.word(SPACES, k) & maps.word(CONTINUATIONS, k);
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
