//! A per-thread cache of token counts for short pieces, shared by the byte-pair merges (the
//! OpenAI encodings and the `tokenizer.json` models).
//!
//! Text repeats its words, and a piece's count only depends on its bytes and the vocabulary,
//! so a hit saves the merge and its lookups. Each vocabulary takes an owner id from
//! [`new_owner`], and an entry holds its whole key (owner and bytes), so a hit is always for the
//! same piece of the same vocabulary. Three tables, each two-way set-associative with a fixed
//! number of entries, by piece length:
//! - up to 8 bytes (most words of prose with their space): a set in half a cache line,
//!   `TINY_SETS` x 32 bytes = 128 KiB;
//! - 9 to 24 bytes (SentencePiece words, with their three-byte `▁`, are mostly here): a set in
//!   one cache line, `SHORT_SETS` x 64 bytes = 256 KiB;
//! - 25 to 64 bytes (SentencePiece words of three-byte `▁`s, code indentation): `LONG_SETS`
//!   x 144 bytes = 144 KiB.
//!
//! Pieces of 65 to `MAX_LONG` (1,024) bytes (unspaced Chinese and Japanese, SentencePiece code
//! lines) go in a fourth table of `LONG_PIECES` entries, two-way by a hash of the bytes, each
//! entry holding a copy of its piece: a hit compares the whole piece, so it too is always the
//! same piece. It saves the costliest merges, and a hit costs a hash and a compare.
//!
//! Their memory is bounded (528 KiB per thread that counts, plus at most 1 MiB of long pieces
//! and 48 KiB of their entries, allocated on first use and freed when the thread ends); a new
//! piece replaces the older entry of its set, and no input can make them grow.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Pieces up to this many bytes go in the tiny table.
const MAX_TINY: usize = 8;
/// Pieces up to this many bytes go in the short table (and count as short pieces elsewhere).
pub(crate) const MAX_PIECE: usize = 24;
/// Pieces up to this many bytes are cached; longer ones are rare and costly to compare.
pub(crate) const MAX_CACHED: usize = 64;
/// Pieces up to this many bytes are kept in the table of long pieces; longer ones are
/// counted every time (a merge that long costs far more than the lookup would save).
pub(crate) const MAX_LONG: usize = 1024;
/// Entries of the table of long pieces (two per set).
const LONG_PIECES: usize = 1024;
/// Whole chunks of text (`bpe::chunks`) of at most this many bytes are kept, the most recent
/// `CHUNKS` of them.
pub(crate) const MAX_CHUNK: usize = 4096;
const CHUNKS: usize = 256;
const TINY_SETS: usize = 4096;
const SHORT_SETS: usize = 4096;
const LONG_SETS: usize = 1024;

/// An entry's tag: the owner in the low 40 bits, the piece's length in the next 8; the count
/// takes the top 16 bits of the same word. An empty entry is all zeros (owners are never 0).
const TAG_BITS: u64 = (1 << 48) - 1;
/// Owners that fit a tag (all of them in practice: one per loaded vocabulary). Pieces of a
/// later owner are counted without the cache.
const CACHED_OWNERS: u64 = 1 << 40;

/// The two ways of a set: each the piece's bytes as zero-padded little-endian words, and its
/// tag and count. The newer entry is first.
macro_rules! set {
    ($name:ident, $words:literal, $align:literal) => {
        #[derive(Clone, Copy)]
        #[repr(C, align($align))]
        struct $name {
            ways: [([u64; $words], u64); 2],
        }

        impl $name {
            const EMPTY: $name = $name { ways: [([0; $words], 0); 2] };
        }
    };
}
set!(TinySet, 1, 32);
set!(ShortSet, 3, 64);
set!(LongSet, 8, 8);

static OWNERS: AtomicU64 = AtomicU64::new(1);

/// A new owner id for a vocabulary's entries (never 0, never reused).
pub(crate) fn new_owner() -> u64 {
    OWNERS.fetch_add(1, Ordering::Relaxed)
}

