//! A per-thread cache of token counts for short pieces, shared by the byte-pair merges (the
//! OpenAI encodings and the byte-level BPE fast path for `tokenizer.json`).
//!
//! Text repeats its words, and a piece's count only depends on its bytes and the vocabulary,
//! so a hit saves the merge and its lookups. Each vocabulary takes an owner id from
//! [`new_owner`], and an entry holds its whole key (owner and bytes), so a hit is always for the
//! same piece of the same vocabulary. The cache is direct-mapped with a fixed number of entries:
//! its memory is bounded (`ENTRIES` x 40 bytes per thread that counts,
//! allocated on first use and freed when the thread ends), a colliding piece just replaces the
//! entry, and no input can make it grow.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Pieces up to this many bytes are cached; longer ones are rare and costly to compare.
pub(crate) const MAX_PIECE: usize = 24;
const ENTRIES: usize = 4096;

#[derive(Clone, Copy)]
struct Entry {
    /// The piece, zero-padded.
    key: [u8; MAX_PIECE],
    /// The vocabulary the count belongs to.
    owner: u64,
    /// The piece's length, 0 for an empty entry (pieces are never empty).
    len: u8,
    count: u16,
}

const EMPTY: Entry = Entry { key: [0; MAX_PIECE], owner: 0, len: 0, count: 0 };

static OWNERS: AtomicU64 = AtomicU64::new(1);

/// A new owner id for a vocabulary's entries (never 0, never reused).
pub(crate) fn new_owner() -> u64 {
    OWNERS.fetch_add(1, Ordering::Relaxed)
}

pub(crate) struct PieceCache {
    entries: Box<[Entry]>,
}

impl PieceCache {
    fn new() -> Self {
        PieceCache { entries: vec![EMPTY; ENTRIES].into_boxed_slice() }
    }

    /// The count of `piece` (at most `MAX_PIECE` bytes) in `owner`'s vocabulary, computed by
    /// `count` on a miss.
    #[inline(always)]
    pub(crate) fn get_or_count(&mut self, owner: u64, piece: &[u8], count: impl FnOnce() -> usize) -> usize {
        debug_assert!(!piece.is_empty() && piece.len() <= MAX_PIECE);
        let mut key = [0u8; MAX_PIECE];
        key[..piece.len()].copy_from_slice(piece);
        let word = |i: usize| u64::from_le_bytes(key[i..i + 8].try_into().unwrap_or_default());
        let mut h = (piece.len() as u64) << 56 ^ owner;
        for w in [word(0), word(8), word(16)] {
            h = (h.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        let slot = &mut self.entries[(h >> 52) as usize & (ENTRIES - 1)];
        if slot.len as usize == piece.len() && slot.owner == owner && slot.key == key {
            return slot.count as usize;
        }
        let n = count();
        *slot = Entry { key, owner, len: piece.len() as u8, count: n as u16 };
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
