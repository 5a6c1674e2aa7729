//! A per-thread cache of token counts for short pieces, shared by the byte-pair merges (the
//! OpenAI encodings and the `tokenizer.json` models).
//!
//! Text repeats its words, and a piece's count only depends on its bytes and the vocabulary,
//! so a hit saves the merge and its lookups. Each vocabulary takes an owner id from
//! [`new_owner`], and an entry holds its whole key (owner and bytes), so a hit is always for the
//! same piece of the same vocabulary. Two tables, each two-way set-associative with a fixed
//! number of entries: pieces of up to 24 bytes (`SETS` x 2 x 40 bytes, 320 KiB) and of 25 to 64
//! bytes (`LONG_SETS` x 2 x 80 bytes, 160 KiB: SentencePiece words of three-byte `▁`s, code
//! indentation). Their memory is bounded (480 KiB per thread that counts, allocated on first use
//! and freed when the thread ends); a new piece replaces the older entry of its set, and no input
//! can make them grow.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Pieces up to this many bytes go in the short table (and count as short pieces elsewhere).
pub(crate) const MAX_PIECE: usize = 24;
/// Pieces up to this many bytes are cached; longer ones are rare and costly to compare.
pub(crate) const MAX_CACHED: usize = 64;
const SETS: usize = 4096;
const LONG_SETS: usize = 1024;

#[derive(Clone, Copy)]
struct Entry {
    /// The piece's bytes as three little-endian words, zero-padded.
    key: [u64; 3],
    /// The vocabulary the count belongs to.
    owner: u64,
    /// The piece's length, 0 for an empty entry (pieces are never empty).
    len: u8,
    count: u16,
}

const EMPTY: Entry = Entry { key: [0; 3], owner: 0, len: 0, count: 0 };

/// An entry of the long table: the same with eight words of key.
#[derive(Clone, Copy)]
struct LongEntry {
    key: [u64; 8],
    owner: u64,
    len: u8,
    count: u16,
}

const LONG_EMPTY: LongEntry = LongEntry { key: [0; 8], owner: 0, len: 0, count: 0 };

static OWNERS: AtomicU64 = AtomicU64::new(1);

/// A new owner id for a vocabulary's entries (never 0, never reused).
pub(crate) fn new_owner() -> u64 {
    OWNERS.fetch_add(1, Ordering::Relaxed)
}

pub(crate) struct PieceCache {
    /// Set `i` is entries `2i` (the newer) and `2i + 1`.
    entries: Box<[Entry]>,
    long: Box<[LongEntry]>,
}

#[inline(always)]
fn read_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

#[inline(always)]
fn read_u32(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default()) as u64
}

/// Bytes `at..` of `b` (at most 8 of them) as a zero-padded little-endian word, without a copy.
#[inline(always)]
fn word(b: &[u8], at: usize) -> u64 {
    let n = b.len();
    if at >= n {
        return 0;
    }
    let rest = n - at;
    if rest >= 8 {
        return read_u64(b, at);
    }
    if n >= 8 {
        // The last 8 bytes hold the rest at their top: shift the bytes before it out.
        return read_u64(b, n - 8) >> (8 * (8 - rest));
    }
    // The whole piece is shorter than 8 bytes (and `at` is 0).
    if n >= 4 {
        // Two overlapping reads; the overlap has the same bytes in both.
        return read_u32(b, 0) | read_u32(b, n - 4) << (8 * (n - 4));
    }
    b[0] as u64 | (b[n / 2] as u64) << (8 * (n / 2)) | (b[n - 1] as u64) << (8 * (n - 1))
}

impl PieceCache {
    fn new() -> Self {
        PieceCache {
            entries: vec![EMPTY; 2 * SETS].into_boxed_slice(),
            long: vec![LONG_EMPTY; 2 * LONG_SETS].into_boxed_slice(),
        }
    }

