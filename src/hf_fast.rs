//! Count-only paths for the two most common `tokenizer.json` pipelines.
//!
//! The `tokenizers` crate builds a full `Encoding` for every text: token strings, offsets,
//! alignments between the original and the normalized text. Counting needs none of that. This
//! module recognises two exact pipeline shapes in a loaded tokenizer and counts them directly:
//!
//! - **BERT WordPiece** (`fast-wordpiece`): a `BertNormalizer` (or none), the
//!   `BertPreTokenizer`, and a `WordPiece` model.
//! - **GPT-2 byte-level BPE** (`fast-bpe`): no normalizer, a `ByteLevel` pre-tokenizer with
//!   GPT-2's split regex, and a `BPE` model without dropout, subword prefix or suffix, whose
//!   vocabulary holds every byte.
//!
//! Anything else (and any option these shapes do not cover) keeps the `tokenizers` crate. The
//! vocabulary and merges are read from the crate's own loaded model (serialized back), so both
//! paths work from the same tables; the Unicode tables (categories, canonical decomposition) are
//! the crates the `tokenizers` crate itself uses, and added tokens are split with the same
//! leftmost-longest rule. Every step is linear in the text, or O(n log n) for a long BPE piece.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::ControlFlow;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;
use unicode_categories::UnicodeCategories;

use crate::bpe::piece_cache;
use crate::tiktoken::split::SplitPattern;

/// A count-only counter for one recognised pipeline.
pub(crate) struct FastCounter {
    model: FastModel,
    /// Added tokens found in the text (each one token), matched leftmost-longest as the
    /// `tokenizers` crate does; `None` when there are none.
    added: Option<AhoCorasick>,
}

enum FastModel {
    WordPiece(WordPiece),
    ByteLevelBpe(ByteLevelBpe),
}

impl FastCounter {
    /// A fast counter when `tokenizer` (loaded from `json`) has a shape this module covers.
    pub(crate) fn detect(json: &Value, tokenizer: &tokenizers::Tokenizer) -> Option<FastCounter> {
        if !matches!(
            json["post_processor"]["type"].as_str(),
            None | Some("TemplateProcessing" | "BertProcessing" | "RobertaProcessing" | "ByteLevel")
        ) || (!json["post_processor"].is_null() && json["post_processor"]["type"].as_str().is_none())
        {
            return None;
        }
        // The count is the text's tokens plus the template's special tokens, which holds only
        // when the single template holds the text once (a template may leave it out, or repeat
        // it).
        if crate::estimate::template_copies(&json["post_processor"]) != 1 {
            return None;
        }
        // Only a matching shape pays for serializing the model (a large vocabulary of another
        // kind is not copied).
        let shape = match (json["model"]["type"].as_str(), json["pre_tokenizer"]["type"].as_str()) {
            (Some("WordPiece"), Some("BertPreTokenizer")) => true,
            (Some("BPE"), Some("ByteLevel")) => json["normalizer"].is_null(),
            _ => false,
        };
        if !shape {
            return None;
        }
        // Serializing a vocabulary walks every id from 0 to the largest, so a sparse one (a few
        // entries, one with id 1.4e9: found by fuzzing) would take minutes; such a file keeps
        // the crate's path.
        let vocab = json["model"]["vocab"].as_object()?;
        let largest_id = vocab.values().filter_map(Value::as_u64).max().unwrap_or(0);
        if largest_id > 2 * vocab.len() as u64 + 1024 {
            return None;
        }
        let model = serde_json::to_value(tokenizer.get_model()).ok()?;
        let (fast, normalizer_present) = match model["type"].as_str()? {
            "WordPiece" => (FastModel::WordPiece(WordPiece::detect(json, &model)?), !json["normalizer"].is_null()),
            "BPE" => (FastModel::ByteLevelBpe(ByteLevelBpe::detect(json, &model)?), false),
            _ => return None,
        };
        let added = added_token_matcher(tokenizer, normalizer_present)?;
        Some(FastCounter { model: fast, added })
    }

