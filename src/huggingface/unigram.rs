//! The Unigram model of `tokenizer.json`, count-only.
//!
//! The `tokenizers` crate's `Unigram::tokenize` runs a Viterbi search over every vocabulary
//! piece that matches the text, with an unknown-token edge for each character that is not a
//! piece by itself, then fuses consecutive unknown tokens into one and, with byte fallback,
//! replaces a fused unknown that is not a piece by one `<0xXX>` piece per byte. This module
//! gives the number of ids that produces, with the crate's arithmetic and tie-breaking:
//!
//! - a path's score is the sum, in `f64`, of its pieces' scores (unknown: the lowest score of
//!   the vocabulary minus 10), added in the crate's order;
//! - at each position the first candidate (the one starting earliest) is kept unless a later
//!   one scores strictly higher, so ties and NaN scores resolve as in the crate;
//! - a piece that appears twice takes the score of its last occurrence and that id, so a piece
//!   spelled like the unknown token but with another id is not fused.
//!
//! Differences in method, not in result: the pieces ending at each position are found with an
//! Aho-Corasick automaton over the vocabulary (time per byte independent of the longest piece),
//! and the path's token count travels with its score, so memory is a window of the longest
//! piece instead of one node per match. Counting is O(text × the most pieces that can end at
//! one position), a number fixed at load and bounded by [`MAX_PIECES_ENDING_TOGETHER`].

use std::cell::RefCell;

use rustc_hash::FxHashMap;

/// The crate's penalty: an unknown token scores the vocabulary's lowest score minus this.
const UNKNOWN_PENALTY: f64 = 10.0;
/// The most vocabulary pieces that may end at one position of a text (pieces that are
/// suffixes of one another, as `a`, `aa`, `aaa`...). Counting takes time proportional to it;
/// real vocabularies stay far below (T5: 8, ALBERT: 9). A vocabulary above it is refused.
pub(crate) const MAX_PIECES_ENDING_TOGETHER: usize = 256;
/// Node ids are `u32`: the vocabulary's bytes must leave room for them.
const MAX_VOCABULARY_BYTES: usize = (u32::MAX - 2) as usize;

const NONE: u32 = u32::MAX;
const ROOT: u32 = 0;

pub(crate) struct Unigram {
    automaton: Automaton,
    /// `unk_id` was given: without it, text with an unknown character is an error in the crate.
    has_unknown: bool,
    /// Score of an unknown-token edge.
    unknown_score: f64,
    /// Byte fallback is on and `<0xXX>` is a piece, per byte.
    byte_piece: [bool; 256],
    byte_fallback: bool,
    /// Longest piece, in bytes: how far back a path's end is needed.
    longest_piece: usize,
    /// Key of this model's entries in the per-thread count cache.
    cache_owner: u64,
}

impl std::fmt::Debug for Unigram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unigram")
            .field("pieces", &self.automaton.pieces.len())
            .field("trie_nodes", &self.automaton.nodes.len())
            .field("has_unknown", &self.has_unknown)
            .field("byte_fallback", &self.byte_fallback)
            .field("longest_piece", &self.longest_piece)
            .field("most_pieces_ending_together", &self.automaton.most_pieces_ending_together)
            .finish()
    }
}

/// The crate fails on this text: an unknown character and no `unk_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MissingUnknown;

impl std::fmt::Display for MissingUnknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encountered an unknown token but `unk_id` is missing")
    }
}