pub(crate) struct PieceCache {
    tiny: Box<[TinySet]>,
    short: Box<[ShortSet]>,
    long: Box<[LongSet]>,
    /// Long pieces, the newer of a set first; made on first use.
    pieces: Vec<LongPiece>,
    /// Whole chunks, any key in any entry (found by a search of `chunk_hashes`, which holds
    /// their hashes in the same order), an entry at random replaced once all are full (unlike
    /// the least recently used, that keeps most of a text a little longer than the table
    /// counted again and again); made on first use.
    chunks: Vec<LongPiece>,
    chunk_hashes: Vec<u64>,
    /// The state of the generator that picks the entry to replace.
    chunk_random: u64,
    /// What this cache did since it last added to the process's figures (`cache_stats`).
    unreported: Local,
    /// The bytes this cache holds that the process's figures include.
    reported_bytes: u64,
}

/// One thread's figures, added to the process's now and then (`PieceCache::report`).
#[derive(Default)]
struct Local {
    lookups: u64,
    misses: u64,
    long_lookups: u64,
    long_hits: u64,
}

/// A thread adds its figures to the process's after this many lookups (and when it ends), so
/// that threads do not contend for the shared counters on every count.
const REPORT_EVERY: u64 = 4096;

static LOOKUPS: AtomicU64 = AtomicU64::new(0);
static MISSES: AtomicU64 = AtomicU64::new(0);
static LONG_LOOKUPS: AtomicU64 = AtomicU64::new(0);
static LONG_HITS: AtomicU64 = AtomicU64::new(0);
static THREADS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

/// What the piece caches of every thread have done since the process started, and what they
/// hold now. A thread's latest lookups (fewer than 4,096) are added when it makes more or ends;
/// the calling thread's are always included.
///
/// ```
/// use kano_tokenizer::{cache_stats, Config, EncodingName, Registry};
/// let cl100k = Registry::with_config(Config::default()).encoding(EncodingName::Cl100kBase)?;
/// cl100k.count("the cat and the dog and the bird");
/// let stats = cache_stats();
/// assert!(stats.hits <= stats.lookups && stats.long_hits <= stats.long_lookups);
/// assert!(stats.threads >= 1 && stats.bytes > 0); // this thread's cache
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups of pieces of up to 64 bytes.
    pub lookups: u64,
    /// Those that found their count.
    pub hits: u64,
    /// Lookups of long pieces and whole chunks of text (65 to 1,024 bytes).
    pub long_lookups: u64,
    /// Those that found their count.
    pub long_hits: u64,
    /// Threads that hold a cache now (each made on the thread's first count).
    pub threads: u64,
    /// The bytes those caches hold now.
    pub bytes: u64,
}

impl CacheStats {
    /// The share of all lookups that hit, from 0 to 1 (0 before any lookup).
    ///
    /// ```
    /// use kano_tokenizer::CacheStats;
    /// let stats = CacheStats { lookups: 8, hits: 6, long_lookups: 2, long_hits: 1, threads: 1, bytes: 0 };
    /// assert_eq!(stats.hit_rate(), 0.7); // (6 + 1) / (8 + 2)
    /// assert_eq!(CacheStats::default().hit_rate(), 0.0);
    /// ```
    pub fn hit_rate(&self) -> f64 {
        let all = self.lookups + self.long_lookups;
        if all == 0 {
            0.0
        } else {
            (self.hits + self.long_hits) as f64 / all as f64
        }
    }
}

/// The process's figures (`CacheStats`), the calling thread's latest lookups included.
///
/// ```
/// use kano_tokenizer::{cache_stats, Config, EncodingName, Registry};
/// let cl100k = Registry::with_config(Config::default()).encoding(EncodingName::Cl100kBase)?;
/// let before = cache_stats();
/// cl100k.count("the cat and the dog and the bird");
/// let after = cache_stats();
/// assert!(after.lookups > before.lookups); // counted now, not after 4,096 lookups
/// assert!(after.hits > before.hits); // "the" and " and" repeat
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub fn cache_stats() -> CacheStats {
    with_thread_local(&CACHE, |slot| {
        if let Some(Some(cache)) = slot {
            cache.report();
        }
    });
    let lookups = LOOKUPS.load(Ordering::Relaxed);
    let long_lookups = LONG_LOOKUPS.load(Ordering::Relaxed);
    CacheStats {
        lookups,
        hits: lookups.saturating_sub(MISSES.load(Ordering::Relaxed)),
        long_lookups,
        long_hits: LONG_HITS.load(Ordering::Relaxed).min(long_lookups),
        threads: THREADS.load(Ordering::Relaxed),
        bytes: BYTES.load(Ordering::Relaxed),
    }
}

