//! Byte-pair encoding by a merge list, as `tokenizer.json` BPE models define it: start from
//! base symbols (bytes, or characters) and repeatedly apply the listed merge of lowest rank
//! (its index in the list) to an adjacent pair, the leftmost on ties.
//!
//! Two forms:
//! - [`PairMerges`]: the merge list as a map from a pair of ids to (rank, merged id), applied to
//!   a sequence of ids. It serves any model, including ones whose symbols are not the text's
//!   bytes (a `continuing_subword_prefix`, an `end_of_word_suffix`), and finds each token's last
//!   merge when a [`MergeTable`] is built.
//! - [`MergeTable`]: the same BPE on the text's bytes, with the tokens it can give in a
//!   [`RankMap`] and the linear backtracking encoder of `backtrack.rs`, fed by each token's last
//!   merge. The merges of a final token's bytes happen as they would for those bytes alone, so
//!   a token BPE can give is one whose bytes encode to itself, and a merge fires only as some such
//!   token's last merge. That is the rule the encoder and the short-piece merge check.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use super::backtrack::Backtracker;
use super::ranks::{RankMap, NO_RANK};

/// `(left, right)` as one key.
#[inline(always)]
fn pair_key(left: u32, right: u32) -> u64 {
    u64::from(left) << 32 | u64::from(right)
}

/// A merge list by ids: `(left, right)` to `(rank, merged)`.
pub(crate) struct PairMerges {
    merges: FxHashMap<u64, (u32, u32)>,
}

/// Sequences up to this many symbols merge by scanning; longer ones through a heap.
const SCAN_SYMBOLS: usize = 48;

impl PairMerges {
    /// From `(left, right, merged)` in rank order. A pair listed twice keeps its last rank, as
    /// the `tokenizers` crate's map does.
    pub(crate) fn new(list: &[(u32, u32, u32)]) -> PairMerges {
        let mut merges = FxHashMap::with_capacity_and_hasher(list.len(), Default::default());
        for (rank, &(left, right, merged)) in list.iter().enumerate() {
            merges.insert(pair_key(left, right), (rank as u32, merged));
        }
        PairMerges { merges }
    }

    /// The rank and merged id of the pair, if it is a merge.
    #[inline(always)]
    pub(crate) fn get(&self, left: u32, right: u32) -> Option<(u32, u32)> {
        self.merges.get(&pair_key(left, right)).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.merges.len()
    }

    /// Whether any merge has one of `ids` on either side.
    pub(crate) fn involves_any(&self, ids: &[u32]) -> bool {
        let ids: rustc_hash::FxHashSet<u32> = ids.iter().copied().collect();
        !ids.is_empty() && self.merges.keys().any(|&k| ids.contains(&((k >> 32) as u32)) || ids.contains(&(k as u32)))
    }

    /// Merges `symbols` in place; returns the last merge applied as `(left, right, rank)`.
    pub(crate) fn apply(&self, symbols: &mut Vec<u32>) -> Option<(u32, u32, u32)> {
        if symbols.len() <= SCAN_SYMBOLS {
            self.apply_scan(symbols)
        } else {
            self.apply_heap(symbols)
        }
    }

    /// The number of symbols left after merging.
    pub(crate) fn count(&self, symbols: &mut Vec<u32>) -> usize {
        self.apply(symbols);
        symbols.len()
    }

    fn apply_scan(&self, symbols: &mut Vec<u32>) -> Option<(u32, u32, u32)> {
        let mut last = None;
        loop {
            let mut best: Option<(u32, usize, u32)> = None;
            for i in 0..symbols.len().saturating_sub(1) {
                if let Some((rank, merged)) = self.get(symbols[i], symbols[i + 1]) {
                    if best.is_none_or(|(r, _, _)| rank < r) {
                        best = Some((rank, i, merged));
                    }
                }
            }
            let Some((rank, at, merged)) = best else { return last };
            last = Some((symbols[at], symbols[at + 1], rank));
            symbols[at] = merged;
            symbols.remove(at + 1);
        }
    }