impl Unigram {
    /// From the model's `vocab` (piece, score) in id order, `unk_id` and `byte_fallback`.
    ///
    /// Refused as the crate refuses them: an `unk_id` with an empty vocabulary, an `unk_id`
    /// past the end of the vocabulary. Accepted as the crate accepts them, with the same
    /// counts: NaN and infinite scores, duplicate pieces (the last one wins), an empty piece
    /// (never matches), no `unk_id` (see [`Unigram::try_count`]). Refused here only, to keep
    /// counting linear: more than [`MAX_PIECES_ENDING_TOGETHER`] pieces that are suffixes of
    /// one another, and vocabularies of 4 GiB or more.
    pub(crate) fn new<S: AsRef<str>>(
        vocab: Vec<(S, f64)>,
        unk_id: Option<usize>,
        byte_fallback: bool,
    ) -> Result<Unigram, String> {
        if let Some(unk_id) = unk_id {
            if vocab.is_empty() {
                return Err("Unigram: the vocabulary is empty but at least <unk> is needed".into());
            }
            if unk_id >= vocab.len() {
                return Err(format!("Unigram: unk_id {unk_id} is not in the vocabulary of {} pieces", vocab.len()));
            }
        }
        let total_bytes = vocab.iter().try_fold(0usize, |sum, (piece, _)| sum.checked_add(piece.as_ref().len()));
        if total_bytes.is_none_or(|bytes| bytes > MAX_VOCABULARY_BYTES) {
            return Err("Unigram: the vocabulary's pieces add up to 4 GiB or more".into());
        }
        // The crate's lowest score: NaN never compares lower, so it is skipped.
        let lowest =
            vocab.iter().fold(f64::INFINITY, |lowest, &(_, score)| if score < lowest { score } else { lowest });

        // A piece's id is its last occurrence's (the crate's map keeps the last insert).
        let mut last_id: FxHashMap<&str, usize> = FxHashMap::default();
        last_id.reserve(vocab.len());
        for (id, (piece, _)) in vocab.iter().enumerate() {
            last_id.insert(piece.as_ref(), id);
        }
        let mut byte_piece = [false; 256];
        if byte_fallback {
            for (byte, present) in byte_piece.iter_mut().enumerate() {
                *present = last_id.contains_key(format!("<0x{byte:02X}>").as_str());
            }
        }
        let mut entries: Vec<PieceEntry<'_>> = last_id
            .iter()
            .filter(|(piece, _)| !piece.is_empty())
            .map(|(&piece, &id)| PieceEntry {
                bytes: piece.as_bytes(),
                score: vocab.get(id).map_or(f64::NAN, |entry| entry.1),
                is_unknown: Some(id) == unk_id,
            })
            .collect();
        drop(last_id);
        entries.sort_unstable_by(|a, b| a.bytes.cmp(b.bytes));
        let longest_piece = entries.iter().map(|entry| entry.bytes.len()).max().unwrap_or(0);
        let automaton = Automaton::build(&entries)?;
        Ok(Unigram {
            automaton,
            has_unknown: unk_id.is_some(),
            unknown_score: lowest - UNKNOWN_PENALTY,
            byte_piece,
            byte_fallback,
            longest_piece,
            cache_owner: crate::bpe::piece_cache::new_owner(),
        })
    }

    /// The number of ids the crate's `Unigram::tokenize(piece)` returns. For a model without
    /// `unk_id`, where the crate fails (see [`Unigram::try_count`]), each fused unknown run
    /// counts one.
    #[cfg(test)]
    pub(crate) fn count(&self, piece: &str) -> usize {
        match self.try_count(piece) {
            Ok(count) => count,
            Err(MissingUnknown) => self.count_uncached(piece, true).unwrap_or(0),
        }
    }

    /// The number of ids, or the crate's error: a model without `unk_id` fails on text where
    /// the best path needs an unknown token.
    pub(crate) fn try_count(&self, piece: &str) -> Result<usize, MissingUnknown> {
        if piece.is_empty() {
            return Ok(0);
        }
        if piece.len() > CACHED_PIECE {
            return self.count_uncached(piece, false);
        }
        with_cache(|cache| match cache {
            Some(cache) => cache.get_or_count(self.cache_owner, piece.as_bytes(), || self.count_uncached(piece, false)),
            None => self.count_uncached(piece, false),
        })
    }

    fn count_uncached(&self, piece: &str, unknown_allowed: bool) -> Result<usize, MissingUnknown> {
        let window = (self.longest_piece.max(4) + 1).min(piece.len() + 1).next_power_of_two();
        with_window(window, |ends| self.viterbi(piece.as_bytes(), ends, unknown_allowed || self.has_unknown))
    }

    /// The crate's Viterbi search, pulled instead of pushed: at each character boundary `end`,
    /// the candidates (pieces ending there, from the longest, then the unknown edge) are the
    /// crate's in the order it relaxes them, so the same one wins.
    fn viterbi(&self, text: &[u8], ends: &mut [PathEnd], unknown_allowed: bool) -> Result<usize, MissingUnknown> {
        let mask = ends.len() - 1;
        let slot = |position: usize| position & mask;
        let automaton = &self.automaton;
        if let Some(start) = ends.get_mut(0) {
            *start = PathEnd::START;
        }
        let mut state = ROOT;
        let mut char_start = 0;
        for (index, &byte) in text.iter().enumerate() {
            state = automaton.next_state(state, byte);
            if byte & 0xC0 != 0x80 {
                char_start = index;
            }
            let end = index + 1;
            if text.get(end).is_some_and(|&next| next & 0xC0 == 0x80) {
                continue;
            }
            // Pick the winner on scores alone, then build only its path end.
            let mut winner: Option<(usize, Option<&PieceEnd>)> = None;
            let mut best_score = 0.0;
            let mut char_is_piece = false;
            let mut record = automaton.output(state);
            while let Some(piece) = automaton.pieces.get(record as usize) {
                let start = end - piece.length as usize;
                char_is_piece |= start == char_start;
                let score = piece.score + ends[slot(start)].score;
                if winner.is_none() || score > best_score {
                    best_score = score;
                    winner = Some((start, Some(piece)));
                }
                record = piece.next;
            }
            if !char_is_piece {
                let score = self.unknown_score + ends[slot(char_start)].score;
                if winner.is_none() || score > best_score {
                    if !unknown_allowed {
                        return Err(MissingUnknown);
                    }
                    best_score = score;
                    winner = Some((char_start, None));
                }
            }
            // There is always a candidate: the character as a piece or as an unknown.
            let Some((start, piece)) = winner else { continue };
            let from = ends[slot(start)];
            ends[slot(end)] = match piece {
                Some(piece) if !piece.is_unknown => from.close_run(best_score, self.run_tokens(&from, start)),
                _ => self.extend_run(&from, best_score, start, &text[start..end]),
            };
        }
        let last = ends[slot(text.len())];
        Ok(last.closed + self.run_tokens(&last, text.len()))
    }

