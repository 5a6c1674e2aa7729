//! Byte-pair merging, counting only.
//!
//! tiktoken's rule: start from single bytes and repeatedly merge the adjacent pair whose joined
//! bytes have the lowest rank, the leftmost one on ties, until no adjacent pair is a token. The
//! number of parts left is the token count. Short pieces use a scan over a small array on the
//! stack. Longer ones normally go to the linear backtracking encoder (`backtrack.rs`); the heap
//! here serves them for a table that encoder does not accept, and checks it in tests: O(n log n)
//! instead of tiktoken's O(n^2).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

pub(crate) use super::ranks::RankMap;
use super::ranks::NO_RANK;

/// Pieces up to this many bytes are merged on the stack (a boundary per bit of a `u64`).
const SMALL_PIECE: usize = 63;

/// The number of tokens tiktoken's byte-pair merge gives `piece`.
pub(crate) fn count_piece(piece: &[u8], ranks: &RankMap) -> usize {
    if piece.len() <= 1 || ranks.contains(piece) {
        return piece.len().min(1);
    }
    if piece.len() <= SMALL_PIECE {
        count_small(piece, ranks)
    } else {
        count_large(piece, ranks)
    }
}

/// The tokens of a piece of two or three bytes, without a merge: two bytes are one token or
/// two; three bytes are three when neither pair is a token, else one when the whole is a token
/// (the first merge leaves two parts that join into it), else two.
#[inline(always)]
pub(crate) fn count_tiny(piece: &[u8], ranks: &RankMap) -> usize {
    let first = ranks.pair(piece[0], piece[1]) != NO_RANK;
    if piece.len() == 2 {
        return if first { 1 } else { 2 };
    }
    if !first && ranks.pair(piece[1], piece[2]) == NO_RANK {
        3
    } else if ranks.contains(piece) {
        1
    } else {
        2
    }
}

#[inline(always)]
fn rank(ranks: &RankMap, bytes: &[u8]) -> u32 {
    ranks.rank(bytes)
}

fn count_small(piece: &[u8], ranks: &RankMap) -> usize {
    let n = piece.len();
    // Bit i of `live`: a part starts at byte i (bit n: the end). rank_at[i] is the rank of the
    // bytes from live boundary i to the second live boundary after it. Bit operations find the
    // neighbours, so a merge moves no memory.
    let mut live = u64::MAX >> (63 - n);
    let mut rank_at = [NO_RANK; SMALL_PIECE + 1];
    for i in 0..n - 1 {
        rank_at[i] = ranks.pair(piece[i], piece[i + 1]);
    }
    let next = |live: u64, i: usize| i + 1 + (live >> (i + 1)).trailing_zeros() as usize;
    let mut parts = n;
    loop {
        let (mut best, mut at) = (NO_RANK, 0);
        let mut rest = live;
        while rest != 0 {
            let i = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            if rank_at[i] < best {
                best = rank_at[i];
                at = i;
            }
        }
        if best == NO_RANK {
            return parts;
        }
        let mid = next(live, at);
        live &= !(1 << mid);
        rank_at[mid] = NO_RANK;
        parts -= 1;
        let end = next(live, at);
        rank_at[at] = if end < n { rank(ranks, &piece[at..next(live, end)]) } else { NO_RANK };
        if at > 0 {
            let before = 63 - (live & ((1 << at) - 1)).leading_zeros() as usize;
            rank_at[before] = rank(ranks, &piece[before..end]);
        }
    }
}

