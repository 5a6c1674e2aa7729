//! The `Split` / `Replace` regexes of `tokenizer.json` files, run exactly as the Python
//! `tokenizers` package runs them (Oniguruma, a backtracking engine), but in linear time.
//!
//! # What is accepted
//!
//! [`SplitRegex::new`] parses the Oniguruma dialect itself (default `ONIG_SYNTAX_ONIGURUMA`, the
//! one the `onig` crate uses) and accepts this class of patterns:
//!
//! * alternations, concatenations, capturing / non-capturing / named groups, comments `(?#...)`;
//! * literal characters and the escapes `\t \n \r \f \v \a \e \xHH \x{H..} \uHHHH \o{..} \0oo`
//!   and escaped punctuation;
//! * `.` (any character but `\n`), `\s \S \d \D \h \H`, `\p{..}` / `\P{..}` / `\p{^..}` for the
//!   general categories and scripts of [`PROPERTY_NAMES`] (each checked against Oniguruma's own
//!   tables by the tests), and bracket classes with ranges, nesting, negation and `&&`;
//! * `?`, `*`, `+`, `{n}`, `{n,}`, `{,m}`, `{n,m}`, their lazy forms, nested quantifiers
//!   (`\p{N}{1,3}+` is `(?:\p{N}{1,3})+` in this dialect), and the possessive `?+ *+ ++` on a
//!   single character or class when the rest of the alternative cannot start inside the
//!   repetition (then possessive and greedy agree), plus `X++$` with `\n` in `X` (which is
//!   `X+\z`);
//! * `(?i:...)`, `(?-i:...)`, `(?i)` (which, as in Oniguruma, takes the rest of its group,
//!   later alternatives included), with simple case folding; case-insensitive text that could
//!   take part in a multi-character fold (`ß` and `ss`, `ﬁ` and `fi`, ...) is refused;
//! * the anchors `$` (end of line, as in Oniguruma), `\A`, `\z`, and `^` where something after
//!   it must consume a character (Oniguruma's `^` never matches after a final newline);
//! * one look-ahead at the very end of a top-level alternative: `(?=X)` for a sequence of
//!   single-character items, `(?!C)` for one single-character item.
//!
//! Everything else is refused with a message naming the construct: look-behind, back-references,
//! atomic groups, absent groups, conditionals, `\b \B \w \W \G \K \R \X \Z`, POSIX brackets,
//! other options, look-ahead elsewhere, repetition of something that can match empty, etc.
//!
//! # How it runs, and why it is linear
//!
//! Each top-level alternative becomes one pattern of a multi-pattern, anchored, leftmost-first
//! DFA (regex-automata, fully built). For look-around-free regexes leftmost-first is exactly the
//! backtracking order. A trailing look-ahead is made to consume its character(s): `R(?=C)` runs
//! as `RC`, `R(?!C)` as `R(?:[^C]|\z)`; a single character class consumes exactly one
//! character, so the backtracking order of `R`'s paths is unchanged and the end of `R` is the
//! match end minus that character. The one ambiguous case (`R(?!C)` ending at the end of the
//! text) is settled by a PikeVM with a capture around `R`, at most twice per text.
//!
//! The matches are found as `onig::FindMatches` finds them: from the end of the previous match,
//! try each start position in turn (positions whose first byte cannot start a match are skipped
//! with a table), and from a start run the DFA until it dies; the last match state seen is the
//! leftmost-first match. A scan that runs far past its match (a higher-priority alternative that
//! stays alive and then fails, like `\s*[\r\n]+` over spaces) would be repeated by the next
//! search: that is where backtracking goes quadratic. So every scan that overshoots by more than
//! [`MEMO_MIN_OVERSHOOT`] bytes records the (DFA state, position) pairs it went through after its
//! last match: the DFA is deterministic, so from such a pair no match can ever be found, and a
//! later scan that reaches one stops at once (Reps, "Maximal-munch tokenization in linear
//! time"). Each pair is stepped through at most once after being recorded, positions before the
//! current start are dropped, and short overshoots cost at most that constant per search, so a
//! text of n bytes costs O(n · states) steps for a fixed pattern, whatever the text.
//!
//! Memory: the DFA (1-3 MB for the usual split patterns; refused above [`DFA_SIZE_LIMIT`]), and
//! per call a set of recorded pairs that only grows on texts that make a scan overshoot by more
//! than [`MEMO_MIN_OVERSHOOT`] bytes (none of the usual patterns on any text; for `a+b|a` on 1 MB
//! of `a`, about 32 MB, dropped once the search passes it).
//!
//! Dependencies: regex-automata 0.4, regex-syntax 0.8, rustc-hash 2, once_cell (serde_json in
//! the tests). The reference data of the tests is in tests/fixtures/split_regex/, made by
//! make_reference.py there.

use std::ops::ControlFlow;

use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::nfa::thompson::{self, pikevm::PikeVM, WhichCaptures};
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, Input, MatchKind};
use regex_syntax::hir::{self, Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look};
use rustc_hash::FxHashSet;

/// Largest count accepted in `{n,m}`: larger ones make automata too big to be worth it.
const MAX_REPEAT: u32 = 1000;
/// Deepest nesting of groups and quantifiers: the parser and the analyses recurse.
const MAX_DEPTH: usize = 64;
/// Size limits of the automata built for one pattern.
const NFA_SIZE_LIMIT: usize = 16 << 20;
const DFA_SIZE_LIMIT: usize = 64 << 20;
/// A scan that runs this many bytes past its last match records where it went (see module doc).
const MEMO_MIN_OVERSHOOT: usize = 32;

/// A compiled split regex. See the module documentation for the accepted class.
pub(crate) struct SplitRegex {
    dfa: dense::DFA<Vec<u32>>,
    /// Anchored start states: at the start of the text, after `\n`, after any other byte.
    start_at_text_start: StateID,
    start_after_newline: StateID,
    start_after_other: StateID,
    /// Whether a match can start at a position whose byte is this (never a UTF-8 continuation).
    can_start: [bool; 256],
    /// How to get the end of the match from the DFA's match end, per alternative (pattern id).
    ends: Vec<BranchEnd>,
    /// Fewest bytes a match can have (0 when a match can be empty); usize::MAX when none can.
    shortest_match: usize,
}

enum BranchEnd {
    /// No look-ahead: the DFA's end is the end.
    Plain,
    /// `(?=...)` of this many single-character items, consumed by the DFA.
    AheadConsumed { chars: usize },
    /// `(?!C)`, run as `(?:[^C]|\z)`; the resolver settles a match that ends at the end of text.
    NotAhead { excluded: ClassUnicode, resolver: Box<PikeVM> },
}

