//! One pass over the bytes of a text, counting the character classes and transitions that token
//! counts depend on. No allocation and no UTF-8 decoding: the estimate costs a small fraction of
//! an exact count.
//!
//! The scan works on blocks of 64 bytes. For each block it computes one 64-bit mask per byte
//! class (bit `i` is byte `i` of the block): ASCII lower and upper case letters, digits, space,
//! newline, other whitespace, apostrophe, printable ASCII, bytes equal to the byte before them,
//! and, for bytes of 0x80 and up, "at least `t`" for a few UTF-8 lead byte thresholds `t` that
//! separate scripts. Every feature is then a popcount of a combination of those masks and of the
//! masks shifted by a few bytes (a transition: a letter after a non-letter, a digit after a
//! digit...), the last bits of the previous block carried over. Three implementations, chosen
//! once at run time, give identical features (tests check it at every alignment):
//! - AVX-512 (F, BW, VPOPCNTDQ): each mask is one byte compare of the whole block; the masks of
//!   eight blocks are stored side by side, so that the features of the eight blocks are computed
//!   together, one block per 64-bit lane, the carries coming from the lane before, and counted
//!   with one vector popcount per feature. About twice as fast as AVX2. Only whole groups of
//!   eight blocks go this way: the blocks after the last one (all of a text under 512 bytes) go
//!   one at a time, as with AVX2, which spares short texts the groups' fixed cost.
//! - AVX2: byte compares 32 at a time and `movemask`, the features one block at a time.
//! - Portable: a table of class bits per byte builds the same masks byte by byte.
//!
//! Two kinds of figures come out of the scan:
//! - regression features (letters, word starts, digits, spaces, scripts by UTF-8 lead byte...),
//!   which the calibrated tables weigh into an estimate;
//! - `letter_runs` and `digit_runs`, which count runs that an OpenAI split pattern can never
//!   join into one piece, and so give a lower bound (see `bounds.rs`).

// The SIMD kernels are `unsafe fn`s whose callers check the target features once; their
// bodies are intrinsics throughout, so they are not wrapped in `unsafe` blocks line by line.
#![allow(unsafe_op_in_unsafe_fn)]

/// Indices into [`Features::values`], the estimator's inputs.
pub mod f {
    pub const BIAS: usize = 0;
    /// ASCII lower case letters.
    pub const LOWER: usize = 1;
    /// ASCII upper case letters.
    pub const UPPER: usize = 2;
    /// Word characters (ASCII letters, Latin letters with diacritics, combining marks) after a
    /// byte that is none.
    pub const WORD_STARTS: usize = 3;
    /// An upper case letter right after a lower case one.
    pub const CASE_CHANGES: usize = 4;
    pub const DIGITS: usize = 5;
    /// ASCII digits after a non-digit.
    pub const DIGIT_STARTS: usize = 6;
    /// ASCII digits with two digits right before them.
    pub const DIGIT_TRIPLES: usize = 7;
    pub const SPACES: usize = 8;
    /// Word starts right after a space.
    pub const SPACE_BEFORE_WORD: usize = 9;
    pub const NEWLINES: usize = 10;
    /// Tab, carriage return, vertical tab and form feed.
    pub const OTHER_WHITESPACE: usize = 11;
    /// Printable ASCII other than letters, digits and space.
    pub const PUNCT: usize = 12;
    /// Punctuation after a byte that is no punctuation.
    pub const PUNCT_RUNS: usize = 13;
    /// Other ASCII control characters.
    pub const CONTROL: usize = 14;
    /// Punctuation other than `-=._*#~` equal to the byte before it.
    pub const PUNCT_REPEATS: usize = 15;
    pub const SPACE_REPEATS: usize = 16;
    pub const LETTER_REPEATS: usize = 17;
    /// Word characters with at least 5 word characters right before them.
    pub const LONG_WORD_LETTERS: usize = 18;
    /// Word characters with at least 11 word characters right before them.
    pub const VERY_LONG_WORD_LETTERS: usize = 19;
    /// Non-ASCII characters after an ASCII byte (or at the start).
    pub const NON_ASCII_RUNS: usize = 20;
    /// Non-ASCII characters by lead byte. C0-C2: Latin-1 symbols (no-break space, «», ©, °...).
    pub const LATIN1_SYMBOLS: usize = 21;
    /// C3-CD: Latin letters with diacritics, IPA, combining marks.
    pub const LATIN_EXT: usize = 22;
    /// CE-CF.
    pub const GREEK: usize = 23;
    /// D0-D5: Cyrillic (and Armenian).
    pub const CYRILLIC: usize = 24;
    /// D6-D7.
    pub const HEBREW: usize = 25;
    /// D8-DF: Arabic (and Syriac, Thaana, NKo).
    pub const ARABIC: usize = 26;
    /// E0: Indic scripts and Thai.
    pub const INDIC_THAI: usize = 27;
    /// E1: Georgian, Hangul Jamo, Khmer, Latin Extended Additional (Vietnamese)...
    pub const LEAD_E1: usize = 28;
    /// E2: punctuation, symbols, arrows, math.
    pub const SYMBOLS: usize = 29;
    /// E3-E4: CJK punctuation, kana, CJK Extension A.
    pub const KANA_CJK_PUNCT: usize = 30;
    /// E5-E9: CJK ideographs (U+5000-U+9FFF).
    pub const CJK: usize = 31;
    /// EA-ED: Hangul syllables.
    pub const HANGUL: usize = 32;
    /// EE-EF: private use, CJK compatibility, fullwidth forms.
    pub const FULLWIDTH_PRIVATE: usize = 33;
    /// F0-F4: emoji and other supplementary planes.
    pub const FOUR_BYTE: usize = 34;
    /// CJK ideographs right after another (o200k holds many two- and three-character words).
    pub const CJK_PAIRS: usize = 35;
    /// Letter pairs (either case) that tell English from German, whose words the OpenAI
    /// vocabularies split differently: `th`, `ch`, and `ei` or `ie`.
    pub const BIGRAM_TH: usize = 36;
    pub const BIGRAM_CH: usize = 37;
    pub const BIGRAM_EI_IE: usize = 38;
    /// Repeats of the characters of drawn lines and ellipses, which the vocabularies hold long
    /// tokens of: `-=.` and `_*#~`; `PUNCT_REPEATS` counts the other punctuation repeats.
    pub const DASH_REPEATS: usize = 39;
    pub const LINE_REPEATS: usize = 40;
    pub const COUNT: usize = 41;
}

/// Lead byte thresholds: the scan counts the bytes at or above each. The script features are the
/// differences of neighbouring counts.
const THRESHOLDS: [u8; NT] = [0xC0, 0xC3, 0xCE, 0xD0, 0xD6, 0xD8, 0xE0, 0xE1, 0xE2, 0xE3, 0xE5, 0xEA, 0xEE, 0xF0];
const NT: usize = 14;
const GE_C0: usize = 0;
const GE_C3: usize = 1;
const GE_CE: usize = 2;
const GE_E5: usize = 10;
const GE_EA: usize = 11;
/// The script feature whose range starts at each threshold (the last one, F0, has no end).
const SCRIPT_AT: [usize; NT] = [
    f::LATIN1_SYMBOLS,
    f::LATIN_EXT,
    f::GREEK,
    f::CYRILLIC,
    f::HEBREW,
    f::ARABIC,
    f::INDIC_THAI,
    f::LEAD_E1,
    f::SYMBOLS,
    f::KANA_CJK_PUNCT,
    f::CJK,
    f::HANGUL,
    f::FULLWIDTH_PRIVATE,
    f::FOUR_BYTE,
];

