//! The OpenAI encodings: names, model table, rank tables and exact counting with
//! `encode_ordinary` semantics (special-token text such as `<|endoftext|>` is ordinary text).
//!
//! tiktoken-rs supplies the rank files, which are embedded in the binary. Counting uses this
//! module's linear-time splitter and merge, which give the same tokens as tiktoken; the tests
//! check that against tiktoken-rs and against reference data from the Python package.

pub(crate) mod class_maps;
pub(crate) mod classes;
mod models;
mod piece_starts;
pub(crate) mod split;

use std::ops::ControlFlow;
use std::sync::Arc;

use crate::bpe::backtrack::{self, Backtracker};
use crate::bpe::chunks::{self, PieceFit};
use crate::bpe::merge as bpe;
use crate::bpe::piece_cache::{self as cache, PieceCache};
use crate::bpe::ranks::{self, RankMap};
use crate::error::{Error, ErrorKind, Result};
use crate::estimate::{self, Estimate, Family, Features};
pub use models::{encoding_for_model, model_table, prefix_table};
use split::SplitPattern;

/// An OpenAI encoding that tiktoken-rs ships.
///
/// ```
/// use kano_tokenizer::EncodingName;
/// let name = EncodingName::Cl100kBase;
/// assert_eq!(name.to_string(), "cl100k_base");
/// assert_eq!(EncodingName::parse("cl100k_base"), Some(name));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncodingName {
    /// `r50k_base` (GPT-3 and the legacy embeddings).
    R50kBase,
    /// GPT-2's encoding: the same ranks and pattern as `r50k_base`.
    Gpt2,
    /// `p50k_base` (Codex and `text-davinci-002`/`003`).
    P50kBase,
    /// `p50k_base` with extra special tokens, which `encode_ordinary` never produces.
    P50kEdit,
    /// `cl100k_base` (GPT-4, GPT-3.5 and the `text-embedding-3` models).
    Cl100kBase,
    /// `o200k_base` (GPT-4o, GPT-4.1, GPT-5 and the o-series).
    O200kBase,
    /// `o200k_base` with the gpt-oss special tokens, which `encode_ordinary` never produces.
    O200kHarmony,
}

/// The four distinct rank tables behind the encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RankTableId {
    R50k = 0,
    P50k = 1,
    Cl100k = 2,
    O200k = 3,
}

impl RankTableId {
    /// Whether the split pattern keeps a run of digits in one piece (`` ?\p{N}+``); cl100k and
    /// o200k cut it into groups of at most three.
    pub(crate) fn digit_runs(self) -> bool {
        matches!(self, RankTableId::R50k | RankTableId::P50k)
    }
}

impl EncodingName {
    /// Every encoding, in the order of [`EncodingName::ALL_NAMES`].
    ///
    /// ```
    /// use kano_tokenizer::EncodingName;
    /// assert_eq!(EncodingName::ALL.len(), 7);
    /// assert!(EncodingName::ALL.iter().all(|&e| EncodingName::parse(e.as_str()) == Some(e)));
    /// ```
    pub const ALL: [EncodingName; 7] = [
        EncodingName::R50kBase,
        EncodingName::Gpt2,
        EncodingName::P50kBase,
        EncodingName::P50kEdit,
        EncodingName::Cl100kBase,
        EncodingName::O200kBase,
        EncodingName::O200kHarmony,
    ];
    /// The tiktoken name of each encoding in [`EncodingName::ALL`].
    ///
    /// ```
    /// use kano_tokenizer::EncodingName;
    /// assert_eq!(EncodingName::ALL_NAMES[4], "cl100k_base");
    /// assert_eq!(EncodingName::ALL[4].as_str(), EncodingName::ALL_NAMES[4]);
    /// ```
    pub const ALL_NAMES: [&'static str; 7] =
        ["r50k_base", "gpt2", "p50k_base", "p50k_edit", "cl100k_base", "o200k_base", "o200k_harmony"];

    /// The tiktoken name, as `Display` writes it.
    ///
    /// ```
    /// use kano_tokenizer::EncodingName;
    /// assert_eq!(EncodingName::O200kHarmony.as_str(), "o200k_harmony");
    /// assert_eq!(EncodingName::Gpt2.to_string(), "gpt2");
    /// ```
    pub fn as_str(self) -> &'static str {
        Self::ALL_NAMES[Self::ALL.iter().position(|&e| e == self).unwrap_or(0)]
    }

