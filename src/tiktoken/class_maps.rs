//! Class bitmaps of a window of text, for the split scanners (`split.rs`).
//!
//! A scanner spends most of its time finding where a run of letters, numbers, white space or
//! other characters ends. Walking the characters one at a time costs a branch per character
//! and a missed prediction per run, since every word has its own length. Here one pass over a
//! window of text sets a bit per byte in one map per class, and the end of a run is the first
//! clear bit: a few instructions per run, whatever its length.
//!
//! The pass classifies 64 ASCII bytes at a time (AVX2 where the CPU has it; a portable path
//! gives the same maps, and a test compares them on every byte value). A non-ASCII character
//! is classified once, through `classes::of`, and its class covers all of its bytes, so a run
//! steps over them and ends on a character boundary.

// The SIMD kernels are `unsafe fn`s whose callers check the target features once; their
// bodies are intrinsics throughout, so they are not wrapped in `unsafe` blocks line by line.
#![allow(unsafe_op_in_unsafe_fn)]

use super::classes::{self, LETTER, LOWERISH, NUMBER, SPACE, UPPERISH};

/// Bytes of text one window maps.
pub(crate) const WINDOW: usize = 4096;
const WORDS: usize = WINDOW / 64;

/// The maps kept, in `ClassMaps::maps` order.
pub(super) const LETTERS: usize = 0;
pub(super) const NUMBERS: usize = 1;
pub(super) const SPACES: usize = 2;
pub(super) const UPPERS: usize = 3;
pub(super) const LOWERS: usize = 4;
/// `\r` and `\n`.
pub(super) const NEWLINES: usize = 5;
/// The space character itself.
pub(super) const BLANKS: usize = 6;
pub(super) const APOSTROPHES: usize = 7;
/// Bytes that continue a character (0x80 to 0xBF).
pub(super) const CONTINUATIONS: usize = 8;
const MAPS: usize = 9;

/// The flags of `classes` each map holds (the newline map has no flag: only ASCII bytes).
const FLAG_OF_MAP: [u8; 5] = [LETTER, NUMBER, SPACE, UPPERISH, LOWERISH];

/// A class whose runs the maps find.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Class {
    /// `\p{L}`.
    Letter,
    /// `\p{N}`.
    Number,
    /// `\s`.
    Space,
    /// o200k's `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`.
    Upperish,
    /// o200k's `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`.
    Lowerish,
    /// `[^\s\p{L}\p{N}]`.
    Other,
}

/// The bitmaps of `text[start..end]`: bit `j` of word `k` of a map is byte `start + 64k + j`.
pub(crate) struct ClassMaps {
    start: usize,
    /// A character boundary, at most `WINDOW` bytes after `start`; `start == end` maps nothing.
    end: usize,
    /// One more word than a window needs: a character that ends past a word sets bits in the
    /// next one.
    maps: [[u64; WORDS + 1]; MAPS],
}

/// The masks of one block of 64 bytes.
#[derive(Debug, PartialEq, Eq, Default, Clone, Copy)]
struct Block {
    /// Per map, the bytes in it by their own value (ASCII classes, continuation bytes).
    ascii: [u64; MAPS],
    /// Bytes that start a multi-byte character (0xC0 and up).
    lead: u64,
}

impl ClassMaps {
    /// Maps of nothing: every run is left to the caller.
    pub(crate) const EMPTY: ClassMaps = ClassMaps { start: 0, end: 0, maps: [[0; WORDS + 1]; MAPS] };

    pub(crate) fn new() -> Self {
        Self::EMPTY
    }

    /// Where the mapped window ends.
    #[inline(always)]
    pub(crate) fn end(&self) -> usize {
        self.end
    }

    /// Where the mapped window starts.
    #[inline(always)]
    pub(crate) fn start(&self) -> usize {
        self.start
    }

    /// Word `k` of a map: bytes `start + 64k ..`, clear past the window's end (`k` at most
    /// the window's words).
    #[inline(always)]
    pub(super) fn word(&self, map: usize, k: usize) -> u64 {
        self.maps[map][k]
    }