    /// `"fast-wordpiece"` or `"fast-bpe"`.
    pub(crate) fn name(&self) -> &'static str {
        match self.model {
            FastModel::WordPiece(_) => "fast-wordpiece",
            FastModel::ByteLevelBpe(_) => "fast-bpe",
        }
    }

    /// The number of ids `encode(text, false)` gives.
    pub(crate) fn count(&self, text: &str) -> u64 {
        let Some(added) = &self.added else { return self.count_segment(text) };
        let mut total = 0;
        let mut last = 0;
        for m in added.find_iter(text) {
            total += self.count_segment(&text[last..m.start()]) + 1;
            last = m.end();
        }
        total + self.count_segment(&text[last..])
    }

    fn count_segment(&self, segment: &str) -> u64 {
        if segment.is_empty() {
            return 0;
        }
        match &self.model {
            FastModel::WordPiece(wp) => wp.count(segment),
            FastModel::ByteLevelBpe(bpe) => bpe.count(segment),
        }
    }
}

/// The added-token splitter, or `Some(None)` when there are no added tokens; `None` (no fast
/// path) for options it does not reproduce: `single_word`, `lstrip`, `rstrip`, tokens matched
/// after a normalizer, `encode_special_tokens`, duplicate or empty contents.
fn added_token_matcher(tokenizer: &tokenizers::Tokenizer, normalizer_present: bool) -> Option<Option<AhoCorasick>> {
    if tokenizer.get_encode_special_tokens() {
        return None;
    }
    let tokens = tokenizer.get_added_tokens_decoder();
    let mut contents = FxHashSet::default();
    let mut normalized_kinds = FxHashSet::default();
    for token in tokens.values() {
        if token.single_word || token.lstrip || token.rstrip || token.content.is_empty() {
            return None;
        }
        if token.normalized && normalizer_present {
            return None;
        }
        normalized_kinds.insert(token.normalized);
        if !contents.insert(token.content.clone()) {
            return None;
        }
    }
    // Normalized and non-normalized tokens are matched in two passes; with both kinds present
    // one leftmost-longest pass could pick differently.
    if normalized_kinds.len() > 1 {
        return None;
    }
    if contents.is_empty() {
        return Some(None);
    }
    let mut patterns: Vec<String> = contents.into_iter().collect();
    patterns.sort();
    AhoCorasickBuilder::new().match_kind(MatchKind::LeftmostLongest).build(&patterns).ok().map(Some)
}

// ---------------------------------------------------------------------------------------------
// BERT WordPiece

struct WordPiece {
    clean_text: bool,
    handle_chinese_chars: bool,
    strip_accents: bool,
    lowercase: bool,
    /// The crate's normalizer, for segments whose canonical reordering could matter.
    normalizer: Option<tokenizers::normalizers::BertNormalizer>,
    /// Every vocabulary entry, for the first piece of a word.
    start: Pieces,
    /// Entries starting with the continuing prefix, without it, for the following pieces.
    cont: Pieces,
    max_input_chars_per_word: usize,
}

impl WordPiece {
    fn detect(json: &Value, model: &Value) -> Option<WordPiece> {
        if json["pre_tokenizer"]["type"].as_str() != Some("BertPreTokenizer") {
            return None;
        }
        let n = &json["normalizer"];
        let (clean_text, handle_chinese_chars, strip_accents, lowercase, normalizer) = if n.is_null() {
            (false, false, false, false, None)
        } else {
            if n["type"].as_str() != Some("BertNormalizer") {
                return None;
            }
            let clean = n["clean_text"].as_bool()?;
            let chinese = n["handle_chinese_chars"].as_bool()?;
            let lower = n["lowercase"].as_bool()?;
            let strip = match &n["strip_accents"] {
                Value::Null => None,
                Value::Bool(b) => Some(*b),
                _ => return None,
            };
            let normalizer = tokenizers::normalizers::BertNormalizer::new(clean, chinese, strip, lower);
            (clean, chinese, strip.unwrap_or(lower), lower, Some(normalizer))
        };
        let unk = model["unk_token"].as_str()?;
        let prefix = model["continuing_subword_prefix"].as_str()?;
        let max_input_chars_per_word = usize::try_from(model["max_input_chars_per_word"].as_u64()?).ok()?;
        let vocab = model["vocab"].as_object()?;
        if !vocab.contains_key(unk) {
            return None;
        }
        let start = Pieces::new(vocab.keys().map(|k| k.as_bytes()));
        let cont = Pieces::new(vocab.keys().filter_map(|k| k.strip_prefix(prefix)).map(str::as_bytes));
        Some(WordPiece {
            clean_text,
            handle_chinese_chars,
            strip_accents,
            lowercase,
            normalizer,
            start,
            cont,
            max_input_chars_per_word,
        })
    }