    /// The encoding of a tiktoken name, exactly as spelt in [`EncodingName::ALL_NAMES`].
    ///
    /// ```
    /// use kano_tokenizer::EncodingName;
    /// assert_eq!(EncodingName::parse("o200k_base"), Some(EncodingName::O200kBase));
    /// assert_eq!(EncodingName::parse("CL100K_BASE"), None);
    /// assert_eq!(EncodingName::parse("gpt-4o"), None); // a model: see `encoding_for_model`
    /// ```
    pub fn parse(name: &str) -> Option<EncodingName> {
        Self::ALL_NAMES.iter().position(|&n| n == name).map(|i| Self::ALL[i])
    }

    pub(crate) fn table(self) -> RankTableId {
        match self {
            EncodingName::R50kBase | EncodingName::Gpt2 => RankTableId::R50k,
            EncodingName::P50kBase | EncodingName::P50kEdit => RankTableId::P50k,
            EncodingName::Cl100kBase => RankTableId::Cl100k,
            EncodingName::O200kBase | EncodingName::O200kHarmony => RankTableId::O200k,
        }
    }

    /// The estimator family (weights calibrated on this rank table).
    ///
    /// ```
    /// use kano_tokenizer::{EncodingName, Family};
    /// assert_eq!(EncodingName::Cl100kBase.family(), Family::Cl100k);
    /// assert_eq!(EncodingName::P50kEdit.family(), Family::P50k);
    /// ```
    pub fn family(self) -> Family {
        match self.table() {
            RankTableId::R50k => Family::R50k,
            RankTableId::P50k => Family::P50k,
            RankTableId::Cl100k => Family::Cl100k,
            RankTableId::O200k => Family::O200k,
        }
    }

    fn pattern(self) -> SplitPattern {
        match self.table() {
            RankTableId::R50k | RankTableId::P50k => SplitPattern::R50k,
            RankTableId::Cl100k => SplitPattern::Cl100k,
            RankTableId::O200k => SplitPattern::O200k,
        }
    }
}

impl std::fmt::Display for EncodingName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ordinary tokens of one rank table, loaded once per registry and shared by its adapters.
pub struct RankTable {
    /// This table's entries in the per-thread piece cache.
    cache_owner: u64,
    pub(crate) ranks: RankMap,
    /// The linear-time encoder for long pieces (`None`: the table does not allow it, and the
    /// heap merge serves them).
    backtracker: Option<Backtracker>,
}

impl RankTable {
    /// The table of a byte-level `tokenizer.json` BPE model whose merge list is a rank table:
    /// every byte is a token (`tokens[id]` its bytes), merge `i` makes a token of its own, and
    /// that token's last merge, as this table's BPE makes it from its bytes, is merge `i`. Then
    /// the merge list and tiktoken's rule (merge any pair whose bytes are a token, lowest rank
    /// first) make the same merges in the same order, since a merge only ever fires as some
    /// token's last merge; the table counts the model with its encoder, digit tables and
    /// caches. `None` when the list is not such a table.
    pub(crate) fn from_merge_list(tokens: &[Vec<u8>], merges: &[(u32, u32, u32)]) -> Option<RankTable> {
        let mut rank_of_id = vec![ranks::NO_RANK; tokens.len()];
        let mut table: Vec<(Vec<u8>, u32)> = Vec::with_capacity(merges.len() + 256);
        for (id, t) in tokens.iter().enumerate() {
            if let [b] = t.as_slice() {
                rank_of_id[id] = *b as u32;
                table.push((t.clone(), *b as u32));
            }
        }
        if table.len() != 256 {
            return None;
        }
        for (i, &(_, _, merged)) in merges.iter().enumerate() {
            let slot = rank_of_id.get_mut(merged as usize)?;
            if *slot != ranks::NO_RANK {
                // Made twice, or a byte.
                return None;
            }
            *slot = 256 + i as u32;
            table.push((tokens[merged as usize].clone(), *slot));
        }
        if table.iter().any(|&(_, rank)| rank >= 1 << 24) {
            return None;
        }
        let ranks = RankMap::build(&table);
        drop(table);
        let backtracker = Backtracker::build(&ranks, true)?;
        for (i, &(a, b, _)) in merges.iter().enumerate() {
            let parts = [rank_of_id.get(a as usize).copied()?, rank_of_id.get(b as usize).copied()?];
            if backtracker.split_of(256 + i as u32) != parts {
                return None;
            }
        }
        Some(RankTable { cache_owner: cache::new_owner(), ranks, backtracker: Some(backtracker) })
    }