/// The byte class masks of one 64-byte block: bit `i` describes byte `i`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Masks {
    /// Bytes of 0x80 and up.
    hibit: u64,
    lower: u64,
    upper: u64,
    digit: u64,
    space: u64,
    newline: u64,
    /// 0x09-0x0D (newline included).
    whitespace: u64,
    apostrophe: u64,
    /// 0x21-0x7E.
    printable: u64,
    /// ASCII bytes equal to the byte before them.
    repeat: u64,
    /// `-=.`
    dash: u64,
    /// `_*#~`
    line: u64,
    /// The letters of the bigram features, either case.
    t: u64,
    h: u64,
    c: u64,
    e: u64,
    i: u64,
    /// Bytes at or above each of [`THRESHOLDS`].
    ge: [u64; NT],
}

/// Shifts a mask by `k` bytes towards the end of the text, filling in `carry`, the bits the
/// previous block shifted out (`carry_out`). Kept apart rather than as `(m << k) | (prev >> (64 -
/// k))` in one expression, which compiles to a double shift (`shrd`), slow on AMD processors.
#[inline(always)]
fn sh(m: u64, carry: u64, k: u32) -> u64 {
    (m << k) | carry
}

#[inline(always)]
fn carry_out(m: u64, k: u32) -> u64 {
    m >> (64 - k)
}

#[inline(always)]
fn pop(m: u64) -> u64 {
    u64::from(m.count_ones())
}

/// What the scan carries from one block to the next: the bits of each shifted mask that cross
/// into the next block, named by mask and shift.
#[derive(Clone, Copy)]
struct Carry {
    word1: u64,
    word2_2: u64,
    word2_4: u64,
    word6_6: u64,
    lower1: u64,
    digit1: u64,
    digit2: u64,
    space1: u64,
    punct1: u64,
    hibit1: u64,
    latin1: u64,
    cjk3: u64,
    letter_sep1: u64,
    digit_sep1: u64,
    t1: u64,
    c1: u64,
    e1: u64,
    i1: u64,
}

/// The running sums of a scan.
struct State {
    v: [u64; f::COUNT],
    ge: [u64; NT],
    non_ascii_bytes: u64,
    letter_runs: u64,
    digit_runs: u64,
    carry: Carry,
}

impl State {
    fn new() -> Self {
        // Before the text: a separator, so that a letter or digit at the start begins a run.
        let carry = Carry {
            word1: 0,
            word2_2: 0,
            word2_4: 0,
            word6_6: 0,
            lower1: 0,
            digit1: 0,
            digit2: 0,
            space1: 0,
            punct1: 0,
            hibit1: 0,
            latin1: 0,
            cjk3: 0,
            letter_sep1: 1,
            digit_sep1: 1,
            t1: 0,
            c1: 0,
            e1: 0,
            i1: 0,
        };
        State { v: [0; f::COUNT], ge: [0; NT], non_ascii_bytes: 0, letter_runs: 0, digit_runs: 0, carry }
    }

    /// Adds the features of one block; `valid` has a bit for each byte of the text in it.
    #[inline(always)]
    fn add(&mut self, m: &Masks, valid: u64) {
        let c = self.carry;
        let v = &mut self.v;
        let hibit = m.hibit & valid;
        let ascii = !m.hibit & valid;
        let lower = m.lower & valid;
        let upper = m.upper & valid;
        let digit = m.digit & valid;
        let space = m.space & valid;
        let newline = m.newline & valid;
        let printable = m.printable & valid;
        let letter = lower | upper;
        let punct = printable & !letter & !digit;

        // Non-ASCII: lead bytes by threshold; C3-CD continue words, E5-E9 are CJK ideographs.
        let (latin, cjk) = if hibit != 0 {
            for (sum, &ge) in self.ge.iter_mut().zip(&m.ge) {
                *sum += pop(ge & valid);
            }
            self.non_ascii_bytes += pop(hibit);
            let lead = m.ge[GE_C0] & valid;
            v[f::NON_ASCII_RUNS] += pop(lead & !sh(hibit, c.hibit1, 1));
            let latin = m.ge[GE_C3] & !m.ge[GE_CE] & valid;
            let cjk = m.ge[GE_E5] & !m.ge[GE_EA] & valid;
            v[f::CJK_PAIRS] += pop(cjk & sh(cjk, c.cjk3, 3));
            (latin, cjk)
        } else {
            (0, 0)
        };
        let after_cjk = sh(cjk, c.cjk3, 3);

        // A Latin lead byte and the continuation byte after it are word characters.
        let word = letter | latin | sh(latin, c.latin1, 1);
        let after_word = sh(word, c.word1, 1);
        let word_starts = word & !after_word;
        v[f::LOWER] += pop(lower);
        v[f::UPPER] += pop(upper);
        v[f::WORD_STARTS] += pop(word_starts);
        v[f::CASE_CHANGES] += pop(upper & sh(lower, c.lower1, 1));
        v[f::DIGITS] += pop(digit);
        let after_digit = sh(digit, c.digit1, 1);
        v[f::DIGIT_STARTS] += pop(digit & !after_digit);
        v[f::DIGIT_TRIPLES] += pop(digit & after_digit & sh(digit, c.digit2, 2));
        v[f::SPACES] += pop(space);
        v[f::SPACE_BEFORE_WORD] += pop(word_starts & sh(space, c.space1, 1));
        v[f::NEWLINES] += pop(newline);
        v[f::OTHER_WHITESPACE] += pop(m.whitespace & !m.newline & valid);
        v[f::PUNCT] += pop(punct);
        v[f::PUNCT_RUNS] += pop(punct & !sh(punct, c.punct1, 1));
        v[f::CONTROL] += pop(ascii & !(printable | space | m.whitespace));
        let repeat = m.repeat & valid;
        let (dash, line) = (m.dash & valid, m.line & valid);
        v[f::PUNCT_REPEATS] += pop(repeat & punct & !(dash | line));
        v[f::DASH_REPEATS] += pop(repeat & dash);
        v[f::LINE_REPEATS] += pop(repeat & line);
        let (t, h, ch_c, e, i) = (m.t & valid, m.h & valid, m.c & valid, m.e & valid, m.i & valid);
        v[f::BIGRAM_TH] += pop(h & sh(t, c.t1, 1));
        v[f::BIGRAM_CH] += pop(h & sh(ch_c, c.c1, 1));
        v[f::BIGRAM_EI_IE] += pop((i & sh(e, c.e1, 1)) | (e & sh(i, c.i1, 1)));
        v[f::SPACE_REPEATS] += pop(repeat & space);
        v[f::LETTER_REPEATS] += pop(repeat & letter);
        let word2 = word & after_word;
        let word4 = word2 & sh(word2, c.word2_2, 2);
        let word6 = word4 & sh(word2, c.word2_4, 4);
        v[f::LONG_WORD_LETTERS] += pop(word6);
        v[f::VERY_LONG_WORD_LETTERS] += pop(word6 & sh(word6, c.word6_6, 6));

        // Bound runs: a letter (ASCII or CJK ideograph) right after an ASCII byte that is no
        // letter and no apostrophe starts a new piece; so does a digit right after an ASCII
        // non-digit or a CJK ideograph.
        let letter_sep = ascii & !letter & !m.apostrophe;
        let digit_sep = ascii & !digit;
        self.letter_runs += pop((letter | cjk) & sh(letter_sep, c.letter_sep1, 1));
        self.digit_runs += pop(digit & (sh(digit_sep, c.digit_sep1, 1) | after_cjk));

        self.carry = Carry {
            word1: carry_out(word, 1),
            word2_2: carry_out(word2, 2),
            word2_4: carry_out(word2, 4),
            word6_6: carry_out(word6, 6),
            lower1: carry_out(lower, 1),
            digit1: carry_out(digit, 1),
            digit2: carry_out(digit, 2),
            space1: carry_out(space, 1),
            punct1: carry_out(punct, 1),
            hibit1: carry_out(hibit, 1),
            latin1: carry_out(latin, 1),
            cjk3: carry_out(cjk, 3),
            letter_sep1: carry_out(letter_sep, 1),
            digit_sep1: carry_out(digit_sep, 1),
            t1: carry_out(t, 1),
            c1: carry_out(ch_c, 1),
            e1: carry_out(e, 1),
            i1: carry_out(i, 1),
        };
    }

