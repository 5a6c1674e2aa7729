//! `tokenizer.json` pre-tokenizers, count-only: each step cuts every piece the step before it
//! left into smaller pieces, as the `tokenizers` crate's `PreTokenizedString::split` does, and
//! the last step hands each piece to the model. Pieces are slices of the text wherever a step
//! leaves the characters as they are; only steps that change them (a `Metaspace`, a
//! `ByteLevel` that more steps follow) build new strings.

use std::borrow::Cow;
use std::ops::ControlFlow;

use serde_json::Value;
use unicode_categories::UnicodeCategories;

use super::load::{field_bool, field_str, kind_of, short, LoadError};
use super::split_regex::SplitRegex;
use crate::bpe::byte_level;
use crate::tiktoken::classes::{self, SPACE, WORD};
use crate::tiktoken::split::SplitPattern;

/// What a split does with the matches of its pattern (`SplitDelimiterBehavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behavior {
    Removed,
    Isolated,
    MergedWithPrevious,
    MergedWithNext,
    Contiguous,
}

impl Behavior {
    fn parse(value: &Value, what: &str) -> Result<Behavior, LoadError> {
        Ok(match value.as_str() {
            Some("Removed" | "removed") => Behavior::Removed,
            Some("Isolated" | "isolated") => Behavior::Isolated,
            Some("MergedWithPrevious" | "merged_with_previous") => Behavior::MergedWithPrevious,
            Some("MergedWithNext" | "merged_with_next") => Behavior::MergedWithNext,
            Some("Contiguous" | "contiguous") => Behavior::Contiguous,
            _ => return Err(LoadError::Invalid(format!("the {what}'s behavior {} is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous", short(value)))),
        })
    }
}

/// Where a split finds its matches.
pub(crate) enum Matcher {
    /// A split pattern a scanner of ours runs (patterns written the way an OpenAI encoding's
    /// are): its pieces cover the text, each one a match.
    Scanner(SplitPattern),
    Regex(Box<SplitRegex>),
    /// A `String` pattern: its occurrences, left to right.
    Literal(String),
    /// Each character for which this is true is a match of its own.
    Chars(fn(char) -> bool),
}

/// When a `Metaspace` puts its replacement before a piece that does not start with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prepend {
    Always,
    /// Only before the piece that starts the text.
    First,
    Never,
}

pub(crate) enum Step {
    Split {
        matcher: Matcher,
        behavior: Behavior,
        invert: bool,
    },
    /// Spaces become `replacement`, which is prepended as `prepend` says; with `split`, each
    /// piece is cut before every `replacement`.
    Metaspace {
        replacement: char,
        prepend: Prepend,
        split: bool,
    },
    /// A space before a piece that does not start with one; GPT-2's split; then every byte
    /// becomes a character of the byte-level alphabet.
    ByteLevel {
        add_prefix_space: bool,
        use_regex: bool,
    },
    /// Cut into pieces of `0` characters.
    FixedLength(usize),
}

/// A pre-tokenizer: its steps in order (a `Sequence` flattened).
pub(crate) struct PreTokenizer {
    steps: Vec<Step>,
    /// The common shape where one scanner's pieces are the final pieces (a `Split` on a known
    /// pattern, or a `ByteLevel` with its regex, then at most a `ByteLevel` that changes nothing
    /// but the alphabet): they go straight to the model.
    direct: Option<SplitPattern>,
}

impl PreTokenizer {
    pub(crate) fn from_json(value: &Value) -> Result<PreTokenizer, LoadError> {
        let mut steps = Vec::new();
        if !value.is_null() {
            parse_into(value, &mut steps)?;
        }
        let direct = direct_scanner(&steps);
        Ok(PreTokenizer { steps, direct })
    }

    pub(crate) fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Whether the last step is a `ByteLevel`, so that the model is given the pieces' own
    /// bytes (each stands for one character of the alphabet) rather than their characters.
    pub(crate) fn ends_byte_level(&self) -> bool {
        matches!(self.steps.last(), Some(Step::ByteLevel { .. }))
    }

    /// Whether a step before the last is a `ByteLevel`: the steps after it see the byte-level
    /// characters, which are then built.
    pub(crate) fn maps_bytes_early(&self) -> bool {
        let n = self.steps.len();
        self.steps.iter().take(n.saturating_sub(1)).any(|s| matches!(s, Step::ByteLevel { .. }))
    }

