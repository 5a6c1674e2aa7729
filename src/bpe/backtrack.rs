//! Counting long pieces in linear time: backtracking byte-pair encoding.
//!
//! The heap merge in `bpe.rs` costs O(n log n) with a cache miss per step, so a megabyte-long
//! piece (one letter repeated, spaces, an r50k run of digits, unspaced CJK) took a second.
//! Byte-pair output has a local characterization (the idea behind github/rust-gems `bpe`): a
//! token sequence is the encoding of its bytes if and only if every adjacent pair is, that is,
//! encoding the bytes of two neighbours gives back those two tokens. So the encoding can be
//! built left to right: take the longest token at the current position; if it does not pair
//! with the previous token, try its longest proper prefix that is a token, and so on down to one
//! byte; when nothing fits, the position is a dead end: mark it, step back and retry the
//! previous token shorter. A position is marked at most once, so the work is linear in the
//! piece's length (times the length of the longest token).
//!
//! Whether two tokens pair is decided without merging. Each token's last merge (its split) is
//! known, and ranks are the merge order, so the history of both tokens is unwound from the
//! latest merge back. At each step the two parts facing each other across the boundary are
//! checked: if BPE merges exactly them into a token (their joined bytes are a token whose split
//! is these two parts) whose rank comes before the merge that followed, BPE would have merged
//! across the boundary, and the two tokens do not pair.
//!
//! This needs every token to be reachable (its bytes encode to itself) through a merge of two
//! lower-ranked tokens. [`Backtracker::build`] finds each token's split under exactly that
//! rule and gives up (`None`) on a table where one is missing; the heap merge then serves its
//! long pieces. All four OpenAI tables qualify (a test checks it).
//!
//! The encoder looks tokens up through [`Lookup`]: the whole rank table, or for long pieces of
//! digits in r50k and p50k the small tables of `digits.rs`, which hold every token such a piece
//! can contain.

use std::cell::RefCell;

use super::digits::{DigitRanks, KnownPairs};
use super::ranks::{hash, RankMap, NO_RANK};

/// Where the encoder looks up tokens, by id: the whole rank table (ids are ranks), or a
/// smaller one that holds every token a piece can contain (`DigitRanks`: ids in rank order, so
/// that comparing ids compares ranks).
trait Lookup {
    /// The id of `bytes` (two bytes or more, a substring of the piece), or `NO_RANK`.
    fn id(&self, ranks: &RankMap, bytes: &[u8]) -> u32;
    /// `Backtracker::longest`, in ids.
    fn longest(&self, bt: &Backtracker, ranks: &RankMap, rest: &[u8]) -> (u32, usize);
    fn len(&self, ranks: &RankMap, id: u32) -> usize;
    /// `Backtracker::split`, in ids.
    fn split(&self, bt: &Backtracker, id: u32) -> [u32; 2];
    /// `Backtracker::shorter`, in ids.
    fn shorter(&self, bt: &Backtracker, id: u32) -> u32;
    /// Pair checks this lookup keeps itself, in place of the encoder's memo.
    fn known_pairs(&self) -> Option<KnownPairs<'_>>;
    /// When BPE makes token `id` by its last merge (`split`): the rank of that merge. Merges are
    /// compared by it. In a tiktoken table a token's rank is its merge's rank; in a
    /// `tokenizer.json` model it is the merge's index in the merge list.
    fn merge_rank(&self, bt: &Backtracker, id: u32) -> u32;
}

/// Any piece of a tiktoken table: the whole rank table.
struct AllTokens;

impl Lookup for AllTokens {
    #[inline(always)]
    fn id(&self, ranks: &RankMap, bytes: &[u8]) -> u32 {
        ranks.rank(bytes)
    }

    #[inline(always)]
    fn longest(&self, bt: &Backtracker, ranks: &RankMap, rest: &[u8]) -> (u32, usize) {
        bt.longest(ranks, rest)
    }

    #[inline(always)]
    fn len(&self, ranks: &RankMap, id: u32) -> usize {
        ranks.token_len(id)
    }

    #[inline(always)]
    fn split(&self, bt: &Backtracker, id: u32) -> [u32; 2] {
        bt.split[id as usize]
    }

    #[inline(always)]
    fn shorter(&self, bt: &Backtracker, id: u32) -> u32 {
        bt.shorter[id as usize]
    }