impl SplitRegex {
    /// Compiles `pattern`; Err(message) for a pattern this engine cannot run exactly in linear
    /// time (or that Oniguruma would reject), the message naming the construct.
    pub(crate) fn new(pattern: &str) -> Result<SplitRegex, String> {
        let tree = Parser::new(pattern).parse()?;
        let mut branches = Vec::new();
        flatten_alternation(tree, &mut branches);
        let mut hirs = Vec::with_capacity(branches.len());
        let mut ends = Vec::with_capacity(branches.len());
        let mut shortest_match = usize::MAX;
        for branch in branches {
            let compiled = compile_branch(branch)?;
            if let Some(length) = compiled.shortest {
                shortest_match = shortest_match.min(length);
            }
            hirs.push(compiled.hir);
            ends.push(compiled.end);
        }
        let nfa = thompson::Compiler::new()
            .configure(thompson::Config::new().which_captures(WhichCaptures::None).nfa_size_limit(Some(NFA_SIZE_LIMIT)))
            .build_many_from_hir(&hirs)
            .map_err(|e| format!("pattern too large: {e}"))?;
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .start_kind(StartKind::Anchored)
                    .accelerate(false)
                    .minimize(false)
                    .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                    .determinize_size_limit(Some(DFA_SIZE_LIMIT)),
            )
            .build_from_nfa(&nfa)
            .map_err(|e| format!("pattern too large for a DFA: {e}"))?;
        let start_for = |look_behind: Option<u8>| {
            dfa.start_state(&start::Config::new().anchored(Anchored::Yes).look_behind(look_behind))
                .map_err(|e| format!("DFA start state: {e}"))
        };
        let start_at_text_start = start_for(None)?;
        let start_after_newline = start_for(Some(b'\n'))?;
        let start_after_other = start_for(Some(b'a'))?;
        let mut can_start = [false; 256];
        for (byte, slot) in can_start.iter_mut().enumerate() {
            let byte = byte as u8;
            let continuation = byte & 0xC0 == 0x80;
            *slot = !continuation
                && [start_at_text_start, start_after_newline, start_after_other]
                    .iter()
                    .any(|&sid| !dfa.is_dead_state(dfa.next_state(sid, byte)));
        }
        Ok(SplitRegex {
            dfa,
            start_at_text_start,
            start_after_newline,
            start_after_other,
            can_start,
            ends,
            shortest_match,
        })
    }

    /// Whether some text has an empty match (conservative: anchors and look-aheads are not
    /// evaluated).
    pub(crate) fn matches_empty(&self) -> bool {
        self.shortest_match == 0
    }

    /// The fewest bytes a match can span (0 when it can be empty, usize::MAX when the pattern
    /// can never match).
    pub(crate) fn shortest_match(&self) -> usize {
        self.shortest_match
    }

    /// Calls `f(start, end)` (byte offsets) for each match, in order: the matches that
    /// `onig::Regex::find_iter` gives, as `tokenizers` consumes them (no match at all in an
    /// empty text; an empty match right where the previous match ended is skipped). Stops early
    /// when `f` breaks.
    pub(crate) fn for_each_match(&self, text: &str, mut f: impl FnMut(usize, usize) -> ControlFlow<()>) {
        if text.is_empty() {
            return;
        }
        let mut memo = Memo::default();
        let mut last_end = 0;
        let mut last_match_end = None;
        while last_end <= text.len() {
            let Some((start, end)) = self.find_from(text, last_end, &mut memo) else { break };
            if start == end && last_match_end == Some(end) {
                last_end += text.get(last_end..).and_then(|rest| rest.chars().next()).map_or(1, char::len_utf8);
                continue;
            }
            last_end = end;
            last_match_end = Some(end);
            if f(start, end).is_break() {
                break;
            }
        }
    }

    /// The leftmost match starting at or after `from` (a character boundary).
    fn find_from(&self, text: &str, from: usize, memo: &mut Memo) -> Option<(usize, usize)> {
        let bytes = text.as_bytes();
        let mut start = from;
        loop {
            while bytes.get(start).is_some_and(|&b| !self.can_start[b as usize]) {
                start += 1;
            }
            if let Some((pattern, dfa_end)) = self.anchored_match(bytes, start, memo) {
                return Some((start, self.match_end(text, start, pattern, dfa_end)));
            }
            let lead = *bytes.get(start)?;
            start += utf8_len(lead);
        }
    }

    /// Runs the anchored DFA from `start`: the pattern id and DFA end of the leftmost-first match.
    fn anchored_match(&self, bytes: &[u8], start: usize, memo: &mut Memo) -> Option<(usize, usize)> {
        let dfa = &self.dfa;
        let mut sid = match start.checked_sub(1).and_then(|i| bytes.get(i)) {
            None => self.start_at_text_start,
            Some(b'\n') => self.start_after_newline,
            Some(_) => self.start_after_other,
        };
        let check_memo = memo.covers(start);
        // The last match state seen and where the match ended; its pattern is looked up once.
        let mut found: Option<(StateID, usize)> = None;
        // The first (state, position) after the last match: from there on nothing matched.
        let mut failing_from = Some((sid, start));
        let mut at = start;
        let mut stopped_by_memo = false;
        loop {
            if check_memo && at <= memo.max_position && memo.pairs.contains(&(sid.as_u32(), at)) {
                stopped_by_memo = true;
                break;
            }
            let Some(&byte) = bytes.get(at) else {
                let eoi = dfa.next_eoi_state(sid);
                if dfa.is_match_state(eoi) {
                    found = Some((eoi, at));
                    failing_from = None;
                }
                break;
            };
            let next = dfa.next_state(sid, byte);
            if dfa.is_special_state(next) {
                if dfa.is_match_state(next) {
                    found = Some((next, at));
                    failing_from = Some((next, at + 1));
                } else if dfa.is_dead_state(next) {
                    break;
                }
            }
            sid = next;
            at += 1;
        }
        if let Some((from_sid, from)) = failing_from {
            if at - from >= MEMO_MIN_OVERSHOOT {
                memo.record(dfa, bytes, from_sid, from, at, !stopped_by_memo);
            }
        }
        found.map(|(match_sid, end)| (dfa.match_pattern(match_sid, 0).as_usize(), end))
    }

    /// The end of the match of alternative `pattern` from `start`, whose DFA match ended at
    /// `dfa_end` (past the characters its look-ahead consumed).
    fn match_end(&self, text: &str, start: usize, pattern: usize, dfa_end: usize) -> usize {
        match self.ends.get(pattern) {
            None | Some(BranchEnd::Plain) => dfa_end,
            Some(BranchEnd::AheadConsumed { chars }) => {
                let mut end = dfa_end;
                for _ in 0..*chars {
                    end = previous_boundary(text, end);
                }
                end.max(start)
            }
            Some(BranchEnd::NotAhead { excluded, resolver }) => {
                if dfa_end < text.len() {
                    return previous_boundary(text, dfa_end).max(start);
                }
                // Ended at the end of the text: through `\z` (R ends there), or by `[^C]` taking
                // the last character. Only the second needs the last character outside C.
                let last_outside =
                    text.get(start..).and_then(|t| t.chars().next_back()).is_some_and(|c| !class_contains(excluded, c));
                if dfa_end == start || !last_outside {
                    return dfa_end;
                }
                let input = Input::new(text).range(start..).anchored(Anchored::Yes);
                let mut cache = resolver.create_cache();
                let mut captures = resolver.create_captures();
                resolver.search(&mut cache, &input, &mut captures);
                captures.get_group(1).map_or(dfa_end, |span| span.end)
            }
        }
    }
}

/// (DFA state, position) pairs from which no match can be found (see module doc).
#[derive(Default)]
struct Memo {
    pairs: FxHashSet<(u32, usize)>,
    max_position: usize,
}

impl Memo {
    /// Whether the memo may hold pairs at or after `start`; drops it when it cannot.
    fn covers(&mut self, start: usize) -> bool {
        if self.pairs.is_empty() {
            return false;
        }
        if self.max_position < start {
            self.pairs.clear();
            return false;
        }
        true
    }

    /// Records the pairs of a scan replayed from `sid` at `from` up to `to` (inclusive when
    /// `include_last`).
    fn record(
        &mut self,
        dfa: &dense::DFA<Vec<u32>>,
        bytes: &[u8],
        mut sid: StateID,
        from: usize,
        to: usize,
        include_last: bool,
    ) {
        for (offset, &byte) in bytes.get(from..to).unwrap_or(&[]).iter().enumerate() {
            self.pairs.insert((sid.as_u32(), from + offset));
            sid = dfa.next_state(sid, byte);
        }
        if include_last {
            self.pairs.insert((sid.as_u32(), to));
        }
        self.max_position = self.max_position.max(to);
    }
}

fn utf8_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

fn previous_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while at > 0 {
        at -= 1;
        if text.is_char_boundary(at) {
            break;
        }
    }
    at
}

fn class_contains(class: &ClassUnicode, c: char) -> bool {
    let ranges = class.ranges();
    let index = ranges.partition_point(|r| r.end() < c);
    ranges.get(index).is_some_and(|r| r.start() <= c)
}

// ---------------------------------------------------------------------------------------------
// Syntax tree

