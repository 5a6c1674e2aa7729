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

use std::ops::ControlFlow;

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

/// What `fit_pieces` found.
pub(crate) struct PieceFit {
    /// Where the first piece that does not fit starts (the text's length when all fit).
    pub fits_to: usize,
    /// The tokens of the pieces before `fits_to`.
    pub tokens: u64,
    /// Where the piece that does not fit ends.
    pub piece_end: usize,
    /// The last line start (`chunks::is_line_start`) at or before `fits_to`, and the tokens
    /// before it.
    pub line_start: Option<(usize, u64)>,
    /// The last word gap (`chunks::is_ascii_word_gap`) at or before `fits_to`, and the tokens
    /// before it.
    pub word_gap: Option<(usize, u64)>,
}

/// Walks the pieces of `text` (`for_each_piece` calls its argument with each, in order, until it
/// breaks) while their tokens (`count`) total at most `limit`, for token budgets: where the first
/// piece that does not fit starts and ends, the tokens before it, and the last cuts before it
/// that leave the pieces of the OpenAI-style split patterns as they are (`is_line_start`,
/// `is_ascii_word_gap`), with the tokens before each. `all_cuts`, when given, receives every
/// such cut before the piece that does not fit. A piece that needs more tokens than are left
/// (at least its length over `max_token_bytes`) is not counted.
pub(crate) fn fit_pieces(
    text: &str,
    limit: u64,
    max_token_bytes: u64,
    mut all_cuts: Option<&mut Vec<(usize, u64)>>,
    for_each_piece: impl FnOnce(&mut dyn FnMut(&[u8]) -> ControlFlow<()>),
    mut count: impl FnMut(&[u8]) -> u64,
) -> PieceFit {
    let bytes = text.as_bytes();
    let base = text.as_ptr() as usize;
    let mut fit = PieceFit { fits_to: 0, tokens: 0, piece_end: text.len(), line_start: None, word_gap: None };
    for_each_piece(&mut |piece| {
        let start = piece.as_ptr() as usize - base;
        let total = fit.tokens;
        if start > 0 {
            let cut = if is_line_start(bytes, start) {
                fit.line_start = Some((start, total));
                true
            } else if is_ascii_word_gap(bytes, start) {
                fit.word_gap = Some((start, total));
                true
            } else {
                false
            };
            if let (true, Some(all)) = (cut, all_cuts.as_deref_mut()) {
                all.push((start, total));
            }
        }
        let at_least = (piece.len() as u64).div_ceil(max_token_bytes.max(1));
        let tokens = if total + at_least > limit { limit.saturating_add(1) } else { count(piece) };
        if total + tokens > limit {
            fit.piece_end = start + piece.len();
            return ControlFlow::Break(());
        }
        fit.tokens = total + tokens;
        fit.fits_to = start + piece.len();
        ControlFlow::Continue(())
    });
    fit.piece_end = fit.piece_end.max(fit.fits_to);
    fit
}

/// The first position in `from..to` of a space between two ASCII letters. The regex split
/// patterns (GPT-2's, cl100k's, o200k's and their `tokenizer.json` variants) always end a
/// piece at the last letter of a word and start the next piece at that space, and no match
/// there looks past the letter after the space: the text can be cut before the space.
///
/// Eight bytes at a time (a mask of spaces with a letter on each side), so that a megabyte of
/// spaces or of tab-space pairs, which has no such gap, is searched in a fraction of the time
/// it takes to count.
pub(crate) fn ascii_word_gap(text: &[u8], from: usize, to: usize) -> Option<usize> {
    let from = from.max(1);
    let to = to.min(text.len().saturating_sub(1));
    let mut i = from;
    // Words at i - 1, i and i + 1 must all be in the text.
    while i + 9 <= text.len() && i < to {
        let at = |k: usize| u64::from_le_bytes(text[k..k + 8].try_into().unwrap_or_default());
        let gaps = spaces(at(i)) & letters(at(i - 1)) & letters(at(i + 1));
        if gaps != 0 {
            let found = i + (gaps.trailing_zeros() / 8) as usize;
            return (found < to).then_some(found);
        }
        i += 8;
    }
    (i..to).find(|&i| is_ascii_word_gap(text, i))
}

