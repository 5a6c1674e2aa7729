//! Whole stretches of a text, counted once per thread: a text is cut where its pieces do not
//! depend on what comes after the cut, into chunks of about `MAX_CHUNK` (4 KiB) bytes, and the
//! piece cache keeps the counts of 256 chunks, keyed by their whole bytes (compared on
//! a hit, so a hit is always the same chunk). A text counted again (a retried
//! request, a system prompt many requests share at their start, a benchmark's warm loop) then
//! costs a hash and a compare per chunk; a text never seen pays the hash and one copy per chunk.
//!
//! A cut must leave counts unchanged: counting the text before it alone, and the text after it
//! alone, must give the same pieces as counting the whole. Each caller says where that holds
//! for its split (`ascii_word_gap` for the regex split families).

use super::piece_cache::{hash_long, PieceCache, MAX_CHUNK};

/// Texts shorter than this are left to the piece cache (a lookup per word).
pub(crate) const CHUNK: usize = 2048;
/// A chunk is cut at the first cut in its last 512 bytes: chunks of about 4 KiB keep the most
/// text in the 256 entries.
const CUT_FROM: usize = MAX_CHUNK - 512;

/// The count `count` gives of `text`, chunk by chunk. `cut(text, from, to)` is the first
/// position in `from..to` where the text may be cut (see the module's comment); `count(from,
/// to, cache)` counts `text[from..to]` alone. The chunk at the start of the text is kept under
/// `first_owner`, the others under `owner`, for counts that differ at the start of a text.
pub(crate) fn count_in_chunks(
    text: &[u8],
    first_owner: u64,
    owner: u64,
    cache: &mut Option<&mut PieceCache>,
    cut: impl Fn(&[u8], usize, usize) -> Option<usize>,
    mut count: impl FnMut(usize, usize, &mut Option<&mut PieceCache>) -> u64,
) -> u64 {
    let n = text.len();
    if n < CHUNK || cache.is_none() {
        return count(0, n, cache);
    }
    let mut total = 0;
    let mut from = 0;
    while from < n {
        if n - from <= MAX_CHUNK {
            total += cached(text, from, n, if from == 0 { first_owner } else { owner }, cache, &mut count);
            break;
        }
        if let Some(to) = cut(text, from + CUT_FROM, from + MAX_CHUNK) {
            total += cached(text, from, to, if from == 0 { first_owner } else { owner }, cache, &mut count);
            from = to;
            continue;
        }
        // No cut within a chunk's length: count up to the next one uncached (each byte is
        // searched at most twice).
        let to = cut(text, from + MAX_CHUNK, n).unwrap_or(n);
        total += count(from, to, cache);
        from = to;
    }
    total
}

/// The count of the chunk `text[from..to]`, from the cache or kept in it.
fn cached(
    text: &[u8],
    from: usize,
    to: usize,
    owner: u64,
    cache: &mut Option<&mut PieceCache>,
    count: &mut impl FnMut(usize, usize, &mut Option<&mut PieceCache>) -> u64,
) -> u64 {
    let chunk = &text[from..to];
    if chunk.len() < CHUNK {
        return count(from, to, cache);
    }
    let hash = hash_long(chunk);
    if let Some(n) = cache.as_deref_mut().and_then(|c| c.get_chunk(owner, chunk, hash)) {
        return n as u64;
    }
    let n = count(from, to, cache);
    if let (Some(c), Ok(kept)) = (cache.as_deref_mut(), usize::try_from(n)) {
        c.put_chunk(owner, chunk, hash, kept);
    }
    n
}

/// The first position in `from..to` of a space between two ASCII letters. The regex split
/// patterns (GPT-2's, cl100k's, o200k's and their `tokenizer.json` variants) always end a
/// piece at the last letter of a word and start the next piece at that space, and no match
/// there looks past the letter after the space: the text can be cut before the space.
pub(crate) fn ascii_word_gap(text: &[u8], from: usize, to: usize) -> Option<usize> {
    let from = from.max(1);
    let to = to.min(text.len().saturating_sub(1));
    if from >= to {
        return None;
    }
    memchr::memchr_iter(b' ', &text[from..to])
        .map(|i| from + i)
        .find(|&i| text[i - 1].is_ascii_alphabetic() && text[i + 1].is_ascii_alphabetic())
}