    fn finish(mut self, len: usize) -> Features {
        self.v[f::BIAS] = u64::from(len > 0);
        for k in 0..NT {
            self.v[SCRIPT_AT[k]] = self.ge[k] - self.ge.get(k + 1).copied().unwrap_or(0);
        }
        Features {
            values: self.v,
            bytes: len as u64,
            non_ascii_bytes: self.non_ascii_bytes,
            letter_runs: self.letter_runs,
            digit_runs: self.digit_runs,
        }
    }
}

/// A way to compute the masks of a block.
trait Classify {
    /// The masks of the 64 bytes at `p`.
    ///
    /// # Safety
    /// `p - 1 .. p + 64` must be readable.
    unsafe fn classify(p: *const u8) -> Masks;
}

/// Runs a scan with one classification. `inline(always)`, so it is compiled with the target
/// features of its caller.
#[inline(always)]
unsafe fn drive<C: Classify>(bytes: &[u8]) -> Features {
    unsafe { drive_from::<C>(State::new(), bytes, 0) }
}

/// Scans the blocks from byte `start` (a multiple of 64) on, `state` holding the sums and
/// carries of the blocks before it.
#[inline(always)]
unsafe fn drive_from<C: Classify>(mut state: State, bytes: &[u8], start: usize) -> Features {
    let len = bytes.len();
    // The first block and the last, partial one go through a buffer with the byte before them
    // in front (0 before the text) and zeros after; the rest is read in place. One copy of the
    // block code for all three.
    let mut buf = [0u8; 65];
    let mut i = start;
    while i < len {
        let rest = len - i;
        let (p, valid) = if i > 0 && rest >= 64 {
            (bytes.as_ptr().add(i), !0)
        } else {
            let n = rest.min(64);
            buf[0] = if i > 0 { bytes[i - 1] } else { 0 };
            buf[1..1 + n].copy_from_slice(&bytes[i..i + n]);
            buf[1 + n..].fill(0);
            (buf.as_ptr().add(1), if n == 64 { !0 } else { (1u64 << n) - 1 })
        };
        state.add(&C::classify(p), valid);
        i += 64;
    }
    state.finish(len)
}

/// The portable classification, one byte at a time through a table of class bits.
struct Portable;

const B_HIBIT: u32 = 0;
const B_LOWER: u32 = 1;
const B_UPPER: u32 = 2;
const B_DIGIT: u32 = 3;
const B_SPACE: u32 = 4;
const B_NEWLINE: u32 = 5;
const B_WHITESPACE: u32 = 6;
const B_APOSTROPHE: u32 = 7;
const B_PRINTABLE: u32 = 8;
const B_DASH: u32 = 9;
const B_LINE: u32 = 10;
const B_T: u32 = 11;
const B_H: u32 = 12;
const B_C: u32 = 13;
const B_E: u32 = 14;
const B_I: u32 = 15;
const B_GE: u32 = 16;

const fn class_bits() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut b = 0usize;
    while b < 256 {
        let x = b as u8;
        let mut bits = 0u32;
        if x >= 0x80 {
            bits |= 1 << B_HIBIT;
        }
        if x.is_ascii_lowercase() {
            bits |= 1 << B_LOWER;
        }
        if x.is_ascii_uppercase() {
            bits |= 1 << B_UPPER;
        }
        if x.is_ascii_digit() {
            bits |= 1 << B_DIGIT;
        }
        if x == b' ' {
            bits |= 1 << B_SPACE;
        }
        if x == b'\n' {
            bits |= 1 << B_NEWLINE;
        }
        if x >= 0x09 && x <= 0x0D {
            bits |= 1 << B_WHITESPACE;
        }
        if x == b'\'' {
            bits |= 1 << B_APOSTROPHE;
        }
        if x >= 0x21 && x <= 0x7E {
            bits |= 1 << B_PRINTABLE;
        }
        if matches!(x, b'-' | b'=' | b'.') {
            bits |= 1 << B_DASH;
        }
        if matches!(x, b'_' | b'*' | b'#' | b'~') {
            bits |= 1 << B_LINE;
        }
        match x | 0x20 {
            b't' => bits |= 1 << B_T,
            b'h' => bits |= 1 << B_H,
            b'c' => bits |= 1 << B_C,
            b'e' => bits |= 1 << B_E,
            b'i' => bits |= 1 << B_I,
            _ => {}
        }
        let mut k = 0;
        while k < NT {
            if x >= THRESHOLDS[k] {
                bits |= 1 << (B_GE + k as u32);
            }
            k += 1;
        }
        t[b] = bits;
        b += 1;
    }
    t
}

static CLASS_BITS: [u32; 256] = class_bits();

impl Portable {
    fn classify_block(prev: u8, block: &[u8; 64]) -> Masks {
        let mut m = Masks::default();
        let mut prev = prev;
        for (i, &b) in block.iter().enumerate() {
            let bit = 1u64 << i;
            let mut bits = CLASS_BITS[b as usize];
            if b == prev && b < 0x80 {
                m.repeat |= bit;
            }
            prev = b;
            while bits != 0 {
                let k = bits.trailing_zeros();
                bits &= bits - 1;
                let target = match k {
                    B_HIBIT => &mut m.hibit,
                    B_LOWER => &mut m.lower,
                    B_UPPER => &mut m.upper,
                    B_DIGIT => &mut m.digit,
                    B_SPACE => &mut m.space,
                    B_NEWLINE => &mut m.newline,
                    B_WHITESPACE => &mut m.whitespace,
                    B_APOSTROPHE => &mut m.apostrophe,
                    B_PRINTABLE => &mut m.printable,
                    B_DASH => &mut m.dash,
                    B_LINE => &mut m.line,
                    B_T => &mut m.t,
                    B_H => &mut m.h,
                    B_C => &mut m.c,
                    B_E => &mut m.e,
                    B_I => &mut m.i,
                    _ => &mut m.ge[(k - B_GE) as usize],
                };
                *target |= bit;
            }
        }
        m
    }
}

impl Classify for Portable {
    #[inline(always)]
    unsafe fn classify(p: *const u8) -> Masks {
        // SAFETY: the caller guarantees p - 1 .. p + 64 is readable.
        let (prev, block) = unsafe { (*p.sub(1), &*(p as *const [u8; 64])) };
        Portable::classify_block(prev, block)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Classify, Masks, NT, THRESHOLDS};
    use core::arch::x86_64::*;

    pub(super) struct Avx2;

    #[inline(always)]
    unsafe fn mask(v: __m256i) -> u32 {
        _mm256_movemask_epi8(v) as u32
    }

    /// Bytes in `lo..=hi` (both below 0x80): one add and one signed compare.
    #[inline(always)]
    unsafe fn range(v: __m256i, lo: u8, hi: u8) -> __m256i {
        let shifted = _mm256_add_epi8(v, _mm256_set1_epi8(0x80u8.wrapping_sub(lo) as i8));
        _mm256_cmpgt_epi8(_mm256_set1_epi8((i32::from(hi - lo) + 1 - 128) as i8), shifted)
    }

