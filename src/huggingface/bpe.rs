//! The `BPE` model of `tokenizer.json`, count-only, on the shared BPE core (`crate::bpe`).
//!
//! The model sees each piece as characters: the byte-level alphabet's (one per byte) after a
//! `ByteLevel` pre-tokenizer, the text's own otherwise (SentencePiece-style BPE). Characters in
//! the vocabulary are the base symbols; the others become `<0xXX>` byte tokens
//! (`byte_fallback`), the unknown token (consecutive ones fused with `fuse_unk`), or nothing.
//! The merge list then applies, lowest rank first.
//!
//! Counting runs on the piece's bytes: in byte-level models each byte is a character of the
//! alphabet, and elsewhere a token's bytes are its characters' UTF-8. Runs of base symbols go
//! through a [`MergeTable`] (the merge on the stack for short runs, the linear backtracking
//! encoder for long ones), and whole pieces through the per-thread piece cache. Models whose
//! symbols are not the text's bytes (a `continuing_subword_prefix` or `end_of_word_suffix`), or
//! whose merges involve the unknown or byte tokens, take the plain merge of ids
//! ([`PairMerges`]), as the `tokenizers` crate does.

use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;

use super::load::LoadError;
use crate::bpe::backtrack::with_pair_memo;
use crate::bpe::byte_level;
use crate::bpe::chunks;
use crate::bpe::merges::{utf8_len, MergeTable, PairMerges};
use crate::bpe::piece_cache::{self, PieceCache};

pub(crate) struct Bpe {
    /// This model's entries in the per-thread piece cache (whole pieces) and pair memo.
    owner: u64,
    /// Its entries for the parts `Cut` makes of long pieces, which `ignore_merges` does not
    /// look up whole.
    part_owner: u64,
    /// Its entries for the parts `count_spaced` cuts, keyed by the text's own bytes, and for
    /// its whole chunks (`bpe::chunks`): those that start a text with a prepended `▁`, the
    /// others.
    spaced_owner: u64,
    lead_chunk_owner: u64,
    chunk_owner: u64,
    /// The model's characters are bytes of the byte-level alphabet.
    byte_level: bool,
    path: Path,
    unknown: Unknown,
    /// With `ignore_merges`, a piece that is a vocabulary entry is that one token. Entries BPE
    /// gives as one token anyway need no check: these are the others.
    whole_words: Option<FxHashSet<Box<[u8]>>>,
}

enum Path {
    /// Base symbols are the text's bytes or characters.
    Table {
        table: MergeTable,
        /// Which bytes or characters are base symbols.
        known: Known,
        /// A byte-level model with every byte a base symbol: no piece has an unknown one.
        all_known: bool,
        /// Characters models over characters can be cut before (`Cut`).
        cut: Option<Cut>,
    },
    /// The `tokenizers` crate's own procedure, over ids.
    Ids(Box<IdModel>),
    /// A byte-level model whose merge list is a rank table (GPT-2's, OLMo 2's, gpt-oss's, Qwen's
    /// are): counted as the OpenAI encodings are (`RankTable::from_merge_list`).
    RankTable(Box<crate::tiktoken::RankTable>),
}

/// A model over characters never merges across a `▁` that follows a character which no token
/// has right before a `▁`: the text can be cut there into pieces counted on their own (and
/// cached), which turns SentencePiece-style texts that are one piece (no pre-tokenizer) into
/// words.
struct Cut {
    /// The characters some token has right before a `▁`; `None`: no cut at `▁`s (it is no base
    /// symbol, or too many characters come right before it in tokens).
    before: Option<Vec<char>>,
    /// Per ASCII byte: a `▁` after it is a cut (a base symbol not in `before`); the entry of
    /// the space is that of `▁`, which spaces become (`count_spaced`).
    after_ascii: [bool; 128],
}

const METASPACE: char = '\u{2581}';
/// `METASPACE` in UTF-8.
const MARK: &[u8] = "\u{2581}".as_bytes();

/// Which bytes (byte-level) or characters are base symbols, looked up without a hash for bytes
/// and characters of the Basic Multilingual Plane.
struct Known {
    bytes: [bool; 256],
    /// A bit per code point below U+10000 (models over characters; empty otherwise).
    bmp: Box<[u64]>,
}