#[derive(Clone, Debug)]
enum Node {
    Empty,
    /// A literal character; `fold` when under `(?i)`.
    Char {
        c: char,
        fold: bool,
    },
    Class(ClassUnicode),
    Anchor(Anchor),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat {
        body: Box<Node>,
        min: u32,
        max: Option<u32>,
        mode: RepeatMode,
    },
    LookAhead {
        negative: bool,
        body: Box<Node>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Anchor {
    /// `^`: start of text or after `\n` (never at the very end).
    LineStart,
    /// `$`: before `\n` or at the end.
    LineEnd,
    /// `\A`
    TextStart,
    /// `\z`
    TextEnd,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum RepeatMode {
    Greedy,
    Lazy,
    Possessive,
}

fn flatten_alternation(node: Node, out: &mut Vec<Node>) {
    match node {
        Node::Alt(branches) => branches.into_iter().for_each(|b| flatten_alternation(b, out)),
        other => out.push(other),
    }
}

fn push_flat(items: &mut Vec<Node>, node: Node) {
    match node {
        Node::Concat(inner) => inner.into_iter().for_each(|n| push_flat(items, n)),
        Node::Empty => {}
        other => items.push(other),
    }
}

fn concat(mut items: Vec<Node>) -> Node {
    match items.len() {
        0 => Node::Empty,
        1 => items.pop().unwrap_or(Node::Empty),
        _ => Node::Concat(items),
    }
}

// ---------------------------------------------------------------------------------------------
// Parser of the Oniguruma dialect (the accepted subset; everything else is an error)

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

enum Escaped {
    Char(char),
    Class(ClassUnicode),
}

impl Parser {
    fn new(pattern: &str) -> Parser {
        Parser { chars: pattern.chars().collect(), pos: 0, depth: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn next_char(&mut self, what: &str) -> Result<char, String> {
        let c = self.peek().ok_or_else(|| format!("pattern ends inside {what}"))?;
        self.pos += 1;
        Ok(c)
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    fn parse(mut self) -> Result<Node, String> {
        let node = self.parse_alternation(false)?;
        match self.peek() {
            None => Ok(node),
            Some(')') => Err("unmatched `)`".to_string()),
            Some(c) => Err(format!("unexpected `{c}`")),
        }
    }

    fn parse_alternation(&mut self, fold: bool) -> Result<Node, String> {
        self.enter()?;
        let mut branches = Vec::new();
        loop {
            let (branch, took_rest) = self.parse_concatenation(fold)?;
            branches.push(branch);
            if took_rest || !self.eat('|') {
                break;
            }
        }
        self.depth -= 1;
        Ok(if branches.len() == 1 { branches.pop().unwrap_or(Node::Empty) } else { Node::Alt(branches) })
    }

    /// One alternative. The flag is true when an inline `(?i)` took the rest of the group.
    fn parse_concatenation(&mut self, fold: bool) -> Result<(Node, bool), String> {
        let mut items: Vec<Node> = Vec::new();
        loop {
            let atom = match self.peek() {
                None | Some('|') | Some(')') => break,
                Some('(') => {
                    if let Some(inline_fold) = self.inline_options(fold)? {
                        let rest = self.parse_alternation(inline_fold)?;
                        push_flat(&mut items, rest);
                        check_fold_runs(&items)?;
                        return Ok((concat(items), true));
                    }
                    match self.parse_group(fold)? {
                        Some(node) => node,
                        None => continue, // comment
                    }
                }
                Some('[') => Node::Class(self.parse_bracket(fold)?),
                Some('.') => {
                    self.pos += 1;
                    Node::Class(ClassUnicode::new([
                        ClassUnicodeRange::new('\0', '\x09'),
                        ClassUnicodeRange::new('\x0B', char::MAX),
                    ]))
                }
                Some('^') => {
                    self.pos += 1;
                    Node::Anchor(Anchor::LineStart)
                }
                Some('$') => {
                    self.pos += 1;
                    Node::Anchor(Anchor::LineEnd)
                }
                Some('\\') => self.parse_escape_atom(fold)?,
                Some('*') | Some('+') | Some('?') => return Err("quantifier without a target".to_string()),
                Some('{') if self.interval_at(self.pos).is_some() => {
                    return Err("quantifier without a target".to_string())
                }
                Some(c) => {
                    self.pos += 1;
                    char_node(c, fold)?
                }
            };
            let atom = self.parse_quantifiers(atom)?;
            push_flat(&mut items, atom);
        }
        check_fold_runs(&items)?;
        Ok((concat(items), false))
    }

    /// `(?i)` / `(?-i)` (no `:`): Some(new fold flag), position past it.
    fn inline_options(&mut self, fold: bool) -> Result<Option<bool>, String> {
        if self.peek_at(1) != Some('?') {
            return Ok(None);
        }
        let mut i = self.pos + 2;
        let mut on = true;
        let mut new_fold = fold;
        while let Some(&c) = self.chars.get(i) {
            match c {
                'i' => new_fold = on,
                '-' if on => on = false,
                ')' if i > self.pos + 2 => {
                    self.pos = i + 1;
                    return Ok(Some(new_fold));
                }
                _ => return Ok(None),
            }
            i += 1;
        }
        Ok(None)
    }

    /// A group at `(`; None for a comment.
    fn parse_group(&mut self, fold: bool) -> Result<Option<Node>, String> {
        self.pos += 1; // (
        let mut inner_fold = fold;
        let mut look_ahead = None;
        if self.eat('?') {
            match self.next_char("a group")? {
                ':' => {}
                '=' => look_ahead = Some(false),
                '!' => look_ahead = Some(true),
                '#' => {
                    while self.next_char("a comment")? != ')' {}
                    return Ok(None);
                }
                '<' if matches!(self.peek(), Some('=') | Some('!')) => {
                    let c = self.peek().unwrap_or('=');
                    return Err(format!("look-behind `(?<{c}...)`"));
                }
                '<' => self.skip_group_name('>')?,
                '\'' => self.skip_group_name('\'')?,
                '>' => return Err("atomic group `(?>...)`".to_string()),
                '~' => return Err("absent group `(?~...)`".to_string()),
                '(' => return Err("conditional group `(?(...)...)`".to_string()),
                c if c == 'i' || c == '-' || c.is_ascii_alphabetic() || c == '^' => {
                    self.pos -= 1;
                    let mut on = true;
                    loop {
                        match self.next_char("group options")? {
                            'i' => inner_fold = on,
                            '-' if on => on = false,
                            ':' => break,
                            other => return Err(format!("option `{other}` in `(?...)`")),
                        }
                    }
                }
                c => return Err(format!("group `(?{c}...)`")),
            }
        } else if self.peek() == Some('*') {
            return Err("verb or callout `(*...)`".to_string());
        }
        let inner = self.parse_alternation(inner_fold)?;
        if !self.eat(')') {
            return Err("missing `)`".to_string());
        }
        Ok(Some(match look_ahead {
            Some(negative) => Node::LookAhead { negative, body: Box::new(inner) },
            None => inner,
        }))
    }

    fn skip_group_name(&mut self, close: char) -> Result<(), String> {
        let mut length = 0;
        loop {
            let c = self.next_char("a group name")?;
            if c == close && length > 0 {
                return Ok(());
            }
            if !(c.is_alphanumeric() || c == '_') {
                return Err("group name".to_string());
            }
            length += 1;
        }
    }

    /// `{n}`, `{n,}`, `{,m}`, `{n,m}` at `at`: (min, max, fixed form, length in chars).
    fn interval_at(&self, at: usize) -> Option<(u32, Option<u32>, bool, usize)> {
        let mut i = at + 1;
        let number = |i: &mut usize| -> Option<Option<u32>> {
            let begin = *i;
            let mut value: u32 = 0;
            while let Some(d) = self.chars.get(*i).and_then(|c| c.to_digit(10)) {
                value = value.saturating_mul(10).saturating_add(d);
                *i += 1;
            }
            Some(if *i == begin { None } else { Some(value) })
        };
        let low = number(&mut i)?;
        match self.chars.get(i) {
            Some('}') => {
                let n = low?;
                Some((n, Some(n), true, i + 1 - at))
            }
            Some(',') => {
                i += 1;
                let high = number(&mut i)?;
                if self.chars.get(i) != Some(&'}') || (low.is_none() && high.is_none()) {
                    return None;
                }
                Some((low.unwrap_or(0), high, false, i + 1 - at))
            }
            _ => None,
        }
    }

    fn parse_quantifiers(&mut self, mut atom: Node) -> Result<Node, String> {
        let mut nested = 0;
        loop {
            let (min, max, mode) = match self.peek() {
                Some(q @ ('*' | '+' | '?')) => {
                    self.pos += 1;
                    let (min, max) = match q {
                        '*' => (0, None),
                        '+' => (1, None),
                        _ => (0, Some(1)),
                    };
                    let mode = if self.eat('?') {
                        RepeatMode::Lazy
                    } else if self.eat('+') {
                        RepeatMode::Possessive
                    } else {
                        RepeatMode::Greedy
                    };
                    (min, max, mode)
                }
                Some('{') => {
                    let Some((min, max, fixed, length)) = self.interval_at(self.pos) else { break };
                    self.pos += length;
                    if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT) {
                        return Err(format!("repetition count over {MAX_REPEAT}"));
                    }
                    if max.is_some_and(|m| m < min) {
                        return Err("interval `{n,m}` with n > m".to_string());
                    }
                    if fixed && self.peek() == Some('?') {
                        // `{n}?` is `(?:X{n})?` in this dialect, not a lazy `{n}`.
                        self.pos += 1;
                        atom = repeat(atom, min, max, RepeatMode::Greedy)?;
                        (0, Some(1), RepeatMode::Greedy)
                    } else if self.eat('?') {
                        (min, max, RepeatMode::Lazy)
                    } else {
                        (min, max, RepeatMode::Greedy)
                    }
                }
                _ => break,
            };
            nested += 1;
            if nested > 8 {
                return Err("too many stacked quantifiers".to_string());
            }
            atom = repeat(atom, min, max, mode)?;
        }
        Ok(atom)
    }

    fn parse_escape_atom(&mut self, fold: bool) -> Result<Node, String> {
        self.pos += 1; // backslash
        let c = self.peek().ok_or("pattern ends with `\\`")?;
        match c {
            'A' => {
                self.pos += 1;
                Ok(Node::Anchor(Anchor::TextStart))
            }
            'z' => {
                self.pos += 1;
                Ok(Node::Anchor(Anchor::TextEnd))
            }
            'p' | 'P' => Ok(Node::Class(self.parse_property()?)),
            _ => match self.parse_escape_common()? {
                Escaped::Char(c) => char_node(c, fold),
                Escaped::Class(class) => Ok(Node::Class(class)),
            },
        }
    }

    /// Escapes valid both inside and outside brackets (position after the backslash).
    fn parse_escape_common(&mut self) -> Result<Escaped, String> {
        let c = self.next_char("an escape")?;
        let class = |ranges: &[(char, char)]| {
            Escaped::Class(ClassUnicode::new(ranges.iter().map(|&(a, b)| ClassUnicodeRange::new(a, b))))
        };
        Ok(match c {
            't' => Escaped::Char('\t'),
            'n' => Escaped::Char('\n'),
            'r' => Escaped::Char('\r'),
            'f' => Escaped::Char('\x0C'),
            'v' => Escaped::Char('\x0B'),
            'a' => Escaped::Char('\x07'),
            'e' => Escaped::Char('\x1B'),
            'x' => {
                if self.eat('{') {
                    Escaped::Char(self.code_point_until_brace(16, 8)?)
                } else {
                    Escaped::Char(self.fixed_digits(16, 1, 2)?)
                }
            }
            'u' => Escaped::Char(self.fixed_digits(16, 4, 4)?),
            'o' if self.peek() == Some('{') => {
                self.pos += 1;
                Escaped::Char(self.code_point_until_brace(8, 11)?)
            }
            '0' => {
                let mut value = 0u32;
                for _ in 0..2 {
                    match self.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            value = value * 8 + d;
                            self.pos += 1;
                        }
                        None => break,
                    }
                }
                Escaped::Char(char::from_u32(value).ok_or("invalid code point")?)
            }
            '1'..='9' => return Err(format!("back-reference `\\{c}`")),
            's' => Escaped::Class(perl_space()),
            'S' => Escaped::Class(negated(perl_space())),
            'd' => Escaped::Class(unicode_property("Nd")?),
            'D' => Escaped::Class(negated(unicode_property("Nd")?)),
            'h' => class(&[('0', '9'), ('A', 'F'), ('a', 'f')]),
            'H' => match class(&[('0', '9'), ('A', 'F'), ('a', 'f')]) {
                Escaped::Class(hex) => Escaped::Class(negated(hex)),
                other => other,
            },
            'w' | 'W' => return Err(format!("`\\{c}` (Oniguruma's word class differs from Unicode's)")),
            'b' | 'B' => return Err(format!("word boundary `\\{c}`")),
            'k' | 'g' => return Err(format!("back-reference or subexpression call `\\{c}`")),
            'Z' => return Err("`\\Z` (end of text or before a final newline)".to_string()),
            c if c.is_ascii_alphanumeric() => return Err(format!("escape `\\{c}`")),
            c => Escaped::Char(c),
        })
    }

    fn fixed_digits(&mut self, radix: u32, min: usize, max: usize) -> Result<char, String> {
        let mut value = 0u32;
        let mut count = 0;
        while count < max {
            match self.peek().and_then(|d| d.to_digit(radix)) {
                Some(d) => {
                    value = value * radix + d;
                    self.pos += 1;
                    count += 1;
                }
                None => break,
            }
        }
        if count < min {
            return Err("escape with too few digits".to_string());
        }
        char::from_u32(value).ok_or_else(|| "invalid code point".to_string())
    }

    fn code_point_until_brace(&mut self, radix: u32, max_digits: usize) -> Result<char, String> {
        let mut value = 0u32;
        let mut count = 0;
        loop {
            let c = self.next_char("an escape")?;
            if c == '}' && count > 0 {
                break;
            }
            let d = c.to_digit(radix).ok_or("invalid code point escape")?;
            count += 1;
            if count > max_digits {
                return Err("invalid code point escape".to_string());
            }
            value = value.saturating_mul(radix).saturating_add(d);
        }
        char::from_u32(value).ok_or_else(|| "invalid code point".to_string())
    }

    /// `\p{..}`, `\P{..}`, `\p{^..}` (position at `p` / `P`).
    fn parse_property(&mut self) -> Result<ClassUnicode, String> {
        let mut negate = self.next_char("a property")? == 'P';
        if !self.eat('{') {
            return Err("`\\p` without braces".to_string());
        }
        if self.eat('^') {
            negate = !negate;
        }
        let mut name = String::new();
        loop {
            let c = self.next_char("a property name")?;
            if c == '}' {
                break;
            }
            name.push(c);
        }
        let normalized: String =
            name.chars().filter(|c| !matches!(c, ' ' | '_' | '-')).flat_map(char::to_lowercase).collect();
        let canonical = PROPERTY_NAMES
            .iter()
            .find(|(aliases, _)| aliases.split('|').any(|a| a == normalized))
            .map(|(_, canonical)| *canonical)
            .ok_or_else(|| format!("Unicode property `\\p{{{name}}}` (not among those checked against Oniguruma)"))?;
        let class = unicode_property(canonical)?;
        Ok(if negate { negated(class) } else { class })
    }

    /// A bracket class at `[`.
    fn parse_bracket(&mut self, fold: bool) -> Result<ClassUnicode, String> {
        self.enter()?;
        self.pos += 1; // [
        let negate = self.eat('^');
        let mut operands: Vec<ClassUnicode> = Vec::new();
        let mut current = ClassUnicode::empty();
        let mut items = 0usize;
        let mut first = true;
        loop {
            let c = self.next_char("a bracket class")?;
            if c == ']' && !first {
                break;
            }
            first = false;
            if c == '[' {
                if self.peek() == Some(':') {
                    return Err("POSIX bracket `[:...:]`".to_string());
                }
                if fold {
                    return Err("nested bracket class under `(?i)`".to_string());
                }
                self.pos -= 1;
                let nested = self.parse_bracket(false)?;
                current.union(&nested);
                items += 1;
                continue;
            }
            if c == '&' && self.peek() == Some('&') {
                if fold {
                    return Err("`&&` under `(?i)`".to_string());
                }
                self.pos += 1;
                if items == 0 {
                    return Err("empty operand of `&&`".to_string());
                }
                operands.push(std::mem::replace(&mut current, ClassUnicode::empty()));
                items = 0;
                continue;
            }
            let item = if c == '\\' { self.class_escape()? } else { Escaped::Char(c) };
            items += 1;
            match item {
                Escaped::Class(class) => {
                    if self.peek() == Some('-') && !matches!(self.peek_at(1), Some(']') | None) {
                        return Err("range with a class as an end".to_string());
                    }
                    current.union(&class);
                }
                Escaped::Char(low) => {
                    let mut high = low;
                    if self.peek() == Some('-') && !matches!(self.peek_at(1), Some(']') | None) {
                        self.pos += 1;
                        let end = self.next_char("a bracket class")?;
                        high = match end {
                            '\\' => match self.class_escape()? {
                                Escaped::Char(c) => c,
                                Escaped::Class(_) => return Err("range with a class as an end".to_string()),
                            },
                            '[' => return Err("range with a class as an end".to_string()),
                            c => c,
                        };
                        if high < low {
                            return Err("empty range in a bracket class".to_string());
                        }
                    }
                    let range = ClassUnicode::new([ClassUnicodeRange::new(low, high)]);
                    current.union(&range);
                }
            }
        }
        if items == 0 && !operands.is_empty() {
            return Err("empty operand of `&&`".to_string());
        }
        let mut class = current;
        for operand in &operands {
            class.intersect(operand);
        }
        if fold {
            // A class holding `ß` matches `ss` under (?i); classes cannot express that.
            let mut closure = class.clone();
            closure.try_case_fold_simple().map_err(|_| "case folding tables unavailable".to_string())?;
            let mut touching = closure.clone();
            touching.intersect(multi_fold_sources());
            if !touching.ranges().is_empty() {
                return Err("case-insensitive class with a character of a multi-character fold (like `ß`)".to_string());
            }
            class = closure;
        }
        if negate {
            class.negate();
        }
        self.depth -= 1;
        Ok(class)
    }

    /// An escape inside brackets (position after the backslash).
    fn class_escape(&mut self) -> Result<Escaped, String> {
        match self.peek() {
            Some('p') | Some('P') => Ok(Escaped::Class(self.parse_property()?)),
            Some('b') => {
                self.pos += 1;
                Ok(Escaped::Char('\x08'))
            }
            Some('A') | Some('z') => Err("anchor inside a bracket class".to_string()),
            _ => self.parse_escape_common(),
        }
    }
}

fn char_node(c: char, fold: bool) -> Result<Node, String> {
    if fold && !c.is_ascii() {
        let mut closure = ClassUnicode::new([ClassUnicodeRange::new(c, c)]);
        closure.try_case_fold_simple().map_err(|_| "case folding tables unavailable".to_string())?;
        closure.intersect(multi_fold_sources());
        if !closure.ranges().is_empty() {
            return Err(format!("case-insensitive `{c}` (a multi-character case fold)"));
        }
    }
    Ok(Node::Char { c, fold })
}

fn repeat(atom: Node, min: u32, max: Option<u32>, mode: RepeatMode) -> Result<Node, String> {
    match atom {
        Node::Anchor(_) | Node::LookAhead { .. } => Err("quantifier on an anchor or look-ahead".to_string()),
        atom => Ok(Node::Repeat { body: Box::new(atom), min, max, mode }),
    }
}

/// Refuses case-insensitive literal runs that spell a multi-character fold (`ss` matches `ß`).
fn check_fold_runs(items: &[Node]) -> Result<(), String> {
    let folded_char = |node: &Node| match node {
        Node::Char { c, fold: true } => Some(*c),
        Node::Repeat { body, .. } => match body.as_ref() {
            Node::Char { c, fold: true } => Some(*c),
            _ => None,
        },
        _ => None,
    };
    let mut run: Vec<char> = Vec::new();
    let check = |run: &mut Vec<char>| -> Result<(), String> {
        if run.len() >= 2 {
            let canonical: Vec<char> = run.iter().map(|&c| canonical_fold(c)).collect();
            for (_, fold) in MULTI_FOLDS {
                let target: Vec<char> = fold.chars().map(canonical_fold).collect();
                if canonical.windows(target.len()).any(|w| w == target.as_slice()) {
                    return Err(format!("case-insensitive `{fold}` (it also matches a single character)"));
                }
            }
        }
        run.clear();
        Ok(())
    };
    for item in items {
        match folded_char(item) {
            Some(c) => run.push(c),
            None => check(&mut run)?,
        }
    }
    check(&mut run)
}

fn canonical_fold(c: char) -> char {
    let mut class = ClassUnicode::new([ClassUnicodeRange::new(c, c)]);
    if class.try_case_fold_simple().is_err() {
        return c;
    }
    class.ranges().first().map_or(c, |r| r.start())
}

fn multi_fold_sources() -> &'static ClassUnicode {
    static SOURCES: once_cell::sync::Lazy<ClassUnicode> = once_cell::sync::Lazy::new(|| {
        let mut class = ClassUnicode::new(
            MULTI_FOLDS.iter().filter_map(|&(cp, _)| char::from_u32(cp)).map(|c| ClassUnicodeRange::new(c, c)),
        );
        let _ = class.try_case_fold_simple();
        class
    });
    &SOURCES
}

fn negated(mut class: ClassUnicode) -> ClassUnicode {
    class.negate();
    class
}

fn perl_space() -> ClassUnicode {
    unicode_property("White_Space").unwrap_or_else(|_| ClassUnicode::empty())
}

/// The class of a Unicode property from regex-syntax's tables.
fn unicode_property(name: &str) -> Result<ClassUnicode, String> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(&format!("\\p{{{name}}}"))
        .map_err(|e| format!("Unicode property `{name}`: {e}"))?;
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => Ok(class.clone()),
        // A property of one character (`\p{Zl}`) comes back as a literal.
        HirKind::Literal(hir::Literal(bytes)) => {
            let single = std::str::from_utf8(bytes).ok().and_then(|s| s.chars().next());
            single
                .map(|c| ClassUnicode::new([ClassUnicodeRange::new(c, c)]))
                .ok_or_else(|| format!("Unicode property `{name}`"))
        }
        _ => Err(format!("Unicode property `{name}`")),
    }
}

