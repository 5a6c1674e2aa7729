//! Token budgets: the longest prefix of a text within a budget ([`Adapter::truncate`]) and a
//! text cut into chunks within a budget ([`Adapter::split`]).
//!
//! Cuts are byte offsets on UTF-8 character boundaries. Every count returned is the count of the
//! prefix or chunk on its own, as [`Adapter::count`] gives it: BPE merges and the split pattern
//! can make a prefix count differently from the tokens it held inside the whole text, so each
//! result is counted again, alone, before it is returned.
//!
//! How a prefix is found:
//! - OpenAI encodings walk the split pattern's pieces, whose tokens never cross a piece boundary,
//!   and stop at the first piece that does not fit; the longest part of that piece that fits is
//!   found by counting prefixes of the piece (at most `tokens left × longest token` bytes of
//!   it). That guess is then checked with counts of the whole prefix, and of the prefix one
//!   character longer, and moved if a check fails. The work is about that of counting the prefix
//!   three times, whatever the text's length: a 1 MB text cut to 1,000 tokens reads a few KB.
//!   A chunk of a split is cheaper still when the walk passes, in the chunk's last 10%, a cut
//!   that leaves the pieces as they are (a line start or a word gap, `bpe::chunks`): the tokens
//!   before it are the chunk's count alone, so each chunk costs one walk of its pieces.
//! - `tokenizer.json` adapters (normalizers, added tokens and templates make piece-walking
//!   inexact) and the heuristic count a sample prefix, scale it to a guess, and search around the
//!   guess with counts of whole prefixes: a gallop away from the guess, then a binary search,
//!   about a dozen counts of the prefix.
//!
//! "Longest" is checked locally: the prefix is within the budget and the prefix one character
//! longer is not. (A longer prefix can count fewer tokens than a shorter one under BPE; no search
//! short of counting every prefix would find such a prefix further on.) For the heuristic every
//! count is an estimate: the results are estimates too, and say so (`is_exact` false).

use crate::adapter::{Adapter, Engine, Method};
use crate::bpe::chunks::PieceFit;
use crate::error::{Error, ErrorKind, Result};

/// The longest prefix of a text within a token budget.
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, Method, Registry, Truncation};
/// let registry = Registry::with_config(Config::default());
/// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
/// let cut = adapter.truncate("Hello, world!", 2)?;
/// assert_eq!(cut, Truncation { byte_len: 6, count: 2, is_exact: true, method: Method::Tiktoken });
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    /// The prefix's length in bytes, on a character boundary.
    pub byte_len: usize,
    /// The prefix's tokens, counted alone (at most the budget).
    pub count: u64,
    /// Whether `count` is exact (false for the heuristic, whose counts are estimates).
    pub is_exact: bool,
    pub method: Method,
}

/// One chunk of a split: `text[start..end]`, with its tokens counted alone.
///
/// ```
/// use kano_tokenizer::{AdapterName, Chunk, Config, Registry};
/// let registry = Registry::with_config(Config::default());
/// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
/// let first = adapter.split("one two three four five six", 3, 0)?.chunks[0];
/// assert_eq!(first, Chunk { start: 0, end: 13, count: 3 }); // "one two three"
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub start: usize,
    pub end: usize,
    pub count: u64,
}

/// A text split into chunks within a token budget.
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, Registry};
/// let registry = Registry::with_config(Config::default());
/// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
/// let split = adapter.split("one two three four five six", 3, 1)?;
/// assert!(split.is_exact && split.chunks.len() == 3);
/// assert!(split.chunks.windows(2).all(|w| w[1].start < w[0].end)); // each overlaps the last
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunks {
    /// In text order; the first starts at 0, the last ends at the text's end, and each starts
    /// at or before the previous one's end (before it when there is an overlap).
    pub chunks: Vec<Chunk>,
    /// Whether the counts are exact (false for the heuristic).
    pub is_exact: bool,
    pub method: Method,
}