    fn count(&self, segment: &str) -> u64 {
        let mut normalized = String::with_capacity(segment.len() + segment.len() / 8);
        if !self.normalize(segment, &mut normalized) {
            // A character whose decomposition leaves a combining character that is not a
            // nonspacing mark: the crate's whole-text canonical reordering could move it, so the
            // crate normalizes this segment.
            let mut n = tokenizers::NormalizedString::from(segment);
            if let Some(normalizer) = &self.normalizer {
                // The BERT normalizer never fails.
                let _ = tokenizers::Normalizer::normalize(normalizer, &mut n);
            }
            normalized.clear();
            normalized.push_str(n.get());
        }
        self.count_normalized(&normalized)
    }

    /// The BERT normalizer, one character at a time (each of its steps maps characters
    /// independently, except the canonical reordering of the accent stripping). Returns false
    /// when a character could be reordered and the result may differ from the crate's.
    fn normalize(&self, text: &str, out: &mut String) -> bool {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b < 0x80 {
                // ASCII: decomposition and the Chinese ranges leave it alone.
                i += 1;
                if self.clean_text {
                    match b {
                        b'\t' | b'\n' | b'\r' => {
                            out.push(' ');
                            continue;
                        }
                        0..=0x1f | 0x7f => continue,
                        _ => {}
                    }
                }
                out.push(if self.lowercase { b.to_ascii_lowercase() } else { b } as char);
                continue;
            }
            let c = text[i..].chars().next().unwrap_or('\u{fffd}');
            i += c.len_utf8();
            let mut c = c;
            if self.clean_text {
                if c == '\u{fffd}' || c.is_other() {
                    continue;
                }
                if c.is_whitespace() {
                    c = ' ';
                }
            }
            let chinese = self.handle_chinese_chars && is_chinese_char(c);
            if chinese {
                out.push(' ');
            }
            if self.strip_accents {
                let mut safe = true;
                unicode_normalization_alignments::char::decompose_canonical(c, |d| {
                    if d.is_mark_nonspacing() {
                        return;
                    }
                    if unicode_normalization_alignments::char::canonical_combining_class(d) != 0 {
                        safe = false;
                    }
                    self.push_lowercased(d, out);
                });
                if !safe {
                    return false;
                }
            } else {
                self.push_lowercased(c, out);
            }
            if chinese {
                out.push(' ');
            }
        }
        true
    }

    #[inline]
    fn push_lowercased(&self, c: char, out: &mut String) {
        if self.lowercase {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }

    /// The BERT pre-tokenizer (split on whitespace, isolate punctuation) and WordPiece.
    fn count_normalized(&self, text: &str) -> u64 {
        let bytes = text.as_bytes();
        let mut total = 0;
        let mut word_start = 0;
        let mut word_chars = 0;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            let (len, kind) = if b < 0x80 {
                let kind = if b.is_ascii_whitespace() || b == 0x0b {
                    Kind::Space
                } else if b.is_ascii_punctuation() {
                    Kind::Punct
                } else {
                    Kind::Word
                };
                (1, kind)
            } else {
                let c = text[i..].chars().next().unwrap_or('\u{fffd}');
                let kind = if c.is_whitespace() {
                    Kind::Space
                } else if c.is_punctuation() {
                    Kind::Punct
                } else {
                    Kind::Word
                };
                (c.len_utf8(), kind)
            };
            match kind {
                Kind::Word => {
                    if word_chars == 0 {
                        word_start = i;
                    }
                    word_chars += 1;
                }
                Kind::Space | Kind::Punct => {
                    if word_chars > 0 {
                        total += self.count_word(&text[word_start..i], word_chars);
                        word_chars = 0;
                    }
                    // A single character is one token: itself, or the unknown token.
                    total += u64::from(kind == Kind::Punct);
                }
            }
            i += len;
        }
        if word_chars > 0 {
            total += self.count_word(&text[word_start..], word_chars);
        }
        total
    }

    /// Greedy longest-match-first; a word with a part that matches nothing is one unknown token.
    fn count_word(&self, word: &str, chars: usize) -> u64 {
        if chars > self.max_input_chars_per_word {
            return 1;
        }
        let mut start = 0;
        let mut pieces = 0;
        while start < word.len() {
            let set = if start == 0 { &self.start } else { &self.cont };
            match set.longest_at(word, start) {
                Some(end) => start = end,
                None => return 1,
            }
            pieces += 1;
        }
        pieces
    }
}