    /// The path ending with an unknown token (an unknown character, or a piece whose id is
    /// `unk_id`) over `bytes`, which starts at `start`: it joins the path's open unknown run.
    fn extend_run(&self, from: &PathEnd, score: f64, start: usize, bytes: &[u8]) -> PathEnd {
        let (run_start, node, bytes_ok) = if from.run_start == NO_RUN {
            (start, ROOT, true)
        } else {
            (from.run_start, from.run_node, from.run_bytes_ok)
        };
        PathEnd {
            score,
            closed: from.closed,
            run_start,
            run_node: self.automaton.descend(node, bytes),
            run_bytes_ok: bytes_ok && bytes.iter().all(|&b| self.byte_piece[b as usize]),
        }
    }

    /// The tokens of `path`'s open unknown run, which ends at `end`: one when the fused text is
    /// a piece, one per byte with byte fallback (when every byte has its piece), else one.
    fn run_tokens(&self, path: &PathEnd, end: usize) -> usize {
        if path.run_start == NO_RUN {
            return 0;
        }
        let length = end - path.run_start;
        if self.automaton.is_piece(path.run_node) {
            1
        } else if self.byte_fallback && path.run_bytes_ok {
            length
        } else {
            1
        }
    }
}

/// The best path to a position, as far as counting needs it.
#[derive(Clone, Copy)]
struct PathEnd {
    score: f64,
    /// Tokens before the open unknown run.
    closed: usize,
    /// Where the open unknown run starts (`NO_RUN`: the path ends with a known piece).
    run_start: usize,
    /// The trie node spelling the run (`NONE` once it is no piece's prefix).
    run_node: u32,
    /// Every byte of the run has a `<0xXX>` piece.
    run_bytes_ok: bool,
}

const NO_RUN: usize = usize::MAX;

impl PathEnd {
    const START: PathEnd = PathEnd { score: 0.0, closed: 0, run_start: NO_RUN, run_node: NONE, run_bytes_ok: true };

    fn close_run(&self, score: f64, run_tokens: usize) -> PathEnd {
        PathEnd { score, closed: self.closed + run_tokens + 1, run_start: NO_RUN, run_node: NONE, run_bytes_ok: true }
    }
}

struct PieceEntry<'a> {
    bytes: &'a [u8],
    score: f64,
    is_unknown: bool,
}

/// A piece, where the automaton reports it.
#[derive(Clone, Copy)]
struct PieceEnd {
    score: f64,
    length: u32,
    is_unknown: bool,
    /// The next shorter piece that ends at the same place (`NONE`: the last).
    next: u32,
}

/// An Aho-Corasick automaton over the vocabulary's bytes. Nodes are numbered breadth-first, so
/// the children of a node are consecutive ids, in byte order.
struct Automaton {
    nodes: Vec<Node>,
    /// The byte leading into each node (read when a node has several children).
    label: Vec<u8>,
    pieces: Vec<PieceEnd>,
    /// The root's children by byte: the root is left on most bytes of a text.
    root_children: [u32; 256],
    /// The most pieces that end at one position of a text.
    most_pieces_ending_together: usize,
}

/// What a transition reads of a node, in 16 bytes, so that it costs one cache line.
#[derive(Clone, Copy)]
struct Node {
    /// Children: ids `first_child..first_child + child_count`.
    first_child: u32,
    /// The longest proper suffix of the node's text that is also a node.
    fail: u32,
    /// The longest piece ending the node's text (itself or a suffix): an index in `pieces`.
    output: u32,
    child_count: u16,
    /// The label of the first child, so that a node with one child needs no other read.
    first_label: u8,
    /// The node's text is a piece.
    is_piece: bool,
}