impl Adapter {
    /// The longest prefix of `text` with at most `max_tokens` tokens (see the module's
    /// documentation for what "longest" guarantees and what it costs).
    ///
    /// The input limit applies to the part of the text that may be read: for OpenAI encodings
    /// `max_tokens × longest token` bytes at most, for the other adapters the whole text. Fails
    /// with `InvalidArgument` when even the empty prefix counts more than `max_tokens` (a
    /// tokenizer that adds tokens to every text).
    ///
    /// # Examples
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// let text = "Hello, world!";
    /// let cut = adapter.truncate(text, 2)?;
    /// assert_eq!((&text[..cut.byte_len], cut.count), ("Hello,", 2));
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn truncate(&self, text: &str, max_tokens: u64) -> Result<Truncation> {
        let window = &text[..floor_boundary(text, self.truncate_window(text.len(), max_tokens))];
        self.check_input_len(window.len())?;
        self.truncate_within(window, max_tokens)
    }

    /// [`Adapter::truncate`] of UTF-8 bytes: only the part that may be read is checked for
    /// UTF-8 (and against the input limit), so a 1 MB text cut to 1,000 tokens with an OpenAI
    /// encoding is not scanned to its end. Invalid UTF-8 in that part is an error that names the
    /// offset of the first bad byte.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// assert_eq!(adapter.truncate_bytes(b"Hello, world!", 2)?.byte_len, 6);
    /// // The bad byte is past the part that may be read, so it is never checked.
    /// assert_eq!(adapter.truncate_bytes(&[b"Hello ".repeat(1000).as_slice(), b"\xff"].concat(), 2)?.byte_len, 11);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn truncate_bytes(&self, text: &[u8], max_tokens: u64) -> Result<Truncation> {
        let window = self.truncate_window(text.len(), max_tokens);
        self.check_input_len(window)?;
        let bytes = &text[..window];
        let window = match crate::utf8::validate(bytes) {
            Ok(text) => text,
            // The window may end inside a character; that is no error of the text's.
            Err(e) if window < text.len() && e.error_len().is_none() => {
                std::str::from_utf8(&bytes[..e.valid_up_to()]).map_err(|e| Error::invalid_utf8("text", e))?
            }
            Err(e) => return Err(Error::invalid_utf8("text", e)),
        };
        self.truncate_within(window, max_tokens)
    }

    /// Cuts `text` into chunks of at most `max_tokens` tokens each that cover it, the next
    /// starting `overlap_tokens` tokens (at most) before the previous one ends. A cut prefers a
    /// line end (the cut falls after it), then a whitespace character (before a space between
    /// two words, else after it), within the last 10% of a chunk's bytes; failing both, the
    /// chunk is the longest prefix that fits. Each chunk's
    /// count is its count alone. An empty text gives no chunks.
    ///
    /// Fails with `InvalidArgument` when `max_tokens` is 0, when `overlap_tokens` is not below
    /// `max_tokens`, and when a single character takes more than `max_tokens` tokens. The input
    /// limit applies to the whole text.
    ///
    /// # Examples
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// let text = "one two three four five six";
    /// let pieces: Vec<&str> = adapter.split(text, 3, 0)?.chunks.iter().map(|c| &text[c.start..c.end]).collect();
    /// assert_eq!(pieces, ["one two three", " four five six"]);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn split(&self, text: &str, max_tokens: u64, overlap_tokens: u64) -> Result<Chunks> {
        self.check_input_len(text.len())?;
        if max_tokens == 0 {
            return Err(Error::new(ErrorKind::InvalidArgument, "max_tokens must be at least 1"));
        }
        if overlap_tokens >= max_tokens {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("overlap_tokens ({overlap_tokens}) must be less than max_tokens ({max_tokens})"),
            ));
        }
        let mut chunks: Vec<Chunk> = Vec::new();
        let (mut pos, mut bytes_per_token) = (0usize, None);
        while pos < text.len() {
            let rest = &text[pos..];
            let at_cut = match self.engine() {
                Engine::Tiktoken(encoding) => chunk_at_piece_cut(
                    |limit, cuts| Some((encoding.fit_pieces(rest, limit, cuts), 0)),
                    rest,
                    max_tokens,
                    overlap_tokens,
                ),
                Engine::Huggingface { tokenizer, add_special_tokens } => chunk_at_piece_cut(
                    |limit, cuts| tokenizer.fit_pieces(rest, limit, *add_special_tokens, cuts),
                    rest,
                    max_tokens,
                    overlap_tokens,
                )
                .filter(|&((len, _), _)| tokenizer.counts_as_pieces(&rest[..len])),
                Engine::Heuristic(_) => None,
            };
            let found = match at_cut {
                Some((chunk, _)) => Some(chunk),
                None => self.next_chunk(rest, max_tokens, bytes_per_token)?,
            };
            let (len, count) = match found {
                Some((len, count)) if len > 0 => (len, count),
                _ => {
                    return Err(Error::new(
                        ErrorKind::InvalidArgument,
                        format!("the character at byte {pos} alone takes more than max_tokens ({max_tokens}) tokens"),
                    ))
                }
            };
            let previous_end = chunks.last().map_or(0, |c| c.end);
            if pos + len <= previous_end {
                // The overlap left no room to move on: start again where the last chunk ended.
                pos = previous_end;
                continue;
            }
            chunks.push(Chunk { start: pos, end: pos + len, count });
            if pos + len == text.len() {
                break;
            }
            bytes_per_token = Some(len as f64 / count.max(1) as f64);
            let next = match at_cut {
                _ if overlap_tokens == 0 => len,
                Some((_, Some(start))) => start,
                _ => self.overlap_start(&rest[..len], overlap_tokens)?,
            };
            pos += if next == 0 { len } else { next };
        }
        Ok(Chunks { chunks, is_exact: self.is_exact(), method: self.method() })
    }

    /// How much of a text of `len` bytes truncating to `max_tokens` may read: for OpenAI
    /// encodings, `max_tokens` tokens of the longest length and a character more (no prefix past
    /// that fits); otherwise all of it.
    fn truncate_window(&self, len: usize, max_tokens: u64) -> usize {
        match self.engine() {
            Engine::Tiktoken(encoding) => {
                let window = max_tokens.saturating_mul(encoding.max_token_bytes() as u64).saturating_add(8);
                window.min(len as u64) as usize
            }
            _ => len,
        }
    }

    fn truncate_within(&self, text: &str, max_tokens: u64) -> Result<Truncation> {
        let Some((byte_len, count)) = self.fit_prefix(text, max_tokens, None)? else {
            let empty = self.tokens("")?;
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("max_tokens ({max_tokens}) is below the tokens of the empty text ({empty})"),
            ));
        };
        Ok(Truncation { byte_len, count, is_exact: self.is_exact(), method: self.method() })
    }

    fn tokens(&self, text: &str) -> Result<u64> {
        Ok(self.count(text)?.count)
    }

    /// The longest prefix of `text` within `max_tokens` (locally), with its count; `None` when
    /// not even the empty prefix fits. `bytes_per_token` seeds the guess of the general search.
    fn fit_prefix(&self, text: &str, max_tokens: u64, bytes_per_token: Option<f64>) -> Result<Option<(usize, u64)>> {
        let fits = |p: usize| -> Result<Option<u64>> {
            let count = self.tokens(&text[..p])?;
            Ok((count <= max_tokens).then_some(count))
        };
        let len = text.len();
        let (guess, step) = match self.engine() {
            Engine::Tiktoken(encoding) => {
                let fit = encoding.fit_pieces(text, max_tokens, None);
                let (start, before, piece_end) = (fit.fits_to, fit.tokens, fit.piece_end);
                if start == len {
                    // Every piece fits, and the text's count is the sum of its pieces'.
                    return Ok(Some((len, before)));
                }
                // The longest prefix of the piece that does not fit, within the tokens left.
                let left = max_tokens - before;
                let cap = (left.saturating_mul(encoding.max_token_bytes() as u64).saturating_add(4))
                    .min((piece_end - start) as u64) as usize;
                let piece = &text[start..start + floor_boundary(&text[start..], cap)];
                let inside = boundary_search(piece, 0, 1, |q| {
                    let count = encoding.count(&piece[..q]);
                    Ok((count <= left).then_some(count))
                })?;
                (start + inside.map_or(0, |(q, _)| q), 1)
            }
            _ => {
                let guess = match bytes_per_token {
                    Some(bpt) => max_tokens as f64 * bpt * 0.97,
                    None => {
                        let sample = floor_boundary(
                            text,
                            max_tokens.saturating_mul(4).saturating_add(16).min(len as u64) as usize,
                        );
                        if sample == len {
                            len as f64
                        } else {
                            match self.tokens(&text[..sample])? {
                                0 => sample as f64 * 4.0,
                                c => sample as f64 * max_tokens as f64 / c as f64 * 0.97,
                            }
                        }
                    }
                };
                let guess = if guess.is_finite() && guess > 0.0 { (guess as usize).min(len) } else { 0 };
                (guess, (guess / 128).max(4))
            }
        };
        boundary_search(text, guess, step, fits)
    }

    /// The next chunk of `rest`: the longest prefix within `max_tokens`, moved back to a line end
    /// or a whitespace in its last 10% when there is one (and the shorter prefix fits).
    fn next_chunk(&self, rest: &str, max_tokens: u64, bytes_per_token: Option<f64>) -> Result<Option<(usize, u64)>> {
        let Some((len, count)) = self.fit_prefix(rest, max_tokens, bytes_per_token)? else {
            return Ok(None);
        };
        if len == rest.len() || len == 0 {
            return Ok(Some((len, count)));
        }
        let cut = preferred_cut(rest, len);
        if cut > 0 && cut < len {
            let shorter = self.tokens(&rest[..cut])?;
            if shorter <= max_tokens {
                return Ok(Some((cut, shorter)));
            }
        }
        Ok(Some((len, count)))
    }

    /// Where the longest suffix of `chunk` with at most `overlap` tokens (counted alone) starts.
    fn overlap_start(&self, chunk: &str, overlap: u64) -> Result<usize> {
        let exceeds = |s: usize| -> Result<Option<u64>> {
            let count = self.tokens(&chunk[s..])?;
            Ok((count > overlap).then_some(count))
        };
        let whole = self.tokens(chunk)?.max(1);
        let guess = chunk.len().saturating_sub((chunk.len() as u64 * overlap / whole) as usize);
        Ok(match boundary_search(chunk, guess, 1, exceeds)? {
            None => 0,
            Some((b, _)) if b == chunk.len() => chunk.len(),
            Some((b, _)) => next_boundary(chunk, b),
        })
    }
}