/// Whether `p` is a cut `ascii_word_gap` finds: a space between two ASCII letters.
#[inline]
pub(crate) fn is_ascii_word_gap(text: &[u8], p: usize) -> bool {
    p > 0
        && p + 1 < text.len()
        && text[p] == b' '
        && text[p - 1].is_ascii_alphabetic()
        && text[p + 1].is_ascii_alphabetic()
}

/// Whether `p` starts a line that the OpenAI split patterns let the text be cut at: after one
/// line feed that follows a visible character and precedes a letter (ASCII, a CJK ideograph or
/// a Hangul syllable). The piece holding the line feed ends there whether or not text follows
/// (no look-ahead pattern can take a lone line feed with no white space before it), and the
/// next piece starts at the letter. A run of line ends, or white space before one, is not such
/// a cut: `\s+(?!\S)` takes the run whole at the end of a text but stops one short of a letter.
/// `text` is UTF-8.
#[inline]
pub(crate) fn is_line_start(text: &[u8], p: usize) -> bool {
    if !(p >= 2 && p < text.len() && text[p - 1] == b'\n') {
        return false;
    }
    let visible_before = match text[p - 2] {
        b if b < 0x80 => b.is_ascii_graphic(),
        _ => {
            let start = (p.saturating_sub(5)..p - 1).find(|&k| text[k] & 0xC0 != 0x80).unwrap_or(p - 1);
            std::str::from_utf8(&text[start..p - 1])
                .ok()
                .and_then(|s| s.chars().next_back())
                .is_some_and(|c| !c.is_whitespace())
        }
    };
    let letter_after = match text[p] {
        b if b < 0x80 => b.is_ascii_alphabetic(),
        0xE0..=0xEF if p + 3 <= text.len() => std::str::from_utf8(&text[p..p + 3])
            .ok()
            .and_then(|s| s.chars().next())
            .is_some_and(|c| matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7A3}')),
        _ => false,
    };
    visible_before && letter_after
}

const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The top bit of each byte of `w` that is a space.
#[inline(always)]
fn spaces(w: u64) -> u64 {
    let t = w ^ 0x2020_2020_2020_2020;
    // Exact per byte (no borrow between bytes): the top bit is set where `t`'s byte is 0.
    !(((t & LOW7).wrapping_add(LOW7)) | t | LOW7)
}

/// The top bit of each byte of `w` that is an ASCII letter.
#[inline(always)]
fn letters(w: u64) -> u64 {
    // Lower case for letters (bit 5 set), bytes of 0x80 and above left out below; each byte
    // stays under 0x80, so the additions carry into no other byte.
    let x = (w | 0x2020_2020_2020_2020) & LOW7;
    let at_least_a = x.wrapping_add(0x1f1f_1f1f_1f1f_1f1f) & HIGH; // x >= 0x61
    let above_z = x.wrapping_add(0x0505_0505_0505_0505) & HIGH; // x >= 0x7b
    at_least_a & !above_z & !w & HIGH
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The eight-bytes-at-a-time search finds what a byte-by-byte one finds, from every start,
    /// in text made of letters, spaces, other ASCII and bytes of 0x80 and above.
    #[test]
    fn word_gaps_are_found_as_a_byte_scan_finds_them() {
        let alphabet = b"aZ m@[`{ \t\x80\xc3\xe4\xfa ";
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for round in 0..2000 {
            let len: usize = 1 + round % 80;
            let text: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % alphabet.len() as u64) as usize]
                })
                .collect();
            for from in 0..=len {
                for to in [from, from + 3, len / 2, len, len + 5] {
                    let lo = from.max(1);
                    let hi = to.min(len.saturating_sub(1));
                    let want = (lo..hi.max(lo)).find(|&i| {
                        text[i] == b' ' && text[i - 1].is_ascii_alphabetic() && text[i + 1].is_ascii_alphabetic()
                    });
                    assert_eq!(
                        ascii_word_gap(&text, from, to),
                        want,
                        "{:?} from {from} to {to}",
                        String::from_utf8_lossy(&text)
                    );
                }
            }
        }
    }
}