    #[inline(always)]
    unsafe fn eq(v: __m256i, b: u8) -> __m256i {
        _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b as i8))
    }

    #[inline(always)]
    fn join(lo: u32, hi: u32) -> u64 {
        u64::from(lo) | (u64::from(hi) << 32)
    }

    /// Bytes in `-=.` and in `_*#~`: a nibble lookup. The low nibble gives the rows (high nibbles)
    /// that hold a member with it, the high nibble its row, one bit per row and set.
    #[inline(always)]
    unsafe fn draw(v: __m256i) -> (__m256i, __m256i) {
        const DASH2: i8 = 1; // - .
        const DASH3: i8 = 2; // =
        const LINE2: i8 = 4; // * #
        const LINE5: i8 = 8; // _
        const LINE7: i8 = 16; // ~
        #[rustfmt::skip]
        let by_low = _mm256_setr_epi8(
            0, 0, 0, LINE2, 0, 0, 0, 0, 0, 0, LINE2, 0, 0, DASH2 | DASH3, DASH2 | LINE7, LINE5,
            0, 0, 0, LINE2, 0, 0, 0, 0, 0, 0, LINE2, 0, 0, DASH2 | DASH3, DASH2 | LINE7, LINE5,
        );
        #[rustfmt::skip]
        let by_high = _mm256_setr_epi8(
            0, 0, DASH2 | LINE2, DASH3, 0, LINE5, 0, LINE7, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, DASH2 | LINE2, DASH3, 0, LINE5, 0, LINE7, 0, 0, 0, 0, 0, 0, 0, 0,
        );
        let nibble = _mm256_set1_epi8(0x0F);
        let low = _mm256_and_si256(v, nibble);
        let high = _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble);
        let hit = _mm256_and_si256(_mm256_shuffle_epi8(by_low, low), _mm256_shuffle_epi8(by_high, high));
        let zero = _mm256_setzero_si256();
        let dash = _mm256_cmpgt_epi8(_mm256_and_si256(hit, _mm256_set1_epi8(DASH2 | DASH3)), zero);
        let line = _mm256_cmpgt_epi8(_mm256_and_si256(hit, _mm256_set1_epi8(LINE2 | LINE5 | LINE7)), zero);
        (dash, line)
    }

    impl Classify for Avx2 {
        #[inline(always)]
        unsafe fn classify(p: *const u8) -> Masks {
            let lo = _mm256_loadu_si256(p as *const __m256i);
            let hi = _mm256_loadu_si256(p.add(32) as *const __m256i);
            let hibit = join(mask(lo), mask(hi));
            macro_rules! both {
                ($f:ident, $($arg:expr),*) => {
                    join(mask($f(lo, $($arg),*)), mask($f(hi, $($arg),*)))
                };
            }
            let plo = _mm256_loadu_si256(p.sub(1) as *const __m256i);
            let phi = _mm256_loadu_si256(p.add(31) as *const __m256i);
            let case = _mm256_set1_epi8(0x20);
            let (flo, fhi) = (_mm256_or_si256(lo, case), _mm256_or_si256(hi, case));
            macro_rules! folded {
                ($b:expr) => {
                    join(mask(eq(flo, $b)), mask(eq(fhi, $b)))
                };
            }
            let (dlo, dhi) = (draw(lo), draw(hi));
            let mut ge = [0; NT];
            if hibit != 0 {
                for (k, ge) in ge.iter_mut().enumerate() {
                    // ASCII bytes are positive, so above every threshold too: keep the high ones.
                    let t = _mm256_set1_epi8(THRESHOLDS[k].wrapping_sub(1) as i8);
                    *ge = join(mask(_mm256_cmpgt_epi8(lo, t)), mask(_mm256_cmpgt_epi8(hi, t))) & hibit;
                }
            }
            Masks {
                hibit,
                lower: both!(range, b'a', b'z'),
                upper: both!(range, b'A', b'Z'),
                digit: both!(range, b'0', b'9'),
                space: both!(eq, b' '),
                newline: both!(eq, b'\n'),
                whitespace: both!(range, 0x09, 0x0D),
                apostrophe: both!(eq, b'\''),
                printable: both!(range, 0x21, 0x7E),
                repeat: join(mask(_mm256_cmpeq_epi8(lo, plo)), mask(_mm256_cmpeq_epi8(hi, phi))) & !hibit,
                dash: join(mask(dlo.0), mask(dhi.0)),
                line: join(mask(dlo.1), mask(dhi.1)),
                t: folded!(b't'),
                h: folded!(b'h'),
                c: folded!(b'c'),
                e: folded!(b'e'),
                i: folded!(b'i'),
                ge,
            }
        }
    }

    #[target_feature(enable = "avx2,popcnt")]
    pub(super) unsafe fn scan(bytes: &[u8]) -> super::Features {
        unsafe { super::drive::<Avx2>(bytes) }
    }

    /// The masks of one block, for the tests.
    #[cfg(test)]
    #[target_feature(enable = "avx2,popcnt")]
    pub(super) unsafe fn masks(p: *const u8) -> Masks {
        unsafe { Avx2::classify(p) }
    }
}