/// A set of vocabulary pieces for greedy longest-match-first. Lengths over `PREFIX` bytes are
/// tried only where the text's next `PREFIX` bytes begin an entry that long, and then only the
/// lengths some entry has: a hostile vocabulary with one entry of 20,000 bytes otherwise made
/// every position hash 20,000 candidate strings of up to 20,000 bytes (a 32 KB word took 98 s).
/// Shorter lengths are tried one by one, as before: that is the common case, and the fastest.
struct Pieces {
    set: FxHashSet<Box<[u8]>>,
    /// The distinct lengths over `PREFIX` bytes, longest first.
    long_lengths: Box<[usize]>,
    /// The first `PREFIX` bytes of every longer entry.
    long_prefixes: FxHashSet<[u8; PREFIX]>,
    /// The longest entry of at most `PREFIX` bytes.
    max_short: usize,
}

const PREFIX: usize = 16;

impl Pieces {
    fn new<'a>(entries: impl Iterator<Item = &'a [u8]>) -> Pieces {
        let set: FxHashSet<Box<[u8]>> = entries.map(Box::from).collect();
        let mut long_lengths: Vec<usize> = set.iter().map(|k| k.len()).filter(|&n| n > PREFIX).collect();
        long_lengths.sort_unstable_by(|a, b| b.cmp(a));
        long_lengths.dedup();
        let long_prefixes = set.iter().filter_map(|k| <[u8; PREFIX]>::try_from(k.get(..PREFIX)?).ok()).collect();
        let max_short = set.iter().map(|k| k.len()).filter(|&n| n <= PREFIX).max().unwrap_or(0);
        Pieces { set, long_lengths: long_lengths.into(), long_prefixes, max_short }
    }

    /// The end of the longest entry at `start` in `word` that ends on a character boundary.
    #[inline]
    fn longest_at(&self, word: &str, start: usize) -> Option<usize> {
        let bytes = word.as_bytes();
        let rest = bytes.len() - start;
        if rest > PREFIX && !self.long_lengths.is_empty() {
            let begins_long =
                <[u8; PREFIX]>::try_from(&bytes[start..start + PREFIX]).is_ok_and(|p| self.long_prefixes.contains(&p));
            if begins_long {
                let found =
                    self.long_lengths.iter().filter(|&&len| len <= rest).find(|&&len| {
                        word.is_char_boundary(start + len) && self.set.contains(&bytes[start..start + len])
                    });
                if let Some(&len) = found {
                    return Some(start + len);
                }
            }
        }
        let mut end = start + rest.min(self.max_short);
        while end > start && !word.is_char_boundary(end) {
            end -= 1;
        }
        while end > start {
            if self.set.contains(&bytes[start..end]) {
                return Some(end);
            }
            end -= 1;
            while !word.is_char_boundary(end) {
                end -= 1;
            }
        }
        None
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Space,
    Punct,
    Word,
}