    /// Builds the table from the rank file that tiktoken-rs embeds.
    pub(crate) fn load(id: RankTableId) -> Result<RankTable> {
        let core = match id {
            RankTableId::R50k => tiktoken_rs::r50k_base(),
            RankTableId::P50k => tiktoken_rs::p50k_base(),
            RankTableId::Cl100k => tiktoken_rs::cl100k_base(),
            RankTableId::O200k => tiktoken_rs::o200k_base(),
        }
        .map_err(|e| Error::new(ErrorKind::AdapterUnavailable, format!("cannot load the {id:?} rank table: {e}")))?;
        let specials = core.special_tokens();
        let mut tokens = Vec::with_capacity(210_000);
        // Ordinary ranks are dense from 0; past the end, decoding fails or yields a special token.
        let mut misses = 0;
        for rank in 0u32.. {
            match core.decode_bytes(&[rank]) {
                Ok(bytes) if !std::str::from_utf8(&bytes).is_ok_and(|s| specials.contains(s)) => {
                    tokens.push((bytes, rank));
                    misses = 0;
                }
                _ => {
                    misses += 1;
                    if misses > 2_000 {
                        break;
                    }
                }
            }
        }
        drop(core);
        // The heap merge (bpe.rs) and the backtracking encoder's pair memo (backtrack.rs) pack a rank
        // into 24 bits; every OpenAI table fits.
        if tokens.iter().any(|&(_, rank)| rank >= 1 << 24) {
            return Err(Error::new(
                ErrorKind::AdapterUnavailable,
                format!("the {id:?} rank table has ranks above 2^24"),
            ));
        }
        let ranks = RankMap::build(&tokens);
        drop(tokens);
        let backtracker = Backtracker::build(&ranks, id.digit_runs());
        release_freed_memory();
        Ok(RankTable { cache_owner: cache::new_owner(), ranks, backtracker })
    }

    /// The tokens of a piece, without the cache. The small merge is quadratic and starts from
    /// single bytes, so it only serves short pieces that do not end in a multi-byte character
    /// (mostly ASCII words); the backtracking encoder takes whole tokens at once and serves the
    /// rest. Measured on the bench corpus, this split is the fastest for every script.
    /// `pair_memo` is the thread's pair memo for this table (`backtrack::with_pair_memo`).
    fn count_uncached(&self, piece: &[u8], pair_memo: &mut Option<&mut [u64]>) -> usize {
        let n = piece.len();
        let short = n <= cache::MAX_PIECE && (n <= 6 || piece[n - 1] < 0x80);
        match &self.backtracker {
            Some(bt) if !short => bt
                .count(&self.ranks, piece, pair_memo.as_deref_mut())
                .unwrap_or_else(|| bpe::count_piece(piece, &self.ranks)),
            _ => bpe::count_piece(piece, &self.ranks),
        }
    }

    /// Whether long pieces are counted by the backtracking encoder (all four OpenAI tables).
    pub fn backtracks(&self) -> bool {
        self.backtracker.is_some()
    }