/// The AVX-512 (BW) classification: byte compares straight into 64-bit masks, one per class and
/// block, with no `movemask` and no joining of halves.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{f, Classify, Features, Masks, State, GE_C0, GE_C3, GE_CE, GE_E5, GE_EA, NT, THRESHOLDS};
    use core::arch::x86_64::*;

    pub(super) struct Avx512;

    /// Bytes in `lo..=hi`: one subtraction and one unsigned compare.
    #[inline(always)]
    unsafe fn range(v: __m512i, lo: u8, hi: u8) -> u64 {
        _mm512_cmple_epu8_mask(_mm512_sub_epi8(v, _mm512_set1_epi8(lo as i8)), _mm512_set1_epi8((hi - lo) as i8))
    }

    #[inline(always)]
    unsafe fn eq(v: __m512i, b: u8) -> u64 {
        _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b as i8))
    }

    impl Classify for Avx512 {
        #[inline(always)]
        unsafe fn classify(p: *const u8) -> Masks {
            let v = _mm512_loadu_si512(p as *const __m512i);
            let prev = _mm512_loadu_si512(p.sub(1) as *const __m512i);
            let hibit = _mm512_movepi8_mask(v);
            let folded = _mm512_or_si512(v, _mm512_set1_epi8(0x20));
            // `-=.` and `_*#~`, by a nibble lookup as in the AVX2 classification.
            const DASH2: i8 = 1;
            const DASH3: i8 = 2;
            const LINE2: i8 = 4;
            const LINE5: i8 = 8;
            const LINE7: i8 = 16;
            #[rustfmt::skip]
            let by_low = _mm512_broadcast_i32x4(_mm_setr_epi8(
                0, 0, 0, LINE2, 0, 0, 0, 0, 0, 0, LINE2, 0, 0, DASH2 | DASH3, DASH2 | LINE7, LINE5,
            ));
            #[rustfmt::skip]
            let by_high = _mm512_broadcast_i32x4(_mm_setr_epi8(
                0, 0, DASH2 | LINE2, DASH3, 0, LINE5, 0, LINE7, 0, 0, 0, 0, 0, 0, 0, 0,
            ));
            let nibble = _mm512_set1_epi8(0x0F);
            let low = _mm512_and_si512(v, nibble);
            let high = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
            let hit = _mm512_and_si512(_mm512_shuffle_epi8(by_low, low), _mm512_shuffle_epi8(by_high, high));
            let mut ge = [0; NT];
            if hibit != 0 {
                for (k, ge) in ge.iter_mut().enumerate() {
                    *ge = _mm512_cmpge_epu8_mask(v, _mm512_set1_epi8(THRESHOLDS[k] as i8));
                }
            }
            Masks {
                hibit,
                lower: range(v, b'a', b'z'),
                upper: range(v, b'A', b'Z'),
                digit: range(v, b'0', b'9'),
                space: eq(v, b' '),
                newline: eq(v, b'\n'),
                whitespace: range(v, 0x09, 0x0D),
                apostrophe: eq(v, b'\''),
                printable: range(v, 0x21, 0x7E),
                repeat: _mm512_cmpeq_epi8_mask(v, prev) & !hibit,
                dash: _mm512_test_epi8_mask(hit, _mm512_set1_epi8(DASH2 | DASH3)),
                line: _mm512_test_epi8_mask(hit, _mm512_set1_epi8(LINE2 | LINE5 | LINE7)),
                t: eq(folded, b't'),
                h: eq(folded, b'h'),
                c: eq(folded, b'c'),
                e: eq(folded, b'e'),
                i: eq(folded, b'i'),
                ge,
            }
        }
    }

    /// The class masks of up to eight consecutive blocks, one array per class, so that each
    /// loads as one vector with a block per 64-bit lane.
    #[repr(C, align(64))]
    struct Group {
        hibit: [u64; 8],
        lower: [u64; 8],
        upper: [u64; 8],
        digit: [u64; 8],
        space: [u64; 8],
        newline: [u64; 8],
        whitespace: [u64; 8],
        apostrophe: [u64; 8],
        printable: [u64; 8],
        repeat: [u64; 8],
        dash: [u64; 8],
        line: [u64; 8],
        t: [u64; 8],
        h: [u64; 8],
        c: [u64; 8],
        e: [u64; 8],
        i: [u64; 8],
        ge: [[u64; 8]; NT],
    }

    /// The masks of the previous group that the next one shifts in: lane 7 is the last block.
    struct Last {
        word: __m512i,
        word2: __m512i,
        word6: __m512i,
        lower: __m512i,
        digit: __m512i,
        space: __m512i,
        punct: __m512i,
        hibit: __m512i,
        latin: __m512i,
        cjk: __m512i,
        letter_sep: __m512i,
        digit_sep: __m512i,
        t: __m512i,
        c: __m512i,
        e: __m512i,
        i: __m512i,
    }

    #[inline(always)]
    unsafe fn ld(a: &[u64; 8]) -> __m512i {
        _mm512_load_si512(a.as_ptr() as *const __m512i)
    }

    /// `super::sh` for eight blocks at once: each lane shifts in the top bits of the lane
    /// before it, lane 0 those of the previous group's last block.
    #[inline(always)]
    unsafe fn shv<const K: u32, const R: u32>(m: __m512i, last: __m512i) -> __m512i {
        let before = _mm512_alignr_epi64::<7>(m, last);
        _mm512_or_si512(_mm512_slli_epi64::<K>(m), _mm512_srli_epi64::<R>(before))
    }

    #[inline(always)]
    unsafe fn and(a: __m512i, b: __m512i) -> __m512i {
        _mm512_and_si512(a, b)
    }

    #[inline(always)]
    unsafe fn or(a: __m512i, b: __m512i) -> __m512i {
        _mm512_or_si512(a, b)
    }

    /// `a & !b`
    #[inline(always)]
    unsafe fn but(a: __m512i, b: __m512i) -> __m512i {
        _mm512_andnot_si512(b, a)
    }

    /// The scan with the features of eight blocks computed together, one block per 64-bit lane
    /// (the same formulas as `State::add`, with `VPOPCNTQ` for the counts).
    #[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq,popcnt")]
    pub(super) unsafe fn scan(bytes: &[u8]) -> Features {
        let len = bytes.len();
        if len < 8 * 64 {
            // No whole group: block by block, without the groups' setup and final sums.
            return unsafe { super::drive::<Avx512>(bytes) };
        }
        let zero = _mm512_setzero_si512();
        // Two groups: one is filled while the other, filled before, is read, so that its loads do
        // not wait on the stores just made (which a vector load cannot take from the store buffer).
        // Not zeroed (4 KB a call): every lane of a group is written before the group is read,
        // and the first write of each lane includes its `ge` masks (`ge_dirty` starts with every
        // bit set).
        let mut groups = core::mem::MaybeUninit::<[Group; 2]>::uninit();
        let groups = groups.as_mut_ptr() as *mut Group;
        // Every running sum in one array, so that the final sums read it in place: the features,
        // then the `ge` counts, the non-ASCII bytes and the bound runs, and zeros up to a
        // multiple of eight.
        const GE_ACC: usize = f::COUNT;
        const NON_ASCII_ACC: usize = GE_ACC + NT;
        const LETTER_RUNS_ACC: usize = NON_ASCII_ACC + 1;
        const DIGIT_RUNS_ACC: usize = NON_ASCII_ACC + 2;
        const N: usize = DIGIT_RUNS_ACC + 1;
        let mut acc = [zero; N.next_multiple_of(8)];
        // Before the text: a separator (see `State::new`).
        let top = _mm512_set_epi64(i64::MIN, 0, 0, 0, 0, 0, 0, 0);
        let mut last = Last {
            word: zero,
            word2: zero,
            word6: zero,
            lower: zero,
            digit: zero,
            space: zero,
            punct: zero,
            hibit: zero,
            latin: zero,
            cjk: zero,
            letter_sep: top,
            digit_sep: top,
            t: zero,
            c: zero,
            e: zero,
            i: zero,
        };
        let mut buf = [0u8; 65];
        // Blocks of each group whose `ge` arrays may hold a non-zero mask.
        let mut ge_dirty = [!0u8; 2];
        // Stores the masks of a block as lane `j` of the group; returns its non-ASCII bytes.
        // Writes through the raw pointer: the group may not be initialized yet.
        let put = |g: *mut Group, ge_dirty: &mut u8, j: usize, p: *const u8| -> u64 {
            let m = unsafe { Avx512::classify(p) };
            unsafe { (*g).hibit[j] = m.hibit };
            unsafe { (*g).lower[j] = m.lower };
            unsafe { (*g).upper[j] = m.upper };
            unsafe { (*g).digit[j] = m.digit };
            unsafe { (*g).space[j] = m.space };
            unsafe { (*g).newline[j] = m.newline };
            unsafe { (*g).whitespace[j] = m.whitespace };
            unsafe { (*g).apostrophe[j] = m.apostrophe };
            unsafe { (*g).printable[j] = m.printable };
            unsafe { (*g).repeat[j] = m.repeat };
            unsafe { (*g).dash[j] = m.dash };
            unsafe { (*g).line[j] = m.line };
            unsafe { (*g).t[j] = m.t };
            unsafe { (*g).h[j] = m.h };
            unsafe { (*g).c[j] = m.c };
            unsafe { (*g).e[j] = m.e };
            unsafe { (*g).i[j] = m.i };
            if m.hibit != 0 || *ge_dirty & (1 << j) != 0 {
                for k in 0..NT {
                    unsafe { (*g).ge[k][j] = m.ge[k] };
                }
                *ge_dirty = (*ge_dirty & !(1 << j)) | (u8::from(m.hibit != 0) << j);
            }
            m.hibit
        };
        let mut process = |g: &Group, any_hibit: u64| {
            // Every block of a group is whole: no mask of bytes past the text.
            let hibit = ld(&g.hibit);
            let ascii = _mm512_andnot_si512(hibit, _mm512_set1_epi64(-1));
            let lower = ld(&g.lower);
            let upper = ld(&g.upper);
            let digit = ld(&g.digit);
            let space = ld(&g.space);
            let newline = ld(&g.newline);
            let whitespace = ld(&g.whitespace);
            let printable = ld(&g.printable);
            let letter = or(lower, upper);
            let punct = but(printable, or(letter, digit));
            let pop = |m: __m512i| _mm512_popcnt_epi64(m);
            let add = |acc: &mut __m512i, m: __m512i| *acc = _mm512_add_epi64(*acc, _mm512_popcnt_epi64(m));

            let (latin, cjk) = if any_hibit != 0 {
                for k in 0..NT {
                    add(&mut acc[GE_ACC + k], ld(&g.ge[k]));
                }
                add(&mut acc[NON_ASCII_ACC], hibit);
                let lead = ld(&g.ge[GE_C0]);
                add(&mut acc[f::NON_ASCII_RUNS], but(lead, shv::<1, 63>(hibit, last.hibit)));
                let latin = but(ld(&g.ge[GE_C3]), ld(&g.ge[GE_CE]));
                let cjk = but(ld(&g.ge[GE_E5]), ld(&g.ge[GE_EA]));
                add(&mut acc[f::CJK_PAIRS], and(cjk, shv::<3, 61>(cjk, last.cjk)));
                (latin, cjk)
            } else {
                (zero, zero)
            };
            let after_cjk = shv::<3, 61>(cjk, last.cjk);

            let word = or(or(letter, latin), shv::<1, 63>(latin, last.latin));
            let after_word = shv::<1, 63>(word, last.word);
            let word_starts = but(word, after_word);
            add(&mut acc[f::LOWER], lower);
            add(&mut acc[f::UPPER], upper);
            add(&mut acc[f::WORD_STARTS], word_starts);
            add(&mut acc[f::CASE_CHANGES], and(upper, shv::<1, 63>(lower, last.lower)));
            add(&mut acc[f::DIGITS], digit);
            let after_digit = shv::<1, 63>(digit, last.digit);
            add(&mut acc[f::DIGIT_STARTS], but(digit, after_digit));
            add(&mut acc[f::DIGIT_TRIPLES], and(and(digit, after_digit), shv::<2, 62>(digit, last.digit)));
            add(&mut acc[f::SPACES], space);
            add(&mut acc[f::SPACE_BEFORE_WORD], and(word_starts, shv::<1, 63>(space, last.space)));
            add(&mut acc[f::NEWLINES], newline);
            add(&mut acc[f::OTHER_WHITESPACE], but(whitespace, newline));
            add(&mut acc[f::PUNCT], punct);
            add(&mut acc[f::PUNCT_RUNS], but(punct, shv::<1, 63>(punct, last.punct)));
            add(&mut acc[f::CONTROL], but(ascii, or(or(printable, space), whitespace)));
            let repeat = ld(&g.repeat);
            let (dash, line) = (ld(&g.dash), ld(&g.line));
            add(&mut acc[f::PUNCT_REPEATS], but(and(repeat, punct), or(dash, line)));
            add(&mut acc[f::DASH_REPEATS], and(repeat, dash));
            add(&mut acc[f::LINE_REPEATS], and(repeat, line));
            let t = ld(&g.t);
            let h = ld(&g.h);
            let ch_c = ld(&g.c);
            let e = ld(&g.e);
            let ii = ld(&g.i);
            add(&mut acc[f::BIGRAM_TH], and(h, shv::<1, 63>(t, last.t)));
            add(&mut acc[f::BIGRAM_CH], and(h, shv::<1, 63>(ch_c, last.c)));
            add(&mut acc[f::BIGRAM_EI_IE], or(and(ii, shv::<1, 63>(e, last.e)), and(e, shv::<1, 63>(ii, last.i))));
            add(&mut acc[f::SPACE_REPEATS], and(repeat, space));
            add(&mut acc[f::LETTER_REPEATS], and(repeat, letter));
            let word2 = and(word, after_word);
            let word4 = and(word2, shv::<2, 62>(word2, last.word2));
            let word6 = and(word4, shv::<4, 60>(word2, last.word2));
            add(&mut acc[f::LONG_WORD_LETTERS], word6);
            add(&mut acc[f::VERY_LONG_WORD_LETTERS], and(word6, shv::<6, 58>(word6, last.word6)));

            let apostrophe = ld(&g.apostrophe);
            let letter_sep = but(but(ascii, letter), apostrophe);
            let digit_sep = but(ascii, digit);
            add(&mut acc[LETTER_RUNS_ACC], and(or(letter, cjk), shv::<1, 63>(letter_sep, last.letter_sep)));
            add(&mut acc[DIGIT_RUNS_ACC], and(digit, or(shv::<1, 63>(digit_sep, last.digit_sep), after_cjk)));
            let _ = pop;

            last = Last {
                word,
                word2,
                word6,
                lower,
                digit,
                space,
                punct,
                hibit,
                latin,
                cjk,
                letter_sep,
                digit_sep,
                t,
                c: ch_c,
                e,
                i: ii,
            };
        };
        let mut i = 0;
        let mut cur = 0;
        let mut pending: Option<u64> = None;
        // Whole groups of eight blocks; the last blocks (fewer than eight, and all of a text
        // under 512 bytes) go one by one below, which costs less than a group's fixed work.
        while len - i >= 8 * 64 {
            let (g, dirty) = (unsafe { groups.add(cur) }, &mut ge_dirty[cur]);
            let mut any_hibit = 0u64;
            for j in 0..8 {
                let p = if i == 0 {
                    // The first block, with a 0 before it: through the buffer.
                    buf[1..].copy_from_slice(&bytes[..64]);
                    buf.as_ptr().wrapping_add(1)
                } else {
                    unsafe { bytes.as_ptr().add(i) }
                };
                any_hibit |= put(g, dirty, j, p);
                i += 64;
            }
            if let Some(hibit) = pending {
                process(unsafe { &*groups.add(1 - cur) }, hibit);
            }
            pending = Some(any_hibit);
            cur = 1 - cur;
        }
        if let Some(hibit) = pending {
            process(unsafe { &*groups.add(1 - cur) }, hibit);
        }
        // The lanes of every running sum added up, eight sums at a time (a horizontal sum of
        // each costs about three times as many instructions).
        let mut totals = [0u64; N.next_multiple_of(8)];
        for (out, vs) in totals.chunks_exact_mut(8).zip(acc.chunks_exact(8)) {
            _mm512_storeu_si512(out.as_mut_ptr() as *mut __m512i, sum_lanes(vs.try_into().unwrap()));
        }
        // The last block's masks (lane 7 of the last group), as `State::add` carries them.
        let out = |v: __m512i, k: u32| {
            super::carry_out(_mm256_extract_epi64::<3>(_mm512_extracti64x4_epi64::<1>(v)) as u64, k)
        };
        let state = State {
            v: totals[..f::COUNT].try_into().unwrap(),
            ge: totals[GE_ACC..GE_ACC + NT].try_into().unwrap(),
            non_ascii_bytes: totals[NON_ASCII_ACC],
            letter_runs: totals[LETTER_RUNS_ACC],
            digit_runs: totals[DIGIT_RUNS_ACC],
            carry: super::Carry {
                word1: out(last.word, 1),
                word2_2: out(last.word2, 2),
                word2_4: out(last.word2, 4),
                word6_6: out(last.word6, 6),
                lower1: out(last.lower, 1),
                digit1: out(last.digit, 1),
                digit2: out(last.digit, 2),
                space1: out(last.space, 1),
                punct1: out(last.punct, 1),
                hibit1: out(last.hibit, 1),
                latin1: out(last.latin, 1),
                cjk3: out(last.cjk, 3),
                letter_sep1: out(last.letter_sep, 1),
                digit_sep1: out(last.digit_sep, 1),
                t1: out(last.t, 1),
                c1: out(last.c, 1),
                e1: out(last.e, 1),
                i1: out(last.i, 1),
            },
        };
        unsafe { super::drive_from::<Avx512>(state, bytes, i) }
    }

    /// Lane `k` of the result is the sum of the lanes of `v[k]`: pairs of vectors are added
    /// lane by lane after interleaving them, halving the vectors at each of three steps.
    #[inline(always)]
    unsafe fn sum_lanes(v: &[__m512i; 8]) -> __m512i {
        // Adjacent lanes: (a0+a1, b0+b1, a2+a3, b2+b3, ...).
        let pairs = |a, b| _mm512_add_epi64(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
        // Adjacent 128-bit chunks of two such vectors: chunks 0 and 2 of each against 1 and 3.
        let chunks = |a, b| {
            _mm512_add_epi64(_mm512_shuffle_i64x2::<0b10_00_10_00>(a, b), _mm512_shuffle_i64x2::<0b11_01_11_01>(a, b))
        };
        let (ab, cd, ef, gh) = (pairs(v[0], v[1]), pairs(v[2], v[3]), pairs(v[4], v[5]), pairs(v[6], v[7]));
        // (a0-3, b0-3, a4-7, b4-7, c0-3, d0-3, c4-7, d4-7), and the same for e to h.
        let (abcd, efgh) = (chunks(ab, cd), chunks(ef, gh));
        chunks(abcd, efgh)
    }

    /// The masks of one block, for the tests.
    #[cfg(test)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq,popcnt")]
    pub(super) unsafe fn masks(p: *const u8) -> Masks {
        unsafe { Avx512::classify(p) }
    }
}