    #[inline(always)]
    fn known_pairs(&self) -> Option<KnownPairs<'_>> {
        None
    }

    #[inline(always)]
    fn merge_rank(&self, _: &Backtracker, id: u32) -> u32 {
        id
    }
}

/// Any piece of a `tokenizer.json` model: the whole table, with each token's last merge and
/// its rank (`merges.rs`).
struct ByMerges<'a> {
    split: &'a [[u32; 2]],
    merge_rank: &'a [u32],
}

impl Lookup for ByMerges<'_> {
    #[inline(always)]
    fn id(&self, ranks: &RankMap, bytes: &[u8]) -> u32 {
        ranks.rank(bytes)
    }

    #[inline(always)]
    fn longest(&self, bt: &Backtracker, ranks: &RankMap, rest: &[u8]) -> (u32, usize) {
        bt.longest(ranks, rest)
    }

    #[inline(always)]
    fn len(&self, ranks: &RankMap, id: u32) -> usize {
        ranks.token_len(id)
    }

    #[inline(always)]
    fn split(&self, _: &Backtracker, id: u32) -> [u32; 2] {
        self.split[id as usize]
    }

    #[inline(always)]
    fn shorter(&self, bt: &Backtracker, id: u32) -> u32 {
        bt.shorter[id as usize]
    }

    #[inline(always)]
    fn known_pairs(&self) -> Option<KnownPairs<'_>> {
        None
    }

    #[inline(always)]
    fn merge_rank(&self, _: &Backtracker, id: u32) -> u32 {
        self.merge_rank[id as usize]
    }
}

impl Lookup for DigitRanks {
    #[inline(always)]
    fn id(&self, _: &RankMap, bytes: &[u8]) -> u32 {
        DigitRanks::id(self, bytes)
    }

    #[inline(always)]
    fn longest(&self, _: &Backtracker, _: &RankMap, rest: &[u8]) -> (u32, usize) {
        DigitRanks::longest(self, rest)
    }

    #[inline(always)]
    fn len(&self, _: &RankMap, id: u32) -> usize {
        self.tokens[id as usize].len as usize
    }

    #[inline(always)]
    fn split(&self, _: &Backtracker, id: u32) -> [u32; 2] {
        self.tokens[id as usize].split
    }

    #[inline(always)]
    fn shorter(&self, _: &Backtracker, id: u32) -> u32 {
        self.tokens[id as usize].shorter
    }

    #[inline(always)]
    fn known_pairs(&self) -> Option<KnownPairs<'_>> {
        Some(DigitRanks::known_pairs(self))
    }

    /// Digit ids are numbered in rank order, and the tables are tiktoken's.
    #[inline(always)]
    fn merge_rank(&self, _: &Backtracker, id: u32) -> u32 {
        id
    }
}

/// Pair checks kept per thread and per rank table, across pieces and calls: whether two tokens
/// pair depends on them alone, and prose repeats its character pairs from piece to piece (CJK
/// text is mostly long pieces that never repeat whole). Direct-mapped, fixed size.
const SHARED_MEMO_ENTRIES: usize = 1 << 15;
/// Rank tables a thread keeps a memo for (256 KB each, allocated when the thread first counts
/// with the table); a further one replaces the oldest.
const SHARED_MEMO_TABLES: usize = 4;

