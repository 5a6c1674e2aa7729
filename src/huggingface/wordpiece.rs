//! The `WordPiece` and `WordLevel` models of `tokenizer.json`, count-only.

use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;

use super::load::LoadError;
use crate::bpe::piece_cache::{self, PieceCache};

/// Greedy longest-match-first: the longest vocabulary entry at the start of the word, then the
/// longest entry with the continuing prefix at each following position; a word with a part
/// that matches nothing, or longer than `max_input_chars_per_word`, is the unknown token.
pub(crate) struct WordPiece {
    /// Every vocabulary entry, for the first piece of a word.
    start: Pieces,
    /// Entries starting with the continuing prefix, without it, for the following pieces.
    cont: Pieces,
    max_input_chars_per_word: usize,
    /// This model's entries in the per-thread piece cache.
    owner: u64,
}

impl WordPiece {
    pub(crate) fn from_json(model: &Value) -> Result<WordPiece, LoadError> {
        let invalid = |m: &str| LoadError::Invalid(format!("model: {m}"));
        let unk = model["unk_token"].as_str().ok_or_else(|| invalid("a WordPiece model needs a string unk_token"))?;
        let prefix = model["continuing_subword_prefix"].as_str().unwrap_or("##");
        let max_input_chars_per_word = match model.get("max_input_chars_per_word") {
            None | Some(Value::Null) => 100,
            Some(v) => v
                .as_u64()
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
                .ok_or_else(|| invalid("max_input_chars_per_word must be a non-negative integer"))?,
        };
        let vocab = model["vocab"].as_object().ok_or_else(|| invalid("a WordPiece vocab must be an object"))?;
        if !vocab.contains_key(unk) {
            // The crate then fails on the first word it cannot split.
            return Err(LoadError::Unsupported(format!("the unknown token {unk:?} is not in the vocabulary")));
        }
        let start = Pieces::new(vocab.keys().map(String::as_str), max_input_chars_per_word)?;
        let cont = Pieces::new(vocab.keys().filter_map(|k| k.strip_prefix(prefix)), max_input_chars_per_word)?;
        Ok(WordPiece { start, cont, max_input_chars_per_word, owner: piece_cache::new_owner() })
    }

    /// The tokens of one word; `cache` is the thread's piece cache.
    pub(crate) fn count(&self, word: &str, cache: &mut Option<&mut PieceCache>) -> u64 {
        match cache {
            Some(cache) if !word.is_empty() && word.len() <= piece_cache::MAX_CACHED => {
                cache.get_or_count(self.owner, word.as_bytes(), || self.count_uncached(word) as usize) as u64
            }
            _ => self.count_uncached(word),
        }
    }

    fn count_uncached(&self, word: &str) -> u64 {
        if word.is_empty() {
            return 0;
        }
        if word.len() > self.max_input_chars_per_word && word.chars().count() > self.max_input_chars_per_word {
            return 1;
        }
        let bytes = word.as_bytes();
        // The longest long entry at each position, for the first piece and for the others,
        // computed when some position first needs it.
        let mut long_start: Option<u32> = None;
        let mut long_cont: Option<Vec<u32>> = None;
        let mut start = 0;
        let mut pieces = 0;
        while start < word.len() {
            let set = if start == 0 { &self.start } else { &self.cont };
            let mut end = None;
            if let Some(long) = set.long.as_ref().filter(|_| set.may_start_long(bytes, start)) {
                let len = if start == 0 {
                    *long_start.get_or_insert_with(|| {
                        let mut at = Vec::new();
                        long.longest_at_each(bytes, &mut at);
                        at[0]
                    })
                } else {
                    long_cont.get_or_insert_with(|| {
                        let mut at = Vec::new();
                        long.longest_at_each(bytes, &mut at);
                        at
                    })[start]
                };
                if len > 0 {
                    end = Some(start + len as usize);
                }
            }
            match end.or_else(|| set.longest_short_at(word, start)) {
                Some(e) => start = e,
                None => return 1,
            }
            pieces += 1;
        }
        pieces
    }
}