    /// Whether pieces can get characters before their first one from no character of the text
    /// (a prefix space or replacement): after that, whether a piece starts the text is no
    /// longer where it starts in the piece before.
    pub(crate) fn inserts_before(&self, upto: usize) -> bool {
        self.steps[..upto].iter().any(|s| match s {
            Step::ByteLevel { add_prefix_space, .. } => *add_prefix_space,
            Step::Metaspace { prepend, .. } => *prepend != Prepend::Never,
            _ => false,
        })
    }

    /// The index of a `Metaspace` with `prepend_scheme: first`, if any.
    pub(crate) fn first_metaspace(&self) -> Option<usize> {
        self.steps.iter().position(|s| matches!(s, Step::Metaspace { prepend: Prepend::First, .. }))
    }

    /// The most bytes the steps can add to a text of `bytes` bytes.
    pub(crate) fn max_output(&self, bytes: u64) -> u64 {
        self.steps.iter().fold(bytes, |n, step| match step {
            // A space (1 byte) becomes the replacement (up to 4), and one more may come first.
            Step::Metaspace { replacement, .. } => {
                n.saturating_mul(replacement.len_utf8() as u64).saturating_add(replacement.len_utf8() as u64)
            }
            // A prefix space; each byte becomes a character of one or two bytes.
            Step::ByteLevel { .. } => n.saturating_add(1).saturating_mul(2),
            _ => n,
        })
    }

    /// Runs the steps on `text` (which starts the whole text when `at_start`), calling `piece`
    /// with each final piece (after a last `ByteLevel`, its bytes are the model's characters).
    /// The scanner that does all of this pre-tokenizer's work, if one does.
    pub(crate) fn direct(&self) -> Option<SplitPattern> {
        self.direct
    }

    pub(crate) fn run(
        &self,
        text: &str,
        at_start: bool,
        piece: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if let Some(pattern) = self.direct {
            let mut flow = ControlFlow::Continue(());
            let mut pos = 0;
            pattern.for_each_piece(text, |p| {
                // Scanner pieces end on character boundaries.
                let start = pos;
                pos += p.len();
                flow = piece(&text[start..pos]);
                flow
            });
            return flow;
        }
        self.run_from(0, text, at_start, piece)
    }

    fn run_from(
        &self,
        i: usize,
        text: &str,
        at_start: bool,
        piece: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if text.is_empty() {
            return ControlFlow::Continue(());
        }
        let Some(step) = self.steps.get(i) else { return piece(text) };
        let last = i + 1 == self.steps.len();
        match step {
            Step::Split { matcher, behavior, invert } => split(text, matcher, *behavior, *invert, &mut |start, end| {
                self.run_from(i + 1, &text[start..end], at_start && start == 0, piece)
            }),
            Step::Metaspace { replacement, prepend, split } => {
                let mut buf = [0; 4];
                let mut s = super::normalizer::replace_byte(text, b' ', replacement.encode_utf8(&mut buf));
                let add = match prepend {
                    Prepend::Always => true,
                    Prepend::First => at_start,
                    Prepend::Never => false,
                };
                if add && !s.starts_with(*replacement) {
                    s = Cow::Owned(format!("{replacement}{s}"));
                }
                if *split {
                    return split_on_char(&s, *replacement, &mut |start, end| {
                        self.run_from(i + 1, &s[start..end], at_start && start == 0, piece)
                    });
                }
                self.run_from(i + 1, &s, at_start, piece)
            }
            Step::ByteLevel { add_prefix_space, use_regex } => {
                let s = if *add_prefix_space && !text.starts_with(' ') {
                    Cow::Owned(format!(" {text}"))
                } else {
                    Cow::Borrowed(text)
                };
                let mut next = |start: usize, end: usize| {
                    let sub = &s[start..end];
                    if last {
                        // The model takes these bytes as the alphabet's characters.
                        piece(sub)
                    } else {
                        self.run_from(i + 1, &byte_level::to_chars(sub.as_bytes()), at_start && start == 0, piece)
                    }
                };
                if *use_regex {
                    let mut flow = ControlFlow::Continue(());
                    let mut pos = 0;
                    SplitPattern::R50k.for_each_piece(&s, |p| {
                        let start = pos;
                        pos += p.len();
                        flow = next(start, pos);
                        flow
                    });
                    flow
                } else {
                    next(0, s.len())
                }
            }
            Step::FixedLength(length) => {
                let mut starts = text.char_indices().map(|(at, _)| at).step_by(*length).peekable();
                while let Some(start) = starts.next() {
                    let end = starts.peek().copied().unwrap_or(text.len());
                    self.run_from(i + 1, &text[start..end], at_start && start == 0, piece)?;
                }
                ControlFlow::Continue(())
            }
        }
    }
}

