//! Pre-tokenization for the OpenAI encodings, in time linear in the input.
//!
//! tiktoken splits text with a backtracking regex whose only non-regular part is the look-ahead
//! `\s+(?!\S)`. A backtracking engine can overflow its stack or hit its backtrack limit on long
//! runs (a megabyte of spaces, for example), and tiktoken-rs then panics. Here each pattern runs
//! on the linear-time `regex-automata` engine, with `\s+(?!\S)|\s` rewritten as `\s+`, and the
//! look-ahead is applied afterwards: a whitespace-only piece that the rewritten alternative
//! matched and that is followed by more text gives back its last character, exactly as
//! `\s+(?!\S)` backtracks. Every other alternative is kept as it is, in the same order, so the
//! leftmost-first match is the one the backtracking engine finds.

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::sync::LazyLock;

use regex_automata::meta::{Cache, Regex};
use regex_automata::{Anchored, Input};

/// The split pattern families of the OpenAI encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SplitPattern {
    /// r50k_base, gpt2, p50k_base, p50k_edit.
    R50k = 0,
    /// cl100k_base.
    Cl100k = 1,
    /// o200k_base, o200k_harmony.
    O200k = 2,
}

// tiktoken: '(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s
const R50K: &str = r"'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+$|\s+";

// tiktoken: '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s
// The possessive quantifiers change nothing here: no alternative could succeed by giving back
// what they took, so plain greedy quantifiers match the same text.
const CL100K: &str =
    r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+$|\s*[\r\n]|\s+";

// tiktoken: the same alternatives, ending in \s*[\r\n]+|\s+(?!\S)|\s+
const O200K: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"|\s*[\r\n]+",
    r"|\s+",
);

fn compile(pattern: &str) -> Regex {
    // The patterns are constants checked by the tests; failing here is a bug in this file.
    Regex::new(pattern).expect("built-in split pattern compiles")
}

static REGEXES: [LazyLock<Regex>; 3] =
    [LazyLock::new(|| compile(R50K)), LazyLock::new(|| compile(CL100K)), LazyLock::new(|| compile(O200K))];

thread_local! {
    // One search cache per thread and pattern: the shared regex is read-only, so counting from
    // many threads takes no lock.
    static CACHES: RefCell<[Option<Cache>; 3]> = const { RefCell::new([None, None, None]) };
}

impl SplitPattern {
    /// Whether a whitespace run holding a newline was matched by an earlier alternative
    /// (`\s*[\r\n]`), which has no look-ahead to emulate.
    fn newline_alternative(self) -> bool {
        !matches!(self, SplitPattern::R50k)
    }

    /// Calls `piece` with each piece of `text`, in order, until it breaks. The pieces cover the
    /// text.
    pub(crate) fn for_each_piece(self, text: &str, mut piece: impl FnMut(&[u8]) -> ControlFlow<()>) {
        let regex: &Regex = &REGEXES[self as usize];
        let mut run = |cache: &mut Cache| {
            let bytes = text.as_bytes();
            let mut pos = 0;
            while pos < bytes.len() {
                let input = Input::new(bytes).range(pos..).anchored(Anchored::Yes);
                let end = match regex.search_with(cache, &input) {
                    Some(m) if m.end() > pos => self.apply_lookahead(text, pos, m.end()),
                    // Every character is matched by some alternative; should one not be, skip it
                    // as tiktoken's find_iter would.
                    _ => {
                        pos += text[pos..].chars().next().map_or(1, char::len_utf8);
                        continue;
                    }
                };
                if piece(&bytes[pos..end]).is_break() {
                    return;
                }
                pos = end;
            }
        };
        let used_cache = CACHES.try_with(|caches| {
            let mut caches = caches.borrow_mut();
            let cache = caches[self as usize].get_or_insert_with(|| regex.create_cache());
            run(cache);
        });
        if used_cache.is_err() {
            // Thread-local storage is gone (a thread-exit destructor counting): use a fresh cache.
            run(&mut regex.create_cache());
        }
    }

    /// `\s+(?!\S)`: a whitespace run followed by more text stops one character short, so the
    /// last space joins the next word. A single whitespace character stays as it is (`\s`).
    fn apply_lookahead(self, text: &str, start: usize, end: usize) -> usize {
        if end >= text.len() {
            return end;
        }
        let matched = &text[start..end];
        let mut chars = matched.char_indices();
        let Some((_, first)) = chars.next() else { return end };
        if !first.is_whitespace() {
            return end;
        }
        let mut last_start = 0;
        let mut count = 1;
        for (i, c) in chars {
            if !c.is_whitespace() {
                return end;
            }
            last_start = i;
            count += 1;
        }
        if count < 2 {
            return end;
        }
        if self.newline_alternative() && matched.bytes().any(|b| b == b'\r' || b == b'\n') {
            return end;
        }
        start + last_start
    }
}