impl Known {
    /// Whether the byte or character of `len` bytes at the start of `bytes` is a base symbol.
    #[inline(always)]
    fn at(&self, table: &MergeTable, bytes: &[u8], len: usize) -> bool {
        match len {
            1 => self.bytes[bytes[0] as usize],
            2 | 3 if !self.bmp.is_empty() => {
                let c = if len == 2 {
                    (u32::from(bytes[0]) & 0x1F) << 6 | u32::from(bytes[1]) & 0x3F
                } else {
                    (u32::from(bytes[0]) & 0x0F) << 12 | (u32::from(bytes[1]) & 0x3F) << 6 | u32::from(bytes[2]) & 0x3F
                } as usize;
                self.bmp[c >> 6] >> (c & 63) & 1 == 1
            }
            _ => table.contains(&bytes[..len]),
        }
    }
}

/// What becomes of a character that is not a base symbol.
struct Unknown {
    /// `byte_fallback`: which bytes have a `<0xXX>` token.
    fallback: Option<[bool; 256]>,
    /// The unknown token is set (and in the vocabulary).
    unk: bool,
    fuse_unk: bool,
}

/// The crate's merge of ids, for models the table cannot serve.
struct IdModel {
    vocab: FxHashMap<String, u32>,
    merges: PairMerges,
    prefix: Option<String>,
    suffix: Option<String>,
    /// Ids of the `<0xXX>` tokens.
    fallback_ids: Option<[Option<u32>; 256]>,
    unk_id: Option<u32>,
    fuse_unk: bool,
    ignore_merges: bool,
}