pub(crate) fn count_large(piece: &[u8], ranks: &RankMap) -> usize {
    let n = piece.len();
    // A doubly linked list over the boundaries 0..=n. pair_rank[s] is the rank of the bytes from
    // live boundary s to the boundary two steps after it. Heap entries are checked against it
    // when popped: the span a boundary's pair covers only grows and ranks are unique per byte
    // string, so an entry whose rank still matches is current.
    let mut next: Vec<usize> = (1..=n + 1).collect();
    let mut prev: Vec<usize> = (0..=n).map(|i| i.wrapping_sub(1)).collect();
    let mut pair_rank = vec![NO_RANK; n + 1];
    // Entries are `rank << 40 | start` in one word: smaller and cheaper to compare than a tuple,
    // with the same order (lowest rank, then leftmost). Ranks are below 2^24 (checked when a
    // table loads) and starts below 2^40 (a terabyte).
    let entry = |r: u32, s: usize| Reverse((r as u64) << 40 | s as u64);
    let mut heap = BinaryHeap::with_capacity(n);
    for s in 0..n - 1 {
        let r = ranks.pair(piece[s], piece[s + 1]);
        pair_rank[s] = r;
        if r != NO_RANK {
            heap.push(entry(r, s));
        }
    }
    let mut parts = n;
    while let Some(Reverse(top)) = heap.pop() {
        let (r, s) = ((top >> 40) as u32, (top & ((1 << 40) - 1)) as usize);
        if pair_rank[s] != r {
            continue;
        }
        let mid = next[s];
        let end = next[mid];
        next[s] = end;
        prev[end] = s;
        pair_rank[mid] = NO_RANK;
        parts -= 1;
        // The pair starting at s now ends two boundaries after `end`.
        pair_rank[s] = if end < n { rank(ranks, &piece[s..next[end]]) } else { NO_RANK };
        if pair_rank[s] != NO_RANK {
            heap.push(entry(pair_rank[s], s));
        }
        if s > 0 {
            let p = prev[s];
            pair_rank[p] = rank(ranks, &piece[p..end]);
            if pair_rank[p] != NO_RANK {
                heap.push(entry(pair_rank[p], p));
            }
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every two-byte string, and every three-byte string over 40 bytes (letters, digits,
    /// space, punctuation and UTF-8 lead and continuation bytes), on every table: the shortcut
    /// against the merge.
    #[test]
    fn tiny_pieces_count_like_the_merge() {
        use crate::tiktoken::{RankTable, RankTableId};
        let alphabet: Vec<u8> = b"aeinstAZ09 .,'\n\t-=_"
            .iter()
            .copied()
            .chain([
                0x80, 0x81, 0x8f, 0x9f, 0xa0, 0xa4, 0xb8, 0xbf, 0xc3, 0xd0, 0xe3, 0xe4, 0xe6, 0xe9, 0xef, 0xf0, 0xff,
                0x00,
            ])
            .collect();
        for id in [RankTableId::R50k, RankTableId::P50k, RankTableId::Cl100k, RankTableId::O200k] {
            let table = RankTable::load(id).expect("embedded table");
            let ranks = &table.ranks;
            for a in 0..=255u8 {
                for b in 0..=255u8 {
                    assert_eq!(count_tiny(&[a, b], ranks), count_small(&[a, b], ranks), "{id:?} {a:#x} {b:#x}");
                }
            }
            for &a in &alphabet {
                for &b in &alphabet {
                    for &c in &alphabet {
                        let piece = [a, b, c];
                        assert_eq!(count_tiny(&piece, ranks), count_small(&piece, ranks), "{id:?} {piece:x?}");
                    }
                }
            }
            // Three-byte tokens themselves, whatever their bytes.
            for rank in 0..ranks.rank_limit() as u32 {
                let token = ranks.token(rank);
                if token.len() == 3 {
                    assert_eq!(count_tiny(token, ranks), count_small(token, ranks), "{id:?} {token:x?}");
                }
            }
        }
    }

    fn toy_ranks() -> RankMap {
        let mut tokens: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        for (i, t) in ["ab", "bc", "abc", "aa", "aaaa", "cd", "bcd"].iter().enumerate() {
            tokens.push((t.as_bytes().to_vec(), 256 + i as u32));
        }
        RankMap::build(&tokens)
    }

    #[test]
    fn small_and_large_agree_on_every_short_string() {
        let ranks = toy_ranks();
        let alphabet = b"abcd";
        // Every string of length 2..=8 over the alphabet.
        for len in 2..=8u32 {
            for code in 0..4usize.pow(len) {
                let mut s = Vec::new();
                let mut c = code;
                for _ in 0..len {
                    s.push(alphabet[c % 4]);
                    c /= 4;
                }
                assert_eq!(count_small(&s, &ranks), count_large(&s, &ranks), "{:?}", String::from_utf8_lossy(&s));
            }
        }
        // Random strings up to the longest small piece.
        let mut state = 7u64;
        for _ in 0..20_000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let len = 2 + (state >> 33) as usize % (SMALL_PIECE - 1);
            let s: Vec<u8> = (0..len).map(|i| alphabet[(state >> (i % 29 + 2)) as usize % 4]).collect();
            assert_eq!(count_small(&s, &ranks), count_large(&s, &ranks), "{:?}", String::from_utf8_lossy(&s));
        }
    }

    #[test]
    fn merges_lowest_rank_first_and_leftmost_on_ties() {
        let ranks = toy_ranks();
        // "abc": ab (256) merges before bc (257), then ab+c = abc (258): one token.
        assert_eq!(count_piece(b"abcabc", &ranks), 2);
        // "aaa": the leftmost "aa" merges, leaving "aa" + "a".
        assert_eq!(count_small(b"aaa", &ranks), 2);
        assert_eq!(count_large(b"aaa", &ranks), 2);
        // "aaaaaaaa": aa aa aa aa, then aaaa aaaa.
        assert_eq!(count_small(b"aaaaaaaa", &ranks), 2);
        assert_eq!(count_large(b"aaaaaaaa", &ranks), 2);
    }
}