/// The scanner whose pieces are the final pieces of `steps`, if that is their shape.
fn direct_scanner(steps: &[Step]) -> Option<SplitPattern> {
    let plain_byte_level = |s: &Step| matches!(s, Step::ByteLevel { add_prefix_space: false, use_regex: false });
    let (first, rest) = steps.split_first()?;
    if rest.len() > 1 || !rest.iter().all(plain_byte_level) {
        return None;
    }
    match first {
        // A scanner's matches cover the text, so every behavior keeps them as they are but
        // `Contiguous` (one piece) and `Removed` without `invert` (none).
        Step::Split { matcher: Matcher::Scanner(pattern), behavior, invert } => {
            let keeps = match behavior {
                Behavior::Contiguous => false,
                Behavior::Removed => *invert,
                _ => true,
            };
            keeps.then_some(*pattern)
        }
        Step::ByteLevel { add_prefix_space: false, use_regex: true } if rest.is_empty() => Some(SplitPattern::R50k),
        _ => None,
    }
}

fn parse_into(value: &Value, steps: &mut Vec<Step>) -> Result<(), LoadError> {
    let kind = kind_of(value, "pre_tokenizer")?
        .ok_or_else(|| LoadError::Unsupported("a pre_tokenizer without \"type\"".into()))?;
    match kind {
        "Sequence" => {
            let items = value["pretokenizers"]
                .as_array()
                .ok_or_else(|| LoadError::Invalid("a Sequence pre_tokenizer needs a \"pretokenizers\" array".into()))?;
            for item in items {
                parse_into(item, steps)?;
            }
        }
        "ByteLevel" => steps.push(Step::ByteLevel {
            add_prefix_space: field_bool(value, "add_prefix_space", "ByteLevel pre_tokenizer")?,
            use_regex: value.get("use_regex").map_or(Ok(true), |v| {
                v.as_bool().ok_or_else(|| LoadError::Invalid("ByteLevel: use_regex must be a boolean".into()))
            })?,
        }),
        "Split" => {
            let behavior = Behavior::parse(&value["behavior"], "Split pre_tokenizer")?;
            let invert = field_bool(value, "invert", "Split pre_tokenizer")?;
            let matcher = match (&value["pattern"]["String"], &value["pattern"]["Regex"]) {
                (Value::String(s), _) if s.is_empty() => {
                    return Err(LoadError::Unsupported("a Split with an empty String pattern".into()))
                }
                (Value::String(s), _) => Matcher::Literal(s.clone()),
                (_, Value::String(r)) => match SplitPattern::for_regex(r) {
                    Some(scanner) => Matcher::Scanner(scanner),
                    None => Matcher::Regex(Box::new(
                        SplitRegex::new(r)
                            .map_err(|e| LoadError::Unsupported(format!("the Split regex {r:?}: {e}")))?,
                    )),
                },
                _ => {
                    return Err(LoadError::Invalid(
                        "a Split pre_tokenizer needs a pattern {\"String\": ...} or {\"Regex\": ...}".into(),
                    ))
                }
            };
            steps.push(Step::Split { matcher, behavior, invert });
        }
        "Metaspace" => {
            let replacement = {
                let s = field_str(value, "replacement", "Metaspace pre_tokenizer")?;
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => c,
                    _ => {
                        return Err(LoadError::Invalid(format!(
                            "Metaspace: the replacement {s:?} is not one character"
                        )))
                    }
                }
            };
            let mut prepend = match value.get("prepend_scheme").and_then(Value::as_str) {
                None => Prepend::Always,
                Some("always") => Prepend::Always,
                Some("first") => Prepend::First,
                Some("never") => Prepend::Never,
                Some(other) => return Err(LoadError::Invalid(format!("Metaspace: unknown prepend_scheme {other:?}"))),
            };
            if value.get("add_prefix_space") == Some(&Value::Bool(false)) {
                if prepend != Prepend::Never && value.get("prepend_scheme").is_some() {
                    return Err(LoadError::Invalid("Metaspace: add_prefix_space does not match prepend_scheme".into()));
                }
                prepend = Prepend::Never;
            }
            let split = value.get("split").and_then(Value::as_bool).unwrap_or(true);
            steps.push(Step::Metaspace { replacement, prepend, split });
        }
        "Whitespace" => {
            // `\w+|[^\w\s]+`, keeping only the matches: runs of word characters, runs of other
            // non-space characters.
            steps.push(Step::Split { matcher: Matcher::Chars(is_space), behavior: Behavior::Removed, invert: false });
            steps.push(Step::Split { matcher: Matcher::Chars(is_word), behavior: Behavior::Contiguous, invert: false });
        }
        "WhitespaceSplit" => steps.push(Step::Split {
            matcher: Matcher::Chars(char::is_whitespace),
            behavior: Behavior::Removed,
            invert: false,
        }),
        "BertPreTokenizer" => {
            steps.push(Step::Split {
                matcher: Matcher::Chars(char::is_whitespace),
                behavior: Behavior::Removed,
                invert: false,
            });
            steps.push(Step::Split {
                matcher: Matcher::Chars(is_punctuation),
                behavior: Behavior::Isolated,
                invert: false,
            });
        }
        "Punctuation" => {
            let behavior = match value.get("behavior") {
                None => Behavior::Isolated,
                Some(b) => Behavior::parse(b, "Punctuation pre_tokenizer")?,
            };
            steps.push(Step::Split { matcher: Matcher::Chars(is_punctuation), behavior, invert: false });
        }
        "Digits" => {
            let individual = value.get("individual_digits").and_then(Value::as_bool).unwrap_or(false);
            let behavior = if individual { Behavior::Isolated } else { Behavior::Contiguous };
            steps.push(Step::Split { matcher: Matcher::Chars(char::is_numeric), behavior, invert: false });
        }
        "CharDelimiterSplit" => {
            let s = field_str(value, "delimiter", "CharDelimiterSplit pre_tokenizer")?;
            let mut chars = s.chars();
            let delimiter = match (chars.next(), chars.next()) {
                (Some(c), None) => c,
                _ => {
                    return Err(LoadError::Invalid(format!(
                        "CharDelimiterSplit: the delimiter {s:?} is not one character"
                    )))
                }
            };
            steps.push(Step::Split {
                matcher: Matcher::Literal(delimiter.to_string()),
                behavior: Behavior::Removed,
                invert: false,
            });
        }
        "FixedLength" => {
            let length = value
                .get("length")
                .map_or(Some(5), Value::as_u64)
                .ok_or_else(|| LoadError::Invalid("FixedLength: length must be a non-negative integer".into()))?;
            if length == 0 {
                return Err(LoadError::Unsupported("a FixedLength pre_tokenizer of length 0".into()));
            }
            steps.push(Step::FixedLength(usize::try_from(length).unwrap_or(usize::MAX)));
        }
        other => return Err(LoadError::Unsupported(format!("the pre_tokenizer type {other:?}"))),
    }
    Ok(())
}