    /// The count of `piece` (1 to `MAX_CACHED` bytes) in `owner`'s vocabulary, computed by
    /// `count` on a miss.
    #[inline(always)]
    pub(crate) fn get_or_count(&mut self, owner: u64, piece: &[u8], count: impl FnOnce() -> usize) -> usize {
        debug_assert!(!piece.is_empty() && piece.len() <= MAX_CACHED);
        if piece.len() > MAX_PIECE {
            return self.get_or_count_long(owner, piece, count);
        }
        let key = [word(piece, 0), word(piece, 8), word(piece, 16)];
        let len = piece.len() as u8;
        let mut h = (len as u64) << 56 ^ owner;
        for w in key {
            h = (h.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        let set = 2 * ((h >> 40) as usize & (SETS - 1));
        let hit = |e: &Entry| e.len == len && e.key == key && e.owner == owner;
        if hit(&self.entries[set]) {
            return self.entries[set].count as usize;
        }
        if hit(&self.entries[set + 1]) {
            return self.entries[set + 1].count as usize;
        }
        let n = count();
        // The newer entry moves to the second way, the new one takes the first.
        self.entries[set + 1] = self.entries[set];
        self.entries[set] = Entry { key, owner, len, count: n as u16 };
        n
    }

    #[inline(never)]
    fn get_or_count_long(&mut self, owner: u64, piece: &[u8], count: impl FnOnce() -> usize) -> usize {
        let mut key = [0u64; 8];
        for (i, k) in key.iter_mut().enumerate() {
            *k = word(piece, 8 * i);
        }
        let len = piece.len() as u8;
        let mut h = (len as u64) << 56 ^ owner;
        for w in key {
            h = (h.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        let set = 2 * ((h >> 40) as usize & (LONG_SETS - 1));
        let hit = |e: &LongEntry| e.len == len && e.key == key && e.owner == owner;
        if hit(&self.long[set]) {
            return self.long[set].count as usize;
        }
        if hit(&self.long[set + 1]) {
            return self.long[set + 1].count as usize;
        }
        let n = count();
        self.long[set + 1] = self.long[set];
        self.long[set] = LongEntry { key, owner, len, count: n as u16 };
        n
    }
}

thread_local! {
    static CACHE: RefCell<Option<PieceCache>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's cache, or with none while the thread is ending (thread-local
/// storage already destroyed) or if the cache is in use further up the stack.
pub(crate) fn with_cache<R>(f: impl FnOnce(Option<&mut PieceCache>) -> R) -> R {
    with_thread_local(&CACHE, |slot| f(slot.map(|slot| slot.get_or_insert_with(PieceCache::new))))
}

/// Runs `f` with this thread's value of `key`, or with none while the thread is ending
/// (thread-local storage already destroyed) or if the value is borrowed further up the stack.
/// Shared by the per-thread counting state: the piece cache here and the encoder's pair memos.
pub(crate) fn with_thread_local<T: 'static, R>(
    key: &'static std::thread::LocalKey<RefCell<T>>,
    f: impl FnOnce(Option<&mut T>) -> R,
) -> R {
    let mut f = Some(f);
    let result = key.try_with(|cell| match cell.try_borrow_mut() {
        Ok(mut value) => (f.take().expect("called once"))(Some(&mut *value)),
        Err(_) => (f.take().expect("called once"))(None),
    });
    match result {
        Ok(r) => r,
        Err(_) => (f.take().expect("not called when the thread-local is gone"))(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `word` reads exactly the zero-padded bytes, at every length and offset.
    #[test]
    fn words_are_the_padded_bytes() {
        let bytes: Vec<u8> = (1..=64u8).map(|b| b.wrapping_mul(37)).collect();
        for n in 1..=64 {
            let piece = &bytes[..n];
            let mut padded = [0u8; 64];
            padded[..n].copy_from_slice(piece);
            for at in (0..64).step_by(8) {
                let want = u64::from_le_bytes(padded[at..at + 8].try_into().unwrap());
                assert_eq!(word(piece, at), want, "length {n}, at {at}");
            }
        }
    }

    #[test]
    fn hits_return_the_stored_count_and_collisions_recount() {
        let mut cache = PieceCache::new();
        assert_eq!(cache.get_or_count(1, b"hello", || 3), 3);
        assert_eq!(cache.get_or_count(1, b"hello", || unreachable!("cached")), 3);
        // Another table, another length, another piece: never a false hit.
        assert_eq!(cache.get_or_count(2, b"hello", || 4), 4);
        assert_eq!(cache.get_or_count(1, b"hell", || 5), 5);
        assert_eq!(cache.get_or_count(1, b"hello\0", || 6), 6);
        // Many pieces: every answer is the computed one, whatever was evicted.
        for i in 0..20_000u32 {
            let piece = format!("p{i}");
            assert_eq!(cache.get_or_count(0, piece.as_bytes(), || i as usize % 7 + 1), i as usize % 7 + 1);
        }
        for i in 0..20_000u32 {
            let piece = format!("p{i}");
            assert_eq!(cache.get_or_count(0, piece.as_bytes(), || i as usize % 7 + 1), i as usize % 7 + 1);
        }
    }
}