impl Bpe {
    /// From the `model` value; `byte_level`: the pipeline gives the model byte-level
    /// characters (as bytes).
    pub(crate) fn from_json(model: &Value, byte_level: bool) -> Result<Bpe, LoadError> {
        let invalid = |m: String| LoadError::Invalid(format!("model: {m}"));
        if let Some(d) = model.get("dropout").filter(|d| !d.is_null()) {
            let d = d.as_f64().ok_or_else(|| invalid("dropout must be a number".into()))?;
            if !(0.0..=1.0).contains(&d) {
                return Err(invalid(format!("dropout {d} is not between 0 and 1")));
            }
            // Dropout skips merges at random, to train on varied splits: counting with it
            // would give a different count on every call. The text's count is that of the
            // model without dropout.
        }
        let opt_str = |key: &str| -> Result<Option<&str>, LoadError> {
            match model.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(invalid(format!("{key} must be a string or null"))),
            }
        };
        let opt_bool = |key: &str| -> Result<bool, LoadError> {
            match model.get(key) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(invalid(format!("{key} must be a boolean"))),
            }
        };
        let unk_token = opt_str("unk_token")?;
        let prefix = opt_str("continuing_subword_prefix")?.filter(|p| !p.is_empty());
        let suffix = opt_str("end_of_word_suffix")?.filter(|s| !s.is_empty());
        let fuse_unk = opt_bool("fuse_unk")?;
        let byte_fallback = opt_bool("byte_fallback")?;
        let ignore_merges = opt_bool("ignore_merges")?;

        let vocab_map = model["vocab"].as_object().ok_or_else(|| invalid("a BPE vocab must be an object".into()))?;
        let mut vocab: FxHashMap<&str, u32> = FxHashMap::with_capacity_and_hasher(vocab_map.len(), Default::default());
        let mut ids_seen = FxHashSet::default();
        for (token, id) in vocab_map {
            let id = id
                .as_u64()
                .and_then(|i| u32::try_from(i).ok())
                .ok_or_else(|| invalid(format!("the id of {token:?} is not an integer below 2^32")))?;
            if !ids_seen.insert(id) {
                return Err(LoadError::Unsupported(format!("two vocabulary entries share the id {id}")));
            }
            vocab.insert(token, id);
        }
        drop(ids_seen);
        // Dense ids, in the file's id order.
        let mut by_id: Vec<(u32, &str)> = vocab.iter().map(|(&t, &i)| (i, t)).collect();
        by_id.sort_unstable();
        let dense: FxHashMap<&str, u32> = by_id.iter().enumerate().map(|(d, &(_, t))| (t, d as u32)).collect();
        drop(vocab);

        let merge_list = parse_merges(&model["merges"], &dense, prefix.unwrap_or(""))?;
        let merges = PairMerges::new(&merge_list);
        let fallback_ids: Option<[Option<u32>; 256]> = byte_fallback.then(|| {
            let mut ids = [None; 256];
            for (b, slot) in ids.iter_mut().enumerate() {
                *slot = dense.get(format!("<0x{b:02X}>").as_str()).copied();
            }
            ids
        });
        let unk_id = match unk_token {
            Some(unk) => Some(*dense.get(unk).ok_or_else(|| {
                LoadError::Unsupported(format!("the unknown token {unk:?} is not in the vocabulary"))
            })?),
            None => None,
        };
        let unknown =
            Unknown { fallback: fallback_ids.map(|ids| ids.map(|i| i.is_some())), unk: unk_id.is_some(), fuse_unk };
        let owner = piece_cache::new_owner();
        let part_owner = piece_cache::new_owner();
        let spaced_owner = piece_cache::new_owner();
        let lead_chunk_owner = piece_cache::new_owner();
        let chunk_owner = piece_cache::new_owner();
        let special_ids: Vec<u32> = fallback_ids.iter().flatten().flatten().copied().chain(unk_id).collect();
        let merges_touch_specials = merges.involves_any(&special_ids);
        if prefix.is_some() || suffix.is_some() || merges_touch_specials {
            let id_model = IdModel {
                vocab: dense.iter().map(|(&t, &i)| (t.to_string(), i)).collect(),
                merges,
                prefix: prefix.map(str::to_string),
                suffix: suffix.map(str::to_string),
                fallback_ids,
                unk_id,
                fuse_unk,
                ignore_merges,
            };
            return Ok(Bpe {
                owner,
                part_owner,
                spaced_owner,
                lead_chunk_owner,
                chunk_owner,
                byte_level,
                path: Path::Ids(Box::new(id_model)),
                unknown,
                whole_words: None,
            });
        }

        // The tokens as the bytes the model sees, and which are base symbols.
        let mut tokens: Vec<Vec<u8>> = Vec::with_capacity(by_id.len());
        let mut base = Vec::with_capacity(by_id.len());
        for &(_, token) in &by_id {
            let bytes =
                if byte_level { byte_level::to_bytes(token).unwrap_or_default() } else { token.as_bytes().to_vec() };
            let single = if byte_level { bytes.len() == 1 } else { token.chars().count() == 1 };
            base.push(single && !bytes.is_empty());
            tokens.push(bytes);
        }
        let simple = byte_level && !ignore_merges && merges.len() == merge_list.len();
        if let Some(table) = simple.then(|| crate::tiktoken::RankTable::from_merge_list(&tokens, &merge_list)).flatten()
        {
            return Ok(Bpe {
                owner,
                part_owner,
                spaced_owner,
                lead_chunk_owner,
                chunk_owner,
                byte_level,
                path: Path::RankTable(Box::new(table)),
                unknown,
                whole_words: None,
            });
        }
        let table = MergeTable::build(&tokens, &base, &merges, !byte_level);
        let mut bytes = [false; 256];
        for (b, slot) in bytes.iter_mut().enumerate() {
            *slot = if byte_level { table.contains(&[b as u8]) } else { b < 0x80 && table.contains(&[b as u8]) };
        }
        let mut bmp = if byte_level { Vec::new() } else { vec![0u64; 0x10000 / 64] };
        if !byte_level {
            for (token, &is_base) in tokens.iter().zip(&base) {
                let c = std::str::from_utf8(token).ok().and_then(|t| t.chars().next()).map_or(u32::MAX, |c| c as u32);
                if is_base && c < 0x10000 {
                    bmp[c as usize >> 6] |= 1 << (c & 63);
                }
            }
        }
        let known = Known { bytes, bmp: bmp.into_boxed_slice() };
        let whole_words = ignore_merges.then(|| {
            tokens
                .iter()
                .filter(|t| !t.is_empty() && !table.contains(t))
                .map(|t| t.clone().into_boxed_slice())
                .collect()
        });
        let cut = (!byte_level).then(|| {
            let before = cut_rule(&table, &tokens);
            let mut after_ascii = [false; 128];
            if let Some(before) = &before {
                let mark = METASPACE.to_string();
                for (b, slot) in after_ascii.iter_mut().enumerate() {
                    let (bytes, c) = if b == usize::from(b' ') {
                        (mark.as_bytes(), METASPACE)
                    } else {
                        (&[b as u8][..], b as u8 as char)
                    };
                    *slot = known.at(&table, bytes, bytes.len()) && !before.contains(&c);
                }
            }
            Cut { before, after_ascii }
        });
        let all_known = byte_level && known.bytes.iter().all(|&k| k);
        Ok(Bpe {
            owner,
            part_owner,
            spaced_owner,
            lead_chunk_owner,
            chunk_owner,
            byte_level,
            path: Path::Table { table, known, all_known, cut },
            unknown,
            whole_words,
        })
    }

    /// The number of tokens of one piece (its bytes: byte-level characters in a byte-level
    /// model, else UTF-8). `cache` is the thread's piece cache, taken once per text.
    #[inline(always)]
    pub(crate) fn count(&self, piece: &[u8], cache: &mut Option<&mut PieceCache>) -> u64 {
        // The hits of the piece cache inline, everything else out of the caller's loop.
        match (&self.path, cache.as_deref_mut()) {
            (Path::RankTable(table), _) => return table.count_piece_cached(piece, cache) as u64,
            (Path::Table { .. }, Some(cache)) if !piece.is_empty() && piece.len() <= piece_cache::MAX_CACHED => {
                return cache.get_or_count(self.owner, piece, || self.count_whole(piece) as usize) as u64;
            }
            _ => {}
        }
        self.count_slow(piece, cache)
    }

    /// The tokens of a batch of pieces (`SplitPattern::for_each_batch`).
    #[inline(always)]
    pub(crate) fn count_batch(
        &self,
        text: &[u8],
        mut from: usize,
        ends: &[usize],
        cache: &mut Option<&mut PieceCache>,
    ) -> u64 {
        if let Path::RankTable(table) = &self.path {
            return table.count_batch(text, from, ends, cache);
        }
        let mut total = 0;
        for &end in ends {
            total += self.count(&text[from..end], cache);
            from = end;
        }
        total
    }

    /// A whole piece's count with a table's merges, uncached.
    #[inline(never)]
    fn count_whole(&self, piece: &[u8]) -> u64 {
        match &self.path {
            Path::Table { table, known, all_known, .. } => {
                if self.whole_words.as_ref().is_some_and(|words| words.contains(piece)) {
                    1
                } else if *all_known {
                    self.count_run(table, piece)
                } else {
                    self.count_word(table, known, piece)
                }
            }
            _ => self.count_slow(piece, &mut None),
        }
    }

    #[inline(never)]
    fn count_slow(&self, piece: &[u8], cache: &mut Option<&mut PieceCache>) -> u64 {
        if piece.is_empty() {
            return 0;
        }
        match &self.path {
            Path::Ids(model) => model.count(piece, self.byte_level) as u64,
            Path::RankTable(table) => table.count_piece_cached(piece, cache) as u64,
            Path::Table { table, known, all_known, cut } => {
                if let Some(cut) = cut {
                    if piece.len() > piece_cache::MAX_CACHED {
                        if self.whole_words.as_ref().is_some_and(|words| words.contains(piece)) {
                            return 1;
                        }
                        if let Some(n) = cache.as_deref_mut().and_then(|c| c.get_long(self.owner, piece)) {
                            return n as u64;
                        }
                        let n = self.count_at_marks(table, known, cut, piece, cache);
                        if let Some(c) = cache.as_deref_mut() {
                            c.put_long(self.owner, piece, n as usize);
                        }
                        return n;
                    }
                }
                // The whole-word rule is part of a whole piece's cached count.
                let count = || {
                    if self.whole_words.as_ref().is_some_and(|words| words.contains(piece)) {
                        1
                    } else if *all_known {
                        self.count_run(table, piece)
                    } else {
                        self.count_word(table, known, piece)
                    }
                };
                match cache {
                    Some(cache) if piece.len() <= piece_cache::MAX_CACHED => {
                        cache.get_or_count(self.owner, piece, || count() as usize) as u64
                    }
                    Some(cache) => cache.get_or_count_long(self.owner, piece, || count() as usize) as u64,
                    _ => count(),
                }
            }
        }
    }

    /// Cuts a long piece before each `▁` where no merge can cross (`Cut`), found by a
    /// vectorised search for the `▁`s, and counts each part: from the cache when it is short,
    /// else cut further one character at a time (`count_cut`).
    fn count_at_marks(
        &self,
        table: &MergeTable,
        known: &Known,
        cut: &Cut,
        piece: &[u8],
        cache: &mut Option<&mut PieceCache>,
    ) -> u64 {
        let Some(before) = &cut.before else {
            return self.count_cut(table, known, cut, piece, cache);
        };
        let part = |part: &[u8], cache: &mut Option<&mut PieceCache>| self.count_part(table, known, cut, part, cache);
        let mut total = 0;
        let mut start = 0;
        for mark in memchr::memmem::find_iter(piece, MARK) {
            if mark == start {
                continue;
            }
            let mut prev = mark - 1;
            while prev > start && piece[prev] & 0xC0 == 0x80 {
                prev -= 1;
            }
            let prev_bytes = &piece[prev..mark];
            if known.at(table, prev_bytes, prev_bytes.len()) && !before.contains(&last_char(prev_bytes)) {
                total += part(&piece[start..mark], cache);
                start = mark;
            }
        }
        total + part(&piece[start..], cache)
    }

    /// A part `Cut` made of a piece, from the cache: the short parts' table, or for longer
    /// ones the long-piece table, else cut further (`count_cut`).
    fn count_part(
        &self,
        table: &MergeTable,
        known: &Known,
        cut: &Cut,
        part: &[u8],
        cache: &mut Option<&mut PieceCache>,
    ) -> u64 {
        match cache.as_deref_mut() {
            Some(c) if part.len() <= piece_cache::MAX_CACHED => {
                c.get_or_count(self.part_owner, part, || self.count_word(table, known, part) as usize) as u64
            }
            Some(c) => match c.get_long(self.part_owner, part) {
                Some(n) => n as u64,
                None => {
                    let n = self.count_cut(table, known, cut, part, cache);
                    if let Some(c) = cache.as_deref_mut() {
                        c.put_long(self.part_owner, part, n as usize);
                    }
                    n
                }
            },
            None => self.count_cut(table, known, cut, part, cache),
        }
    }

    /// Whether `count_spaced` serves this model: one over characters whose pieces are cut at
    /// `▁`s, with no whole-word rule (which would look at the whole string).
    pub(crate) fn counts_spaced(&self) -> bool {
        matches!(&self.path, Path::Table { cut: Some(Cut { before: Some(_), .. }), .. }) && self.whole_words.is_none()
    }

    /// The tokens of one piece made of `▁` (when `prepend`) then `text` with every space a
    /// `▁`: SentencePiece's pipeline, counted without building that string. The text is cut
    /// where `count_at_marks` cuts the string, and a part is looked up by its own bytes, a
    /// space standing for the `▁` it becomes (a prepended `▁` too), so a key is one string.
    pub(crate) fn count_spaced(&self, text: &[u8], prepend: bool, cache: &mut Option<&mut PieceCache>) -> u64 {
        let Path::Table { table, known, cut: Some(cut @ Cut { before: Some(before), .. }), .. } = &self.path else {
            return self.count(&spaced(text, prepend), cache);
        };
        // Whole chunks cut where parts are cut: counting either side alone changes nothing.
        chunks::count_in_chunks(
            text,
            if prepend { self.lead_chunk_owner } else { self.chunk_owner },
            self.chunk_owner,
            cache,
            |text, from, to| {
                let to = to.min(text.len());
                let from = from.max(1);
                if from >= to {
                    return None;
                }
                memchr::memchr2_iter(b' ', MARK[0], &text[from..to])
                    .map(|i| from + i)
                    .find(|&i| self.is_spaced_cut(table, known, cut, before, text, 0, i))
            },
            |from, to, cache| {
                self.count_spaced_chunk(table, known, cut, before, &text[from..to], prepend && from == 0, cache)
            },
        )
    }

    /// Whether `count_spaced` cuts `text` at `i` (in a part that starts at `start`).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn is_spaced_cut(
        &self,
        table: &MergeTable,
        known: &Known,
        cut: &Cut,
        before: &[char],
        text: &[u8],
        start: usize,
        i: usize,
    ) -> bool {
        if text[i] != b' ' && !text[i..].starts_with(MARK) {
            return false;
        }
        if text[i - 1] < 0x80 {
            return cut.after_ascii[usize::from(text[i - 1])];
        }
        let mut p = i - 1;
        while p > start && text[p] & 0xC0 == 0x80 {
            p -= 1;
        }
        let prev = &text[p..i];
        known.at(table, prev, prev.len()) && !before.contains(&last_char(prev))
    }

    /// `count_spaced` of one chunk, part by part.
    #[allow(clippy::too_many_arguments)]
    fn count_spaced_chunk(
        &self,
        table: &MergeTable,
        known: &Known,
        cut: &Cut,
        before: &[char],
        text: &[u8],
        prepend: bool,
        cache: &mut Option<&mut PieceCache>,
    ) -> u64 {
        let mut total = 0;
        let mut start = 0;
        // The part from `start` carries the prepended `▁`.
        let mut lead = prepend;
        for i in memchr::memchr2_iter(b' ', MARK[0], text) {
            let cuts = if i == start {
                // Only the prepended `▁` comes before a part's first `▁`.
                lead && cut.after_ascii[usize::from(b' ')] && (text[i] == b' ' || text[i..].starts_with(MARK))
            } else {
                self.is_spaced_cut(table, known, cut, before, text, start, i)
            };
            if cuts {
                total += self.spaced_part(table, known, cut, &text[start..i], lead, cache);
                start = i;
                lead = false;
            }
        }
        total + self.spaced_part(table, known, cut, &text[start..], lead, cache)
    }

    /// A part of `count_spaced`'s text (after a prepended `▁` when `lead`).
    fn spaced_part(
        &self,
        table: &MergeTable,
        known: &Known,
        cut: &Cut,
        raw: &[u8],
        lead: bool,
        cache: &mut Option<&mut PieceCache>,
    ) -> u64 {
        const MAX: usize = piece_cache::MAX_CACHED;
        if raw.len() + usize::from(lead) > MAX {
            return self.count_part(table, known, cut, &spaced(raw, lead), cache);
        }
        let mut key_buf = [0u8; MAX];
        let key = if lead {
            key_buf[0] = b' ';
            key_buf[1..=raw.len()].copy_from_slice(raw);
            &key_buf[..=raw.len()]
        } else {
            raw
        };
        if key.is_empty() {
            return 0;
        }
        let count = || {
            // At most three bytes for each of the key's.
            let mut buf = [0u8; 3 * MAX];
            let mut len = 0;
            for &b in key {
                if b == b' ' {
                    buf[len..len + 3].copy_from_slice("\u{2581}".as_bytes());
                    len += 3;
                } else {
                    buf[len] = b;
                    len += 1;
                }
            }
            self.count_word(table, known, &buf[..len]) as usize
        };
        match cache.as_deref_mut() {
            Some(c) => c.get_or_count(self.spaced_owner, key, count) as u64,
            None => count() as u64,
        }
    }

    /// Cuts a long piece where no merge can cross and counts each part (cached): before a `▁`
    /// after a base symbol that no token has right before a `▁` (`Cut`), and on either side of
    /// a character that takes byte fallback next to a base symbol (byte tokens merge with
    /// nothing, and a base symbol before the cut has counted any unknown token waiting to fuse).
    fn count_cut(
        &self,
        table: &MergeTable,
        known: &Known,
        cut: &Cut,
        piece: &[u8],
        cache: &mut Option<&mut PieceCache>,
    ) -> u64 {
        #[derive(Clone, Copy, PartialEq, Eq)]
        enum Class {
            Base,
            Fallback,
            Other,
        }
        let mut part = |part: &[u8]| match cache.as_deref_mut() {
            Some(cache) if part.len() <= piece_cache::MAX_CACHED => {
                cache.get_or_count(self.part_owner, part, || self.count_word(table, known, part) as usize) as u64
            }
            _ => self.count_word(table, known, part),
        };
        let n = piece.len();
        let mut total = 0;
        let mut start = 0;
        // The class of the character before `i`, and where it starts.
        let (mut prev, mut prev_at) = (Class::Other, 0);
        let mut i = 0;
        while i < n {
            let len = utf8_len(piece[i]).min(n - i);
            let bytes = &piece[i..i + len];
            let class = if known.at(table, bytes, len) {
                Class::Base
            } else if self.unknown.falls_back(bytes) {
                Class::Fallback
            } else {
                Class::Other
            };
            if i > start {
                let at_cut = match (prev, class) {
                    (Class::Base, Class::Base) => {
                        bytes == MARK
                            && cut.before.as_ref().is_some_and(|b| !b.contains(&last_char(&piece[prev_at..i])))
                    }
                    (Class::Base, Class::Fallback) | (Class::Fallback, Class::Base) => true,
                    _ => false,
                };
                if at_cut {
                    total += part(&piece[start..i]);
                    start = i;
                }
            }
            (prev, prev_at) = (class, i);
            i += len;
        }
        total + part(&piece[start..])
    }

    /// The tokens of a piece (or of a part of one cut by `Cut`): its runs of base symbols
    /// merged, and what the others become.
    fn count_word(&self, table: &MergeTable, known: &Known, piece: &[u8]) -> u64 {
        let mut total = 0u64;
        // An unknown token not yet counted (it may fuse with the next unknown character).
        let mut pending_unk = false;
        let mut run_start = 0;
        // The run so far without the characters dropped from it (no unknown token, no byte
        // fallback): its neighbours then meet, and may merge.
        let mut spliced: Option<Vec<u8>> = None;
        let mut i = 0;
        let n = piece.len();
        while i < n {
            let len = if self.byte_level { 1 } else { utf8_len(piece[i]).min(n - i) };
            let is_known = known.at(table, &piece[i..], if self.byte_level { 1 } else { len });
            if is_known {
                if pending_unk {
                    total += 1;
                    pending_unk = false;
                }
                if let Some(run) = &mut spliced {
                    run.extend_from_slice(&piece[i..i + len]);
                }
                i += len;
                continue;
            }
            let unknown_bytes =
                if self.byte_level { unknown_char_bytes(piece[i]) } else { CharBytes::new(&piece[i..i + len]) };
            if self.unknown.drops(unknown_bytes.as_slice()) {
                spliced.get_or_insert_with(|| piece[run_start..i].to_vec());
                i += len;
                continue;
            }
            total += self.count_run(table, spliced.take().as_deref().unwrap_or(&piece[run_start..i]));
            total += self.unknown.count(unknown_bytes.as_slice(), &mut pending_unk);
            i += len;
            run_start = i;
        }
        total += self.count_run(table, spliced.as_deref().unwrap_or(&piece[run_start..]));
        total + u64::from(pending_unk)
    }

    /// A run of base symbols.
    fn count_run(&self, table: &MergeTable, run: &[u8]) -> u64 {
        if run.is_empty() {
            return 0;
        }
        if run.len() <= crate::bpe::merges::SMALL_PIECE {
            return table.count(run, None) as u64;
        }
        with_pair_memo(self.owner, |memo| table.count(run, memo)) as u64
    }
}