/// The `Whitespace` pre-tokenizer's `\s` (Unicode White_Space, as the Rust regex crate has it).
fn is_space(c: char) -> bool {
    classes::of(c) & SPACE != 0
}

/// The `Whitespace` pre-tokenizer's `\w`.
fn is_word(c: char) -> bool {
    classes::of(c) & WORD != 0
}

/// The punctuation of the `Punctuation` and BERT pre-tokenizers: ASCII punctuation and the
/// Unicode punctuation categories.
#[inline]
pub(crate) fn is_punctuation(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation();
    }
    c.is_punctuation()
}

/// Cuts before every `delimiter` (`MergedWithNext` on one character).
fn split_on_char(
    text: &str,
    delimiter: char,
    piece: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let mut start = 0;
    for (at, _) in text.match_indices(delimiter) {
        if at > start {
            piece(start, at)?;
        }
        start = at;
    }
    if start < text.len() {
        piece(start, text.len())?;
    }
    ControlFlow::Continue(())
}

/// The pieces a split leaves of `text`, as byte ranges: the pattern's matches and the gaps
/// between them, handled as `behavior` says (matches and gaps swap when `invert`), empty ones
/// left out.
pub(crate) fn split(
    text: &str,
    matcher: &Matcher,
    behavior: Behavior,
    invert: bool,
    piece: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let mut out = Pieces { behavior, pending: None, piece };
    let mut flow = ControlFlow::Continue(());
    let mut last = 0;
    let mut event = |start: usize, end: usize, out: &mut Pieces<'_>| -> ControlFlow<()> {
        if last < start {
            out.event(last, start, invert)?;
        }
        last = end;
        out.event(start, end, !invert)
    };
    match matcher {
        Matcher::Scanner(pattern) => {
            let mut pos = 0;
            pattern.for_each_piece(text, |p| {
                let start = pos;
                pos += p.len();
                flow = event(start, pos, &mut out);
                flow
            });
        }
        Matcher::Regex(regex) => regex.for_each_match(text, |start, end| {
            flow = event(start, end, &mut out);
            flow
        }),
        Matcher::Literal(literal) => {
            for (start, m) in text.match_indices(literal.as_str()) {
                flow = event(start, start + m.len(), &mut out);
                if flow.is_break() {
                    break;
                }
            }
        }
        Matcher::Chars(is_match) => {
            for (start, c) in text.char_indices() {
                if is_match(c) {
                    flow = event(start, start + c.len_utf8(), &mut out);
                    if flow.is_break() {
                        break;
                    }
                }
            }
        }
    }
    flow?;
    if last < text.len() {
        out.event(last, text.len(), invert)?;
    }
    out.finish()
}

