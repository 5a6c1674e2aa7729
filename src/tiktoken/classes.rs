//! The Unicode character classes the split patterns test, as one byte of flags per character.
//!
//! The sets come from `regex-syntax`, the Unicode tables behind the regex engines that tiktoken
//! (Python and tiktoken-rs) split with, so a class here is exactly the pattern's `\p{..}` class.
//! The Basic Multilingual Plane is a flat table (64 KiB, built once on first use); the few
//! classified characters above it are found by binary search over ranges.

use std::sync::LazyLock;

use regex_syntax::hir::{Class, HirKind};

/// `\p{L}`.
pub(crate) const LETTER: u8 = 1;
/// `\p{N}`.
pub(crate) const NUMBER: u8 = 2;
/// `\s` (Unicode White_Space).
pub(crate) const SPACE: u8 = 4;
/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`: o200k's upper-case-like word characters.
pub(crate) const UPPERISH: u8 = 8;
/// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`: o200k's lower-case-like word characters.
pub(crate) const LOWERISH: u8 = 16;

/// `\w` as the Rust regex crate has it (Alphabetic, marks, decimal numbers, connector
/// punctuation, join controls): the `Whitespace` pre-tokenizer of `tokenizer.json` files.
pub(crate) const WORD: u8 = 32;

const SETS: [(u8, &str); 6] = [
    (LETTER, r"\p{L}"),
    (NUMBER, r"\p{N}"),
    (SPACE, r"\s"),
    (UPPERISH, r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"),
    (LOWERISH, r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"),
    (WORD, r"\w"),
];

struct Tables {
    bmp: Box<[u8; 0x10000]>,
    /// Classified ranges above the BMP: (first, last, flags), sorted and disjoint.
    astral: Vec<(u32, u32, u8)>,
}

static TABLES: LazyLock<Tables> = LazyLock::new(build);

/// Flags of the ASCII characters, available without touching the lazy table.
static ASCII: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        t[c] = if b.is_ascii_uppercase() {
            LETTER | UPPERISH | WORD
        } else if b.is_ascii_lowercase() {
            LETTER | LOWERISH | WORD
        } else if b.is_ascii_digit() {
            NUMBER | WORD
        } else if b == b'_' {
            WORD
        } else if matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            SPACE
        } else {
            0
        };
        c += 1;
    }
    t
};

/// The flags of an ASCII byte.
#[inline(always)]
pub(crate) fn ascii(b: u8) -> u8 {
    ASCII[(b & 0x7f) as usize]
}

/// The flags of a character.
#[inline]
pub(crate) fn of(c: char) -> u8 {
    let c = c as u32;
    if c < 0x80 {
        ASCII[c as usize]
    } else if c < 0x10000 {
        TABLES.bmp[c as usize]
    } else {
        let astral = &TABLES.astral;
        match astral.binary_search_by(|&(first, last, _)| {
            if last < c {
                std::cmp::Ordering::Less
            } else if first > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        }) {
            Ok(i) => astral[i].2,
            Err(_) => 0,
        }
    }
}

/// The class's ranges as `regex-syntax` parses it.
fn ranges(pattern: &str) -> Vec<(u32, u32)> {
    // The patterns are constants; a failure here is a bug in this file, caught by every test.
    let hir = regex_syntax::parse(pattern).expect("built-in class parses");
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => {
            class.ranges().iter().map(|r| (r.start() as u32, r.end() as u32)).collect()
        }
        other => panic!("{pattern} is not a Unicode class: {other:?}"),
    }
}

fn build() -> Tables {
    let mut bmp = Box::new([0u8; 0x10000]);
    // Astral flags by boundary: each range adds its flag from `first` to `last`.
    let mut astral_points: Vec<(u32, u32, u8)> = Vec::new();
    for (flag, pattern) in SETS {
        for (first, last) in ranges(pattern) {
            for c in first..=last.min(0xffff) {
                bmp[c as usize] |= flag;
            }
            if last >= 0x10000 {
                astral_points.push((first.max(0x10000), last, flag));
            }
        }
    }
    // Merge the per-flag ranges into disjoint ranges carrying the union of their flags.
    let mut cuts: Vec<u32> = astral_points.iter().flat_map(|&(f, l, _)| [f, l + 1]).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut astral: Vec<(u32, u32, u8)> = Vec::new();
    for w in cuts.windows(2) {
        let (first, last) = (w[0], w[1] - 1);
        let flags =
            astral_points.iter().filter(|&&(f, l, _)| f <= first && last <= l).fold(0, |acc, &(_, _, fl)| acc | fl);
        if flags == 0 {
            continue;
        }
        match astral.last_mut() {
            Some(prev) if prev.1 + 1 == first && prev.2 == flags => prev.1 = last,
            _ => astral.push((first, last, flags)),
        }
    }
    astral.shrink_to_fit();
    Tables { bmp, astral }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_table_matches_the_unicode_sets() {
        for c in 0u8..128 {
            assert_eq!(ascii(c), TABLES.bmp[c as usize], "{c:#x}");
        }
    }

    #[test]
    fn every_character_matches_regex_syntax() {
        let sets: Vec<(u8, Vec<(u32, u32)>)> = SETS.iter().map(|&(f, p)| (f, ranges(p))).collect();
        for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
            let expected = sets
                .iter()
                .filter(|(_, r)| {
                    let i = r.partition_point(|&(_, last)| last < c as u32);
                    i < r.len() && r[i].0 <= c as u32
                })
                .fold(0, |acc, (f, _)| acc | f);
            assert_eq!(of(c), expected, "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn white_space_is_the_standard_library_s() {
        for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
            assert_eq!(of(c) & SPACE != 0, c.is_whitespace(), "U+{:04X}", c as u32);
        }
    }
}