impl Unknown {
    /// Whether an unknown character (of UTF-8 `bytes`) becomes `<0xXX>` byte tokens.
    fn falls_back(&self, bytes: &[u8]) -> bool {
        self.fallback.as_ref().is_some_and(|f| bytes.iter().all(|&b| f[b as usize]))
    }

    /// Whether an unknown character (of UTF-8 `bytes`) becomes nothing at all.
    fn drops(&self, bytes: &[u8]) -> bool {
        !self.unk && !self.fallback.as_ref().is_some_and(|f| bytes.iter().all(|&b| f[b as usize]))
    }

    /// The tokens an unknown character (of UTF-8 `bytes`) adds now; `pending_unk` carries an
    /// unknown token to the next character, with which it may fuse.
    fn count(&self, bytes: &[u8], pending_unk: &mut bool) -> u64 {
        if let Some(fallback) = &self.fallback {
            // The byte tokens do not end a run of unknown tokens to fuse.
            if bytes.iter().all(|&b| fallback[b as usize]) {
                return bytes.len() as u64;
            }
        }
        if !self.unk {
            return 0;
        }
        if *pending_unk && !self.fuse_unk {
            return 1;
        }
        *pending_unk = true;
        0
    }
}

/// Up to 4 bytes of one character.
struct CharBytes {
    bytes: [u8; 4],
    len: usize,
}