    /// The same order with a heap over a linked list: O(n log n). Entries are checked against
    /// the pair's current merge when popped, as the `tokenizers` crate does.
    fn apply_heap(&self, symbols: &mut Vec<u32>) -> Option<(u32, u32, u32)> {
        const NONE: u32 = u32::MAX;
        let n = symbols.len();
        let mut next: Vec<u32> = (1..=n as u32).collect();
        next[n - 1] = NONE;
        let mut prev: Vec<u32> = (0..n as u32).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        let mut heap = BinaryHeap::with_capacity(n);
        for i in 0..n - 1 {
            if let Some((rank, merged)) = self.get(symbols[i], symbols[i + 1]) {
                heap.push(Reverse((rank, i as u32, merged)));
            }
        }
        let mut last = None;
        while let Some(Reverse((rank, pos, merged))) = heap.pop() {
            let pos = pos as usize;
            if !alive[pos] || next[pos] == NONE {
                continue;
            }
            let right = next[pos] as usize;
            if self.get(symbols[pos], symbols[right]).map(|(_, m)| m) != Some(merged) {
                continue;
            }
            last = Some((symbols[pos], symbols[right], rank));
            symbols[pos] = merged;
            alive[right] = false;
            let after = next[right];
            next[pos] = after;
            if after != NONE {
                prev[after as usize] = pos as u32;
                if let Some((r, m)) = self.get(merged, symbols[after as usize]) {
                    heap.push(Reverse((r, pos as u32, m)));
                }
            }
            let before = prev[pos];
            if before != NONE {
                if let Some((r, m)) = self.get(symbols[before as usize], merged) {
                    heap.push(Reverse((r, before, m)));
                }
            }
        }
        let mut kept = 0;
        for i in 0..n {
            if alive[i] {
                symbols[kept] = symbols[i];
                kept += 1;
            }
        }
        symbols.truncate(kept);
        last
    }
}

/// BPE over the bytes of a text whose symbols are its bytes or its characters, with the tokens
/// it can give in a rank table (by dense ids of their own) and the backtracking encoder.
pub(crate) struct MergeTable {
    ranks: RankMap,
    encoder: Backtracker,
    /// The tokens whose last merge ranks below the merge that made one of their parts (a few
    /// dozen in real merge lists: Llama 3 has 81, Gemma 3 has 90). The encoder's pair check
    /// unwinds merges in rank order, which for them is not the order BPE makes them in; a long
    /// piece that holds one of their byte strings takes the heap merge. Any other piece's BPE
    /// never makes them (a token is made only from bytes the piece holds), nor checks a pair
    /// against them, so the encoder is exact on it.
    out_of_order: OutOfOrder,
    /// Each token's last merge, `[id, id]` for a base symbol, and that merge's rank.
    split: Box<[[u32; 2]]>,
    merge_rank: Box<[u32]>,
    /// Base symbols are whole characters (a model over characters, such as SentencePiece BPE),
    /// not bytes.
    chars: bool,
}

/// The tokens out of merge order in a table (`MergeTable::out_of_order`).
enum OutOfOrder {
    None,
    Tokens(aho_corasick::AhoCorasick),
    /// Too many to search for: every long piece takes the heap merge.
    Unsearchable,
}

/// Pieces up to this many bytes merge on the stack (a boundary per bit of a `u64`).
pub(crate) const SMALL_PIECE: usize = 63;

