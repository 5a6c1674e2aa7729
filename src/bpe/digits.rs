//! The tokens made of ASCII digits after at most one space, for long runs of
//! digits.
//!
//! r50k and p50k split digits as ` ?\p{N}+`, so a megabyte of digits is one piece. Every
//! substring of such a piece is again at most one space followed by digits, so its encoding
//! uses these tokens only (under 2,000 of them). Random digits give about a million different
//! pairs of neighbouring tokens, too many for the pair memo, so every pair check looks up the
//! ranks of joined digit strings, and the lengths and splits of the tokens it meets. In the
//! general tables, each costs a hash or a cache miss into megabytes. Here the digit tokens get
//! their own ids, numbered in rank order (so that comparing ids compares ranks), with their
//! lengths, splits and shorter prefixes in one small array; a string of at most three digits is
//! a direct index into an array of about 9 KB, and longer ones go through a small hash table
//! keyed by their value. Everything stays in the core's cache.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::ranks::{RankMap, NO_RANK};

/// Digit strings of up to this many digits are indexed directly.
const DENSE_DIGITS: usize = 3;
/// Entries per leading-space flag: the digit strings of 0 to 3 digits.
const DENSE_LEN: usize = 1111;
/// Above this many digits, a value no longer fits the hash table's keys; no OpenAI table has
/// such a token (r50k's longest is 16 digits).
const MAX_DIGITS: usize = 18;
/// `longest` reads this many digits at once.
const WINDOW_DIGITS: usize = 4;
const WINDOW_CONTINUES: u16 = 1 << 15;

/// What a digit string is: its id (`NO_RANK` if it is no token) and whether a longer token
/// begins with it.
#[derive(Clone, Copy)]
struct Entry {
    id: u32,
    begins_longer: bool,
}

const NONE: Entry = Entry { id: NO_RANK, begins_longer: false };

/// A digit token, by id: what `Backtracker` keeps by rank, in ids.
#[derive(Clone, Copy)]
pub(crate) struct DigitToken {
    pub(crate) len: u32,
    /// `Backtracker::split`: `[id, id]` for a single byte.
    pub(crate) split: [u32; 2],
    /// `Backtracker::shorter`: `NO_RANK` for a single byte.
    pub(crate) shorter: u32,
    /// The token's row and column in `known_pairs`; `NO_RANK` for tokens with a space, which
    /// only begin a piece and so rarely meet a pair check.
    plain: u32,
}

pub(crate) struct DigitRanks {
    /// By id.
    pub(crate) tokens: Box<[DigitToken]>,
    /// Strings of at most `DENSE_DIGITS` digits, at `space * DENSE_LEN + (10^len - 1) / 9 +
    /// value`. With no space and no digit, the empty string: never a token.
    dense: Box<[Entry]>,
    /// Longer strings: `(key, entry)`, with `key == u64::MAX` for a free slot. Every prefix of a
    /// longer digit token is here, with `NO_RANK` when it is no token itself.
    long: Box<[(u64, Entry)]>,
    /// The most digits in a token.
    max_digits: usize,
    /// Tokens of digits only (no space).
    plain_tokens: usize,
    /// By the value of four digits: the id of the longest token they begin with, and
    /// `WINDOW_CONTINUES` if a token of more digits begins with all four.
    window: Box<[u16]>,
    /// Pair checks of two tokens of digits only, two bits each (0: not checked yet, 1: they
    /// do not pair, 2: they pair), shared by all threads: whether two tokens pair depends on
    /// them alone. Random digits meet about a million different pairs, too many for a memo
    /// but not for a table of 2 bits each (about 240 KB for r50k, allocated with the first
    /// long piece of digits). Racing writers write the same bits.
    known_pairs: OnceLock<Box<[AtomicU64]>>,
}

/// The key of a digit string in `long`: its value, its length and the space flag.
#[inline(always)]
fn long_key(space: bool, len: usize, value: u64) -> u64 {
    value << 6 | (len as u64) << 1 | space as u64
}

#[inline(always)]
fn dense_index(space: bool, len: usize, value: u64) -> usize {
    const OFFSET: [usize; DENSE_DIGITS + 1] = [0, 1, 11, 111];
    space as usize * DENSE_LEN + OFFSET[len] + value as usize
}

/// A slot of the long table for `key`.
#[inline(always)]
fn long_slot(key: u64, mask: usize) -> usize {
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & mask
}

