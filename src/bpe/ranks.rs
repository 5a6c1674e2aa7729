//! The rank table of an encoding as compact read-only arrays, built once per registry.
//!
//! The byte-pair merge looks up the rank of short byte strings millions of times, and most
//! lookups miss. A general hash map of owned byte vectors costs a pointer chase and a byte
//! comparison per probe. Here:
//! - two-byte strings (the first round of every merge) are a direct index into a 64 Ki table;
//! - a small bitset over the hashes of the longer tokens rules out most strings that are not
//!   tokens before the table is touched;
//! - longer strings go through an open-addressing table of 32-bit slots holding the rank and, in
//!   the bits the ranks leave free, a hash tag (14 bits for o200k_base), so a miss usually
//!   touches one slot and no token bytes; the slots are kept small because their cache misses
//!   are most of a merge's cost;
//! - the tokens' bytes live in one arena, addressed by rank.
//!
//! For o200k_base this takes about 4.8 MB (cl100k_base about 2.5 MB).

/// The rank of a byte string that is not a token.
pub(crate) const NO_RANK: u32 = u32::MAX;
const EMPTY: u32 = u32::MAX;

pub(crate) struct RankMap {
    /// `tag << rank_bits | rank`, or `EMPTY`; the length is a power of two.
    slots: Box<[u32]>,
    /// One bit per hash value (`maybe_bit`) set for every token of three bytes or more, about
    /// eight bits per token: most strings looked up are not tokens, and this answers most of
    /// them from a bitset that stays in the core's cache (64-256 KB) instead of a slot in
    /// megabytes of table.
    maybe: Box<[u64]>,
    maybe_mask: usize,
    /// How many low bits of a slot hold the rank.
    rank_bits: u32,
    /// The bytes of token `rank` are `arena[starts[rank]..starts[rank + 1]]` (empty for a rank
    /// that is not an ordinary token).
    starts: Box<[u32]>,
    arena: Box<[u8]>,
    /// The rank of each two-byte string, indexed by `first << 8 | second`.
    pairs: Box<[u32]>,
    /// Whether each two-byte string is a token, a bit each: 8 KiB that stay in the core's
    /// cache, for the two-byte pieces of a text (a quarter of the pieces of prose).
    pair_tokens: Box<[u64]>,
    /// The rank of each single byte.
    bytes: [u32; 256],
    #[cfg(test)]
    len: usize,
    max_token_bytes: usize,
}

#[inline(always)]
fn read_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

#[inline(always)]
fn read_u32(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default()) as u64
}

/// A hash of a byte string of at least three bytes (two-byte strings never reach the table).
#[inline(always)]
pub(crate) fn hash(b: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let n = b.len();
    let (head, tail) = if n >= 8 {
        (read_u64(b, 0), read_u64(b, n - 8))
    } else if n >= 4 {
        (read_u32(b, 0), read_u32(b, n - 4))
    } else {
        (b[0] as u64 | (b[n / 2] as u64) << 8 | (b[n - 1] as u64) << 16, 0)
    };
    let mut h =
        (head ^ (n as u64).wrapping_mul(K)).wrapping_mul(K) ^ tail.rotate_left(29).wrapping_mul(0x2545_f491_4f6c_dd1d);
    if n > 16 {
        // The middle bytes, eight at a time (the head and tail words already cover the ends).
        let mut at = 8;
        while at + 8 <= n - 8 {
            h = (h ^ read_u64(b, at)).wrapping_mul(K).rotate_left(31);
            at += 8;
        }
        h ^= read_u64(b, at.min(n - 8));
    }
    h ^= h >> 32;
    h.wrapping_mul(K) ^ (h >> 29)
}

/// `a == b`, without a call to `memcmp` for the short strings almost every lookup compares.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            if read_u64(a, at) != read_u64(b, at) {
                return false;
            }
            at += 8;
        }
        read_u64(a, n - 8) == read_u64(b, n - 8)
    } else if n >= 4 {
        read_u32(a, 0) == read_u32(b, 0) && read_u32(a, n - 4) == read_u32(b, n - 4)
    } else {
        n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1])
    }
}