impl MergeTable {
    /// `tokens[id]`: each token's bytes (empty for an id that is no token); `base[id]`: the
    /// token is a base symbol; `merges`: the merge list, in rank order, by the same ids;
    /// `chars`: base symbols are characters. Keeps the tokens whose bytes encode to themselves.
    pub(crate) fn build(tokens: &[Vec<u8>], base: &[bool], merges: &PairMerges, chars: bool) -> MergeTable {
        let by_bytes: FxHashMap<&[u8], u32> = tokens
            .iter()
            .enumerate()
            .filter(|(id, t)| !t.is_empty() && base[*id])
            .map(|(id, t)| (t.as_slice(), id as u32))
            .collect();
        // Each token BPE can give, with its last merge (or none for a base symbol).
        let mut kept: Vec<(usize, Option<(u32, u32, u32)>)> = Vec::new();
        let mut symbols = Vec::new();
        for (id, token) in tokens.iter().enumerate() {
            if token.is_empty() {
                continue;
            }
            if base[id] {
                kept.push((id, None));
                continue;
            }
            if !base_symbols(token, chars, &by_bytes, &mut symbols) {
                continue;
            }
            let last = merges.apply(&mut symbols);
            if symbols.len() == 1 && symbols[0] == id as u32 {
                kept.push((id, last));
            }
        }
        // Dense ids for the kept tokens.
        let mut dense = vec![NO_RANK; tokens.len()];
        for (new, &(old, _)) in kept.iter().enumerate() {
            dense[old] = new as u32;
        }
        let mut split = vec![[NO_RANK; 2]; kept.len()];
        let mut merge_rank = vec![0u32; kept.len()];
        for (new, &(_, last)) in kept.iter().enumerate() {
            split[new] = match last {
                Some((left, right, rank)) => {
                    merge_rank[new] = rank;
                    [dense[left as usize], dense[right as usize]]
                }
                None => [new as u32; 2],
            };
        }
        let out_of_order: Vec<&[u8]> = (0..kept.len())
            .filter(|&t| {
                let [left, right] = split[t];
                left != t as u32
                    && ![left, right]
                        .iter()
                        .all(|&p| split[p as usize][0] == p || merge_rank[p as usize] < merge_rank[t])
            })
            .map(|t| tokens[kept[t].0].as_slice())
            .collect();
        let out_of_order = if out_of_order.is_empty() {
            OutOfOrder::None
        } else {
            aho_corasick::AhoCorasick::new(out_of_order).map_or(OutOfOrder::Unsearchable, OutOfOrder::Tokens)
        };
        let table: Vec<(Vec<u8>, u32)> =
            kept.iter().enumerate().map(|(new, &(old, _))| (tokens[old].clone(), new as u32)).collect();
        let ranks = RankMap::build(&table);
        let encoder = Backtracker::for_merges(&ranks);
        MergeTable { ranks, encoder, out_of_order, split: split.into(), merge_rank: merge_rank.into(), chars }
    }

    /// Whether every long piece goes through the linear backtracking encoder (no token is out
    /// of merge order).
    #[cfg(test)]
    pub(crate) fn backtracks(&self) -> bool {
        matches!(self.out_of_order, OutOfOrder::None)
    }

    /// Whether `bytes` are a token BPE can give.
    pub(crate) fn contains(&self, bytes: &[u8]) -> bool {
        self.ranks.rank_any(bytes) != NO_RANK
    }

    /// The tokens BPE gives `piece`, whose every symbol is a base symbol ([`MergeTable::covers`]).
    /// `memo` is the thread's pair memo for this table, if any.
    pub(crate) fn count(&self, piece: &[u8], memo: Option<&mut [u64]>) -> usize {
        let n = piece.len();
        if n <= SMALL_PIECE {
            return self.count_small(piece);
        }
        let out_of_order = match &self.out_of_order {
            OutOfOrder::None => false,
            OutOfOrder::Tokens(tokens) => tokens.is_match(piece),
            OutOfOrder::Unsearchable => true,
        };
        if out_of_order {
            return self.count_large(piece);
        }
        match self.encoder.count_by_merges(&self.ranks, piece, memo, &self.split, &self.merge_rank) {
            Some(count) => count,
            // Only for a piece with a symbol that is no base symbol, which callers rule out.
            None => self.count_large(piece),
        }
    }

    /// The boundaries of the base symbols of `piece`, as bits (bit i: a symbol starts at byte
    /// i), and their number.
    #[inline(always)]
    fn starts(&self, piece: &[u8]) -> (u64, usize) {
        let n = piece.len();
        if !self.chars {
            return (u64::MAX >> (64 - n), n);
        }
        let mut bits = 0u64;
        for (i, &b) in piece.iter().enumerate() {
            if b & 0xC0 != 0x80 {
                bits |= 1 << i;
            }
        }
        (bits, bits.count_ones() as usize)
    }

    /// The rank of merging the parts at `left` and `right` (ending at `end`), and the token
    /// it makes, if BPE makes that token from exactly these two.
    #[inline(always)]
    fn merge_of(&self, piece: &[u8], at: usize, end: usize, left: u32, right: u32) -> (u32, u32) {
        let joined = self.ranks.rank(&piece[at..end]);
        if joined != NO_RANK && self.split[joined as usize] == [left, right] {
            (self.merge_rank[joined as usize], joined)
        } else {
            (NO_RANK, NO_RANK)
        }
    }