impl CharBytes {
    fn new(s: &[u8]) -> CharBytes {
        let mut bytes = [0; 4];
        let len = s.len().min(4);
        bytes[..len].copy_from_slice(&s[..len]);
        CharBytes { bytes, len }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The UTF-8 of the byte-level character that stands for byte `b`: what byte fallback encodes
/// when that character is not in the vocabulary.
fn unknown_char_bytes(b: u8) -> CharBytes {
    let mut buf = [0; 4];
    CharBytes::new(byte_level::BYTE_CHARS[b as usize].encode_utf8(&mut buf).as_bytes())
}

/// The last character of `bytes` (valid UTF-8 up to a character boundary).
/// `▁` (when `prepend`) then `text` with every space a `▁`.
fn spaced(text: &[u8], prepend: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 2 + 3);
    if prepend {
        out.extend_from_slice(METASPACE.to_string().as_bytes());
    }
    for &b in text {
        match b {
            b' ' => out.extend_from_slice("\u{2581}".as_bytes()),
            _ => out.push(b),
        }
    }
    out
}

fn last_char(bytes: &[u8]) -> char {
    let mut start = bytes.len().saturating_sub(1);
    while start > 0 && bytes[start] & 0xC0 == 0x80 {
        start -= 1;
    }
    let tail = &bytes[start..];
    match *tail {
        [] => '\0',
        [b] if b < 0x80 => b as char,
        _ => std::str::from_utf8(tail).ok().and_then(|s| s.chars().next()).unwrap_or('\0'),
    }
}

/// Where pieces of a model over characters may be cut: before a `▁` unless the character
/// before it is one some token has right before a `▁`. `None` when `▁` is no base symbol or
/// too many characters come before one inside tokens to make cutting worth it.
fn cut_rule(table: &MergeTable, tokens: &[Vec<u8>]) -> Option<Vec<char>> {
    let mark = METASPACE.to_string();
    if !table.contains(mark.as_bytes()) {
        return None;
    }
    let mut before: Vec<char> = Vec::new();
    for token in tokens {
        if token.len() <= 3 || !table.contains(token) {
            continue;
        }
        let Ok(text) = std::str::from_utf8(token) else { continue };
        let mut prev = None;
        for c in text.chars() {
            if c == METASPACE {
                if let Some(p) = prev {
                    if !before.contains(&p) {
                        before.push(p);
                        if before.len() > 16 {
                            return None;
                        }
                    }
                }
            }
            prev = Some(c);
        }
    }
    Some(before)
}

/// The merge list as `(left, right, merged)` dense ids in rank order, as the `tokenizers` crate
/// reads it: pairs, or strings `"left right"` (lines starting `#version` skipped). The merged
/// token is `left` then `right` without the continuing-subword prefix.
fn parse_merges(value: &Value, vocab: &FxHashMap<&str, u32>, prefix: &str) -> Result<Vec<(u32, u32, u32)>, LoadError> {
    let list =
        value.as_array().ok_or_else(|| LoadError::Invalid("model: a BPE model needs a \"merges\" array".into()))?;
    // The crate reads the list as all strings or all pairs.
    let strings = list.iter().filter(|m| m.is_string()).count();
    if strings != 0 && strings != list.len() {
        return Err(LoadError::Invalid("model.merges mixes \"left right\" strings and [left, right] pairs".into()));
    }
    let mut out = Vec::with_capacity(list.len());
    let mut joined = String::new();
    for (index, merge) in list.iter().enumerate() {
        let (left, right) = match merge {
            Value::String(line) => {
                if line.starts_with("#version") {
                    continue;
                }
                let mut parts = line.split(' ');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(a), Some(b), None) => (a, b),
                    _ => {
                        return Err(LoadError::Invalid(format!(
                            "model.merges[{index}] ({line:?}) is not two tokens separated by one space"
                        )))
                    }
                }
            }
            Value::Array(pair) => {
                match (pair.first().and_then(Value::as_str), pair.get(1).and_then(Value::as_str), pair.len()) {
                    (Some(a), Some(b), 2) => (a, b),
                    _ => return Err(LoadError::Invalid(format!("model.merges[{index}] is not a pair of strings"))),
                }
            }
            _ => return Err(LoadError::Invalid(format!("model.merges[{index}] is not a string or a pair"))),
        };
        let id = |token: &str| {
            vocab.get(token).copied().ok_or_else(|| {
                LoadError::Invalid(format!(
                    "model.merges[{index}] ({left:?} {right:?}): {token:?} is not in the vocabulary"
                ))
            })
        };
        let (a, b) = (id(left)?, id(right)?);
        let Some(rest) = right.strip_prefix(prefix) else {
            return Err(LoadError::Invalid(format!(
                "model.merges[{index}]: {right:?} does not start with the continuing_subword_prefix {prefix:?}"
            )));
        };
        joined.clear();
        joined.push_str(left);
        joined.push_str(rest);
        let merged = id(&joined)?;
        out.push((a, b, merged));
    }
    Ok(out)
}