/// The bit of `RankMap::maybe` for hash `h`: bits that neither the slot index (low bits) nor
/// the tag (high bits) use.
#[inline(always)]
fn maybe_bit(h: u64, mask: usize) -> usize {
    (h >> 20) as usize & mask
}

#[inline(always)]
fn rank_mask(rank_bits: u32) -> u32 {
    if rank_bits >= 32 {
        u32::MAX
    } else {
        (1 << rank_bits) - 1
    }
}

/// The slot bits above the rank, taken from the high half of the hash (the low half picks the
/// slot). No slot equals EMPTY: ranks are below `2^rank_bits - 1` (see `build`), so the rank
/// bits are never all ones.
#[inline(always)]
fn tag_of(h: u64, rank_bits: u32) -> u32 {
    ((h >> 32) as u32) & !rank_mask(rank_bits)
}

impl RankMap {
    /// Builds the map from `(token bytes, rank)`; every token has at least one byte and ranks
    /// are distinct.
    pub(crate) fn build(tokens: &[(Vec<u8>, u32)]) -> RankMap {
        let top = tokens.iter().map(|&(_, r)| r as usize + 1).max().unwrap_or(0);
        let mut by_rank: Vec<Option<&[u8]>> = vec![None; top];
        for (bytes, rank) in tokens {
            by_rank[*rank as usize] = Some(bytes);
        }
        let mut starts = Vec::with_capacity(top + 1);
        let mut arena = Vec::with_capacity(tokens.iter().map(|(b, _)| b.len()).sum());
        for bytes in &by_rank {
            starts.push(arena.len() as u32);
            arena.extend_from_slice(bytes.unwrap_or(&[]));
        }
        starts.push(arena.len() as u32);
        let mut pairs = vec![NO_RANK; 1 << 16];
        let mut single = [NO_RANK; 256];
        let long_tokens = tokens.iter().filter(|(b, _)| b.len() >= 3).count();
        let maybe_bits = (long_tokens * 8).next_power_of_two().max(64);
        let mut maybe = vec![0u64; maybe_bits / 64];
        let capacity = (tokens.len() * 2).next_power_of_two().max(16);
        let mut slots = vec![EMPTY; capacity];
        let mask = capacity - 1;
        // Ranks below 2^rank_bits, with one value to spare so no slot equals EMPTY.
        let rank_bits = (32 - (top as u32).leading_zeros()).max(1);
        for (bytes, rank) in tokens {
            match bytes.len() {
                0 => {}
                1 => single[bytes[0] as usize] = *rank,
                2 => pairs[(bytes[0] as usize) << 8 | bytes[1] as usize] = *rank,
                _ => {
                    let h = hash(bytes);
                    let bit = maybe_bit(h, maybe_bits - 1);
                    maybe[bit / 64] |= 1 << (bit % 64);
                    let mut i = h as usize & mask;
                    while slots[i] != EMPTY {
                        i = (i + 1) & mask;
                    }
                    slots[i] = tag_of(h, rank_bits) | *rank;
                }
            }
        }
        let mut pair_tokens = vec![0u64; (1 << 16) / 64];
        for (i, &rank) in pairs.iter().enumerate() {
            if rank != NO_RANK {
                pair_tokens[i / 64] |= 1 << (i % 64);
            }
        }
        RankMap {
            pair_tokens: pair_tokens.into_boxed_slice(),
            slots: slots.into_boxed_slice(),
            maybe: maybe.into_boxed_slice(),
            maybe_mask: maybe_bits - 1,
            rank_bits,
            starts: starts.into_boxed_slice(),
            arena: arena.into_boxed_slice(),
            pairs: pairs.into_boxed_slice(),
            bytes: single,
            #[cfg(test)]
            len: tokens.len(),
            max_token_bytes: tokens.iter().map(|(b, _)| b.len()).max().unwrap_or(1),
        }
    }

    /// The bytes of token `rank` (empty for a rank that is not an ordinary token).
    #[inline(always)]
    pub(crate) fn token(&self, rank: u32) -> &[u8] {
        let r = rank as usize;
        &self.arena[self.starts[r] as usize..self.starts[r + 1] as usize]
    }