/// The `tokenizers` crate's "Chinese character" ranges (CJK ideograph blocks).
fn is_chinese_char(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

// ---------------------------------------------------------------------------------------------
// GPT-2 byte-level BPE

const NO_RANK: u32 = u32::MAX;
/// Pieces up to this many bytes merge with a scan over arrays on the stack.
const SMALL_PIECE: usize = 64;

struct ByteLevelBpe {
    /// Tells this model's entries in the per-thread piece cache from other models'.
    owner: u64,
    add_prefix_space: bool,
    /// The token id of each byte (its byte-level character).
    byte_ids: [u32; 256],
    /// (left id, right id) to (merge rank, merged id).
    merges: FxHashMap<u64, (u32, u32)>,
    /// With GPT-2's merges, the r50k table, whose linear backtracking encoder counts the long
    /// pieces (the heap merge takes about a microsecond per byte on a megabyte-long piece).
    gpt2_table: Option<std::sync::Arc<crate::tiktoken::RankTable>>,
}

impl ByteLevelBpe {
    fn detect(json: &Value, model: &Value) -> Option<ByteLevelBpe> {
        if !json["normalizer"].is_null() {
            return None;
        }
        let pre = &json["pre_tokenizer"];
        if pre["type"].as_str() != Some("ByteLevel") {
            return None;
        }
        if !(pre["use_regex"].is_null() || pre["use_regex"] == true) {
            return None;
        }
        let add_prefix_space = match &pre["add_prefix_space"] {
            Value::Null => true, // the crate's default
            Value::Bool(b) => *b,
            _ => return None,
        };
        let absent_or_false = |v: &Value| v.is_null() || *v == false;
        if !model["dropout"].is_null()
            || !model["continuing_subword_prefix"].is_null()
            || !model["end_of_word_suffix"].is_null()
            || !absent_or_false(&model["ignore_merges"])
        {
            return None;
        }
        let vocab = model["vocab"].as_object()?;
        let id = |token: &str| vocab.get(token).and_then(Value::as_u64).and_then(|i| u32::try_from(i).ok());
        let chars = byte_level_chars();
        let mut byte_ids = [0u32; 256];
        for (b, c) in chars.iter().enumerate() {
            byte_ids[b] = id(c.encode_utf8(&mut [0; 4]))?;
        }
        let mut merges = FxHashMap::default();
        // Serialized by the crate in rank order, as pairs.
        let merge_list = model["merges"].as_array()?;
        for (rank, merge) in merge_list.iter().enumerate() {
            let (a, b) = (merge.get(0)?.as_str()?, merge.get(1)?.as_str()?);
            let joined = format!("{a}{b}");
            merges.insert(pair_key(id(a)?, id(b)?), (u32::try_from(rank).ok()?, id(&joined)?));
        }
        let gpt2_table = gpt2_merges_table(merge_list, &chars);
        let owner = piece_cache::new_owner();
        Some(ByteLevelBpe { owner, add_prefix_space, byte_ids, merges, gpt2_table })
    }

    fn count(&self, segment: &str) -> u64 {
        let prefixed;
        let text = if self.add_prefix_space && !segment.starts_with(' ') {
            prefixed = format!(" {segment}");
            &prefixed
        } else {
            segment
        };
        piece_cache::with_cache(|mut cache| {
            let mut total = 0u64;
            SplitPattern::R50k.for_each_piece(text, |piece| {
                total += match cache.as_deref_mut() {
                    Some(cache) if piece.len() > 1 && piece.len() <= piece_cache::MAX_PIECE => {
                        cache.get_or_count(self.owner, piece, || self.count_piece(piece)) as u64
                    }
                    _ => self.count_piece(piece) as u64,
                };
                ControlFlow::Continue(())
            });
            total
        })
    }

    #[inline]
    fn merge(&self, a: u32, b: u32) -> (u32, u32) {
        self.merges.get(&pair_key(a, b)).copied().unwrap_or((NO_RANK, 0))
    }

    fn count_piece(&self, piece: &[u8]) -> usize {
        match piece.len() {
            0 | 1 => piece.len(),
            n if n <= SMALL_PIECE => self.count_small(piece),
            _ => match &self.gpt2_table {
                Some(table) => table.count_long_piece(piece),
                None => self.count_large(piece),
            },
        }
    }

    /// Repeatedly merges the adjacent pair of lowest rank, the leftmost on ties: the order the
    /// crate's priority queue pops them in. A linked list over arrays on the stack.
    fn count_small(&self, piece: &[u8]) -> usize {
        const END: u8 = u8::MAX;
        let mut ids = [0u32; SMALL_PIECE];
        let mut rank = [NO_RANK; SMALL_PIECE];
        let mut merged = [0u32; SMALL_PIECE];
        let mut next = [END; SMALL_PIECE];
        let mut prev = [END; SMALL_PIECE];
        let n = piece.len();
        for (i, &b) in piece.iter().enumerate() {
            ids[i] = self.byte_ids[b as usize];
            next[i] = if i + 1 < n { (i + 1) as u8 } else { END };
            prev[i] = if i > 0 { (i - 1) as u8 } else { END };
        }
        for i in 0..n - 1 {
            (rank[i], merged[i]) = self.merge(ids[i], ids[i + 1]);
        }
        let mut parts = n;
        loop {
            let mut best = NO_RANK;
            let mut at = 0usize;
            let mut i = 0u8;
            while i != END {
                let r = rank[i as usize];
                if r < best {
                    best = r;
                    at = i as usize;
                }
                i = next[i as usize];
            }
            if best == NO_RANK {
                return parts;
            }
            let right = next[at] as usize;
            ids[at] = merged[at];
            let after = next[right];
            next[at] = after;
            parts -= 1;
            if after != END {
                prev[after as usize] = at as u8;
                (rank[at], merged[at]) = self.merge(ids[at], ids[after as usize]);
            } else {
                rank[at] = NO_RANK;
            }
            let before = prev[at];
            if before != END {
                let before = before as usize;
                (rank[before], merged[before]) = self.merge(ids[before], ids[at]);
            }
        }
    }

    /// The same merge order with a heap and a linked list: O(n log n) for a megabyte-long piece.
    fn count_large(&self, piece: &[u8]) -> usize {
        const NONE: u32 = u32::MAX;
        let n = piece.len();
        let mut ids: Vec<u32> = piece.iter().map(|&b| self.byte_ids[b as usize]).collect();
        let mut next: Vec<u32> = (1..=n as u32).collect();
        next[n - 1] = NONE;
        let mut prev: Vec<u32> = (0..n as u32).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        let mut heap = BinaryHeap::with_capacity(n);
        for i in 0..n - 1 {
            let (r, _) = self.merge(ids[i], ids[i + 1]);
            if r != NO_RANK {
                heap.push(Reverse((r, i as u32)));
            }
        }
        let mut parts = n;
        while let Some(Reverse((r, pos))) = heap.pop() {
            let pos = pos as usize;
            if !alive[pos] || next[pos] == NONE {
                continue;
            }
            let right = next[pos] as usize;
            let (current, new_id) = self.merge(ids[pos], ids[right]);
            // An entry for a pair that has changed since: a position's pair only ever spans
            // more text, and ranks are unique per pair, so a matching rank means it is current.
            if current != r {
                continue;
            }
            ids[pos] = new_id;
            alive[right] = false;
            let after = next[right];
            next[pos] = after;
            if after != NONE {
                prev[after as usize] = pos as u32;
                let (r, _) = self.merge(new_id, ids[after as usize]);
                if r != NO_RANK {
                    heap.push(Reverse((r, pos as u32)));
                }
            }
            parts -= 1;
            let before = prev[pos];
            if before != NONE {
                let (r, _) = self.merge(ids[before as usize], new_id);
                if r != NO_RANK {
                    heap.push(Reverse((r, before)));
                }
            }
        }
        parts
    }
}

/// The r50k table when `merges` are GPT-2's: 50,000 merges, the one at index `i` making the token
/// of r50k rank `256 + i` (its id in GPT-2's vocabulary). Then the merges make each of r50k's
/// tokens once, in r50k's rank order, which is how tiktoken's r50k reproduces GPT-2's encoder;
/// `tests/hf_fast.rs` compares the two on long pieces. Checked by content, whatever the ids.
fn gpt2_merges_table(merges: &[Value], chars: &[char; 256]) -> Option<std::sync::Arc<crate::tiktoken::RankTable>> {
    const GPT2_MERGES: usize = 50_000;
    // Cheap tests first: only a file with GPT-2's first merge and count loads the table.
    if merges.len() != GPT2_MERGES || merges[0] != serde_json::json!(["Ġ", "t"]) {
        return None;
    }
    let byte_of: FxHashMap<char, u8> = chars.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
    let table = crate::tiktoken::shared_r50k()?;
    let mut bytes = Vec::new();
    for (i, merge) in merges.iter().enumerate() {
        bytes.clear();
        for part in [merge.get(0)?.as_str()?, merge.get(1)?.as_str()?] {
            for c in part.chars() {
                bytes.push(*byte_of.get(&c)?);
            }
        }
        if table.rank_of(&bytes)? != 256 + i as u32 {
            return None;
        }
    }
    Some(table)
}

#[inline]
fn pair_key(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

/// GPT-2's byte-to-character table: printable Latin-1 bytes stand for themselves, the others
/// are mapped to U+0100 onwards in byte order.
fn byte_level_chars() -> [char; 256] {
    let mut chars = ['\0'; 256];
    let mut extra = 0u32;
    for (b, slot) in chars.iter_mut().enumerate() {
        let printable = matches!(b, 0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff);
        let code = if printable {
            b as u32
        } else {
            extra += 1;
            255 + extra
        };
        *slot = char::from_u32(code).unwrap_or('\0');
    }
    chars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_table_is_a_bijection_onto_gpt2s_characters() {
        let chars = byte_level_chars();
        assert_eq!(chars[b' ' as usize], 'Ġ');
        assert_eq!(chars[b'\n' as usize], 'Ċ');
        assert_eq!(chars[b'a' as usize], 'a');
        let distinct: FxHashSet<char> = chars.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
    }
}