    /// The tokens of one piece, through the thread's piece cache (`cache`: taken once per
    /// text) and, for a long piece, its pair memo (for a `tokenizer.json` model whose merges are
    /// this table's: `huggingface/bpe.rs`).
    #[inline(always)]
    pub(crate) fn count_piece_cached(&self, piece: &[u8], cache: &mut Option<&mut PieceCache>) -> usize {
        match piece.len() {
            0 | 1 => piece.len(),
            n => match cache.as_deref_mut() {
                Some(cache) if n <= cache::MAX_CACHED => {
                    cache.get_or_count(self.cache_owner, piece, || self.count_without_cache(piece))
                }
                Some(cache) => cache.get_or_count_long(self.cache_owner, piece, || self.count_without_cache(piece)),
                _ => self.count_without_cache(piece),
            },
        }
    }

    /// The tokens of a batch of pieces (`SplitPattern::for_each_batch`): `text[from..ends[0]]`,
    /// `text[ends[0]..ends[1]]`, ... The cache and the table are looked up once for the batch.
    #[inline(always)]
    pub(crate) fn count_batch(
        &self,
        text: &[u8],
        mut from: usize,
        ends: &[usize],
        cache: &mut Option<&mut PieceCache>,
    ) -> u64 {
        let mut total = 0u64;
        match cache.as_deref_mut() {
            Some(cache) => {
                let owner = self.cache_owner;
                for &end in ends {
                    let start = from;
                    from = end;
                    // One byte is a token; two are one if their pair is (bytes are tokens).
                    total += if end - start == 1 {
                        1
                    } else if end - start == 2 {
                        2 - self.ranks.pair_is_token(text[start], text[start + 1]) as usize
                    } else if end - start <= cache::MAX_CACHED {
                        cache.get_or_count_at(owner, text, start, end, || self.count_without_cache(&text[start..end]))
                    } else {
                        let piece = &text[start..end];
                        cache.get_or_count_long(owner, piece, || self.count_without_cache(piece))
                    } as u64;
                }
            }
            None => {
                for &end in ends {
                    total += self.count_without_cache(&text[from..end]) as u64;
                    from = end;
                }
            }
        }
        total
    }

    /// A piece's count when the cache has none: the pair memo of this thread (prose repeats its
    /// character pairs from piece to piece even where pieces do not repeat).
    #[inline(never)]
    fn count_without_cache(&self, piece: &[u8]) -> usize {
        if piece.len() <= 1 {
            piece.len()
        } else if piece.len() <= 3 {
            bpe::count_tiny(piece, &self.ranks)
        } else {
            backtrack::with_pair_memo(self.cache_owner, |mut memo| self.count_uncached(piece, &mut memo))
        }
    }
}

/// Loading goes through tiktoken-rs's encoder, whose maps (tens of MB) are freed once the
/// compact table is built; glibc keeps freed memory in the process unless asked to return it.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How far past a thread's share of a text `Encoding::count_in_parts` looks for a word gap.
const PART_GAP_SEARCH: usize = 1 << 16;

/// An encoding ready to count: a shared rank table and its split pattern.
///
/// ```
/// use kano_tokenizer::{Config, EncodingName, Registry};
/// let cl100k = Registry::with_config(Config::default()).encoding(EncodingName::Cl100kBase)?;
/// assert_eq!(cl100k.count("Hello, world!"), 4);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Clone)]
pub struct Encoding {
    name: EncodingName,
    table: Arc<RankTable>,
    /// This encoding's whole chunks of text in the piece cache (`bpe::chunks`).
    chunk_owner: u64,
}

impl Encoding {
    pub(crate) fn new(name: EncodingName, table: Arc<RankTable>) -> Self {
        Encoding { name, table, chunk_owner: crate::bpe::piece_cache::new_owner() }
    }