    /// Maps the text from `from` (a character boundary) for at most `window` bytes (at least 4,
    /// so that a window always holds a whole character).
    pub(crate) fn fill(&mut self, text: &[u8], from: usize, window: usize) {
        debug_assert!((4..=WINDOW).contains(&window));
        let mut end = (from + window).min(text.len());
        while end < text.len() && end > from && text[end] & 0xC0 == 0x80 {
            end -= 1;
        }
        self.start = from;
        self.end = end;
        fill_maps(self, text);
    }

    /// The end of the run of `class` from `i`: `Ok(end)` when the run ends inside the window,
    /// else `Err(at)`, where the caller goes on one character at a time (`i` itself when it is
    /// outside the window, or the window's end).
    #[inline(always)]
    pub(crate) fn run_end(&self, i: usize, class: Class) -> Result<usize, usize> {
        if i < self.start || i >= self.end {
            return Err(i);
        }
        let len = self.end - self.start;
        let rel = i - self.start;
        let mut k = rel / 64;
        let mut stop = self.stop_word(k, class) & (!0u64 << (rel % 64));
        loop {
            if stop != 0 {
                let e = k * 64 + stop.trailing_zeros() as usize;
                return if e < len { Ok(self.start + e) } else { Err(self.end) };
            }
            k += 1;
            if k * 64 >= len {
                return Err(self.end);
            }
            stop = self.stop_word(k, class);
        }
    }

    /// The bytes of word `k` where a run of `class` stops.
    #[inline(always)]
    fn stop_word(&self, k: usize, class: Class) -> u64 {
        let m = &self.maps;
        match class {
            Class::Letter => !m[LETTERS][k],
            Class::Number => !m[NUMBERS][k],
            Class::Space => !m[SPACES][k],
            Class::Upperish => !m[UPPERS][k],
            Class::Lowerish => !m[LOWERS][k],
            Class::Other => m[LETTERS][k] | m[NUMBERS][k] | m[SPACES][k],
        }
    }

    /// Whether `[from, to)` lies in the window.
    #[inline(always)]
    pub(crate) fn covers(&self, from: usize, to: usize) -> bool {
        self.start <= from && to <= self.end
    }

    /// The last byte of `[from, to)` (inside the window: `covers`) in the map, if any.
    #[inline(always)]
    fn last_in(&self, map: usize, from: usize, to: usize) -> Option<usize> {
        debug_assert!(self.covers(from, to));
        if from >= to {
            return None;
        }
        let (lo, hi) = (from - self.start, to - self.start);
        let mut k = (hi - 1) / 64;
        // Bits below `hi` in its word.
        let mut word = self.maps[map][k] & (!0u64 >> (63 - (hi - 1) % 64));
        loop {
            if k == lo / 64 {
                word &= !0u64 << (lo % 64);
            }
            if word != 0 {
                return Some(self.start + k * 64 + 63 - word.leading_zeros() as usize);
            }
            if k == lo / 64 {
                return None;
            }
            k -= 1;
            word = self.maps[map][k];
        }
    }

    /// The last `\r` or `\n` in `[from, to)` (inside the window).
    #[inline(always)]
    pub(crate) fn last_newline(&self, from: usize, to: usize) -> Option<usize> {
        self.last_in(NEWLINES, from, to)
    }

    /// The end of the last o200k lower-case-like character in `[from, to)` (inside the window,
    /// both character boundaries): every byte of a character has its bits, so the last byte
    /// found is the last of its character.
    #[inline(always)]
    pub(crate) fn end_of_last_lowerish(&self, from: usize, to: usize) -> Option<usize> {
        self.last_in(LOWERS, from, to).map(|last| last + 1)
    }
}