/// The next chunk of `rest` for an OpenAI encoding in one walk of its pieces, when the walk
/// passes a cut that leaves the pieces as they are (`Encoding::fit_pieces`) within the last 10%
/// of the longest prefix that fits: a line start, else a word gap (the cut falls before its
/// space). The tokens before that cut are then the chunk's count alone, and no prefix is counted
/// again. `None` when there is no such cut; the general search then serves.
///
/// With `overlap` above 0, also where the next chunk starts: the first such cut whose suffix of
/// the chunk holds at most `overlap` tokens (exactly the chunk's tokens minus those before the
/// cut, both ends being cuts), when there is one.
///
/// `walk(limit, cuts)` is the engine's walk of `rest`'s pieces within `limit` (the whole budget)
/// with the tokens every text gets besides its pieces (a `tokenizer.json` post-processor's special
/// tokens), or `None` when the engine cannot walk its pieces.
fn chunk_at_piece_cut(
    walk: impl FnOnce(u64, Option<&mut Vec<(usize, u64)>>) -> Option<(PieceFit, u64)>,
    rest: &str,
    max_tokens: u64,
    overlap: u64,
) -> Option<((usize, u64), Option<usize>)> {
    let mut cuts = Vec::new();
    let (fit, extra) = walk(max_tokens, (overlap > 0).then_some(&mut cuts))?;
    let (len, tokens) = if fit.fits_to == rest.len() {
        (rest.len(), fit.tokens)
    } else {
        // The longest prefix that fits ends inside the piece that does not: before `piece_end`.
        let window_from = fit.piece_end - fit.piece_end / 10;
        [fit.line_start, fit.word_gap].into_iter().flatten().find(|&(cut, _)| cut > 0 && cut >= window_from)?
    };
    let overlap_start = (overlap > 0)
        .then(|| {
            cuts.iter().find(|&&(cut, before)| cut < len && tokens - before + extra <= overlap).map(|&(cut, _)| cut)
        })
        .flatten();
    Some(((len, tokens + extra), overlap_start))
}