impl IdModel {
    /// The crate's `merge_word` and merge, counting.
    fn count(&self, piece: &[u8], byte_level: bool) -> usize {
        let text: std::borrow::Cow<'_, str> =
            if byte_level { byte_level::to_chars(piece).into() } else { String::from_utf8_lossy(piece) };
        if self.ignore_merges && self.vocab.contains_key(text.as_ref()) {
            return 1;
        }
        let mut symbols: Vec<u32> = Vec::with_capacity(text.len());
        let mut pending_unk: Option<u32> = None;
        let mut chars = text.char_indices().peekable();
        let mut s = String::new();
        while let Some((i, c)) = chars.next() {
            let is_last = chars.peek().is_none();
            s.clear();
            if i > 0 {
                if let Some(prefix) = &self.prefix {
                    s.push_str(prefix);
                }
            }
            s.push(c);
            if is_last {
                if let Some(suffix) = &self.suffix {
                    s.push_str(suffix);
                }
            }
            if let Some(&id) = self.vocab.get(s.as_str()) {
                if let Some(unk) = pending_unk.take() {
                    symbols.push(unk);
                }
                symbols.push(id);
                continue;
            }
            if let Some(ids) = &self.fallback_ids {
                let bytes: Option<Vec<u32>> = s.bytes().map(|b| ids[b as usize]).collect();
                if let Some(bytes) = bytes {
                    symbols.extend(bytes);
                    continue;
                }
            }
            if let Some(unk) = self.unk_id {
                if pending_unk.is_some() && !self.fuse_unk {
                    symbols.push(unk);
                }
                pending_unk = Some(unk);
            }
        }
        if let Some(unk) = pending_unk {
            symbols.push(unk);
        }
        self.merges.count(&mut symbols)
    }
}