/// The character at `i` of valid UTF-8 and its length.
#[inline(always)]
fn char_at(b: &[u8], i: usize) -> (char, usize) {
    let cont = |k: usize| (b[i + k] & 0x3f) as u32;
    let b0 = b[i] as u32;
    let (code, len) = if b0 < 0xe0 {
        (((b0 & 0x1f) << 6) | cont(1), 2)
    } else if b0 < 0xf0 {
        (((b0 & 0x0f) << 12) | (cont(1) << 6) | cont(2), 3)
    } else {
        (((b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3), 4)
    };
    (char::from_u32(code).unwrap_or('\u{fffd}'), len)
}

fn fill_maps(maps: &mut ClassMaps, text: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        unsafe { avx2::fill(maps, text) };
        return;
    }
    fill_with(maps, text, portable_block);
}

/// The shared pass: `classify` gives the ASCII masks of 64 bytes (zero-padded past the text).
#[inline(always)]
fn fill_with(maps: &mut ClassMaps, text: &[u8], classify: impl Fn(&[u8; 64]) -> Block) {
    let (start, end) = (maps.start, maps.end);
    let len = end - start;
    let blocks = len.div_ceil(64);
    let mut carry = [0u64; MAPS];
    let mut padded;
    for k in 0..blocks {
        let at = start + 64 * k;
        let block: &[u8; 64] = match text.get(at..at + 64).and_then(|bytes| bytes.try_into().ok()) {
            Some(bytes) => bytes,
            None => {
                let n = text.len() - at;
                padded = [0; 64];
                padded[..n].copy_from_slice(&text[at..]);
                &padded
            }
        };
        let rest = len - 64 * k;
        let valid = if rest >= 64 { !0u64 } else { (1u64 << rest) - 1 };
        let masks = classify(block);
        let mut words: [u64; MAPS] = std::array::from_fn(|m| (masks.ascii[m] & valid) | carry[m]);
        carry = [0; MAPS];
        let mut leads = masks.lead & valid;
        while leads != 0 {
            let j = leads.trailing_zeros() as usize;
            leads &= leads - 1;
            let (c, n) = char_at(text, at + j);
            let flags = classes::of(c);
            let span = ((1u128 << n) - 1) << j;
            for (m, &flag) in FLAG_OF_MAP.iter().enumerate() {
                if flags & flag != 0 {
                    words[m] |= span as u64;
                    carry[m] |= (span >> 64) as u64;
                }
            }
        }
        for (map, word) in maps.maps.iter_mut().zip(words) {
            map[k] = word;
        }
    }
    // A character ends by `end`, so nothing carries past the last block; the word after it
    // is read by no run (they stop at `end`).
    for m in 0..MAPS {
        maps.maps[m][blocks] = 0;
    }
}

/// The map bits of each byte value: bit `m` for map `m`, and bit 15 for a lead byte.
const BYTE_BITS: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let mut bits = 0u16;
        if c.is_ascii_alphabetic() {
            bits |= 1 << LETTERS;
        }
        if c.is_ascii_digit() {
            bits |= 1 << NUMBERS;
        }
        if matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            bits |= 1 << SPACES;
        }
        if c.is_ascii_uppercase() {
            bits |= 1 << UPPERS;
        }
        if c.is_ascii_lowercase() {
            bits |= 1 << LOWERS;
        }
        if c == b'\n' || c == b'\r' {
            bits |= 1 << NEWLINES;
        }
        if c == b' ' {
            bits |= 1 << BLANKS;
        }
        if c == b'\'' {
            bits |= 1 << APOSTROPHES;
        }
        if c & 0xC0 == 0x80 {
            bits |= 1 << CONTINUATIONS;
        }
        if c >= 0xC0 {
            bits |= 1 << 15;
        }
        t[b] = bits;
        b += 1;
    }
    t
};