impl DigitRanks {
    /// The digit tokens of a table, given each rank's split and shorter prefix, or `None` if it
    /// has none beyond single digits (then no piece needs this) or one too long for the keys.
    pub(crate) fn build(ranks: &RankMap, split: &[[u32; 2]], shorter: &[u32]) -> Option<DigitRanks> {
        let mut tokens = Vec::new();
        for r in 0..ranks.rank_limit() as u32 {
            let token = ranks.token(r);
            let space = token.first() == Some(&b' ');
            let digits = &token[space as usize..];
            if !token.is_empty() && digits.iter().all(u8::is_ascii_digit) {
                if digits.len() > MAX_DIGITS {
                    return None;
                }
                tokens.push((space, digits, r));
            }
        }
        let max_digits = tokens.iter().map(|(_, d, _)| d.len()).max().unwrap_or(0);
        if max_digits <= 1 {
            return None;
        }
        // At most this many strings go to the long table: the prefixes of its tokens. A quarter
        // full, so that a probe ends at the first or second slot.
        let long_strings: usize = tokens.iter().map(|(_, d, _)| d.len().saturating_sub(DENSE_DIGITS)).sum();
        let slots = (4 * long_strings).next_power_of_two().max(16);
        let mut table = DigitRanks {
            tokens: Box::default(),
            plain_tokens: 0,
            window: Box::default(),
            known_pairs: OnceLock::new(),
            dense: vec![NONE; 2 * DENSE_LEN].into_boxed_slice(),
            long: vec![(u64::MAX, NONE); slots].into_boxed_slice(),
            max_digits,
        };
        // Ids in rank order: `tokens` is.
        for (id, &(space, digits, _)) in tokens.iter().enumerate() {
            let id = id as u32;
            if digits.is_empty() {
                // The space alone.
                table.dense[dense_index(true, 0, 0)].id = id;
            }
            let mut value = 0;
            for (i, &d) in digits.iter().enumerate() {
                value = value * 10 + u64::from(d - b'0');
                let entry = table.entry_mut(space, i + 1, value);
                if i + 1 == digits.len() {
                    entry.id = id;
                } else {
                    entry.begins_longer = true;
                }
            }
            if space {
                // The space alone begins this token.
                table.dense[dense_index(true, 0, 0)].begins_longer = true;
            }
        }
        // Splits and prefixes of a digit token are digit tokens: substrings of one.
        let id_of = |rank: u32| if rank == NO_RANK { Some(NO_RANK) } else { table.id_of_token(ranks.token(rank)) };
        // Rows and columns of `known_pairs` in the order of the digit strings, so that the
        // candidates at one position (prefixes of one another) share a cache line of a row.
        let mut plain_order: Vec<usize> = (0..tokens.len()).filter(|&i| !tokens[i].0).collect();
        plain_order.sort_by_key(|&i| tokens[i].1);
        let mut plain = vec![NO_RANK; tokens.len()];
        for (row, &i) in plain_order.iter().enumerate() {
            plain[i] = row as u32;
        }
        let by_id: Option<Vec<DigitToken>> = tokens
            .iter()
            .zip(&plain)
            .map(|(&(_, _, rank), &plain)| {
                let [left, right] = split[rank as usize];
                Some(DigitToken {
                    len: ranks.token_len(rank) as u32,
                    split: [id_of(left)?, id_of(right)?],
                    shorter: id_of(shorter[rank as usize])?,
                    plain,
                })
            })
            .collect();
        table.tokens = by_id?.into_boxed_slice();
        table.plain_tokens = plain_order.len();
        // The longest token in every four digits.
        if tokens.len() >= WINDOW_CONTINUES as usize {
            return None;
        }
        table.window = (0..10_000u32)
            .map(|v| {
                let four = format!("{v:0width$}", width = WINDOW_DIGITS);
                let (best, continues) = table.walk(false, four.as_bytes(), 0, 0, NO_RANK);
                best as u16 | if continues { WINDOW_CONTINUES } else { 0 }
            })
            .collect();
        Some(table)
    }

    /// The slot of `key` in `long`: where it is, or the free slot where it would go.
    #[inline(always)]
    fn probe(&self, key: u64) -> usize {
        let mask = self.long.len() - 1;
        let mut i = long_slot(key, mask);
        while self.long[i].0 != u64::MAX && self.long[i].0 != key {
            i = (i + 1) & mask;
        }
        i
    }

    fn entry_mut(&mut self, space: bool, len: usize, value: u64) -> &mut Entry {
        if len <= DENSE_DIGITS {
            return &mut self.dense[dense_index(space, len, value)];
        }
        let key = long_key(space, len, value);
        let i = self.probe(key);
        self.long[i].0 = key;
        &mut self.long[i].1
    }

    /// `NONE` for a string that is no token and begins none (a free slot holds `NONE`).
    #[inline(always)]
    fn entry(&self, space: bool, len: usize, value: u64) -> Entry {
        if len <= DENSE_DIGITS {
            return self.dense[dense_index(space, len, value)];
        }
        self.long[self.probe(long_key(space, len, value))].1
    }

    /// Whether `piece` is at most one space followed by ASCII digits only.
    pub(crate) fn covers(piece: &[u8]) -> bool {
        let digits = piece.strip_prefix(b" ").unwrap_or(piece);
        !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
    }