/// Each piece is one entry, or the unknown token.
pub(crate) struct WordLevel {
    /// The vocabulary, kept only when the unknown token is not in it: a piece outside it is
    /// then an error, as in the crate.
    vocab: Option<FxHashSet<String>>,
}

impl WordLevel {
    pub(crate) fn from_json(model: &Value) -> Result<WordLevel, LoadError> {
        let vocab = model["vocab"]
            .as_object()
            .ok_or_else(|| LoadError::Invalid("model: a WordLevel vocab must be an object".into()))?;
        let unk = model["unk_token"].as_str().unwrap_or("<unk>");
        Ok(WordLevel { vocab: (!vocab.contains_key(unk)).then(|| vocab.keys().cloned().collect()) })
    }

    /// 1, or `None` when the piece is no entry and there is no unknown token.
    pub(crate) fn count(&self, word: &str) -> Option<u64> {
        match &self.vocab {
            Some(vocab) if !vocab.contains(word) => None,
            _ => Some(1),
        }
    }
}

/// A set of vocabulary pieces for greedy longest-match-first. Entries of at most `PREFIX` bytes
/// are tried length by length, longest first, from a hash set: at most `PREFIX` probes of at
/// most `PREFIX` bytes a position, the common case and the fastest. Longer entries are looked
/// up only where the text's next `PREFIX` bytes begin one, and then for every position of the
/// word at once, by an Aho-Corasick automaton over the reversed entries, in one pass over the
/// word: linear, whatever the vocabulary. (Trying each length that some long entry has, as
/// before, hashed the text once per length at each position: a vocabulary of 1,000 entries
/// sharing a 16-byte prefix took 0.5 s for a 16 KB word.)
struct Pieces {
    set: FxHashSet<Box<[u8]>>,
    /// The first `PREFIX` bytes of every longer entry.
    long_prefixes: FxHashSet<[u8; PREFIX]>,
    /// The entries longer than `PREFIX` bytes; `None` when there are none.
    long: Option<LongEntries>,
    /// The longest entry of at most `PREFIX` bytes.
    max_short: usize,
}

const PREFIX: usize = 16;

/// The most trie nodes the automaton over the entries longer than `PREFIX` bytes may have (one
/// per byte of those entries, less their shared ends), so that it stays under about 250 MiB
/// (about 30 bytes a node). Real vocabularies hold a few such entries (BERT's: 3, of 17-18 bytes).
pub(crate) const MAX_LONG_ENTRY_NODES: usize = 8 << 20;