    /// Which encoding this is.
    ///
    /// ```
    /// use kano_tokenizer::{Config, EncodingName, Registry};
    /// let o200k = Registry::with_config(Config::default()).encoding(EncodingName::O200kBase)?;
    /// assert_eq!(o200k.name(), EncodingName::O200kBase);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn name(&self) -> EncodingName {
        self.name
    }

    /// Whether both encodings use the same loaded rank table.
    ///
    /// ```
    /// use kano_tokenizer::{Config, EncodingName, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// let o200k = registry.encoding(EncodingName::O200kBase)?;
    /// assert!(o200k.same_table(&registry.encoding(EncodingName::O200kHarmony)?));
    /// assert!(!o200k.same_table(&registry.encoding(EncodingName::Cl100kBase)?));
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn same_table(&self, other: &Encoding) -> bool {
        Arc::ptr_eq(&self.table, &other.table)
    }

    /// The exact number of tokens of `encode_ordinary(text)`.
    ///
    /// ```
    /// use kano_tokenizer::{Config, EncodingName, Registry};
    /// let cl100k = Registry::with_config(Config::default()).encoding(EncodingName::Cl100kBase)?;
    /// assert_eq!(cl100k.count("Hello, world!"), 4);
    /// assert_eq!(cl100k.count("<|endoftext|>"), 7); // ordinary text, not the special token
    /// assert_eq!(cl100k.count(""), 0);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn count(&self, text: &str) -> u64 {
        let pattern = self.name.pattern();
        cache::with_cache(|mut cache| {
            chunks::count_in_chunks(
                text.as_bytes(),
                self.chunk_owner,
                self.chunk_owner,
                &mut cache,
                chunks::ascii_word_gap,
                |from, to, cache| {
                    // Chunks are cut at ASCII bytes, on character boundaries.
                    let chunk = &text[from..to];
                    let mut total = 0u64;
                    pattern.for_each_batch(chunk, |start, ends| {
                        total += self.table.count_batch(chunk.as_bytes(), start, ends, cache);
                        ControlFlow::Continue(())
                    });
                    total
                },
            )
        })
    }

    /// [`Encoding::count`] on up to `threads` threads: the text is cut at word gaps
    /// (`chunks::ascii_word_gap`, where counting either side alone gives the same pieces)
    /// near equal shares, and each part is counted on its own thread (this one counts the
    /// first). The same total as `count`; a text without a gap near a share is cut at fewer
    /// places.
    ///
    /// ```
    /// use kano_tokenizer::{Config, EncodingName, Registry};
    /// let cl100k = Registry::with_config(Config::default()).encoding(EncodingName::Cl100kBase)?;
    /// let text = "The quick brown fox jumps over the lazy dog. ".repeat(100);
    /// assert_eq!(cl100k.count_in_parts(&text, 4), cl100k.count(&text));
    /// assert_eq!(cl100k.count_in_parts(&text, 4), 1001);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn count_in_parts(&self, text: &str, threads: usize) -> u64 {
        let b = text.as_bytes();
        let mut cuts = vec![0];
        for k in 1..threads.max(1) {
            let target = b.len() / threads * k;
            let last = cuts[cuts.len() - 1];
            if target <= last {
                continue;
            }
            if let Some(at) = chunks::ascii_word_gap(b, target, target.saturating_add(PART_GAP_SEARCH).min(b.len())) {
                cuts.push(at);
            }
        }
        cuts.push(b.len());
        if cuts.len() == 2 {
            return self.count(text);
        }
        std::thread::scope(|scope| {
            let others: Vec<_> = cuts
                .windows(2)
                .skip(1)
                .map(|w| {
                    let part = &text[w[0]..w[1]];
                    scope.spawn(move || self.count(part))
                })
                .collect();
            let first = self.count(&text[..cuts[1]]);
            first
                + others
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                    .sum::<u64>()
        })
    }

    /// The exact count if it is at most `limit`; otherwise `Err` with a count above `limit`,
    /// found by stopping at the first piece that passes it. A long piece that cannot fit (its
    /// length alone needs more tokens than are left) is not merged at all.
    ///
    /// ```
    /// use kano_tokenizer::{Config, EncodingName, Registry};
    /// let cl100k = Registry::with_config(Config::default()).encoding(EncodingName::Cl100kBase)?;
    /// assert_eq!(cl100k.count_up_to("Hello, world!", 10), Ok(4));
    /// assert_eq!(cl100k.count_up_to("Hello, world!", 2), Err(3)); // stopped at the third token
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn count_up_to(&self, text: &str, limit: u64) -> std::result::Result<u64, u64> {
        let max_token_bytes = self.table.ranks.max_token_bytes() as u64;
        let total = cache::with_cache(|mut cache| {
            let mut total = 0u64;
            self.name.pattern().for_each_piece(text, |piece| {
                let at_least = (piece.len() as u64).div_ceil(max_token_bytes);
                total += if total + at_least > limit {
                    at_least
                } else {
                    self.table.count_piece_cached(piece, &mut cache) as u64
                };
                if total > limit {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            total
        });
        if total > limit {
            Err(total)
        } else {
            Ok(total)
        }
    }

    /// Walks the pieces of `text` while their tokens total at most `limit` (read-only, for token
    /// budgets): where the first piece that does not fit starts and ends, the tokens before it,
    /// and the last cuts before it that leave the pieces as they are (line starts and word
    /// gaps, `bpe::chunks`), with the tokens before each: the count of the text up to such a
    /// cut is exactly those tokens. `all_cuts`, when given, receives every such cut before the
    /// piece that does not fit, in order, with the tokens before it. A piece whose length alone
    /// needs more tokens than are left is not merged.
    pub(crate) fn fit_pieces(&self, text: &str, limit: u64, all_cuts: Option<&mut Vec<(usize, u64)>>) -> PieceFit {
        let max_token_bytes = self.table.ranks.max_token_bytes() as u64;
        cache::with_cache(|mut cache| {
            chunks::fit_pieces(
                text,
                limit,
                max_token_bytes,
                all_cuts,
                |piece| self.name.pattern().for_each_piece(text, piece),
                |piece| self.table.count_piece_cached(piece, &mut cache) as u64,
            )
        })
    }

    /// A fast estimate with bounds that hold for every text (see `estimate/bounds.rs`).
    ///
    /// ```
    /// use kano_tokenizer::{Config, EncodingName, Registry};
    /// let cl100k = Registry::with_config(Config::default()).encoding(EncodingName::Cl100kBase)?;
    /// let e = cl100k.estimate("Hello, world!");
    /// assert_eq!(e.estimate, 4);
    /// assert!(e.lower_bound <= 4 && 4 <= e.upper_bound); // the exact count is 4
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn estimate(&self, text: &str) -> Estimate {
        let x = Features::scan(text);
        let digits_in_threes = matches!(self.name.table(), RankTableId::Cl100k | RankTableId::O200k);
        let bounds = estimate::bounds_tiktoken(&x, self.table.ranks.max_token_bytes() as u64, digits_in_threes);
        estimate::estimate_within(self.name.family().weigh(&x), &x, bounds)
    }

    /// Whether long pieces are counted by the linear backtracking encoder rather than the heap
    /// merge.
    ///
    /// ```
    /// use kano_tokenizer::{Config, EncodingName, Registry};
    /// let cl100k = Registry::with_config(Config::default()).encoding(EncodingName::Cl100kBase)?;
    /// assert!(cl100k.backtracks()); // true of every OpenAI table
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn backtracks(&self) -> bool {
        self.table.backtracks()
    }

    /// The length of the longest token, in bytes.
    ///
    /// ```
    /// use kano_tokenizer::{Config, EncodingName, Registry};
    /// let cl100k = Registry::with_config(Config::default()).encoding(EncodingName::Cl100kBase)?;
    /// assert_eq!(cl100k.max_token_bytes(), 128);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn max_token_bytes(&self) -> usize {
        self.table.ranks.max_token_bytes()
    }

    /// The pieces the split pattern cuts `text` into (for tests and diagnostics).
    ///
    /// ```
    /// use kano_tokenizer::{Config, EncodingName, Registry};
    /// let cl100k = Registry::with_config(Config::default()).encoding(EncodingName::Cl100kBase)?;
    /// assert_eq!(cl100k.split("Hello, world!"), ["Hello", ",", " world", "!"]);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn split<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let mut pieces = Vec::new();
        self.name.pattern().for_each_piece(text, |piece| {
            let start = piece.as_ptr() as usize - text.as_ptr() as usize;
            pieces.push(&text[start..start + piece.len()]);
            ControlFlow::Continue(())
        });
        pieces
    }
}