impl Automaton {
    /// From the pieces, sorted by bytes, without duplicates or empty pieces.
    fn build(entries: &[PieceEntry<'_>]) -> Result<Automaton, String> {
        let mut nodes: Vec<Node> = Vec::new();
        let mut label: Vec<u8> = vec![0];
        // The piece each node spells, until the output links are made.
        let mut own_piece: Vec<u32> = vec![NONE];
        let mut pieces: Vec<PieceEnd> = Vec::with_capacity(entries.len());
        // Breadth-first over ranges of the sorted pieces that share the node's text.
        let mut queue: std::collections::VecDeque<(usize, usize, usize)> = std::collections::VecDeque::new();
        queue.push_back((0, entries.len(), 0));
        while let Some((mut low, high, depth)) = queue.pop_front() {
            let first_child = label.len() as u32;
            // The piece equal to the node's text sorts first in its range.
            if low < high && entries[low].bytes.len() == depth {
                low += 1;
            }
            while low < high {
                let byte = entries[low].bytes[depth];
                let mut group_end = low + 1;
                while group_end < high && entries[group_end].bytes[depth] == byte {
                    group_end += 1;
                }
                label.push(byte);
                let entry = &entries[low];
                if entry.bytes.len() == depth + 1 {
                    own_piece.push(pieces.len() as u32);
                    pieces.push(PieceEnd {
                        score: entry.score,
                        length: entry.bytes.len() as u32,
                        is_unknown: entry.is_unknown,
                        next: NONE,
                    });
                } else {
                    own_piece.push(NONE);
                }
                queue.push_back((low, group_end, depth + 1));
                low = group_end;
            }
            let child_count = label.len() as u32 - first_child;
            nodes.push(Node {
                first_child,
                fail: ROOT,
                output: NONE,
                child_count: child_count as u16,
                first_label: label.get(first_child as usize).copied().unwrap_or(0),
                is_piece: own_piece.get(nodes.len()).is_some_and(|&piece| piece != NONE),
            });
        }
        let mut automaton =
            Automaton { nodes, label, pieces, root_children: [NONE; 256], most_pieces_ending_together: 0 };
        for child in automaton.children(ROOT) {
            if let Some(&byte) = automaton.label.get(child as usize) {
                automaton.root_children[byte as usize] = child;
            }
        }
        automaton.link(&own_piece)?;
        automaton.nodes.shrink_to_fit();
        automaton.label.shrink_to_fit();
        Ok(automaton)
    }

    /// Failure and output links, breadth-first (a node's links point to shallower nodes),
    /// and the bound on pieces ending together.
    fn link(&mut self, own_piece: &[u32]) -> Result<(), String> {
        let node_count = self.nodes.len();
        let mut chain_length = vec![0u32; node_count];
        for node in 0..node_count as u32 {
            let own = own_piece.get(node as usize).copied().unwrap_or(NONE);
            let fail = self.nodes[node as usize].fail;
            let (suffix_output, suffix_chain) =
                if node == ROOT { (NONE, 0) } else { (self.nodes[fail as usize].output, chain_length[fail as usize]) };
            if own != NONE {
                self.nodes[node as usize].output = own;
                self.pieces[own as usize].next = suffix_output;
                chain_length[node as usize] = suffix_chain + 1;
                if chain_length[node as usize] as usize > MAX_PIECES_ENDING_TOGETHER {
                    return Err(format!(
                        "Unigram: more than {MAX_PIECES_ENDING_TOGETHER} pieces end with the same {} bytes \
                         (each a suffix of the next); counting such a vocabulary would be too slow",
                        self.pieces[own as usize].length
                    ));
                }
            } else {
                self.nodes[node as usize].output = suffix_output;
                chain_length[node as usize] = suffix_chain;
            }
            self.most_pieces_ending_together =
                self.most_pieces_ending_together.max(chain_length[node as usize] as usize);
            for child in self.children(node) {
                let byte = self.label[child as usize];
                self.nodes[child as usize].fail = if node == ROOT { ROOT } else { self.next_state(fail, byte) };
            }
        }
        Ok(())
    }

    fn children(&self, node: u32) -> std::ops::Range<u32> {
        match self.nodes.get(node as usize) {
            Some(n) => n.first_child..n.first_child + n.child_count as u32,
            None => 0..0,
        }
    }

    #[inline]
    fn child(&self, node: u32, byte: u8) -> u32 {
        if node == ROOT {
            return self.root_children[byte as usize];
        }
        let Some(n) = self.nodes.get(node as usize) else { return NONE };
        match n.child_count {
            0 => NONE,
            1 => {
                if n.first_label == byte {
                    n.first_child
                } else {
                    NONE
                }
            }
            count => {
                let start = n.first_child as usize;
                let Some(labels) = self.label.get(start..start + count as usize) else { return NONE };
                let found = if labels.len() <= 8 {
                    labels.iter().position(|&b| b == byte)
                } else {
                    labels.binary_search(&byte).ok()
                };
                found.map_or(NONE, |index| n.first_child + index as u32)
            }
        }
    }

    /// The node after reading `byte` in `state`: the longest suffix of the text read so far
    /// that is a node.
    #[inline]
    fn next_state(&self, mut state: u32, byte: u8) -> u32 {
        loop {
            let child = self.child(state, byte);
            if child != NONE {
                return child;
            }
            if state == ROOT {
                return ROOT;
            }
            state = self.nodes.get(state as usize).map_or(ROOT, |n| n.fail);
        }
    }

    /// The longest piece ending where `state` was reached (an index in `pieces`, or `NONE`).
    #[inline]
    fn output(&self, state: u32) -> u32 {
        self.nodes.get(state as usize).map_or(NONE, |n| n.output)
    }

    /// The node spelling `node`'s text followed by `bytes` (`NONE` when there is none).
    fn descend(&self, mut node: u32, bytes: &[u8]) -> u32 {
        for &byte in bytes {
            if node == NONE {
                break;
            }
            node = self.child(node, byte);
        }
        node
    }

    /// `node` spells a piece.
    fn is_piece(&self, node: u32) -> bool {
        self.nodes.get(node as usize).is_some_and(|n| n.is_piece)
    }
}

// Per-thread state: the window of path ends (reused between calls, bounded) and the count
// cache.

/// Windows up to this many path ends are kept for the next call; a larger one is freed.
const KEPT_WINDOW: usize = 1 << 12;

thread_local! {
    static WINDOW: RefCell<Vec<PathEnd>> = const { RefCell::new(Vec::new()) };
    static CACHE: RefCell<Option<CountCache>> = const { RefCell::new(None) };
}

/// Runs `f` with a window of `size` path ends (a power of two): this thread's, or a fresh one
/// when it is in use or gone.
fn with_window<R>(size: usize, f: impl FnOnce(&mut [PathEnd]) -> R) -> R {
    let mut f = Some(f);
    let mut run = |window: &mut Vec<PathEnd>| {
        if window.len() < size {
            window.resize(size, PathEnd::START);
        }
        let result = (f.take().expect("called once"))(&mut window[..size]);
        if window.len() > KEPT_WINDOW {
            *window = Vec::new();
        }
        result
    };
    let shared = WINDOW.try_with(|cell| cell.try_borrow_mut().ok().map(|mut window| run(&mut window)));
    match shared {
        Ok(Some(result)) => result,
        _ => run(&mut Vec::new()),
    }
}

/// Pieces up to this many bytes are cached (pieces, after pre-tokenization, are words).
const CACHED_PIECE: usize = 22;
/// Sets of two entries: 4096 × 64 bytes, 256 KiB per counting thread.
const CACHE_SETS: usize = 4096;

/// A two-way set-associative cache of counts with a fixed number of entries (allocated on
/// first use, freed with the thread). Each entry holds its whole key (model and piece), so a
/// hit is always the same piece of the same model; a miss evicts the older entry of its set.
struct CountCache {
    sets: Box<[[CacheEntry; 2]]>,
}

#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct CacheEntry {
    owner: u64,
    piece: [u8; CACHED_PIECE],
    /// 0 for an empty entry (cached pieces are never empty).
    length: u8,
    count: u8,
}