thread_local! {
    static PAIR_MEMOS: RefCell<Vec<(u64, Box<[u64]>)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's pair memo for the rank table `owner` (a piece-cache owner id:
/// never reused), or with none while the thread ends or when the memo is in use further up
/// the stack.
pub(crate) fn with_pair_memo<R>(owner: u64, f: impl FnOnce(Option<&mut [u64]>) -> R) -> R {
    super::piece_cache::with_thread_local(&PAIR_MEMOS, |memos| {
        f(memos.map(|memos| {
            let at = match memos.iter().position(|(o, _)| *o == owner) {
                Some(at) => at,
                None => {
                    if memos.len() == SHARED_MEMO_TABLES {
                        memos.remove(0);
                    }
                    memos.push((owner, vec![u64::MAX; SHARED_MEMO_ENTRIES].into_boxed_slice()));
                    memos.len() - 1
                }
            };
            &mut memos[at].1[..]
        }))
    })
}

/// The sample a long run of one byte is counted from (`count_run`): its middle token is taken
/// for the run's, so it must be long enough for the middle to be far from both ends.
const RUN_SAMPLE: usize = 512;

pub(crate) struct Backtracker {
    /// The two tokens BPE last merged into each rank; `[r, r]` for a base token (a single byte,
    /// or a single character in a `tokenizer.json` model over characters), `[NO_RANK; 2]` for a
    /// rank that is not an ordinary token.
    /// Empty for a `tokenizer.json` model, whose splits the caller passes
    /// (`count_by_merges`).
    split: Box<[[u32; 2]]>,
    /// Each token's longest proper prefix that is a token (`NO_RANK` for a base token).
    shorter: Box<[u32]>,
    /// Bit `a << 8 | b`: the two bytes `a b` begin a token of three bytes or more.
    pair_begins_token: Box<[u64]>,
    /// A blocked Bloom filter over strings of three bytes or more, one word per string: one bit
    /// for "is a token" and one for "begins a longer token". A clear token bit spares a rank
    /// lookup; a clear prefix bit ends the search for the longest token. Both bits of a string
    /// share a word, so each length tried costs one cache miss here.
    filter: Box<[u64]>,
    filter_mask: usize,
    /// The digit tokens, for long pieces of digits (r50k and p50k).
    digits: Option<DigitRanks>,
    /// For each character of three UTF-8 bytes (U+0800 to U+FFFF, by code point - 0x800):
    /// `longest` when no longer token begins with the character, else `BEGINS_LONGER`. Random
    /// CJK text is mostly characters that begin no longer token, which this answers with one
    /// read of a 240 KB array instead of filter words and rank slots for three lengths.
    char3: Box<[u32]>,
}

/// A `char3` entry: a longer token begins with the character.
const BEGINS_LONGER: u32 = u32::MAX;

/// The filter's word and its two bits for a string with hash `h`.
#[inline(always)]
fn filter_slot(h: u64, mask: usize) -> (usize, u64, u64) {
    ((h >> 40) as usize & mask, 1 << ((h >> 20) & 63), 1 << ((h >> 26) & 63))
}

impl Backtracker {
    /// Builds the split table and prefix sets, or `None` if some token is not the merge of two
    /// lower-ranked tokens that pair. `digit_runs`: the split pattern keeps runs of digits in one
    /// piece (r50k, p50k), which then get their own tables (`DigitRanks`).
    pub(crate) fn build(ranks: &RankMap, digit_runs: bool) -> Option<Backtracker> {
        let top = ranks.rank_limit();
        let mut bt = Backtracker::prefix_tables(ranks);
        // Every token of two bytes or more begins with a shorter one.
        for r in 0..top as u32 {
            if ranks.token_len(r) >= 2 && bt.shorter[r as usize] == NO_RANK {
                return None;
            }
        }
        // Ranks in increasing order, so both halves of a split already have theirs.
        for r in 0..top as u32 {
            let token = ranks.token(r);
            match token.len() {
                0 => continue,
                1 => {
                    bt.split[r as usize] = [r, r];
                    continue;
                }
                _ => {}
            }
            let mut left = bt.shorter[r as usize];
            bt.split[r as usize] = loop {
                if left == NO_RANK {
                    return None;
                }
                let left_len = ranks.token_len(left);
                let right = ranks.rank_any(&token[left_len..]);
                if right != NO_RANK
                    && left < r
                    && right < r
                    && bt.pairs(&AllTokens, ranks, token, left_len, left, right)
                {
                    break [left, right];
                }
                left = bt.shorter[left as usize];
            };
        }
        if digit_runs {
            bt.digits = DigitRanks::build(ranks, &bt.split, &bt.shorter);
        }
        bt.build_char3(ranks);
        Some(bt)
    }

    /// The two tokens BPE last merges into `rank` (a table from `build`).
    pub(crate) fn split_of(&self, rank: u32) -> [u32; 2] {
        self.split.get(rank as usize).copied().unwrap_or([NO_RANK; 2])
    }

    /// The encoder for a `tokenizer.json` BPE model (`merges.rs`): `ranks` holds the tokens BPE
    /// can give, by dense id; each one's last merge comes with every count
    /// (`count_by_merges`).
    pub(crate) fn for_merges(ranks: &RankMap) -> Backtracker {
        let mut bt = Backtracker::prefix_tables(ranks);
        bt.split = Box::default();
        bt.build_char3(ranks);
        bt
    }

    /// The tables every encoder has: `shorter`, the pair bits and the filter; the splits left
    /// unset.
    fn prefix_tables(ranks: &RankMap) -> Backtracker {
        let top = ranks.rank_limit();
        let strings: usize = (0..top as u32).map(|r| ranks.token_len(r).saturating_sub(2)).sum();
        // About eight bits per string (two set per word at most): few false positives.
        let words = (strings / 8).next_power_of_two().max(64);
        let mut bt = Backtracker {
            split: vec![[NO_RANK; 2]; top].into_boxed_slice(),
            shorter: vec![NO_RANK; top].into_boxed_slice(),
            pair_begins_token: vec![0u64; (1 << 16) / 64].into_boxed_slice(),
            filter: vec![0u64; words].into_boxed_slice(),
            filter_mask: words - 1,
            digits: None,
            char3: Box::default(),
        };
        for r in 0..top as u32 {
            let token = ranks.token(r);
            if token.len() >= 3 {
                let key = (token[0] as usize) << 8 | token[1] as usize;
                bt.pair_begins_token[key >> 6] |= 1 << (key & 63);
                for len in 3..=token.len() {
                    let (word, is_token, begins_token) = filter_slot(hash(&token[..len]), bt.filter_mask);
                    bt.filter[word] |= if len == token.len() { is_token } else { begins_token };
                }
            }
            if token.len() >= 2 {
                bt.shorter[r as usize] = (1..token.len())
                    .rev()
                    .map(|len| ranks.rank_any(&token[..len]))
                    .find(|&p| p != NO_RANK)
                    .unwrap_or(NO_RANK);
            }
        }
        bt
    }

    fn build_char3(&mut self, ranks: &RankMap) {
        let bt = &*self;
        let char3 = (0x800..0x10000u32)
            .map(|c| {
                let mut utf8 = [0; 4];
                let bytes =
                    char::from_u32(c).map_or(&[0xEF, 0xBF, 0xBF][..], |ch| ch.encode_utf8(&mut utf8).as_bytes());
                // Surrogates are never in a &str; their entries are never read.
                match bt.longest_searched(ranks, bytes) {
                    (token, 1..=3) => token,
                    _ => BEGINS_LONGER,
                }
            })
            .collect();
        self.char3 = char3;
    }

    /// The longest token at the start of `rest` (not empty), and how many bytes of `rest`
    /// decided it: the same bytes anywhere give the same token. 0 when the end of `rest` cut the
    /// search short (more bytes could have given a longer token).
    #[inline(always)]
    fn longest(&self, ranks: &RankMap, rest: &[u8]) -> (u32, usize) {
        if let [lead @ 0xE0..=0xEF, b1, b2, ..] = *rest {
            if (b1 & 0xC0 == 0x80) && (b2 & 0xC0 == 0x80) {
                let c = (u32::from(lead) & 0x0F) << 12 | (u32::from(b1) & 0x3F) << 6 | u32::from(b2) & 0x3F;
                if let Some(&token) = self.char3.get((c as usize).wrapping_sub(0x800)) {
                    if token != BEGINS_LONGER {
                        return (token, 3);
                    }
                }
            }
        }
        self.longest_searched(ranks, rest)
    }

    /// `longest` by search, length by length.
    #[inline(always)]
    fn longest_searched(&self, ranks: &RankMap, rest: &[u8]) -> (u32, usize) {
        let mut best = ranks.byte(rest[0]);
        if rest.len() < 2 {
            return (best, 0);
        }
        let two = ranks.pair(rest[0], rest[1]);
        if two != NO_RANK {
            best = two;
        }
        let key = (rest[0] as usize) << 8 | rest[1] as usize;
        if self.pair_begins_token[key >> 6] >> (key & 63) & 1 == 0 {
            return (best, 2);
        }
        let max = ranks.max_token_bytes();
        for len in 3..=max.min(rest.len()) {
            let s = &rest[..len];
            let h = hash(s);
            let (word, is_token, begins_token) = filter_slot(h, self.filter_mask);
            let bits = self.filter[word];
            if bits & is_token != 0 {
                let r = ranks.rank_hashed(s, h);
                if r != NO_RANK {
                    best = r;
                }
            }
            if bits & begins_token == 0 {
                return (best, len);
            }
        }
        (best, if rest.len() >= max { max } else { 0 })
    }

    /// Whether BPE encodes `left` followed by `right` as exactly these two tokens. Their bytes
    /// are `text[at - len(left)..at + len(right)]`.
    #[inline(always)]
    fn pairs<L: Lookup>(
        &self,
        look: &L,
        ranks: &RankMap,
        text: &[u8],
        at: usize,
        mut left: u32,
        mut right: u32,
    ) -> bool {
        let max = ranks.max_token_bytes();
        let mut left_len = look.len(ranks, left);
        let mut right_len = look.len(ranks, right);
        // A merge across the boundary ranked below this one would have come first.
        let mut limit = u32::MAX;
        loop {
            if left_len + right_len <= max {
                let joined = look.id(ranks, &text[at - left_len..at + right_len]);
                if joined != NO_RANK
                    && look.merge_rank(self, joined) < limit
                    && look.split(self, joined) == [left, right]
                {
                    return false;
                }
            }
            // Undo the later of the two merges that made the facing parts: the higher rank, or
            // the right one on a tie (BPE merges the leftmost of equal pairs first). Undoing a
            // left merge lets a cross merge of lower rank come first; undoing a right merge,
            // one of lower or equal rank (it lies to the left).
            let left_tail = look.split(self, left)[1];
            let right_head = look.split(self, right)[0];
            let left_splits = left_tail != left;
            let right_splits = right_head != right;
            if left_splits && (look.merge_rank(self, left) > look.merge_rank(self, right) || !right_splits) {
                limit = look.merge_rank(self, left);
                left = left_tail;
                left_len = look.len(ranks, left);
            } else if right_splits {
                limit = look.merge_rank(self, right) + 1;
                right = right_head;
                right_len = look.len(ranks, right);
            } else {
                return true;
            }
        }
    }

    /// Whether `prev` then `token` pair (`pairs`), from the lookup's own checks or the memo
    /// when they hold it.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn pair_fits<L: Lookup>(
        &self,
        look: &L,
        ranks: &RankMap,
        piece: &[u8],
        at: usize,
        prev: u32,
        token: u32,
        known: Option<&KnownPairs>,
        memo: &mut [u64],
    ) -> bool {
        if let Some(known) = known {
            return known.recall(prev, token).unwrap_or_else(|| {
                let pairs = self.pairs(look, ranks, piece, at, prev, token);
                known.remember(prev, token, pairs);
                pairs
            });
        }
        let key = (prev as u64) << 24 | token as u64;
        let slot = &mut memo[(key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize & (memo.len() - 1)];
        if *slot >> 1 == key {
            *slot & 1 == 1
        } else {
            let pairs = self.pairs(look, ranks, piece, at, prev, token);
            *slot = key << 1 | pairs as u64;
            pairs
        }
    }

    /// The number of tokens BPE gives `piece`; `None` only if the table broke the assumptions
    /// `build` checks (never for a table it accepted).
    /// `shared_memo` is the thread's memo for this table (`with_pair_memo`), if any.
    pub(crate) fn count(&self, ranks: &RankMap, piece: &[u8], shared_memo: Option<&mut [u64]>) -> Option<usize> {
        self.count_by(&AllTokens, ranks, piece, shared_memo)
    }

    /// `count` for a `tokenizer.json` model (`for_merges`): `split[id]` and `merge_rank[id]` are
    /// token `id`'s last merge, as BPE makes the token from its own bytes (`[id, id]` for a base
    /// token). A merge that makes a token some other way never happens: the bytes inside a final
    /// token are merged as they are alone. The ranks must follow the order merges are made in:
    /// a token's last merge ranks above those that made its parts.
    pub(crate) fn count_by_merges(
        &self,
        ranks: &RankMap,
        piece: &[u8],
        shared_memo: Option<&mut [u64]>,
        split: &[[u32; 2]],
        merge_rank: &[u32],
    ) -> Option<usize> {
        self.count_by(&ByMerges { split, merge_rank }, ranks, piece, shared_memo)
    }

    #[inline(always)]
    fn count_by<L: Lookup>(
        &self,
        look: &L,
        ranks: &RankMap,
        piece: &[u8],
        shared_memo: Option<&mut [u64]>,
    ) -> Option<usize> {
        // Pieces up to this many bytes keep their working memory on the stack.
        const ON_STACK: usize = 256;
        let n = piece.len();
        if n <= ON_STACK {
            let mut dead = [0u64; ON_STACK / 64 + 1];
            let mut tokens = [0u32; ON_STACK];
            let mut own_memo = [u64::MAX; 64];
            let memo = match shared_memo {
                Some(memo) => memo,
                None => &mut own_memo[..],
            };
            self.encode(look, ranks, piece, &mut dead, &mut tokens, memo)
        } else {
            // A run of one byte: `piece[1..] == piece[..n - 1]` holds exactly then.
            if n >= 4 * RUN_SAMPLE && piece[1..] == piece[..n - 1] {
                if let Some(count) = self.count_run(look, ranks, piece) {
                    return Some(count);
                }
            }
            let (mut dead, mut tokens) = (vec![0u64; n / 64 + 1], vec![0u32; n]);
            match &self.digits {
                // The digit tables keep their own pair checks: no memo.
                Some(digits) if DigitRanks::covers(piece) => {
                    self.encode(digits, ranks, piece, &mut dead, &mut tokens, &mut [])
                }
                _ => {
                    let mut memo = vec![u64::MAX; (n / 8).next_power_of_two().clamp(64, 1 << 16)];
                    self.encode(look, ranks, piece, &mut dead, &mut tokens, &mut memo)
                }
            }
        }
    }

    /// A long run of one byte, counted from two short ones. BPE gives the middle of such a run
    /// one token `T` over and over, so its encoding should be `T` repeated, then the encoding
    /// `S` of a short run. That sequence is taken only if `T` pairs with `T` and with the first
    /// token of `S` (the pairs inside `S` hold: the encoder made it): a sequence in which every
    /// two neighbours pair is the encoding of its bytes, the property this encoder rests on.
    /// `None` when the guess does not hold; the piece is then encoded whole. Spaces in
    /// `p50k_base` need this: it has space tokens of up to 25 bytes, which the encoder tries
    /// first at every position of a run that BPE encodes in 16-space tokens.
    fn count_run<L: Lookup>(&self, look: &L, ranks: &RankMap, piece: &[u8]) -> Option<usize> {
        let n = piece.len();
        let mut dead = [0u64; 2 * RUN_SAMPLE / 64 + 1];
        let mut tokens = [0u32; 2 * RUN_SAMPLE];
        let mut memo = [u64::MAX; 256];
        let sampled = self.encode(look, ranks, &piece[..RUN_SAMPLE], &mut dead, &mut tokens, &mut memo)?;
        let bulk = tokens[sampled / 2];
        let bulk_len = ranks.token_len(bulk);
        // The short run: at least RUN_SAMPLE bytes, the rest a whole number of bulk tokens.
        let short = RUN_SAMPLE + (n - RUN_SAMPLE) % bulk_len;
        let repeats = (n - short) / bulk_len;
        dead.fill(0);
        let tail = self.encode(look, ranks, &piece[..short], &mut dead, &mut tokens, &mut memo)?;
        // Both checks read their tokens' bytes from the start of the run (all bytes are equal).
        let holds = repeats > 0
            && self.pairs(look, ranks, piece, bulk_len, bulk, bulk)
            && self.pairs(look, ranks, piece, bulk_len, bulk, tokens[0]);
        holds.then_some(repeats + tail)
    }

    /// Backtracking encoding of `piece`, counting. `dead` has a bit per position (bit p: no
    /// valid encoding of the rest starts after a token ending at p), `tokens` room for one token
    /// per byte, and `memo` (a power of two long) recent pair checks: whether two tokens pair
    /// depends on them alone, and long pieces repeat pairs (a run of one character is one
    /// pair). An entry is `(left << 24 | right) << 1 | pairs` (ranks are below 2^24). A lookup
    /// that keeps its own pair checks (`Lookup::known_pairs`) leaves `memo` unread (it may be
    /// empty).
    fn encode<L: Lookup>(
        &self,
        look: &L,
        ranks: &RankMap,
        piece: &[u8],
        dead: &mut [u64],
        tokens: &mut [u32],
        memo: &mut [u64],
    ) -> Option<usize> {
        let n = piece.len();
        if n == 0 {
            return Some(0);
        }
        let known = look.known_pairs();
        let mut len = 0;
        let mut pos = 0;
        let (mut found, mut decided_by) = look.longest(self, ranks, piece);
        let mut candidate = found;
        // Where the last search started: runs repeat the same bytes, and then its answer holds.
        let mut searched_at = 0;
        while pos < n {
            let mut token = candidate;
            loop {
                let end = pos + look.len(ranks, token);
                let fits = dead[end >> 6] >> (end & 63) & 1 == 0
                    && (len == 0
                        || self.pair_fits(look, ranks, piece, pos, tokens[len - 1], token, known.as_ref(), memo));
                if fits {
                    tokens[len] = token;
                    len += 1;
                    pos = end;
                    if pos < n {
                        let same = decided_by != 0
                            && pos + decided_by <= n
                            && piece[pos..pos + decided_by] == piece[searched_at..searched_at + decided_by];
                        if !same {
                            (found, decided_by) = look.longest(self, ranks, &piece[pos..]);
                            searched_at = pos;
                        }
                        candidate = found;
                    }
                    break;
                }
                let shorter = look.shorter(self, token);
                if shorter != NO_RANK {
                    token = shorter;
                    continue;
                }
                // Nothing fits here: retry the previous token with its shorter prefixes.
                dead[pos >> 6] |= 1 << (pos & 63);
                if len == 0 {
                    return None;
                }
                len -= 1;
                let prev = tokens[len];
                pos -= look.len(ranks, prev);
                candidate = prev;
                break;
            }
        }
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpe::merge as bpe;

    fn toy_ranks() -> RankMap {
        let mut tokens: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        for (i, t) in ["ab", "bc", "abc", "aa", "aaaa", "cd", "bcd", "da", "aaaaaaaa", "cda"].iter().enumerate() {
            tokens.push((t.as_bytes().to_vec(), 256 + i as u32));
        }
        RankMap::build(&tokens)
    }

    #[test]
    fn agrees_with_the_merge_on_every_short_string() {
        let ranks = toy_ranks();
        let bt = Backtracker::build(&ranks, true).expect("every toy token is a merge of two lower ranks");
        let alphabet = b"abcd";
        for len in 1..=9u32 {
            for code in 0..4usize.pow(len) {
                let s: Vec<u8> = (0..len).map(|i| alphabet[code / 4usize.pow(i) % 4]).collect();
                assert_eq!(
                    bt.count(&ranks, &s, None),
                    Some(bpe::count_piece(&s, &ranks)),
                    "{:?}",
                    String::from_utf8_lossy(&s)
                );
            }
        }
    }

    /// A xorshift generator from `seed`: each call gives a number below its argument.
    fn random_below(seed: u64) -> impl FnMut(usize) -> usize {
        let mut state = seed;
        move |n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        }
    }

    /// Megabyte pieces on the real tables against the heap merge (itself checked against
    /// tiktoken-rs in `tests/tiktoken_reference.rs`, where tiktoken-rs is too slow for these).
    #[test]
    fn agrees_with_the_heap_merge_on_megabyte_pieces() {
        use crate::tiktoken::{RankTable, RankTableId};
        let mut next = random_below(0x2545_f491_4f6c_dd1d);
        let ideographs: String =
            (0..(1 << 20) / 3).map(|_| char::from_u32(0x4E00 + next(0x51A6) as u32).unwrap_or('?')).collect();
        let letters: String = (0..1 << 18).map(|_| ['a', 'b', 'a', 'n', 'e'][next(5)]).collect();
        for id in [RankTableId::R50k, RankTableId::P50k, RankTableId::Cl100k, RankTableId::O200k] {
            let table = RankTable::load(id).expect("embedded table");
            let bt = Backtracker::build(&table.ranks, id.digit_runs()).expect("OpenAI tables qualify");
            for piece in [&ideographs, &letters] {
                let expected = bpe::count_large(piece.as_bytes(), &table.ranks);
                assert_eq!(
                    bt.count(&table.ranks, piece.as_bytes(), None),
                    Some(expected),
                    "{id:?}, {} bytes",
                    piece.len()
                );
            }
        }
    }

    /// Runs of one byte counted from a sample (`count_run`) against the heap merge, at every
    /// remainder of the bulk token's length.
    #[test]
    fn runs_of_one_byte_count_like_the_heap_merge() {
        use crate::tiktoken::{RankTable, RankTableId};
        for id in [RankTableId::R50k, RankTableId::P50k, RankTableId::Cl100k, RankTableId::O200k] {
            let table = RankTable::load(id).expect("embedded table");
            let bt = Backtracker::build(&table.ranks, id.digit_runs()).expect("OpenAI tables qualify");
            for byte in [b' ', b'a', b'0', b'=', b'\n', b'\t', b'.', b'-'] {
                let mut taken = 0;
                for n in (4 * RUN_SAMPLE..4 * RUN_SAMPLE + 70).chain([5000, 65_537, 300_001]) {
                    let run = vec![byte; n];
                    let expected = bpe::count_large(&run, &table.ranks);
                    if let Some(count) = bt.count_run(&AllTokens, &table.ranks, &run) {
                        assert_eq!(count, expected, "{id:?}, {n} x {:?}", byte as char);
                        taken += 1;
                    }
                    assert_eq!(bt.count(&table.ranks, &run, None), Some(expected), "{id:?}, {n} x {:?}", byte as char);
                }
                // Spaces and letters are what the shortcut is for: it must not fall back there.
                if matches!(byte, b' ' | b'a') {
                    assert_eq!(taken, 73, "{id:?}, {:?}: the shortcut fell back", byte as char);
                }
            }
        }
    }

    /// Long pieces of digits (r50k, p50k) through their own tables (`DigitRanks`), against the
    /// encoder on the whole table and the heap merge: random digits, with and without the
    /// leading space, digits made of the tokens of four or more digits, and every length around
    /// the stack limit. Each piece is counted twice, the second time from the shared pair checks.
    #[test]
    fn digit_pieces_count_like_the_heap_merge() {
        use crate::tiktoken::{RankTable, RankTableId};
        let mut next = random_below(0x9e37_79b9_7f4a_7c15);
        for id in [RankTableId::R50k, RankTableId::P50k] {
            let table = RankTable::load(id).expect("embedded table");
            let ranks = &table.ranks;
            let bt = Backtracker::build(ranks, true).expect("OpenAI tables qualify");
            let digits = bt.digits.as_ref().expect("r50k and p50k have digit tokens");
            let long_tokens: Vec<&[u8]> = (0..ranks.rank_limit() as u32)
                .map(|r| ranks.token(r))
                .filter(|t| t.len() >= 4 && t.iter().all(u8::is_ascii_digit))
                .collect();
            assert!(long_tokens.len() > 50, "{id:?}: {} tokens of 4+ digits", long_tokens.len());
            let random: Vec<u8> = (0..200_000).map(|_| b'0' + next(10) as u8).collect();
            let mut made_of_long = Vec::new();
            while made_of_long.len() < 100_000 {
                made_of_long.extend_from_slice(long_tokens[next(long_tokens.len())]);
                if next(3) == 0 {
                    made_of_long.push(b'0' + next(10) as u8);
                }
            }
            let mut pieces = vec![random.clone(), [b" ", &random[..]].concat(), made_of_long.clone()];
            pieces.push([b" ", &made_of_long[..]].concat());
            pieces.extend((250..300).map(|n| random[n..2 * n].to_vec()));
            pieces.extend((250..300).map(|n| [b" ", &made_of_long[n..2 * n]].concat()));
            for piece in &pieces {
                assert!(DigitRanks::covers(piece));
                let n = piece.len();
                let expected = bpe::count_large(piece, ranks);
                let mut memo = vec![u64::MAX; 64];
                let whole = bt.encode(&AllTokens, ranks, piece, &mut vec![0; n / 64 + 1], &mut vec![0; n], &mut memo);
                assert_eq!(whole, Some(expected), "{id:?}, whole table, {n} bytes");
                for round in 0..2 {
                    let got = bt.encode(digits, ranks, piece, &mut vec![0; n / 64 + 1], &mut vec![0; n], &mut memo);
                    assert_eq!(got, Some(expected), "{id:?}, digit tables, round {round}, {n} bytes");
                }
                assert_eq!(bt.count(ranks, piece, None), Some(expected), "{id:?}, {n} bytes");
            }
        }
    }

    #[test]
    fn refuses_a_table_where_a_token_ranks_before_its_parts() {
        // "abc" is ranked before "ab" and "bc", so merges are not in rank order.
        let mut tokens: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        tokens.push((b"abc".to_vec(), 256));
        tokens.push((b"ab".to_vec(), 257));
        tokens.push((b"bc".to_vec(), 258));
        assert!(Backtracker::build(&RankMap::build(&tokens), false).is_none());
    }
}