    /// The rank of the two-byte string `a b`.
    #[inline(always)]
    pub(crate) fn pair(&self, a: u8, b: u8) -> u32 {
        self.pairs[(a as usize) << 8 | b as usize]
    }

    /// Whether the two-byte string `a b` is a token.
    #[inline(always)]
    pub(crate) fn pair_is_token(&self, a: u8, b: u8) -> bool {
        let i = (a as usize) << 8 | b as usize;
        self.pair_tokens[i / 64] >> (i % 64) & 1 == 1
    }

    /// The rank of the single byte `b`.
    #[inline(always)]
    pub(crate) fn byte(&self, b: u8) -> u32 {
        self.bytes[b as usize]
    }

    /// The length in bytes of token `rank`.
    #[inline(always)]
    pub(crate) fn token_len(&self, rank: u32) -> usize {
        let r = rank as usize;
        (self.starts[r + 1] - self.starts[r]) as usize
    }

    /// One more than the highest rank.
    pub(crate) fn rank_limit(&self) -> usize {
        self.starts.len() - 1
    }

    /// The rank of `bytes` of any non-zero length, or `NO_RANK`.
    pub(crate) fn rank_any(&self, bytes: &[u8]) -> u32 {
        if bytes.len() == 1 {
            self.byte(bytes[0])
        } else {
            self.rank(bytes)
        }
    }

    /// The rank of `bytes` (at least two bytes), or `NO_RANK`.
    #[inline(always)]
    pub(crate) fn rank(&self, bytes: &[u8]) -> u32 {
        if bytes.len() == 2 {
            return self.pair(bytes[0], bytes[1]);
        }
        if bytes.len() > self.max_token_bytes {
            return NO_RANK;
        }
        let h = hash(bytes);
        let bit = maybe_bit(h, self.maybe_mask);
        if self.maybe[bit / 64] >> (bit % 64) & 1 == 0 {
            return NO_RANK;
        }
        self.rank_hashed(bytes, h)
    }

    /// The rank of `bytes` (at least three bytes, at most the longest token) given `hash(bytes)`.
    #[inline(always)]
    pub(crate) fn rank_hashed(&self, bytes: &[u8], h: u64) -> u32 {
        let tag = tag_of(h, self.rank_bits);
        let rank_mask = rank_mask(self.rank_bits);
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == EMPTY {
                return NO_RANK;
            }
            if slot & !rank_mask == tag && same_bytes(self.token(slot & rank_mask), bytes) {
                return slot & rank_mask;
            }
            i = (i + 1) & mask;
        }
    }

    /// Whether `bytes` (at least two bytes) is a token.
    #[inline(always)]
    pub(crate) fn contains(&self, bytes: &[u8]) -> bool {
        self.rank(bytes) != NO_RANK
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_token_and_nothing_else() {
        let mut tokens: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        let words = ["ab", "abc", "hello", "hello world", "a much longer token of many bytes", "\u{4e2d}\u{6587}"];
        for (i, w) in words.iter().enumerate() {
            tokens.push((w.as_bytes().to_vec(), 300 + 2 * i as u32));
        }
        // Many similar tokens, to force probing past tag matches and collisions.
        for i in 0..5000u32 {
            tokens.push((format!("t{i:05}").into_bytes(), 1000 + i));
        }
        let map = RankMap::build(&tokens);
        for (bytes, rank) in &tokens {
            if bytes.len() >= 2 {
                assert_eq!(map.rank(bytes), *rank, "{:?}", String::from_utf8_lossy(bytes));
            }
        }
        for miss in ["ba", "abcd", "hell", "hello worl", "t5000", "t0000x", "a much longer token of many byte!"] {
            assert_eq!(map.rank(miss.as_bytes()), NO_RANK, "{miss}");
        }
        assert_eq!(map.len(), tokens.len());
        assert_eq!(map.max_token_bytes(), words[4].len());
        assert_eq!(map.pair(b'a', b'b'), 300);
    }
}