const EMPTY_ENTRY: CacheEntry = CacheEntry { owner: 0, piece: [0; CACHED_PIECE], length: 0, count: 0 };

impl CountCache {
    fn get_or_count(
        &mut self,
        owner: u64,
        piece: &[u8],
        count: impl FnOnce() -> Result<usize, MissingUnknown>,
    ) -> Result<usize, MissingUnknown> {
        let mut key = [0u8; 24];
        let length = piece.len().min(CACHED_PIECE);
        key[..length].copy_from_slice(&piece[..length]);
        let mut hash = (length as u64) << 56 ^ owner;
        for word in key.chunks_exact(8) {
            let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
            hash = (hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        let mut stored = [0u8; CACHED_PIECE];
        stored.copy_from_slice(&key[..CACHED_PIECE]);
        let index = (hash >> 40) as usize & (CACHE_SETS - 1);
        let Some(set) = self.sets.get_mut(index) else { return count() };
        for entry in set.iter() {
            if entry.length as usize == length && entry.owner == owner && entry.piece == stored {
                return Ok(entry.count as usize);
            }
        }
        let result = count()?;
        // A count is at most one per byte, so it fits; checked anyway.
        if let Ok(small) = u8::try_from(result) {
            set[1] = set[0];
            set[0] = CacheEntry { owner, piece: stored, length: length as u8, count: small };
        }
        Ok(result)
    }
}

fn with_cache<R>(f: impl FnOnce(Option<&mut CountCache>) -> R) -> R {
    let mut f = Some(f);
    let result = CACHE.try_with(|cell| match cell.try_borrow_mut() {
        Ok(mut slot) => {
            let cache =
                slot.get_or_insert_with(|| CountCache { sets: vec![[EMPTY_ENTRY; 2]; CACHE_SETS].into_boxed_slice() });
            (f.take().expect("called once"))(Some(cache))
        }
        Err(_) => (f.take().expect("called once"))(None),
    });
    match result {
        Ok(result) => result,
        Err(_) => (f.take().expect("not called when the thread-local is gone"))(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::models::unigram::Unigram as CrateUnigram;
    use tokenizers::Model;

    fn fixture(path: &str) -> String {
        let path = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
    }

    /// `model.vocab`, `unk_id` and `byte_fallback` of a tokenizer.json.
    fn model_of(path: &str) -> (Vec<(String, f64)>, Option<usize>, bool) {
        let json: serde_json::Value = serde_json::from_str(&fixture(path)).expect("JSON");
        let model = &json["model"];
        let vocab = model["vocab"]
            .as_array()
            .expect("vocab")
            .iter()
            .map(|entry| (entry[0].as_str().expect("piece").to_owned(), entry[1].as_f64().expect("score")))
            .collect();
        let unk_id = model["unk_id"].as_u64().map(|id| id as usize);
        (vocab, unk_id, model["byte_fallback"].as_bool().unwrap_or(false))
    }

    const SMALL: &str = "tests/fixtures/unigram/spm_small.json";
    const T5_STYLE: &str = "tests/fixtures/tokenizers/t5-style-unigram/tokenizer.json";

    fn crate_count(model: &CrateUnigram, piece: &str) -> Result<usize, String> {
        model.tokenize(piece).map(|tokens| tokens.len()).map_err(|err| err.to_string())
    }

    fn ours(model: &Unigram, piece: &str) -> Result<usize, String> {
        model.try_count(piece).map_err(|err| err.to_string())
    }

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n.max(1) as u64) as usize
        }
        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    /// Corpus words as T5's pre-tokenizer gives them (WhitespaceSplit, then Metaspace).
    fn corpus_pieces() -> Vec<String> {
        let mut pieces = Vec::new();
        for entry in std::fs::read_dir(format!("{}/bench/corpus", env!("CARGO_MANIFEST_DIR"))).expect("corpus") {
            let text = std::fs::read_to_string(entry.expect("entry").path()).expect("UTF-8");
            for word in text.split_whitespace() {
                for (index, piece) in format!("▁{}", word.trim_start_matches('▁')).split_inclusive('▁').enumerate()
                {
                    // split_inclusive keeps '▁' at the end: move it to the start of the next piece.
                    let _ = index;
                    pieces.push(piece.to_owned());
                }
            }
        }
        pieces
            .iter()
            .map(|p| p.trim_end_matches('▁'))
            .filter(|p| !p.is_empty())
            .map(|p| format!("▁{}", p.trim_start_matches('▁')))
            .collect()
    }

    #[test]
    fn refuses_what_the_crate_refuses() {
        let cases: Vec<(Vec<(String, f64)>, Option<usize>)> =
            vec![(vec![], Some(0)), (vec![("a".into(), 0.0)], Some(1)), (vec![("a".into(), 0.0)], Some(usize::MAX))];
        for (vocab, unk_id) in cases {
            assert!(CrateUnigram::from(vocab.clone(), unk_id, false).is_err());
            assert!(Unigram::new(vocab, unk_id, false).is_err());
        }
    }

    #[test]
    fn accepts_what_the_crate_accepts() {
        let pieces = |list: &[(&str, f64)]| list.iter().map(|&(p, s)| (p.to_owned(), s)).collect::<Vec<_>>();
        let cases = [
            (pieces(&[("<unk>", 0.0), ("a", f64::NAN), ("b", f64::INFINITY), ("ab", f64::NEG_INFINITY)]), Some(0)),
            (pieces(&[("a", -1.0), ("<unk>", 0.0), ("a", -3.0), ("", -0.5), ("<unk>", -2.0), ("ab", -1.5)]), Some(1)),
            (pieces(&[("a", 0.0), ("▁", 0.0)]), None),
            (vec![], None),
        ];
        for (vocab, unk_id) in cases {
            let theirs = CrateUnigram::from(vocab.clone(), unk_id, true).expect("the crate accepts it");
            let model = Unigram::new(vocab, unk_id, true).expect("accepted");
            for piece in ["a", "ab", "ba", "aab", "x", "<unk>a", "a<unk>", "▁a", "", "abxab"] {
                assert_eq!(ours(&model, piece), crate_count(&theirs, piece), "{piece:?}");
            }
        }
    }

    #[test]
    fn a_model_without_unk_id_fails_where_the_crate_fails() {
        let vocab = vec![("a".to_owned(), 0.0), ("▁".to_owned(), 0.0)];
        let model = Unigram::new(vocab.clone(), None, false).expect("accepted");
        let theirs = CrateUnigram::from(vocab, None, false).expect("accepted");
        assert_eq!(model.try_count("▁aa"), Ok(3));
        assert_eq!(ours(&model, "▁ab"), crate_count(&theirs, "▁ab"));
        assert_eq!(model.try_count("▁ab"), Err(MissingUnknown));
        // count() counts the unknown run as one token instead.
        assert_eq!(model.count("▁abc"), 3);
    }

    #[test]
    fn refuses_too_many_pieces_ending_together() {
        let chain = |n: usize| (1..=n).map(|k| ("a".repeat(k), -(k as f64))).collect::<Vec<_>>();
        let model = Unigram::new(chain(MAX_PIECES_ENDING_TOGETHER), None, false).expect("at the bound");
        assert_eq!(model.count(&"a".repeat(10_000)), 10_000 / MAX_PIECES_ENDING_TOGETHER + 1);
        let err = Unigram::new(chain(MAX_PIECES_ENDING_TOGETHER + 1), None, false).expect_err("over the bound");
        assert!(err.contains("more than 256 pieces"), "{err}");
    }

    /// Small random vocabularies over a few symbols (so pieces overlap), with tied, NaN,
    /// infinite and positive scores, duplicates, the empty piece, byte pieces, with or
    /// without unk and byte fallback.
    fn random_model(rng: &mut Rng) -> (Vec<(String, f64)>, Option<usize>, bool) {
        const SYMBOLS: &[&str] = &["a", "b", "c", "é", "▁", "日", "<", "u", "n", "k", ">", "ab", "<unk>", "<0x61>"];
        let symbols = &SYMBOLS[..3 + rng.below(SYMBOLS.len() - 2)];
        let kind = rng.below(5);
        let score = |rng: &mut Rng| match kind {
            0 => -(rng.below(4) as f64),
            1 => -(rng.below(1000) as f64) / 7.0,
            2 => [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, -2.0, 0.0][rng.below(6)],
            3 => rng.below(5) as f64 * 3.0,
            _ => 0.0,
        };
        let mut vocab: Vec<(String, f64)> = (0..1 + rng.below(30))
            .map(|_| ((0..1 + rng.below(5)).map(|_| *rng.pick(symbols)).collect(), score(rng)))
            .collect();
        if rng.below(4) == 0 {
            vocab.push((String::new(), score(rng)));
        }
        if rng.below(3) == 0 {
            let duplicate = rng.pick(&vocab).0.clone();
            vocab.push((duplicate, score(rng)));
        }
        let unk_at = rng.below(vocab.len() + 1);
        let unk_score = score(rng);
        vocab.insert(unk_at, ("<unk>".into(), unk_score));
        let byte_fallback = rng.below(2) == 0;
        let all_bytes = rng.below(3) != 0;
        if byte_fallback || rng.below(4) == 0 {
            for byte in 0..=255u8 {
                if all_bytes || rng.below(2) == 0 {
                    vocab.push((format!("<0x{byte:02X}>"), score(rng)));
                }
            }
        }
        let unk_id = match rng.below(8) {
            0 => None,
            1 => Some(rng.below(vocab.len())),
            _ => Some(unk_at),
        };
        (vocab, unk_id, byte_fallback)
    }

    #[test]
    fn counts_as_the_crate_on_random_vocabularies() {
        const TEXT: &[&str] =
            &["a", "b", "c", "é", "▁", "日", "<", "u", "n", "k", ">", "x", "Ω", "😀", "\u{301}", "<unk>", "<0x61>"];
        let mut rng = Rng(20261203);
        let (mut compared, mut failures) = (0, 0);
        for _ in 0..1500 {
            let (vocab, unk_id, byte_fallback) = random_model(&mut rng);
            let theirs = CrateUnigram::from(vocab.clone(), unk_id, byte_fallback);
            let model = Unigram::new(vocab.clone(), unk_id, byte_fallback);
            assert_eq!(theirs.is_ok(), model.is_ok(), "{vocab:?} {unk_id:?}");
            let (Ok(theirs), Ok(model)) = (theirs, model) else { continue };
            for _ in 0..20 {
                let piece: String = (0..rng.below(14)).map(|_| *rng.pick(TEXT)).collect();
                let expected = crate_count(&theirs, &piece);
                failures += expected.is_err() as usize;
                compared += 1;
                assert_eq!(
                    ours(&model, &piece),
                    expected,
                    "{piece:?} in {vocab:?}, unk {unk_id:?}, fallback {byte_fallback}"
                );
            }
        }
        assert!(compared > 20_000 && failures > 100, "{compared} compared, {failures} crate errors");
    }

    #[test]
    fn counts_as_the_crate_on_real_vocabularies() {
        let pieces = corpus_pieces();
        for path in [SMALL, T5_STYLE] {
            let (vocab, unk_id, byte_fallback) = model_of(path);
            let theirs = CrateUnigram::from(vocab.clone(), unk_id, byte_fallback).expect("loads");
            let model = Unigram::new(vocab.clone(), unk_id, byte_fallback).expect("loads");
            for piece in pieces.iter().step_by(7) {
                assert_eq!(ours(&model, piece), crate_count(&theirs, piece), "{path}: {piece:?}");
            }
            // Concatenations of pieces, unknown characters between them.
            let mut rng = Rng(99);
            for _ in 0..2000 {
                let mut piece = String::new();
                for _ in 0..1 + rng.below(5) {
                    piece.push_str(&rng.pick(&vocab).0);
                    if rng.below(3) == 0 {
                        piece.push(*rng.pick(&['☃', 'Ω', '\u{301}', '😀', 'ｶ', '\0']));
                    }
                }
                assert_eq!(ours(&model, &piece), crate_count(&theirs, &piece), "{path}: {piece:?}");
            }
        }
    }

    #[test]
    fn matches_python() {
        let small = model_of(SMALL);
        let t5_style = model_of(T5_STYLE);
        let small = Unigram::new(small.0, small.1, small.2).expect("loads");
        let t5_style = Unigram::new(t5_style.0, t5_style.1, t5_style.2).expect("loads");
        let mut compared = 0;
        for line in fixture("tests/fixtures/unigram/python_expected.jsonl").lines() {
            let item: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            let model = match item["tokenizer"].as_str() {
                Some("unigram/spm_small") => &small,
                Some("tokenizers/t5-style-unigram") => &t5_style,
                other => panic!("unknown tokenizer {other:?}"),
            };
            for entry in item["pieces"].as_array().expect("pieces") {
                let piece = entry[0].as_str().expect("piece");
                assert_eq!(Some(model.count(piece) as u64), entry[1].as_u64(), "{piece:?}");
                compared += 1;
            }
        }
        assert!(compared > 500, "{compared} pieces");
    }

    #[test]
    fn long_runs_and_long_pieces_count_in_linear_time() {
        let (mut vocab, unk_id, byte_fallback) = model_of(T5_STYLE);
        // 50,000 pieces sharing a prefix, and a piece of 100,000 letters (kept from the crate:
        // its trie of nested maps overflows the stack when dropped).
        vocab.extend((0..50_000).map(|i| (format!("▁sharedprefix{i}"), -12.0)));
        let theirs = CrateUnigram::from(vocab.clone(), unk_id, byte_fallback).expect("loads");
        vocab.push(("a".repeat(100_000), -3.0));
        let model = Unigram::new(vocab, unk_id, byte_fallback).expect("loads");
        let emoji = "😀".repeat(50_000);
        let cjk: String = (0..70_000u32).filter_map(|i| char::from_u32(0x4E00 + i * 7919 % 20_000)).collect();
        let bytes: String = (0..100_000u32).filter_map(|i| char::from_u32(i * 31 % 256)).collect();
        for text in ["a".repeat(200_000), emoji, cjk, bytes, "▁sharedprefix12345".repeat(5_000)] {
            let started = std::time::Instant::now();
            let count = model.count(&text);
            assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
            if text.len() < 150_000 && !text.starts_with('a') {
                assert_eq!(Ok(count), crate_count(&theirs, &text));
            }
        }
        assert_eq!(model.count(&"a".repeat(200_000)), 2);
    }

    #[test]
    fn the_cache_never_mixes_models_or_pieces() {
        let vocab = |score: f64| vec![("<unk>".to_owned(), 0.0), ("a".to_owned(), -1.0), ("aa".to_owned(), score)];
        let one_token = Unigram::new(vocab(-1.5), Some(0), false).expect("loads");
        let two_tokens = Unigram::new(vocab(-2.5), Some(0), false).expect("loads");
        for round in 0..3 {
            for length in [1usize, 2, 21, 22, 23, 40] {
                let piece = "a".repeat(length);
                assert_eq!(one_token.count(&piece), length.div_ceil(2), "round {round}, {length}");
                assert_eq!(two_tokens.count(&piece), length, "round {round}, {length}");
                assert_eq!(one_token.count(&piece), one_token.count_uncached(&piece, false).unwrap_or(0));
            }
        }
        // Many pieces: whatever is evicted, every answer is the computed one.
        let (vocab, unk_id, byte_fallback) = model_of(SMALL);
        let model = Unigram::new(vocab, unk_id, byte_fallback).expect("loads");
        let pieces = corpus_pieces();
        let first: Vec<usize> = pieces.iter().map(|piece| model.count(piece)).collect();
        let again: Vec<usize> = pieces.iter().map(|piece| model.count_uncached(piece, false).unwrap_or(0)).collect();
        assert_eq!(first, again);
    }
}