/// Property names accepted in `\p{..}` (Oniguruma's loose matching: case, spaces, `_` and `-`
/// ignored), with the regex-syntax name of the same set. The tests check every one of them
/// against the sets Oniguruma matches.
pub(crate) const PROPERTY_NAMES: &[(&str, &str)] = &[
    ("l|letter", "L"),
    ("lu|uppercaseletter", "Lu"),
    ("ll|lowercaseletter", "Ll"),
    ("lt|titlecaseletter", "Lt"),
    ("lm|modifierletter", "Lm"),
    ("lo|otherletter", "Lo"),
    ("lc|casedletter", "LC"),
    ("m|mark|combiningmark", "M"),
    ("mn|nonspacingmark", "Mn"),
    ("mc|spacingmark", "Mc"),
    ("me|enclosingmark", "Me"),
    ("n|number", "N"),
    ("nd|decimalnumber", "Nd"),
    ("nl|letternumber", "Nl"),
    ("no|othernumber", "No"),
    ("p|punctuation", "P"),
    ("pc|connectorpunctuation", "Pc"),
    ("pd|dashpunctuation", "Pd"),
    ("ps|openpunctuation", "Ps"),
    ("pe|closepunctuation", "Pe"),
    ("pi|initialpunctuation", "Pi"),
    ("pf|finalpunctuation", "Pf"),
    ("po|otherpunctuation", "Po"),
    ("s|symbol", "S"),
    ("sm|mathsymbol", "Sm"),
    ("sc|currencysymbol", "Sc"),
    ("sk|modifiersymbol", "Sk"),
    ("so|othersymbol", "So"),
    ("z|separator", "Z"),
    ("zs|spaceseparator", "Zs"),
    ("zl|lineseparator", "Zl"),
    ("zp|paragraphseparator", "Zp"),
    ("cc", "Cc"),
    ("cf|format", "Cf"),
    ("co|privateuse", "Co"),
    ("han|hani", "Han"),
    ("hiragana|hira", "Hiragana"),
    ("katakana|kana", "Katakana"),
    ("hangul|hang", "Hangul"),
    ("latin|latn", "Latin"),
    ("greek|grek", "Greek"),
    ("cyrillic|cyrl", "Cyrillic"),
    ("arabic|arab", "Arabic"),
    ("hebrew|hebr", "Hebrew"),
    ("thai", "Thai"),
    ("devanagari|deva", "Devanagari"),
    ("bengali|beng", "Bengali"),
    ("tamil|taml", "Tamil"),
    ("telugu|telu", "Telugu"),
    ("kannada|knda", "Kannada"),
    ("malayalam|mlym", "Malayalam"),
    ("gujarati|gujr", "Gujarati"),
    ("gurmukhi|guru", "Gurmukhi"),
    ("armenian|armn", "Armenian"),
    ("georgian|geor", "Georgian"),
    ("ethiopic|ethi", "Ethiopic"),
    ("khmer|khmr", "Khmer"),
    ("lao|laoo", "Lao"),
    ("myanmar|mymr", "Myanmar"),
    ("tibetan|tibt", "Tibetan"),
    ("sinhala|sinh", "Sinhala"),
    ("bopomofo|bopo", "Bopomofo"),
    ("common|zyyy", "Common"),
    ("inherited|zinh|qaai", "Inherited"),
];