/// Where to cut a chunk that the budget ends at `len`: after the last line end, else after the
/// last whitespace character, within the last 10% of its bytes; `len` when the cut already
/// sits at whitespace or there is none.
fn preferred_cut(rest: &str, len: usize) -> usize {
    let (head, tail) = rest.split_at(len);
    if head.ends_with(char::is_whitespace) || tail.starts_with(char::is_whitespace) {
        return len;
    }
    let from = ceil_boundary(rest, len - len / 10);
    let window = &rest[from..len];
    if let Some(i) = window.rfind('\n') {
        return from + i + 1;
    }
    match window.char_indices().rev().find(|(_, c)| c.is_whitespace()) {
        Some((i, c)) => from + i + c.len_utf8(),
        None => len,
    }
}

/// A character boundary `b` of `text` near `guess` where `fits(b)` holds and `fits` of the next
/// boundary does not (or `b` is the end), with `fits(b)`'s value; `None` when `fits(0)` does not
/// hold. `fits` is expected to hold for short prefixes and fail for long ones; the search
/// gallops from the guess (first by `step` bytes, doubling), then bisects.
fn boundary_search(
    text: &str,
    guess: usize,
    step: usize,
    mut fits: impl FnMut(usize) -> Result<Option<u64>>,
) -> Result<Option<(usize, u64)>> {
    let len = text.len();
    let guess = floor_boundary(text, guess);
    let (mut lo, mut lo_value, mut hi);
    let mut step = step.max(1);
    match fits(guess)? {
        Some(value) => {
            (lo, lo_value) = (guess, value);
            loop {
                if lo == len {
                    return Ok(Some((lo, lo_value)));
                }
                let probe = ceil_boundary(text, lo.saturating_add(step)).max(next_boundary(text, lo));
                match fits(probe)? {
                    Some(value) => (lo, lo_value) = (probe, value),
                    None => {
                        hi = probe;
                        break;
                    }
                }
                step = step.saturating_mul(2);
            }
        }
        None => {
            hi = guess;
            loop {
                if hi == 0 {
                    return Ok(None);
                }
                let probe = floor_boundary(text, hi.saturating_sub(step)).min(prev_boundary(text, hi));
                match fits(probe)? {
                    Some(value) => {
                        (lo, lo_value) = (probe, value);
                        break;
                    }
                    None => hi = probe,
                }
                step = step.saturating_mul(2);
            }
        }
    }
    // fits(lo) holds, fits(hi) does not, lo < hi.
    loop {
        let next = next_boundary(text, lo);
        if next >= hi {
            return Ok(Some((lo, lo_value)));
        }
        let mid = floor_boundary(text, lo + (hi - lo) / 2).max(next);
        match fits(mid)? {
            Some(value) => (lo, lo_value) = (mid, value),
            None => hi = mid,
        }
    }
}