impl Pieces {
    /// The set of `entries`, leaving out those longer than `max_chars` characters (a longer word
    /// is the unknown token, so they can never match).
    fn new<'a>(entries: impl Iterator<Item = &'a str>, max_chars: usize) -> Result<Pieces, LoadError> {
        let fits = |k: &&str| k.len() <= max_chars || k.chars().count() <= max_chars;
        let set: FxHashSet<Box<[u8]>> = entries.filter(fits).map(|k| Box::from(k.as_bytes())).collect();
        let long_entries: Vec<&[u8]> = set.iter().map(|k| &k[..]).filter(|k| k.len() > PREFIX).collect();
        let long_prefixes = long_entries.iter().filter_map(|k| <[u8; PREFIX]>::try_from(&k[..PREFIX]).ok()).collect();
        let long = match long_entries.is_empty() {
            true => None,
            false => Some(LongEntries::new(&long_entries).ok_or_else(|| {
                LoadError::Invalid(format!(
                    "model: the WordPiece entries longer than {PREFIX} bytes need a trie of more than \
                     {MAX_LONG_ENTRY_NODES} nodes (one per byte, less the shared ends): too many long entries"
                ))
            })?),
        };
        let max_short = set.iter().map(|k| k.len()).filter(|&n| n <= PREFIX).max().unwrap_or(0);
        Ok(Pieces { set, long_prefixes, long, max_short })
    }

    /// Whether an entry longer than `PREFIX` bytes may start at `start`.
    #[inline]
    fn may_start_long(&self, bytes: &[u8], start: usize) -> bool {
        self.long.is_some()
            && bytes.len() - start > PREFIX
            && <[u8; PREFIX]>::try_from(&bytes[start..start + PREFIX]).is_ok_and(|p| self.long_prefixes.contains(&p))
    }

    /// The end of the longest entry of at most `PREFIX` bytes at `start` in `word` that ends on
    /// a character boundary.
    #[inline]
    fn longest_short_at(&self, word: &str, start: usize) -> Option<usize> {
        let bytes = word.as_bytes();
        let rest = bytes.len() - start;
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

/// An Aho-Corasick automaton over reversed entries. Run over a word from its end, its state
/// after reading the bytes from position `i` to the end is the longest prefix of `word[i..]`
/// that begins an entry, and `longest` of that state the longest entry that is a prefix of
/// `word[i..]`: every position's longest match, in one pass. Entries and words are UTF-8, so a
/// match starts and ends on character boundaries.
struct LongEntries {
    /// Trie edges: (node, byte) to node; node 0 is the root.
    next: FxHashMap<(u32, u8), u32>,
    /// Each node's failure link: the node of its longest proper suffix in the trie.
    fail: Box<[u32]>,
    /// The length of the longest entry that is a suffix of each node's string (0: none).
    longest: Box<[u32]>,
}

impl LongEntries {
    /// `None` when the trie would have more than [`MAX_LONG_ENTRY_NODES`] nodes.
    fn new(entries: &[&[u8]]) -> Option<LongEntries> {
        let mut next: FxHashMap<(u32, u8), u32> = FxHashMap::default();
        // Per node: parent, byte from it, depth, whether an entry ends there.
        let mut parent = vec![0u32];
        let mut byte = vec![0u8];
        let mut depth = vec![0u32];
        let mut terminal = vec![false];
        for entry in entries {
            let mut node = 0u32;
            for &b in entry.iter().rev() {
                node = match next.get(&(node, b)) {
                    Some(&child) => child,
                    None => {
                        if parent.len() > MAX_LONG_ENTRY_NODES {
                            return None;
                        }
                        let child = parent.len() as u32;
                        next.insert((node, b), child);
                        parent.push(node);
                        byte.push(b);
                        depth.push(depth[node as usize] + 1);
                        terminal.push(false);
                        child
                    }
                };
            }
            terminal[node as usize] = true;
        }
        // Breadth first: a node's failure link and parent are shallower.
        let mut order: Vec<u32> = (1..parent.len() as u32).collect();
        order.sort_by_key(|&n| depth[n as usize]);
        let mut fail = vec![0u32; parent.len()];
        let mut longest = vec![0u32; parent.len()];
        for &n in &order {
            let n = n as usize;
            let (p, b) = (parent[n], byte[n]);
            if p != 0 {
                let mut f = fail[p as usize];
                fail[n] = loop {
                    if let Some(&g) = next.get(&(f, b)) {
                        break g;
                    }
                    if f == 0 {
                        break 0;
                    }
                    f = fail[f as usize];
                };
            }
            longest[n] = if terminal[n] { depth[n] } else { longest[fail[n] as usize] };
        }
        Some(LongEntries { next, fail: fail.into(), longest: longest.into() })
    }

    /// For each position of `bytes`, the length of the longest entry that starts there (0:
    /// none), in `out`.
    fn longest_at_each(&self, bytes: &[u8], out: &mut Vec<u32>) {
        out.clear();
        out.resize(bytes.len(), 0);
        let mut state = 0u32;
        for (i, &b) in bytes.iter().enumerate().rev() {
            state = loop {
                if let Some(&g) = self.next.get(&(state, b)) {
                    break g;
                }
                if state == 0 {
                    break 0;
                }
                state = self.fail[state as usize];
            };
            out[i] = self.longest[state as usize];
        }
    }
}