// ---------------------------------------------------------------------------------------------
// From the tree to automata

struct CompiledBranch {
    hir: Hir,
    end: BranchEnd,
    /// Fewest bytes of a match of this alternative, look-ahead excluded; None if it never matches.
    shortest: Option<usize>,
}

/// What can start a match of a sequence: its first consumed characters, and when it can match
/// empty, what the next character may then be.
struct Start {
    first: ClassUnicode,
    empty: Option<EmptyMatch>,
}

#[derive(Clone)]
struct EmptyMatch {
    /// Characters that may follow an empty match (a superset).
    next: ClassUnicode,
    /// Whether it can match empty anywhere, without any condition.
    unconditional: bool,
}

fn all_chars() -> ClassUnicode {
    ClassUnicode::new([ClassUnicodeRange::new('\0', char::MAX)])
}

fn single_char_class(node: &Node) -> Option<ClassUnicode> {
    match node {
        Node::Char { c, fold } => {
            let mut class = ClassUnicode::new([ClassUnicodeRange::new(*c, *c)]);
            if *fold {
                let _ = class.try_case_fold_simple();
            }
            Some(class)
        }
        Node::Class(class) => Some(class.clone()),
        _ => None,
    }
}

fn start_of_sequence(items: &[Node]) -> Start {
    let mut first = ClassUnicode::empty();
    let mut empty = Some(EmptyMatch { next: all_chars(), unconditional: true });
    for item in items {
        let Some(so_far) = empty else { break };
        let item_start = start_of(item);
        first.union(&item_start.first);
        empty = item_start.empty.map(|e| {
            let mut next = so_far.next.clone();
            next.intersect(&e.next);
            EmptyMatch { next, unconditional: so_far.unconditional && e.unconditional }
        });
    }
    Start { first, empty }
}