/// The last character boundary at or before `i` (clamped to the text).
fn floor_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The first character boundary at or after `i` (clamped to the text).
fn ceil_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// The boundary after the character at `i` (the end when `i` is the end).
fn next_boundary(text: &str, i: usize) -> usize {
    ceil_boundary(text, i.saturating_add(1))
}

/// The boundary before `i` (0 when `i` is 0).
fn prev_boundary(text: &str, i: usize) -> usize {
    floor_boundary(text, i.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_search_finds_the_edge_from_either_side() {
        let text = "aé日本b👍c".repeat(20);
        let edge = text.char_indices().nth(37).map(|(i, _)| i).unwrap();
        for guess in [0, 1, 5, edge, edge + 1, text.len() / 2, text.len()] {
            for step in [1, 3, 64] {
                let found = boundary_search(&text, guess, step, |p| Ok((p <= edge).then_some(p as u64))).unwrap();
                assert_eq!(found, Some((edge, edge as u64)), "guess {guess} step {step}");
            }
        }
        assert_eq!(boundary_search(&text, 10, 1, |_| Ok(None)).unwrap(), None);
        assert_eq!(boundary_search(&text, 10, 1, |_| Ok(Some(1))).unwrap(), Some((text.len(), 1)));
    }

    #[test]
    fn preferred_cuts_fall_after_line_ends_then_spaces() {
        let text = "one two three\nfour five sixseveneightnine";
        assert_eq!(preferred_cut(text, 13), 13, "the next character is a line end");
        let len = text.len() - 2;
        assert_eq!(preferred_cut(text, len), len, "no whitespace in the last 10%");
        let text = "word ".repeat(30) + "tail";
        let cut = preferred_cut(&text, text.len() - 2);
        assert!(text[..cut].ends_with(' ') && cut < text.len() - 2, "{cut}");
    }
}