/// The portable classification, one byte at a time.
fn portable_block(block: &[u8; 64]) -> Block {
    let mut out = Block::default();
    for (j, &b) in block.iter().enumerate() {
        let bits = BYTE_BITS[b as usize];
        for m in 0..MAPS {
            out.ascii[m] |= u64::from(bits >> m & 1) << j;
        }
        out.lead |= u64::from(bits >> 15) << j;
    }
    out
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{
        Block, ClassMaps, APOSTROPHES, BLANKS, CONTINUATIONS, LETTERS, LOWERS, MAPS, NEWLINES, NUMBERS, SPACES, UPPERS,
    };
    use core::arch::x86_64::*;

    /// Bytes in `lo..=hi` (both below 0x80; bytes from 0x80 are negative and never in it).
    #[inline(always)]
    unsafe fn range(v: __m256i, lo: u8, hi: u8) -> __m256i {
        _mm256_and_si256(
            _mm256_cmpgt_epi8(v, _mm256_set1_epi8(lo as i8 - 1)),
            _mm256_cmpgt_epi8(_mm256_set1_epi8(hi as i8 + 1), v),
        )
    }

    #[inline(always)]
    unsafe fn eq(v: __m256i, b: u8) -> __m256i {
        _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b as i8))
    }

    #[inline(always)]
    unsafe fn half(v: __m256i) -> [u32; MAPS + 1] {
        let mask = |m: __m256i| _mm256_movemask_epi8(m) as u32;
        let folded = _mm256_or_si256(v, _mm256_set1_epi8(0x20));
        let mut out = [0u32; MAPS + 1];
        out[LETTERS] = mask(range(folded, b'a', b'z'));
        out[NUMBERS] = mask(range(v, b'0', b'9'));
        out[SPACES] = mask(_mm256_or_si256(range(v, 0x09, 0x0D), eq(v, b' ')));
        out[UPPERS] = mask(range(v, b'A', b'Z'));
        out[LOWERS] = mask(range(v, b'a', b'z'));
        out[NEWLINES] = mask(_mm256_or_si256(eq(v, b'\n'), eq(v, b'\r')));
        out[BLANKS] = mask(eq(v, b' '));
        out[APOSTROPHES] = mask(eq(v, b'\''));
        // 0x80 to 0xBF: -128..=-65 as signed bytes.
        out[CONTINUATIONS] = mask(_mm256_cmpgt_epi8(_mm256_set1_epi8(-64), v));
        // 0xC0 and up: -64..=-1 as signed bytes.
        out[MAPS] =
            mask(_mm256_cmpgt_epi8(_mm256_setzero_si256(), v)) & mask(_mm256_cmpgt_epi8(v, _mm256_set1_epi8(-65)));
        out
    }

    #[inline(always)]
    unsafe fn block(bytes: &[u8; 64]) -> Block {
        let p = bytes.as_ptr();
        // SAFETY: 64 readable bytes.
        let (lo, hi) = unsafe {
            (half(_mm256_loadu_si256(p as *const __m256i)), half(_mm256_loadu_si256(p.add(32) as *const __m256i)))
        };
        let join = |m: usize| u64::from(lo[m]) | u64::from(hi[m]) << 32;
        let mut ascii = [0u64; MAPS];
        for (m, word) in ascii.iter_mut().enumerate() {
            *word = join(m);
        }
        Block { ascii, lead: join(MAPS) }
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn fill(maps: &mut ClassMaps, text: &[u8]) {
        // SAFETY: the caller has checked for AVX2, which `block` needs.
        super::fill_with(maps, text, |b| unsafe { block(b) })
    }

    #[cfg(test)]
    pub(super) fn classify(bytes: &[u8; 64]) -> Option<Block> {
        // SAFETY: only called when the CPU has AVX2.
        std::arch::is_x86_feature_detected!("avx2").then(|| unsafe { classify_avx2(bytes) })
    }

    #[cfg(test)]
    #[target_feature(enable = "avx2")]
    unsafe fn classify_avx2(bytes: &[u8; 64]) -> Block {
        unsafe { block(bytes) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 masks equal the portable ones for every byte value at every position.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_classifies_like_the_portable_path() {
        let mut block = [0u8; 64];
        for shift in 0..4usize {
            for (j, b) in block.iter_mut().enumerate() {
                *b = (j * 4 + shift) as u8;
            }
            let Some(fast) = avx2::classify(&block) else {
                eprintln!("no AVX2 on this CPU: only the portable path runs");
                return;
            };
            assert_eq!(fast, portable_block(&block), "bytes {shift} mod 4");
        }
    }

    /// Each map bit is the class of the character the byte belongs to.
    #[test]
    fn maps_hold_each_characters_class_on_all_its_bytes() {
        let text = "Hé said: «١٢٣ 中文» \u{3000}\tok\r\n𝐀b ǅx 😀 it's";
        let b = text.as_bytes();
        let mut maps = ClassMaps::new();
        maps.fill(b, 0, WINDOW);
        assert_eq!(maps.end(), b.len());
        for (start, c) in text.char_indices() {
            let flags = classes::of(c);
            for i in start..start + c.len_utf8() {
                let bit = |m: usize| maps.maps[m][i / 64] >> (i % 64) & 1 == 1;
                for (m, &flag) in FLAG_OF_MAP.iter().enumerate() {
                    assert_eq!(bit(m), flags & flag != 0, "{c:?} byte {i} map {m}");
                }
                assert_eq!(bit(NEWLINES), c == '\n' || c == '\r');
                assert_eq!(bit(BLANKS), c == ' ');
                assert_eq!(bit(APOSTROPHES), c == '\'');
                assert_eq!(bit(CONTINUATIONS), i > start);
            }
        }
    }

    /// Runs found in the maps are the runs found one character at a time, for windows of every
    /// size over text that mixes scripts and classes.
    #[test]
    fn runs_match_a_walk_over_the_characters() {
        let atoms = ["a", "Zé", "中文", "٣", "7", " ", "\n", "\u{3000}", ",", "😀", "ǅ", "ʰ", "\u{301}"];
        let mut x = 0x9e37_79b9u64;
        let mut text = String::new();
        while text.len() < 3 * WINDOW {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            text.push_str(atoms[(x % atoms.len() as u64) as usize]);
        }
        let b = text.as_bytes();
        let classes = [Class::Letter, Class::Number, Class::Space, Class::Upperish, Class::Lowerish, Class::Other];
        let member = |class: Class, c: char| {
            let f = classes::of(c);
            match class {
                Class::Letter => f & LETTER != 0,
                Class::Number => f & NUMBER != 0,
                Class::Space => f & SPACE != 0,
                Class::Upperish => f & UPPERISH != 0,
                Class::Lowerish => f & LOWERISH != 0,
                Class::Other => f & (LETTER | NUMBER | SPACE) == 0,
            }
        };
        let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        for window in [4usize, 5, 63, 64, 65, 200, WINDOW] {
            let mut maps = ClassMaps::new();
            for &from in starts.iter().step_by(97) {
                maps.fill(b, from, window);
                assert!(maps.end() > from && text.is_char_boundary(maps.end()));
                for &i in starts.iter().filter(|&&i| i >= from).take(40) {
                    for class in classes {
                        let walked =
                            text[i..].char_indices().find(|&(_, c)| !member(class, c)).map_or(b.len(), |(k, _)| i + k);
                        match maps.run_end(i, class) {
                            Ok(end) => assert_eq!(end, walked, "{class:?} from {i}, window {from}+{window}"),
                            Err(at) if i >= maps.end() => assert_eq!(at, i),
                            Err(at) => {
                                assert_eq!(at, maps.end());
                                assert!(walked >= maps.end(), "{class:?} from {i} ends at {walked}");
                            }
                        }
                    }
                    let to = starts.iter().copied().filter(|&t| t > i && t <= maps.end()).nth(5);
                    if let Some(to) = to {
                        let nl = text[i..to].rfind(['\n', '\r']).map(|k| i + k);
                        assert_eq!(maps.last_newline(i, to), nl);
                        let low = text[i..to]
                            .char_indices()
                            .rfind(|&(_, c)| classes::of(c) & LOWERISH != 0)
                            .map(|(k, c)| i + k + c.len_utf8());
                        assert_eq!(maps.end_of_last_lowerish(i, to), low);
                    }
                }
            }
        }
    }
}