    /// The id of `bytes`, a substring of a piece this table covers, or `NO_RANK`.
    #[inline(always)]
    pub(crate) fn id(&self, bytes: &[u8]) -> u32 {
        let space = bytes[0] == b' ';
        let digits = &bytes[space as usize..];
        if digits.len() > self.max_digits {
            return NO_RANK;
        }
        let value = digits.iter().fold(0u64, |v, &d| v * 10 + u64::from(d - b'0'));
        self.entry(space, digits.len(), value).id
    }

    /// The id of any byte string that is a digit token, `None` if it is not one.
    fn id_of_token(&self, bytes: &[u8]) -> Option<u32> {
        let digits = bytes.strip_prefix(b" ").unwrap_or(bytes);
        let id = if digits.is_empty() {
            self.dense[dense_index(true, 0, 0)].id
        } else if digits.len() <= self.max_digits && digits.iter().all(u8::is_ascii_digit) {
            self.id(bytes)
        } else {
            NO_RANK
        };
        (id != NO_RANK).then_some(id)
    }

    /// The id of the longest token at the start of `rest` (not empty), a suffix of a piece this table
    /// covers; the same contract as `Backtracker::longest`, with 0 for "decided by" (the
    /// encoder then always searches again, which is cheap here).
    #[inline(always)]
    pub(crate) fn longest(&self, rest: &[u8]) -> (u32, usize) {
        let space = rest[0] == b' ';
        let digits = &rest[space as usize..];
        let mut best = if space { self.dense[dense_index(true, 0, 0)].id } else { NO_RANK };
        let mut value = 0u64;
        let mut from = 0;
        if let (false, Some(four)) = (space, digits.first_chunk::<WINDOW_DIGITS>()) {
            value = four.iter().fold(0, |v, &d| v * 10 + u64::from(d - b'0'));
            let window = self.window[value as usize];
            best = u32::from(window & !WINDOW_CONTINUES);
            if window & WINDOW_CONTINUES == 0 {
                return (best, 0);
            }
            from = WINDOW_DIGITS;
        }
        (self.walk(space, digits, from, value, best).0, 0)
    }

    /// The search for the longest token, over `digits[from..]` (after the space if `space`):
    /// `value` is that of `digits[..from]` and `best` the longest token found in it. Returns the
    /// longest token, and whether a longer token begins with every digit read.
    #[inline(always)]
    fn walk(&self, space: bool, digits: &[u8], from: usize, mut value: u64, mut best: u32) -> (u32, bool) {
        for (i, &d) in digits.iter().enumerate().take(self.max_digits).skip(from) {
            value = value * 10 + u64::from(d - b'0');
            let entry = self.entry(space, i + 1, value);
            if entry.id != NO_RANK {
                best = entry.id;
            }
            if !entry.begins_longer {
                return (best, false);
            }
        }
        (best, true)
    }

    /// The shared pair checks, allocated on first use.
    #[inline(always)]
    pub(crate) fn known_pairs(&self) -> KnownPairs<'_> {
        let bits = self.known_pairs.get_or_init(|| {
            let entries = self.plain_tokens * self.plain_tokens;
            (0..entries.div_ceil(32)).map(|_| AtomicU64::new(0)).collect()
        });
        KnownPairs { digits: self, bits }
    }
}

/// The shared pair checks of a `DigitRanks`, looked up once per piece.
pub(crate) struct KnownPairs<'a> {
    digits: &'a DigitRanks,
    bits: &'a [AtomicU64],
}

impl KnownPairs<'_> {
    /// Where the check of `left` then `right` is kept, if it is.
    #[inline(always)]
    fn slot(&self, left: u32, right: u32) -> Option<(usize, u32)> {
        let tokens = &self.digits.tokens;
        let (l, r) = (tokens[left as usize].plain, tokens[right as usize].plain);
        if l == NO_RANK || r == NO_RANK {
            return None;
        }
        let at = l as usize * self.digits.plain_tokens + r as usize;
        Some((at / 32, (at % 32) as u32 * 2))
    }

    /// Whether `left` then `right` pair, if checked before.
    #[inline(always)]
    pub(crate) fn recall(&self, left: u32, right: u32) -> Option<bool> {
        let (word, shift) = self.slot(left, right)?;
        match self.bits[word].load(Ordering::Relaxed) >> shift & 3 {
            0 => None,
            bits => Some(bits == 2),
        }
    }

    /// Keeps a pair check for `recall`.
    #[inline(always)]
    pub(crate) fn remember(&self, left: u32, right: u32, pairs: bool) {
        if let Some((word, shift)) = self.slot(left, right) {
            self.bits[word].fetch_or((1 + pairs as u64) << shift, Ordering::Relaxed);
        }
    }
}