/// A split's pieces as its matches and gaps come, in order.
struct Pieces<'a> {
    behavior: Behavior,
    /// A piece that the next event may still extend: `(start, end, is_match)`.
    pending: Option<(usize, usize, bool)>,
    piece: &'a mut dyn FnMut(usize, usize) -> ControlFlow<()>,
}

impl Pieces<'_> {
    fn emit(&mut self, start: usize, end: usize) -> ControlFlow<()> {
        if start < end {
            (self.piece)(start, end)
        } else {
            ControlFlow::Continue(())
        }
    }

    fn event(&mut self, start: usize, end: usize, is_match: bool) -> ControlFlow<()> {
        match self.behavior {
            Behavior::Isolated => self.emit(start, end),
            Behavior::Removed => {
                if is_match {
                    ControlFlow::Continue(())
                } else {
                    self.emit(start, end)
                }
            }
            // Runs of matches, or of gaps, become one piece.
            Behavior::Contiguous => match self.pending {
                Some((s, _, m)) if m == is_match => {
                    self.pending = Some((s, end, m));
                    ControlFlow::Continue(())
                }
                Some((s, e, _)) => {
                    self.pending = Some((start, end, is_match));
                    self.emit(s, e)
                }
                None => {
                    self.pending = Some((start, end, is_match));
                    ControlFlow::Continue(())
                }
            },
            // A match right after a gap joins it.
            Behavior::MergedWithPrevious => match self.pending {
                Some((s, _, false)) if is_match => {
                    self.pending = Some((s, end, true));
                    ControlFlow::Continue(())
                }
                Some((s, e, _)) => {
                    self.pending = Some((start, end, is_match));
                    self.emit(s, e)
                }
                None => {
                    self.pending = Some((start, end, is_match));
                    ControlFlow::Continue(())
                }
            },
            // A match right before a gap joins it.
            Behavior::MergedWithNext => match self.pending.take() {
                Some((s, _, true)) if !is_match => self.emit(s, end),
                Some((s, e, _)) => {
                    if is_match {
                        self.pending = Some((start, end, true));
                        self.emit(s, e)
                    } else {
                        self.emit(s, e)?;
                        self.emit(start, end)
                    }
                }
                None => {
                    if is_match {
                        self.pending = Some((start, end, true));
                        ControlFlow::Continue(())
                    } else {
                        self.emit(start, end)
                    }
                }
            },
        }
    }

    fn finish(&mut self) -> ControlFlow<()> {
        match self.pending.take() {
            Some((s, e, _)) => self.emit(s, e),
            None => ControlFlow::Continue(()),
        }
    }
}