/// A long piece and its count. An empty entry has owner 0.
#[derive(Default)]
struct LongPiece {
    owner: u64,
    hash: u64,
    count: usize,
    bytes: Vec<u8>,
}

/// A hash of a long piece: its length and at most 64 bytes from each end, so that it costs the
/// same for a chunk of a kilobyte as for a piece of 65 bytes. Pieces that share both ends and
/// their length share a set; a lookup compares the whole piece anyway, so they only evict each
/// other (each lookup still costs at most one compare of the piece).
#[inline(always)]
pub(crate) fn hash_long(piece: &[u8]) -> u64 {
    let n = piece.len();
    let mut lanes = [n as u64, MIX[0], MIX[1], MIX[2]];
    let mut mix = |at: usize, lane: usize| {
        lanes[lane] = (lanes[lane] ^ word(piece, at)).wrapping_mul(MIX[lane % 3] | 1).rotate_left(29);
    };
    if n <= 128 {
        for (k, at) in (0..n).step_by(8).enumerate() {
            mix(at, k % 4);
        }
    } else {
        // The first and the last 64 bytes, four independent lanes.
        for k in 0..8 {
            mix(8 * k, k % 4);
            mix(n - 64 + 8 * k, (k + 2) % 4);
        }
    }
    let h = lanes[0] ^ lanes[1].rotate_left(17) ^ lanes[2].rotate_left(31) ^ lanes[3].rotate_left(47);
    (h ^ h >> 29).wrapping_mul(MIX[2])
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

const MIX: [u64; 3] = [0x9e37_79b9_7f4a_7c15, 0xc2b2_ae3d_27d4_eb4f, 0x1656_67b1_9e37_79f9];

/// The set of a key among `sets` (a power of two), from the top bits of a multiply per word.
#[inline(always)]
fn set_of<const W: usize>(key: &[u64; W], tag: u64, sets: usize) -> usize {
    let mut h = (key[0] ^ tag.rotate_left(23)).wrapping_mul(MIX[0]);
    for (i, &w) in key.iter().enumerate().skip(1) {
        h ^= w.wrapping_mul(MIX[i % 3] | 1).rotate_left(i as u32 * 7);
    }
    if W == 1 {
        // Tiny pieces: bits 40-51 of one product. Short frequent words fall in fewer cache
        // lines this way, which keeps prose's hits in the core's cache (a fully mixed hash
        // spread them over the whole table and cost a third of GPT-2's speed).
        return (h >> 40) as usize & (sets - 1);
    }
    // Longer keys: the top bits of a product depend on every bit below them, and a final mix
    // spreads the last bytes of a key (SentencePiece words that differ only in their ending
    // shared a set and evicted each other every pass) over the sets.
    let h = (h ^ h >> 29).wrapping_mul(MIX[2]);
    (h >> (64 - sets.trailing_zeros())) as usize
}

/// The count in a set's ways, or `count`'s, kept in the first way.
#[inline(always)]
fn probe<const W: usize>(
    ways: &mut [([u64; W], u64); 2],
    key: [u64; W],
    tag: u64,
    count: impl FnOnce() -> usize,
) -> usize {
    // Both ways compared without a branch between them: which way holds a piece is not
    // predictable, whether a way does mostly is.
    let [(k0, m0), (k1, m1)] = *ways;
    let hit0 = (k0 == key) & (m0 & TAG_BITS == tag);
    let hit1 = (k1 == key) & (m1 & TAG_BITS == tag);
    if hit0 | hit1 {
        return (if hit0 { m0 } else { m1 } >> 48) as usize;
    }
    miss(ways, key, tag, count)
}

/// Counts a piece and keeps its count, out of the loop of hits.
#[inline(never)]
fn miss<const W: usize>(
    ways: &mut [([u64; W], u64); 2],
    key: [u64; W],
    tag: u64,
    count: impl FnOnce() -> usize,
) -> usize {
    let n = count();
    if n < 1 << 16 {
        ways[1] = ways[0];
        ways[0] = (key, tag | (n as u64) << 48);
    }
    n
}

impl PieceCache {
    fn new() -> Self {
        THREADS.fetch_add(1, Ordering::Relaxed);
        PieceCache {
            tiny: vec![TinySet::EMPTY; TINY_SETS].into_boxed_slice(),
            short: vec![ShortSet::EMPTY; SHORT_SETS].into_boxed_slice(),
            long: vec![LongSet::EMPTY; LONG_SETS].into_boxed_slice(),
            pieces: Vec::new(),
            chunks: Vec::new(),
            chunk_hashes: Vec::new(),
            chunk_random: MIX[0],
            unreported: Local::default(),
            reported_bytes: 0,
        }
    }

    /// The bytes this cache holds: its tables, and the long pieces' entries and copies.
    fn bytes(&self) -> u64 {
        let tables = std::mem::size_of_val(&*self.tiny)
            + std::mem::size_of_val(&*self.short)
            + std::mem::size_of_val(&*self.long);
        let pieces = self.pieces.capacity() * std::mem::size_of::<LongPiece>()
            + self.pieces.iter().map(|p| p.bytes.capacity()).sum::<usize>();
        let chunks = self.chunks.capacity() * std::mem::size_of::<LongPiece>()
            + self.chunks.iter().map(|p| p.bytes.capacity()).sum::<usize>()
            + self.chunk_hashes.capacity() * 8;
        (tables + pieces + chunks) as u64
    }

    /// Adds this cache's figures since the last report to the process's.
    fn report(&mut self) {
        let local = std::mem::take(&mut self.unreported);
        LOOKUPS.fetch_add(local.lookups, Ordering::Relaxed);
        MISSES.fetch_add(local.misses, Ordering::Relaxed);
        LONG_LOOKUPS.fetch_add(local.long_lookups, Ordering::Relaxed);
        LONG_HITS.fetch_add(local.long_hits, Ordering::Relaxed);
        let bytes = self.bytes();
        if bytes >= self.reported_bytes {
            BYTES.fetch_add(bytes - self.reported_bytes, Ordering::Relaxed);
        } else {
            BYTES.fetch_sub(self.reported_bytes - bytes, Ordering::Relaxed);
        }
        self.reported_bytes = bytes;
    }

    /// `report` once enough lookups have gathered.
    #[inline]
    fn report_now_and_then(&mut self) {
        if self.unreported.lookups + self.unreported.long_lookups >= REPORT_EVERY {
            self.report();
        }
    }

    /// The count of a long piece (more than `MAX_CACHED` bytes) in `owner`'s vocabulary if the
    /// table of long pieces has it.
    pub(crate) fn get_long(&mut self, owner: u64, piece: &[u8]) -> Option<usize> {
        self.get_long_hashed(owner, piece, hash_long(piece))
    }

    /// `get_long` with the piece's `hash_long` already computed.
    pub(crate) fn get_long_hashed(&mut self, owner: u64, piece: &[u8], hash: u64) -> Option<usize> {
        if piece.len() > MAX_LONG {
            return None;
        }
        self.unreported.long_lookups += 1;
        if self.pieces.is_empty() {
            return None;
        }
        let set = (hash >> 40) as usize % (LONG_PIECES / 2);
        let found = self.pieces[2 * set..2 * set + 2]
            .iter()
            .find(|e| e.owner == owner && e.hash == hash && e.bytes == piece)
            .map(|e| e.count);
        self.unreported.long_hits += u64::from(found.is_some());
        found
    }

    /// Keeps the count of a long piece (a copy of it, if it is at most `MAX_LONG` bytes), in
    /// place of the older entry of its set.
    pub(crate) fn put_long(&mut self, owner: u64, piece: &[u8], count: usize) {
        self.put_long_hashed(owner, piece, hash_long(piece), count)
    }

    /// `put_long` with the piece's `hash_long` already computed.
    pub(crate) fn put_long_hashed(&mut self, owner: u64, piece: &[u8], hash: u64, count: usize) {
        if piece.len() > MAX_LONG {
            return;
        }
        if self.pieces.is_empty() {
            self.pieces.resize_with(LONG_PIECES, LongPiece::default);
        }
        let set = (hash >> 40) as usize % (LONG_PIECES / 2);
        self.pieces.swap(2 * set, 2 * set + 1);
        let entry = &mut self.pieces[2 * set];
        entry.bytes.clear();
        entry.bytes.extend_from_slice(piece);
        (entry.owner, entry.hash, entry.count) = (owner, hash, count);
    }

    /// The count of a whole chunk of text (at most `MAX_CHUNK` bytes, `hash` its `hash_long`)
    /// in `owner`'s counting, if it is one of the chunks kept.
    pub(crate) fn get_chunk(&mut self, owner: u64, chunk: &[u8], hash: u64) -> Option<usize> {
        self.unreported.long_lookups += 1;
        let chunks = &self.chunks;
        let at = self
            .chunk_hashes
            .iter()
            .enumerate()
            .filter(|&(_, &h)| h == hash)
            .map(|(i, _)| i)
            .find(|&i| chunks[i].owner == owner && chunks[i].bytes == chunk)?;
        self.unreported.long_hits += 1;
        Some(self.chunks[at].count)
    }

    /// Keeps a whole chunk's count (a copy of it, if it is at most `MAX_CHUNK` bytes), in an
    /// empty entry, else in place of one at random.
    pub(crate) fn put_chunk(&mut self, owner: u64, chunk: &[u8], hash: u64, count: usize) {
        if chunk.len() > MAX_CHUNK {
            return;
        }
        if self.chunks.is_empty() {
            self.chunks.resize_with(CHUNKS, LongPiece::default);
            self.chunk_hashes = vec![0; CHUNKS];
        }
        let at = match self.chunks.iter().position(|e| e.owner == 0) {
            Some(empty) => empty,
            None => {
                // xorshift64: no input can steer it.
                let x = &mut self.chunk_random;
                *x ^= *x << 13;
                *x ^= *x >> 7;
                *x ^= *x << 17;
                (*x % CHUNKS as u64) as usize
            }
        };
        let entry = &mut self.chunks[at];
        entry.bytes.clear();
        entry.bytes.extend_from_slice(chunk);
        (entry.owner, entry.hash, entry.count) = (owner, hash, count);
        self.chunk_hashes[at] = hash;
    }

    /// `get_long`, else `count`'s, kept by `put_long`.
    #[inline(never)]
    pub(crate) fn get_or_count_long(&mut self, owner: u64, piece: &[u8], count: impl FnOnce() -> usize) -> usize {
        if let Some(n) = self.get_long(owner, piece) {
            return n;
        }
        let n = count();
        self.put_long(owner, piece, n);
        n
    }

    /// The count of `piece` (1 to `MAX_CACHED` bytes) in `owner`'s vocabulary, computed by
    /// `count` on a miss.
    #[inline(always)]
    pub(crate) fn get_or_count(&mut self, owner: u64, piece: &[u8], count: impl FnOnce() -> usize) -> usize {
        debug_assert!(!piece.is_empty() && piece.len() <= MAX_CACHED);
        let tag = owner | (piece.len() as u64) << 40;
        self.unreported.lookups += 1;
        if piece.len() <= MAX_TINY && owner < CACHED_OWNERS {
            let key = [word(piece, 0)];
            let set = set_of(&key, tag, TINY_SETS);
            let misses = &mut self.unreported.misses;
            return probe(&mut self.tiny[set].ways, key, tag, || {
                *misses += 1;
                count()
            });
        }
        self.get_or_count_longer(owner, piece, count)
    }

    /// `get_or_count` for the piece `text[from..end]`: a tiny piece with 8 bytes of text from
    /// its start is read in one load and masked to its length, with no branch on the length.
    #[inline(always)]
    pub(crate) fn get_or_count_at(
        &mut self,
        owner: u64,
        text: &[u8],
        from: usize,
        end: usize,
        count: impl FnOnce() -> usize,
    ) -> usize {
        let n = end - from;
        debug_assert!(n > 0 && end <= text.len());
        match text.get(from..from + 8) {
            Some(bytes) if n <= MAX_TINY && owner < CACHED_OWNERS => {
                let key = [u64::from_le_bytes(bytes.try_into().unwrap_or_default()) & (!0u64 >> (64 - 8 * n))];
                let tag = owner | (n as u64) << 40;
                let set = set_of(&key, tag, TINY_SETS);
                self.unreported.lookups += 1;
                let misses = &mut self.unreported.misses;
                probe(&mut self.tiny[set].ways, key, tag, || {
                    *misses += 1;
                    count()
                })
            }
            _ => self.get_or_count(owner, &text[from..end], count),
        }
    }

    /// Pieces of 9 to 64 bytes, out of the tiny pieces' loop.
    #[inline(never)]
    fn get_or_count_longer(&mut self, owner: u64, piece: &[u8], count: impl FnOnce() -> usize) -> usize {
        let misses = &mut self.unreported.misses;
        let count = || {
            *misses += 1;
            count()
        };
        if owner >= CACHED_OWNERS {
            return count();
        }
        let tag = owner | (piece.len() as u64) << 40;
        if piece.len() <= MAX_PIECE {
            let key = [word(piece, 0), word(piece, 8), word(piece, 16)];
            let set = set_of(&key, tag, SHORT_SETS);
            return probe(&mut self.short[set].ways, key, tag, count);
        }
        let mut key = [0u64; 8];
        for (i, k) in key.iter_mut().enumerate() {
            *k = word(piece, 8 * i);
        }
        let set = set_of(&key, tag, LONG_SETS);
        probe(&mut self.long[set].ways, key, tag, count)
    }
}

impl Drop for PieceCache {
    fn drop(&mut self) {
        self.report();
        BYTES.fetch_sub(self.reported_bytes, Ordering::Relaxed);
        THREADS.fetch_sub(1, Ordering::Relaxed);
    }
}

thread_local! {
    static CACHE: RefCell<Option<PieceCache>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's cache, or with none while the thread is ending (thread-local
/// storage already destroyed) or if the cache is in use further up the stack.
pub(crate) fn with_cache<R>(f: impl FnOnce(Option<&mut PieceCache>) -> R) -> R {
    with_thread_local(&CACHE, |slot| match slot {
        Some(slot) => {
            let cache = slot.get_or_insert_with(PieceCache::new);
            let r = f(Some(&mut *cache));
            cache.report_now_and_then();
            r
        }
        None => f(None),
    })
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
            assert_eq!(cache.get_or_count(3, piece.as_bytes(), || i as usize % 7 + 1), i as usize % 7 + 1);
        }
        for i in 0..20_000u32 {
            let piece = format!("p{i}");
            assert_eq!(cache.get_or_count(3, piece.as_bytes(), || i as usize % 7 + 1), i as usize % 7 + 1);
        }
    }

    /// Chunks hit only for the same bytes and owner; 256 are kept, and longer ones are not.
    #[test]
    fn chunks_hit_only_themselves_and_the_recent_ones_stay() {
        let mut cache = PieceCache::new();
        let chunk = |i: usize| format!("{i:0>2100}").into_bytes();
        let get = |c: &mut PieceCache, owner: u64, b: &[u8]| c.get_chunk(owner, b, hash_long(b));
        let a = chunk(1);
        assert_eq!(get(&mut cache, 1, &a), None);
        cache.put_chunk(1, &a, hash_long(&a), 7);
        assert_eq!(get(&mut cache, 1, &a), Some(7));
        assert_eq!(get(&mut cache, 2, &a), None);
        let mut b = a.clone();
        b[1000] ^= 1; // the same ends and length: the same hash, another chunk
        assert_eq!(hash_long(&a), hash_long(&b));
        assert_eq!(get(&mut cache, 1, &b), None);
        // 300 more: every answer is the stored one or none, and the table stays at 256.
        for i in 2..302 {
            let c = chunk(i);
            cache.put_chunk(1, &c, hash_long(&c), i);
        }
        let mut kept = 0;
        for i in 2..302 {
            if let Some(n) = get(&mut cache, 1, &chunk(i)) {
                assert_eq!(n, i);
                kept += 1;
            }
        }
        kept += usize::from(get(&mut cache, 1, &a) == Some(7));
        assert_eq!(kept, CHUNKS);
        // The newest was just put: it is there.
        assert_eq!(get(&mut cache, 1, &chunk(301)), Some(301));
        let huge = vec![b'a'; MAX_CHUNK + 1];
        cache.put_chunk(1, &huge, hash_long(&huge), 9);
        assert_eq!(get(&mut cache, 1, &huge), None);
        assert!(cache.bytes() < 3 << 20, "{} bytes", cache.bytes());
    }

    /// Long pieces hit only for the same bytes and owner, and their memory stays bounded.
    #[test]
    fn long_pieces_hit_only_themselves() {
        let mut cache = PieceCache::new();
        let long: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(cache.get_or_count_long(1, &long, || 40), 40);
        assert_eq!(cache.get_or_count_long(1, &long, || unreachable!("cached")), 40);
        assert_eq!(cache.get_or_count_long(2, &long, || 41), 41);
        let mut other = long.clone();
        other[299] ^= 1;
        assert_eq!(cache.get_or_count_long(1, &other, || 42), 42);
        assert_eq!(cache.get_or_count_long(1, &long[..299], || 43), 43);
        // Longer than the table keeps: counted every time.
        let huge = vec![b'a'; MAX_LONG + 1];
        assert_eq!(cache.get_or_count_long(1, &huge, || 44), 44);
        assert_eq!(cache.get_or_count_long(1, &huge, || 45), 45);
        // Many pieces: every answer is the computed one, and the copies stay bounded.
        for round in 0..2 {
            for i in 0..5_000usize {
                let piece = format!("{i:0>100}{}", "x".repeat(i % 900));
                let got = cache.get_or_count_long(3, piece.as_bytes(), || i % 1000 + 1);
                assert_eq!(got, i % 1000 + 1, "round {round}, piece {i}");
            }
        }
        assert_eq!(cache.pieces.len(), LONG_PIECES);
        assert!(cache.pieces.iter().all(|e| e.bytes.capacity() <= 2 * MAX_LONG));
    }

    /// Pieces read in place from a text are the same entries as the pieces alone.
    #[test]
    fn pieces_read_in_place_are_the_same_entries() {
        let mut cache = PieceCache::new();
        let text: Vec<u8> = (0..200u8).map(|b| b.wrapping_mul(31) ^ 0x55).collect();
        for from in 0..150 {
            for n in 1..=MAX_CACHED.min(text.len() - from) {
                let piece = &text[from..from + n];
                let want = from * 100 + n;
                assert_eq!(cache.get_or_count(9, piece, || want), want);
                assert_eq!(cache.get_or_count_at(9, &text, from, from + n, || unreachable!("cached")), want);
            }
        }
    }

    /// Every length of every table: a piece and the same bytes with a zero byte after them
    /// are different pieces, and so are the same bytes of two owners.
    #[test]
    fn every_length_keeps_its_own_count() {
        let mut cache = PieceCache::new();
        let bytes: Vec<u8> = (0..=MAX_CACHED as u8).map(|b| b.wrapping_mul(97)).collect();
        for n in 1..MAX_CACHED {
            let piece = &bytes[..n];
            let mut padded = piece.to_vec();
            padded.push(0);
            assert_eq!(cache.get_or_count(5, piece, || n), n);
            assert_eq!(cache.get_or_count(5, &padded, || n + 1000), n + 1000);
            assert_eq!(cache.get_or_count(6, piece, || n + 2000), n + 2000);
            assert_eq!(cache.get_or_count(5, piece, || unreachable!("cached")), n);
            assert_eq!(cache.get_or_count(5, &padded, || unreachable!("cached")), n + 1000);
            assert_eq!(cache.get_or_count(6, piece, || unreachable!("cached")), n + 2000);
        }
        // An owner past the tags' range is never cached.
        assert_eq!(cache.get_or_count(CACHED_OWNERS, b"x", || 1), 1);
        assert_eq!(cache.get_or_count(CACHED_OWNERS, b"x", || 2), 2);
    }
}
