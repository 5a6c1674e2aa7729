//! The `WordPiece` and `WordLevel` models of `tokenizer.json`, count-only.

use rustc_hash::FxHashSet;
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
        let start = Pieces::new(vocab.keys().map(|k| k.as_bytes()));
        let cont = Pieces::new(vocab.keys().filter_map(|k| k.strip_prefix(prefix)).map(str::as_bytes));
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