fn start_of(node: &Node) -> Start {
    let always = || Some(EmptyMatch { next: all_chars(), unconditional: true });
    match node {
        Node::Empty => Start { first: ClassUnicode::empty(), empty: always() },
        Node::Char { .. } | Node::Class(_) => {
            Start { first: single_char_class(node).unwrap_or_else(ClassUnicode::empty), empty: None }
        }
        Node::Anchor(anchor) => {
            let next = match anchor {
                Anchor::LineEnd => ClassUnicode::new([ClassUnicodeRange::new('\n', '\n')]),
                Anchor::TextEnd => ClassUnicode::empty(),
                Anchor::LineStart | Anchor::TextStart => all_chars(),
            };
            Start { first: ClassUnicode::empty(), empty: Some(EmptyMatch { next, unconditional: false }) }
        }
        Node::Concat(items) => start_of_sequence(items),
        Node::Alt(branches) => {
            let mut first = ClassUnicode::empty();
            let mut empty: Option<EmptyMatch> = None;
            for branch in branches {
                let s = start_of(branch);
                first.union(&s.first);
                if let Some(e) = s.empty {
                    empty = Some(match empty {
                        None => e,
                        Some(mut acc) => {
                            acc.next.union(&e.next);
                            acc.unconditional |= e.unconditional;
                            acc
                        }
                    });
                }
            }
            Start { first, empty }
        }
        Node::Repeat { body, min, .. } => {
            let s = start_of(body);
            Start { first: s.first, empty: if *min == 0 { always() } else { s.empty } }
        }
        Node::LookAhead { negative, body } => {
            let body_start = start_of(body);
            let next = if *negative { negated(body_start.first) } else { body_start.first };
            Start { first: ClassUnicode::empty(), empty: Some(EmptyMatch { next, unconditional: false }) }
        }
    }
}

fn can_match_empty(node: &Node) -> bool {
    start_of(node).empty.is_some()
}

/// Checks what the backtracking semantics allow us to run on a DFA, below the top level.
fn check_inner(node: &Node) -> Result<(), String> {
    match node {
        Node::Empty | Node::Char { .. } | Node::Class(_) | Node::Anchor(_) => Ok(()),
        Node::Concat(items) | Node::Alt(items) => items.iter().try_for_each(check_inner),
        Node::Repeat { body, max, mode, .. } => {
            if *mode == RepeatMode::Possessive {
                return Err("possessive quantifier inside a group".to_string());
            }
            if max.is_none_or(|m| m > 1) && can_match_empty(body) {
                return Err("repetition of a sub-pattern that can match empty".to_string());
            }
            check_inner(body)
        }
        Node::LookAhead { .. } => Err("look-ahead not at the end of an alternative".to_string()),
    }
}

fn contains_line_start(node: &Node) -> bool {
    match node {
        Node::Anchor(Anchor::LineStart) => true,
        Node::Concat(items) | Node::Alt(items) => items.iter().any(contains_line_start),
        Node::Repeat { body, .. } | Node::LookAhead { body, .. } => contains_line_start(body),
        _ => false,
    }
}

fn compile_branch(branch: Node) -> Result<CompiledBranch, String> {
    let mut items = Vec::new();
    push_flat(&mut items, branch);
    let look_ahead = match items.last() {
        Some(Node::LookAhead { .. }) => items.pop(),
        _ => None,
    };
    for item in &items {
        match item {
            Node::Repeat { body, max, mode: RepeatMode::Possessive, .. } => {
                if single_char_class(body).is_none() {
                    return Err("possessive quantifier on a group".to_string());
                }
                if max.is_none_or(|m| m > 1) && can_match_empty(body) {
                    return Err("repetition of a sub-pattern that can match empty".to_string());
                }
            }
            other => check_inner(other)?,
        }
    }
    // Possessive repetitions of one class: greedy when nothing after them can start inside the
    // repetition (then greedy never gives characters back); `X++$` with `\n` in X is `X+\z`.
    for index in 0..items.len() {
        let Some(Node::Repeat { body, mode: RepeatMode::Possessive, .. }) = items.get(index) else { continue };
        let repeated = single_char_class(body).unwrap_or_else(ClassUnicode::empty);
        let mut rest: Vec<Node> = items.get(index + 1..).unwrap_or(&[]).to_vec();
        rest.extend(look_ahead.iter().cloned());
        if !possessive_is_greedy(&repeated, &rest) {
            let newline_repeated = class_contains(&repeated, '\n');
            let only_line_end = rest.len() == 1 && matches!(rest.first(), Some(Node::Anchor(Anchor::LineEnd)));
            if only_line_end && newline_repeated {
                if let Some(last) = items.last_mut() {
                    *last = Node::Anchor(Anchor::TextEnd);
                }
            } else {
                return Err("possessive quantifier followed by something that can start inside it".to_string());
            }
        }
        if let Some(Node::Repeat { mode, .. }) = items.get_mut(index) {
            *mode = RepeatMode::Greedy;
        }
    }
    // Oniguruma's `^` never matches at the very end of the text; the DFA's does after a final
    // `\n`. They agree where something after the `^` must consume a character.
    for (index, item) in items.iter().enumerate() {
        if contains_line_start(item) {
            let rest = items.get(index + 1..).unwrap_or(&[]);
            let consumes = start_of_sequence(rest).empty.is_none()
                || matches!(&look_ahead, Some(Node::LookAhead { negative: false, .. }));
            if !consumes {
                return Err("`^` that could match at the end of the text (Oniguruma's never does)".to_string());
            }
        }
    }
    let body = Hir::concat(items.iter().map(to_hir).collect());
    let shortest = body.properties().minimum_len();
    let Some(Node::LookAhead { negative, body: ahead }) = look_ahead else {
        return Ok(CompiledBranch { hir: body, end: BranchEnd::Plain, shortest });
    };
    let mut ahead_items = Vec::new();
    push_flat(&mut ahead_items, *ahead);
    if negative {
        match ahead_items.as_slice() {
            // `(?!)` never holds.
            [] => Ok(CompiledBranch { hir: Hir::fail(), end: BranchEnd::Plain, shortest: None }),
            [single] => {
                let excluded = single_char_class(single)
                    .ok_or("negative look-ahead on more than one character (only `(?!C)` is supported)")?;
                let consumed =
                    Hir::alternation(vec![Hir::class(Class::Unicode(negated(excluded.clone()))), Hir::look(Look::End)]);
                let resolver_hir = Hir::concat(vec![
                    Hir::capture(hir::Capture { index: 1, name: None, sub: Box::new(body.clone()) }),
                    consumed.clone(),
                ]);
                let nfa = thompson::Compiler::new()
                    .configure(thompson::Config::new().nfa_size_limit(Some(NFA_SIZE_LIMIT)))
                    .build_from_hir(&resolver_hir)
                    .map_err(|e| format!("pattern too large: {e}"))?;
                let resolver = PikeVM::new_from_nfa(nfa).map_err(|e| format!("pattern too large: {e}"))?;
                Ok(CompiledBranch {
                    hir: Hir::concat(vec![body, consumed]),
                    end: BranchEnd::NotAhead { excluded, resolver: Box::new(resolver) },
                    shortest,
                })
            }
            _ => Err("negative look-ahead on more than one character (only `(?!C)` is supported)".to_string()),
        }
    } else {
        if let [Node::Anchor(anchor @ (Anchor::LineEnd | Anchor::TextEnd))] = ahead_items.as_slice() {
            // `(?=$)` is `$`.
            let hir = Hir::concat(vec![body, to_hir(&Node::Anchor(*anchor))]);
            return Ok(CompiledBranch { hir, end: BranchEnd::Plain, shortest });
        }
        let classes: Option<Vec<ClassUnicode>> = ahead_items.iter().map(single_char_class).collect();
        let classes = classes.ok_or("look-ahead on something other than single characters")?;
        if classes.is_empty() {
            return Ok(CompiledBranch { hir: body, end: BranchEnd::Plain, shortest });
        }
        let chars = classes.len();
        let mut parts = vec![body];
        parts.extend(classes.into_iter().map(|c| Hir::class(Class::Unicode(c))));
        Ok(CompiledBranch { hir: Hir::concat(parts), end: BranchEnd::AheadConsumed { chars }, shortest })
    }
}

/// Whether `X{..}+` followed by `rest` behaves like the greedy `X{..}`: the greedy form only
/// differs when `rest` fails after the longest run and then matches at a shorter one, where the
/// next character is in X.
fn possessive_is_greedy(repeated: &ClassUnicode, rest: &[Node]) -> bool {
    let start = start_of_sequence(rest);
    if start.empty.as_ref().is_some_and(|e| e.unconditional) {
        return true;
    }
    let disjoint = |class: &ClassUnicode| {
        let mut both = class.clone();
        both.intersect(repeated);
        both.ranges().is_empty()
    };
    disjoint(&start.first) && start.empty.as_ref().is_none_or(|e| disjoint(&e.next))
}