/// Which classification the scan uses, decided once: 0 not yet, 1 AVX2, 2 portable, 3 AVX-512.
#[cfg(target_arch = "x86_64")]
static BACKEND: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

#[cfg(target_arch = "x86_64")]
fn backend() -> u8 {
    use std::sync::atomic::Ordering;
    match BACKEND.load(Ordering::Relaxed) {
        0 => {
            let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("popcnt");
            let avx512 = avx2
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vpopcntdq");
            let b = if avx512 {
                3
            } else if avx2 {
                1
            } else {
                2
            };
            BACKEND.store(b, Ordering::Relaxed);
            b
        }
        b => b,
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
fn has_avx2() -> bool {
    backend() != 2
}

/// The figures one scan yields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Features {
    /// Regression inputs, indexed by the constants in [`f`].
    pub values: [u64; f::COUNT],
    /// Length in bytes.
    pub bytes: u64,
    /// Bytes of non-ASCII characters.
    pub non_ascii_bytes: u64,
    /// Runs of letters that no split pattern joins (see the module comment of `bounds.rs`).
    pub letter_runs: u64,
    /// Runs of ASCII digits that no split pattern joins.
    pub digit_runs: u64,
}

impl Features {
    /// Scans a text with the fastest classification this processor has.
    pub fn scan(text: &str) -> Features {
        #[cfg(target_arch = "x86_64")]
        match backend() {
            // SAFETY: AVX-512 F and BW, AVX2 and POPCNT are present.
            3 => return unsafe { avx512::scan(text.as_bytes()) },
            // SAFETY: AVX2 and POPCNT are present.
            1 => return unsafe { avx2::scan(text.as_bytes()) },
            _ => {}
        }
        Self::scan_portable(text)
    }

    /// Scans a text with a given implementation, for the tests that compare them: `"avx512"`,
    /// `"avx2"` or `"portable"`; `None` when this processor lacks it.
    #[cfg(test)]
    fn scan_with(backend_name: &str, text: &str) -> Option<Features> {
        #[cfg(target_arch = "x86_64")]
        match (backend_name, backend()) {
            // SAFETY: AVX-512 F, BW and VPOPCNTDQ, AVX2 and POPCNT are present.
            ("avx512", 3) => return Some(unsafe { avx512::scan(text.as_bytes()) }),
            // SAFETY: AVX2 and POPCNT are present.
            ("avx2", 1 | 3) => return Some(unsafe { avx2::scan(text.as_bytes()) }),
            _ => {}
        }
        (backend_name == "portable").then(|| Self::scan_portable(text))
    }

    /// Scans a text with the portable classification (the SIMD one gives identical features).
    pub(crate) fn scan_portable(text: &str) -> Features {
        // SAFETY: `drive` reads only within the text and its own buffer.
        unsafe { drive::<Portable>(text.as_bytes()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_classes_and_runs() {
        let x = Features::scan("Hello, World! it's 12345 ab");
        let v = x.values;
        assert_eq!(v[f::LOWER], 13);
        assert_eq!(v[f::UPPER], 2);
        assert_eq!(v[f::WORD_STARTS], 5, "Hello World it s ab");
        assert_eq!(v[f::DIGITS], 5);
        assert_eq!(v[f::DIGIT_STARTS], 1);
        assert_eq!(v[f::DIGIT_TRIPLES], 3, "3, 4 and 5");
        assert_eq!(v[f::SPACES], 4);
        assert_eq!(v[f::SPACE_BEFORE_WORD], 3);
        assert_eq!(v[f::PUNCT], 3, ", ! and the apostrophe");
        assert_eq!(v[f::PUNCT_RUNS], 3);
        assert_eq!(v[f::LETTER_REPEATS], 1, "ll");
        assert_eq!(x.letter_runs, 4, "the apostrophe does not end a run");
        assert_eq!(x.digit_runs, 1);
        assert_eq!(x.bytes, 27);
    }

    #[test]
    fn non_ascii_by_lead_byte() {
        let x = Features::scan("日本語のテキスト 한국어 Привет 👍 é");
        let v = x.values;
        assert_eq!(v[f::CJK], 3);
        assert_eq!(v[f::CJK_PAIRS], 2);
        assert_eq!(v[f::KANA_CJK_PUNCT], 5);
        assert_eq!(v[f::HANGUL], 3);
        assert_eq!(v[f::CYRILLIC], 6);
        assert_eq!(v[f::FOUR_BYTE], 1);
        assert_eq!(v[f::LATIN_EXT], 1);
        assert_eq!(v[f::NON_ASCII_RUNS], 5);
        // 日 starts a run; 한 and П are of unknown class.
        assert_eq!(x.letter_runs, 1);
        assert_eq!(x.non_ascii_bytes, 3 * 3 + 5 * 3 + 3 * 3 + 6 * 2 + 4 + 2);
    }

    #[test]
    fn empty_text_has_no_features() {
        let x = Features::scan("");
        assert!(x.values.iter().all(|&v| v == 0));
        assert_eq!((x.bytes, x.non_ascii_bytes, x.letter_runs, x.digit_runs), (0, 0, 0, 0));
    }

    /// The features straight from their definitions, one byte at a time over the whole text:
    /// the reference for the block scan and its carries.
    fn reference(text: &str) -> Features {
        let b = text.as_bytes();
        let at = |i: usize, k: usize| if i >= k { Some(b[i - k]) } else { None };
        let letter = |c: u8| c.is_ascii_alphabetic();
        let latin = |c: Option<u8>| c.is_some_and(|c| (0xC3..=0xCD).contains(&c));
        let cjk = |c: Option<u8>| c.is_some_and(|c| (0xE5..=0xE9).contains(&c));
        let word = |i: usize| letter(b[i]) || latin(Some(b[i])) || latin(at(i, 1));
        let word_run = |i: usize, n: usize| i + 1 >= n && (0..n).all(|k| word(i - k));
        let punct = |c: u8| c.is_ascii_graphic() && !c.is_ascii_alphanumeric();
        let mut v = [0u64; f::COUNT];
        let (mut letter_runs, mut digit_runs, mut non_ascii) = (0, 0, 0);
        for (i, &c) in b.iter().enumerate() {
            let prev = at(i, 1);
            let mut add = |k: usize, yes: bool| v[k] += u64::from(yes);
            let start = word(i) && !(i > 0 && word(i - 1));
            add(f::LOWER, c.is_ascii_lowercase());
            add(f::UPPER, c.is_ascii_uppercase());
            add(f::WORD_STARTS, start);
            add(f::CASE_CHANGES, c.is_ascii_uppercase() && prev.is_some_and(|p| p.is_ascii_lowercase()));
            add(f::DIGITS, c.is_ascii_digit());
            add(f::DIGIT_STARTS, c.is_ascii_digit() && !prev.is_some_and(|p| p.is_ascii_digit()));
            add(f::DIGIT_TRIPLES, c.is_ascii_digit() && i >= 2 && b[i - 2..i].iter().all(u8::is_ascii_digit));
            add(f::SPACES, c == b' ');
            add(f::SPACE_BEFORE_WORD, start && prev == Some(b' '));
            add(f::NEWLINES, c == b'\n');
            add(f::OTHER_WHITESPACE, matches!(c, 0x09 | 0x0B..=0x0D));
            add(f::PUNCT, punct(c));
            add(f::PUNCT_RUNS, punct(c) && !prev.is_some_and(punct));
            add(f::CONTROL, c < 0x80 && !c.is_ascii_graphic() && !matches!(c, b' ' | 0x09..=0x0D));
            let dash = b"-=.".contains(&c);
            let line = b"_*#~".contains(&c);
            add(f::PUNCT_REPEATS, punct(c) && !dash && !line && prev == Some(c));
            add(f::DASH_REPEATS, dash && prev == Some(c));
            add(f::LINE_REPEATS, line && prev == Some(c));
            let pair = |x: u8, y: u8| prev.is_some_and(|p| p | 0x20 == x) && c | 0x20 == y;
            add(f::BIGRAM_TH, pair(b't', b'h'));
            add(f::BIGRAM_CH, pair(b'c', b'h'));
            add(f::BIGRAM_EI_IE, pair(b'e', b'i') || pair(b'i', b'e'));
            add(f::SPACE_REPEATS, c == b' ' && prev == Some(c));
            add(f::LETTER_REPEATS, letter(c) && prev == Some(c));
            add(f::LONG_WORD_LETTERS, word_run(i, 6));
            add(f::VERY_LONG_WORD_LETTERS, word_run(i, 12));
            add(f::NON_ASCII_RUNS, c >= 0xC0 && !prev.is_some_and(|p| p >= 0x80));
            add(f::CJK_PAIRS, cjk(Some(c)) && cjk(at(i, 3)));
            for (k, &t) in THRESHOLDS.iter().enumerate() {
                let next = THRESHOLDS.get(k + 1).copied().unwrap_or(0xFF);
                add(SCRIPT_AT[k], c >= t && (c < next || t == 0xF0));
            }
            non_ascii += u64::from(c >= 0x80);
            let letter_sep = |p: u8| p < 0x80 && !letter(p) && p != b'\'';
            if (letter(c) || cjk(Some(c))) && prev.is_none_or(letter_sep) {
                letter_runs += 1;
            }
            let digit_sep = |p: u8| p < 0x80 && !p.is_ascii_digit();
            if c.is_ascii_digit() && (prev.is_none_or(digit_sep) || cjk(at(i, 3))) {
                digit_runs += 1;
            }
        }
        v[f::BIAS] = u64::from(!b.is_empty());
        Features { values: v, bytes: b.len() as u64, non_ascii_bytes: non_ascii, letter_runs, digit_runs }
    }

    /// xorshift64*, for reproducible random texts.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A random character from every class the scan tells apart, each as likely.
    fn random_char(rng: &mut Rng) -> char {
        const RANGES: &[(u32, u32)] = &[
            (0x00, 0x7F),
            (b'a' as u32, b'z' as u32),
            (b'A' as u32, b'Z' as u32),
            (b'0' as u32, b'9' as u32),
            (b' ' as u32, b' ' as u32),
            (b'\n' as u32, b'\n' as u32),
            (b'\'' as u32, b'\'' as u32),
            (b'-' as u32, b'.' as u32),
            (0x80, 0xFF),
            (0xC0, 0x36F),
            (0x370, 0x3FF),
            (0x400, 0x58F),
            (0x590, 0x5FF),
            (0x600, 0x7FF),
            (0x800, 0xFFF),
            (0x1000, 0x1FFF),
            (0x2000, 0x2FFF),
            (0x3000, 0x4FFF),
            (0x4E00, 0x9FFF),
            (0xA000, 0xD7FF),
            (0xE000, 0xFFFF),
            (0x10000, 0x10FFFF),
        ];
        loop {
            let (lo, hi) = RANGES[rng.below(RANGES.len() as u64) as usize];
            if let Some(c) = char::from_u32(lo + rng.below(u64::from(hi - lo + 1)) as u32) {
                return c;
            }
        }
    }

    fn random_texts() -> Vec<String> {
        let mut rng = Rng(0x5EED_0F_F00D);
        let mut texts = Vec::new();
        for len in 0..200 {
            for _ in 0..6 {
                let text: String = (0..len).map(|_| random_char(&mut rng)).collect();
                texts.push(text);
            }
            // Random bytes, read as UTF-8 (invalid sequences become U+FFFD).
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            texts.push(String::from_utf8_lossy(&bytes).into_owned());
            // Runs of one class, so that runs cross block boundaries.
            let c = random_char(&mut rng);
            let d = random_char(&mut rng);
            texts.push((0..len).map(|i| if i % 17 < 13 { c } else { d }).collect());
        }
        // Multi-byte characters straddling every position of a block boundary.
        for shift in 0..64 {
            for c in ['é', 'П', '日', 'の', '한', '👍', '\u{301}', '“', '７'] {
                let text = "a".repeat(shift) + &c.to_string().repeat(40) + "1x2'3 " + &"b".repeat(shift);
                texts.push(text);
            }
        }
        texts
    }

    #[test]
    fn scan_matches_the_definitions() {
        for text in random_texts() {
            assert_eq!(Features::scan_portable(&text), reference(&text), "{text:?}");
        }
    }

    /// Every alignment of each text against the 64-byte blocks: the SIMD scans (AVX-512 and AVX2
    /// where present), the portable scan and the definitions agree.
    #[test]
    fn simd_and_portable_scans_agree() {
        let texts = random_texts();
        for text in &texts {
            for skip in 0..text.len().min(70) {
                if text.is_char_boundary(skip) {
                    let t = &text[skip..];
                    let portable = Features::scan_portable(t);
                    assert_eq!(Features::scan(t), portable, "{t:?}");
                    for backend in ["avx512", "avx2"] {
                        if let Some(x) = Features::scan_with(backend, t) {
                            assert_eq!(x, portable, "{backend} {t:?}");
                        }
                    }
                }
            }
        }
        let long: String = texts.concat();
        assert_eq!(Features::scan(&long), reference(&long));
    }

    /// The AVX-512 scan takes whole groups of eight blocks together and the blocks after them
    /// one by one: every cut between 448 and 1200 bytes of mixed text, and runs of one class
    /// across the end of the first groups, give the same features as the portable scan.
    #[test]
    fn group_and_block_scans_agree_where_they_meet() {
        let long: String = random_texts().concat();
        let mut rng = Rng(7);
        let mut texts: Vec<String> =
            (448..1200).filter(|&n| long.is_char_boundary(n)).map(|n| long[..n].to_owned()).collect();
        for _ in 0..200 {
            let (c, d) = (random_char(&mut rng), random_char(&mut rng));
            let run: String = (0..300).map(|i| if i % 29 < 23 { c } else { d }).collect();
            let before = "x".repeat(380 + rng.below(140) as usize);
            texts.push(before.clone() + &run);
            texts.push("y".repeat(1000 + rng.below(30) as usize) + &run);
        }
        for t in &texts {
            let portable = Features::scan_portable(t);
            assert_eq!(Features::scan(t), portable, "{t:?}");
            for backend in ["avx512", "avx2"] {
                if let Some(x) = Features::scan_with(backend, t) {
                    assert_eq!(x, portable, "{backend} {t:?}");
                }
            }
        }
    }

    /// Random 65-byte buffers: every byte value, with runs of a few values so repeats happen.
    #[cfg(target_arch = "x86_64")]
    fn random_blocks() -> impl Iterator<Item = [u8; 65]> {
        let mut rng = Rng(42);
        (0..20_000).map(move |round| {
            let mut buf = [0u8; 65];
            for b in buf.iter_mut() {
                *b = if round % 3 == 0 { (rng.below(4) as u8) * 0x41 } else { rng.next() as u8 };
            }
            buf
        })
    }

    /// The masks themselves agree on arbitrary bytes, UTF-8 or not, for each SIMD
    /// classification this CPU has; and the AVX-512 scan agrees with the AVX2 one.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_and_portable_masks_agree_on_any_bytes() {
        if !has_avx2() {
            eprintln!("no AVX2: only the portable classification runs here");
            return;
        }
        let avx512 = backend() == 3;
        if !avx512 {
            eprintln!("no AVX-512: only the AVX2 classification is checked here");
        }
        let classifiers: [(&str, unsafe fn(*const u8) -> Masks); 2] =
            [("avx2", avx2::masks), ("avx512", avx512::masks)];
        for (name, masks) in &classifiers[..if avx512 { 2 } else { 1 }] {
            for buf in random_blocks() {
                let p = unsafe { buf.as_ptr().add(1) };
                let portable = unsafe { Portable::classify(p) };
                assert_eq!(unsafe { masks(p) }, portable, "{name}: {buf:?}");
            }
        }
        if avx512 {
            for text in random_texts() {
                assert_eq!(unsafe { avx512::scan(text.as_bytes()) }, unsafe { avx2::scan(text.as_bytes()) });
            }
        }
    }
}