    /// A piece of at most `SMALL_PIECE` bytes: bit i of `live` marks a live part starting at
    /// byte i (bit n: the end); each live part's id, and the rank and result of merging it with
    /// the next part. Bit operations find the neighbours, so a merge moves no memory.
    fn count_small(&self, piece: &[u8]) -> usize {
        let n = piece.len();
        if n == 0 {
            return 0;
        }
        let (starts, mut parts) = self.starts(piece);
        if parts == 1 {
            return 1;
        }
        let mut live = starts | 1 << n;
        let next = |live: u64, i: usize| i + 1 + (live >> (i + 1)).trailing_zeros() as usize;
        let mut ids = [NO_RANK; SMALL_PIECE + 1];
        let mut rank_at = [NO_RANK; SMALL_PIECE + 1];
        let mut merged_at = [NO_RANK; SMALL_PIECE + 1];
        let mut rest = starts;
        while rest != 0 {
            let i = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            ids[i] = self.ranks.rank_any(&piece[i..next(live, i)]);
        }
        let mut rest = starts;
        while rest != 0 {
            let i = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            let mid = next(live, i);
            if mid < n {
                (rank_at[i], merged_at[i]) = self.merge_of(piece, i, next(live, mid), ids[i], ids[mid]);
            }
        }
        loop {
            let (mut best, mut at) = (NO_RANK, 0);
            let mut rest = live & !(1 << n);
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
            ids[at] = merged_at[at];
            parts -= 1;
            let end = next(live, at);
            (rank_at[at], merged_at[at]) =
                if end < n { self.merge_of(piece, at, next(live, end), ids[at], ids[end]) } else { (NO_RANK, NO_RANK) };
            let below = live & ((1 << at) - 1);
            if below != 0 {
                let before = 63 - below.leading_zeros() as usize;
                (rank_at[before], merged_at[before]) = self.merge_of(piece, before, end, ids[before], ids[at]);
            }
        }
    }

    /// The same merge order for any length, with a heap: the reference for the encoder, and its
    /// fallback.
    pub(crate) fn count_large(&self, piece: &[u8]) -> usize {
        const NONE: usize = usize::MAX;
        let n = piece.len();
        let starts: Vec<usize> =
            if self.chars { (0..n).filter(|&i| piece[i] & 0xC0 != 0x80).collect() } else { (0..n).collect() };
        let m = starts.len();
        if m <= 1 {
            return m;
        }
        // Parts by index into `starts`; `end_of(k)` is where part k's bytes end.
        let mut next: Vec<usize> = (1..=m).collect();
        next[m - 1] = NONE;
        let mut prev: Vec<usize> = (0..m).map(|i| i.wrapping_sub(1)).collect();
        let end_of = |next: &[usize], k: usize| if next[k] == NONE { n } else { starts[next[k]] };
        let mut ids: Vec<u32> = (0..m).map(|k| self.ranks.rank_any(&piece[starts[k]..end_of(&next, k)])).collect();
        let mut alive = vec![true; m];
        let mut heap = BinaryHeap::with_capacity(m);
        let merge_at = |ids: &[u32], next: &[usize], k: usize| -> (u32, u32) {
            let r = next[k];
            if r == NONE {
                return (NO_RANK, NO_RANK);
            }
            self.merge_of(piece, starts[k], end_of(next, r), ids[k], ids[r])
        };
        for k in 0..m - 1 {
            let (rank, merged) = merge_at(&ids, &next, k);
            if rank != NO_RANK {
                heap.push(Reverse((rank, k, merged)));
            }
        }
        let mut parts = m;
        while let Some(Reverse((rank, k, merged))) = heap.pop() {
            if !alive[k] || next[k] == NONE || merge_at(&ids, &next, k) != (rank, merged) {
                continue;
            }
            let r = next[k];
            ids[k] = merged;
            alive[r] = false;
            next[k] = next[r];
            if next[k] != NONE {
                prev[next[k]] = k;
            }
            parts -= 1;
            let (rank, merged) = merge_at(&ids, &next, k);
            if rank != NO_RANK {
                heap.push(Reverse((rank, k, merged)));
            }
            let before = prev[k];
            if before != NONE {
                let (rank, merged) = merge_at(&ids, &next, before);
                if rank != NO_RANK {
                    heap.push(Reverse((rank, before, merged)));
                }
            }
        }
        parts
    }
}