fn to_hir(node: &Node) -> Hir {
    match node {
        Node::Empty => Hir::empty(),
        Node::Char { .. } | Node::Class(_) => {
            Hir::class(Class::Unicode(single_char_class(node).unwrap_or_else(ClassUnicode::empty)))
        }
        Node::Anchor(anchor) => Hir::look(match anchor {
            Anchor::LineStart => Look::StartLF,
            Anchor::LineEnd => Look::EndLF,
            Anchor::TextStart => Look::Start,
            Anchor::TextEnd => Look::End,
        }),
        Node::Concat(items) => Hir::concat(items.iter().map(to_hir).collect()),
        Node::Alt(branches) => Hir::alternation(branches.iter().map(to_hir).collect()),
        Node::Repeat { body, min, max, mode } => Hir::repetition(hir::Repetition {
            min: *min,
            max: *max,
            greedy: *mode != RepeatMode::Lazy,
            sub: Box::new(to_hir(body)),
        }),
        // Rejected before; never reached.
        Node::LookAhead { .. } => Hir::fail(),
    }
}

/// Characters whose full case folding has more than one character, with that folding
/// (CaseFolding.txt status F). Under `(?i)` Oniguruma matches them against the sequence.
const MULTI_FOLDS: &[(u32, &str)] = &[
    (0x00DF, "\u{73}\u{73}"),
    (0x0130, "\u{69}\u{307}"),
    (0x0149, "\u{2BC}\u{6E}"),
    (0x01F0, "\u{6A}\u{30C}"),
    (0x0390, "\u{3B9}\u{308}\u{301}"),
    (0x03B0, "\u{3C5}\u{308}\u{301}"),
    (0x0587, "\u{565}\u{582}"),
    (0x1E96, "\u{68}\u{331}"),
    (0x1E97, "\u{74}\u{308}"),
    (0x1E98, "\u{77}\u{30A}"),
    (0x1E99, "\u{79}\u{30A}"),
    (0x1E9A, "\u{61}\u{2BE}"),
    (0x1E9E, "\u{73}\u{73}"),
    (0x1F50, "\u{3C5}\u{313}"),
    (0x1F52, "\u{3C5}\u{313}\u{300}"),
    (0x1F54, "\u{3C5}\u{313}\u{301}"),
    (0x1F56, "\u{3C5}\u{313}\u{342}"),
    (0x1F80, "\u{1F00}\u{3B9}"),
    (0x1F81, "\u{1F01}\u{3B9}"),
    (0x1F82, "\u{1F02}\u{3B9}"),
    (0x1F83, "\u{1F03}\u{3B9}"),
    (0x1F84, "\u{1F04}\u{3B9}"),
    (0x1F85, "\u{1F05}\u{3B9}"),
    (0x1F86, "\u{1F06}\u{3B9}"),
    (0x1F87, "\u{1F07}\u{3B9}"),
    (0x1F88, "\u{1F00}\u{3B9}"),
    (0x1F89, "\u{1F01}\u{3B9}"),
    (0x1F8A, "\u{1F02}\u{3B9}"),
    (0x1F8B, "\u{1F03}\u{3B9}"),
    (0x1F8C, "\u{1F04}\u{3B9}"),
    (0x1F8D, "\u{1F05}\u{3B9}"),
    (0x1F8E, "\u{1F06}\u{3B9}"),
    (0x1F8F, "\u{1F07}\u{3B9}"),
    (0x1F90, "\u{1F20}\u{3B9}"),
    (0x1F91, "\u{1F21}\u{3B9}"),
    (0x1F92, "\u{1F22}\u{3B9}"),
    (0x1F93, "\u{1F23}\u{3B9}"),
    (0x1F94, "\u{1F24}\u{3B9}"),
    (0x1F95, "\u{1F25}\u{3B9}"),
    (0x1F96, "\u{1F26}\u{3B9}"),
    (0x1F97, "\u{1F27}\u{3B9}"),
    (0x1F98, "\u{1F20}\u{3B9}"),
    (0x1F99, "\u{1F21}\u{3B9}"),
    (0x1F9A, "\u{1F22}\u{3B9}"),
    (0x1F9B, "\u{1F23}\u{3B9}"),
    (0x1F9C, "\u{1F24}\u{3B9}"),
    (0x1F9D, "\u{1F25}\u{3B9}"),
    (0x1F9E, "\u{1F26}\u{3B9}"),
    (0x1F9F, "\u{1F27}\u{3B9}"),
    (0x1FA0, "\u{1F60}\u{3B9}"),
    (0x1FA1, "\u{1F61}\u{3B9}"),
    (0x1FA2, "\u{1F62}\u{3B9}"),
    (0x1FA3, "\u{1F63}\u{3B9}"),
    (0x1FA4, "\u{1F64}\u{3B9}"),
    (0x1FA5, "\u{1F65}\u{3B9}"),
    (0x1FA6, "\u{1F66}\u{3B9}"),
    (0x1FA7, "\u{1F67}\u{3B9}"),
    (0x1FA8, "\u{1F60}\u{3B9}"),
    (0x1FA9, "\u{1F61}\u{3B9}"),
    (0x1FAA, "\u{1F62}\u{3B9}"),
    (0x1FAB, "\u{1F63}\u{3B9}"),
    (0x1FAC, "\u{1F64}\u{3B9}"),
    (0x1FAD, "\u{1F65}\u{3B9}"),
    (0x1FAE, "\u{1F66}\u{3B9}"),
    (0x1FAF, "\u{1F67}\u{3B9}"),
    (0x1FB2, "\u{1F70}\u{3B9}"),
    (0x1FB3, "\u{3B1}\u{3B9}"),
    (0x1FB4, "\u{3AC}\u{3B9}"),
    (0x1FB6, "\u{3B1}\u{342}"),
    (0x1FB7, "\u{3B1}\u{342}\u{3B9}"),
    (0x1FBC, "\u{3B1}\u{3B9}"),
    (0x1FC2, "\u{1F74}\u{3B9}"),
    (0x1FC3, "\u{3B7}\u{3B9}"),
    (0x1FC4, "\u{3AE}\u{3B9}"),
    (0x1FC6, "\u{3B7}\u{342}"),
    (0x1FC7, "\u{3B7}\u{342}\u{3B9}"),
    (0x1FCC, "\u{3B7}\u{3B9}"),
    (0x1FD2, "\u{3B9}\u{308}\u{300}"),
    (0x1FD3, "\u{3B9}\u{308}\u{301}"),
    (0x1FD6, "\u{3B9}\u{342}"),
    (0x1FD7, "\u{3B9}\u{308}\u{342}"),
    (0x1FE2, "\u{3C5}\u{308}\u{300}"),
    (0x1FE3, "\u{3C5}\u{308}\u{301}"),
    (0x1FE4, "\u{3C1}\u{313}"),
    (0x1FE6, "\u{3C5}\u{342}"),
    (0x1FE7, "\u{3C5}\u{308}\u{342}"),
    (0x1FF2, "\u{1F7C}\u{3B9}"),
    (0x1FF3, "\u{3C9}\u{3B9}"),
    (0x1FF4, "\u{3CE}\u{3B9}"),
    (0x1FF6, "\u{3C9}\u{342}"),
    (0x1FF7, "\u{3C9}\u{342}\u{3B9}"),
    (0x1FFC, "\u{3C9}\u{3B9}"),
    (0xFB00, "\u{66}\u{66}"),
    (0xFB01, "\u{66}\u{69}"),
    (0xFB02, "\u{66}\u{6C}"),
    (0xFB03, "\u{66}\u{66}\u{69}"),
    (0xFB04, "\u{66}\u{66}\u{6C}"),
    (0xFB05, "\u{73}\u{74}"),
    (0xFB06, "\u{73}\u{74}"),
    (0xFB13, "\u{574}\u{576}"),
    (0xFB14, "\u{574}\u{565}"),
    (0xFB15, "\u{574}\u{56B}"),
    (0xFB16, "\u{57E}\u{576}"),
    (0xFB17, "\u{574}\u{56D}"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/split_regex")
    }

    fn read_lines(name: &str) -> Vec<serde_json::Value> {
        let path = fixture_dir().join(name);
        let content = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        content.lines().map(|line| serde_json::from_str(line).expect("fixture line is JSON")).collect()
    }

    fn matches(regex: &SplitRegex, text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        regex.for_each_match(text, |s, e| {
            out.push((s, e));
            ControlFlow::Continue(())
        });
        out
    }

    fn match_hash(matches: &[(usize, usize)]) -> String {
        let mut h: u64 = 0;
        for &(s, e) in matches {
            h = h.wrapping_mul(1_000_003).wrapping_add(s as u64);
            h = h.wrapping_mul(1_000_003).wrapping_add(e as u64);
        }
        format!("{h:016x}")
    }

    /// The texts of texts.jsonl, rebuilt from their descriptions.
    fn texts() -> Vec<String> {
        read_lines("texts.jsonl")
            .iter()
            .map(|spec| {
                if let Some(text) = spec["text"].as_str() {
                    text.to_string()
                } else if let Some(file) = spec["file"].as_str() {
                    let bytes =
                        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file)).expect("corpus file");
                    let length = spec["bytes"].as_u64().unwrap_or(0) as usize;
                    String::from_utf8(bytes[..length].to_vec()).expect("corpus prefix is UTF-8")
                } else {
                    let unit = spec["unit"].as_str().unwrap_or_default();
                    let count = spec["count"].as_u64().unwrap_or(0) as usize;
                    unit.repeat(count) + spec["suffix"].as_str().unwrap_or_default()
                }
            })
            .collect()
    }

    #[test]
    fn matches_agree_with_oniguruma() {
        let texts = texts();
        let (mut compared, mut accepted, mut refused_random) = (0usize, 0usize, 0usize);
        let mut failures = Vec::new();
        for line in read_lines("matches.jsonl") {
            let pattern = line["pattern"].as_str().expect("pattern");
            let kind = line["kind"].as_str().unwrap_or("random");
            let compiled = SplitRegex::new(pattern);
            if line["onig_error"].as_bool() == Some(true) {
                if compiled.is_ok() {
                    failures.push(format!("{pattern:?}: Oniguruma rejects it, we accept it"));
                }
                continue;
            }
            let regex = match (compiled, kind) {
                (Ok(_), "refused") => {
                    failures.push(format!("{pattern:?}: should be refused"));
                    continue;
                }
                (Err(_), "refused") => continue,
                (Err(e), "real" | "edge") => {
                    failures.push(format!("{pattern:?}: refused ({e})"));
                    continue;
                }
                (Err(_), _) => {
                    refused_random += 1;
                    continue;
                }
                (Ok(regex), _) => regex,
            };
            accepted += 1;
            for result in line["results"].as_array().expect("results") {
                let text = &texts[result["text"].as_u64().expect("text id") as usize];
                let got = matches(&regex, text);
                compared += 1;
                let expected_n = result["n"].as_u64().unwrap_or(0) as usize;
                if got.len() != expected_n || match_hash(&got) != result["h"].as_str().unwrap_or_default() {
                    let expected = result.get("m").map(|m| m.to_string()).unwrap_or_default();
                    let shown: Vec<_> = got.iter().take(40).collect();
                    failures.push(format!(
                        "{pattern:?} on {:?}: got {} matches {shown:?}, Oniguruma {expected_n} {expected}",
                        text.chars().take(60).collect::<String>(),
                        got.len()
                    ));
                }
            }
        }
        eprintln!("{accepted} patterns accepted, {refused_random} random ones refused, {compared} (pattern, text) pairs compared");
        assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    }

    fn class_of(pattern: &str) -> Result<ClassUnicode, String> {
        let node = Parser::new(pattern).parse()?;
        single_char_class(&node).ok_or_else(|| format!("{pattern:?} is not a single class"))
    }

    fn ranges_of(value: &serde_json::Value) -> Vec<(u32, u32)> {
        value
            .as_array()
            .expect("ranges")
            .iter()
            .map(|r| (r[0].as_u64().unwrap_or(0) as u32, r[1].as_u64().unwrap_or(0) as u32))
            .collect()
    }

    /// Our ranges, without U+0000 and the surrogates (the reference text has neither).
    fn comparable(class: &ClassUnicode) -> Vec<(u32, u32)> {
        let mut class = class.clone();
        class.difference(&ClassUnicode::new([ClassUnicodeRange::new('\0', '\0')]));
        class.ranges().iter().map(|r| (r.start() as u32, r.end() as u32)).collect()
    }

    fn merge_surrogate_gap(ranges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
        let mut out: Vec<(u32, u32)> = Vec::new();
        for (a, b) in ranges {
            match out.last_mut() {
                Some(last) if last.1 == 0xD7FF && a == 0xE000 => last.1 = b,
                _ => out.push((a, b)),
            }
        }
        out
    }

    #[test]
    fn classes_agree_with_oniguruma() {
        let mut failures = Vec::new();
        let lines = read_lines("classes.jsonl");
        for line in &lines {
            let pattern = line["pattern"].as_str().expect("pattern");
            match (class_of(pattern), line["onig_error"].as_bool() == Some(true)) {
                (Ok(_), true) => failures.push(format!("{pattern}: Oniguruma rejects it")),
                (Err(_), true) => {}
                (Err(e), false) => failures.push(format!("{pattern}: {e}")),
                (Ok(class), false) => {
                    if merge_surrogate_gap(comparable(&class)) != merge_surrogate_gap(ranges_of(&line["ranges"])) {
                        failures.push(format!("{pattern}: sets differ"));
                    }
                }
            }
        }
        assert!(lines.len() > 100);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn case_folding_agrees_with_oniguruma() {
        let lines = read_lines("folds.jsonl");
        let related: Vec<char> =
            lines.iter().filter_map(|l| l["c"].as_u64()).filter_map(|c| char::from_u32(c as u32)).collect();
        let related = ClassUnicode::new(related.iter().map(|&c| ClassUnicodeRange::new(c, c)));
        let (mut checked, mut failures) = (0, Vec::new());
        for line in &lines {
            let pattern = line["pattern"].as_str().expect("pattern");
            let Ok(mut class) = class_of(pattern) else { continue };
            class.intersect(&related);
            let got: Vec<u64> = class.iter().flat_map(|r| r.start() as u64..=r.end() as u64).collect();
            let expected: Vec<u64> = line["fold"].as_array().expect("fold").iter().filter_map(|c| c.as_u64()).collect();
            checked += 1;
            if got != expected {
                failures.push(format!("{pattern}: {got:x?} vs Oniguruma {expected:x?}"));
            }
        }
        assert!(checked > 1000, "{checked}");
        assert!(failures.is_empty(), "{} differ:\n{}", failures.len(), failures.join("\n"));
    }

    #[test]
    fn refusals_name_the_construct() {
        for (pattern, expected) in [
            ("(?<=a)b", "look-behind `(?<=...)`"),
            ("(?<!a)b", "look-behind `(?<!...)`"),
            ("(a)\\1", "back-reference `\\1`"),
            ("a(?=b)c", "look-ahead not at the end of an alternative"),
            ("(?>a)", "atomic group"),
            ("\\bx", "word boundary"),
            ("(?:ab)++", "possessive quantifier on a group"),
            ("(a*)*", "repetition of a sub-pattern that can match empty"),
        ] {
            match SplitRegex::new(pattern) {
                Ok(_) => panic!("{pattern} accepted"),
                Err(message) => assert!(message.contains(expected), "{pattern}: {message}"),
            }
        }
    }

    #[test]
    fn hostile_patterns_never_panic() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let pieces = [
            "(", ")", "[", "]", "{", "}", "|", "*", "+", "?", "\\", "^", "$", ".", "-", "&&", "(?", "(?i", ":", "=",
            "!", "<", ">", "#", "a", "1", ",", "\\p{", "L}", "\\x{", "\\u", "\\0", "ß", "(?i:", "(?=", "(?!", "{2,",
            "\\s", "\\S", "'", "s",
        ];
        for _ in 0..20_000 {
            let mut pattern = String::new();
            for _ in 0..(seed % 12) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                pattern.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            if let Ok(regex) = SplitRegex::new(&pattern) {
                let _ = matches(&regex, "a\n ß's  x(1)[2]{3} \r\n中😀");
            }
        }
        let deep = "(".repeat(10_000) + &")".repeat(10_000);
        assert!(SplitRegex::new(&deep).is_err());
        assert!(SplitRegex::new(&"a+".repeat(5000)).is_ok() || SplitRegex::new(&"a+".repeat(5000)).is_err());
    }

    #[test]
    fn shortest_match_and_empty_matches() {
        let gpt2 = SplitRegex::new(r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")
            .expect("compiles");
        assert!(!gpt2.matches_empty());
        assert_eq!(gpt2.shortest_match(), 1);
        assert_eq!(SplitRegex::new("abc|d(?=xy)").expect("compiles").shortest_match(), 1);
        assert!(SplitRegex::new("a*").expect("compiles").matches_empty());
        assert!(SplitRegex::new("$").expect("compiles").matches_empty());
        assert!(SplitRegex::new("(?!x)").expect("compiles").matches_empty());
        assert_eq!(SplitRegex::new("a(?!)").expect("compiles").shortest_match(), usize::MAX);
    }

    #[test]
    fn stops_when_the_callback_breaks() {
        let regex = SplitRegex::new("\\p{L}+|\\s+").expect("compiles");
        let mut seen = Vec::new();
        regex.for_each_match("ab cd ef", |s, e| {
            seen.push((s, e));
            if seen.len() == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!(seen, [(0, 2), (2, 3)]);
    }
}