/// The UTF-8 length of the character a lead byte starts (1 for a stray continuation byte).
#[inline(always)]
pub(crate) fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// The base-symbol ids of `token`'s bytes or characters into `out`; false if one is no base
/// symbol.
fn base_symbols(token: &[u8], chars: bool, by_bytes: &FxHashMap<&[u8], u32>, out: &mut Vec<u32>) -> bool {
    out.clear();
    let mut i = 0;
    while i < token.len() {
        let len = if chars { utf8_len(token[i]).min(token.len() - i) } else { 1 };
        match by_bytes.get(&token[i..i + len]) {
            Some(&id) => out.push(id),
            None => return false,
        }
        i += len;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A xorshift generator: each call gives a number below its argument.
    fn random_below(seed: u64) -> impl FnMut(usize) -> usize {
        let mut state = seed;
        move |n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        }
    }

    /// A random merge list over `alphabet`: each merge joins two existing tokens (some pairs
    /// listed twice, some tokens made by two different merges, some merges listed before their
    /// parts exist), so reachability and last merges are exercised.
    fn random_model(
        seed: u64,
        alphabet: &[&str],
        merges: usize,
        relist: bool,
    ) -> (Vec<Vec<u8>>, Vec<bool>, Vec<(u32, u32, u32)>) {
        let mut next = random_below(seed);
        let mut tokens: Vec<Vec<u8>> = alphabet.iter().map(|s| s.as_bytes().to_vec()).collect();
        let mut base = vec![true; tokens.len()];
        let mut index: FxHashMap<Vec<u8>, u32> =
            tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let mut list = Vec::new();
        for _ in 0..merges {
            let (a, b) = (next(tokens.len()) as u32, next(tokens.len()) as u32);
            let joined = [tokens[a as usize].clone(), tokens[b as usize].clone()].concat();
            if joined.len() > 12 {
                continue;
            }
            let id = *index.entry(joined.clone()).or_insert_with(|| {
                tokens.push(joined);
                base.push(false);
                tokens.len() as u32 - 1
            });
            list.push((a, b, id));
            if relist && next(10) == 0 {
                let (c, d, e) = list[next(list.len())];
                list.push((c, d, e));
            }
        }
        (tokens, base, list)
    }

    /// The table's counts against the plain merge of ids, on random models and texts, over
    /// bytes and over characters, short and long.
    #[test]
    fn counts_like_the_merge_list() {
        for (seed, alphabet, chars) in [
            (1u64, vec!["a", "b", "c"], false),
            (2, vec!["a", "b", "c", "d", " "], false),
            (3, vec!["a", "é", "中", "😀", "▁"], true),
            (4, vec!["x", "y"], false),
        ] {
            for round in 0..16u64 {
                let (tokens, base, list) =
                    random_model(seed * 100 + round, &alphabet, 60 + 40 * round as usize, round % 2 == 1);
                let merges = PairMerges::new(&list);
                let table = MergeTable::build(&tokens, &base, &merges, chars);
                // Without relisted pairs the list is in the order its merges can be made.
                if !list.iter().enumerate().any(|(i, m)| list[..i].contains(m)) {
                    assert!(table.backtracks(), "seed {seed} round {round}");
                }
                let by_bytes: FxHashMap<&[u8], u32> = tokens
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| base[*i])
                    .map(|(i, t)| (t.as_slice(), i as u32))
                    .collect();
                let mut next = random_below(seed * 7919 + round);
                for len in [1usize, 2, 3, 5, 8, 13, 40, 63, 64, 100, 300, 2000] {
                    for _ in 0..20 {
                        let text: String = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
                        let mut symbols = Vec::new();
                        assert!(base_symbols(text.as_bytes(), chars, &by_bytes, &mut symbols));
                        let expected = merges.count(&mut symbols);
                        assert_eq!(table.count_large(text.as_bytes()), expected, "heap, {text:?}");
                        assert_eq!(table.count(text.as_bytes(), None), expected, "seed {seed} round {round}: {text:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_heap_and_the_scan_merge_alike() {
        let (_, _, list) = random_model(77, &["a", "b"], 200, true);
        let merges = PairMerges::new(&list);
        let mut next = random_below(5);
        for _ in 0..500 {
            let len = 2 + next(120);
            let symbols: Vec<u32> = (0..len).map(|_| next(2) as u32).collect();
            let (mut a, mut b) = (symbols.clone(), symbols.clone());
            merges.apply_scan(&mut a);
            if b.len() > 1 {
                merges.apply_heap(&mut b);
            }
            assert_eq!(a, b);
        }
    }
}
