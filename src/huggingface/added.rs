//! Added tokens (`added_tokens` of `tokenizer.json`): found in the text before the pipeline runs,
//! each one token. Tokens with `normalized: false` are matched in the original text; the others
//! in each normalized piece between those, as the `tokenizers` crate does. Matching is
//! leftmost-longest in one pass (Aho-Corasick), with the crate's rules for `single_word`,
//! `lstrip` and `rstrip`.

use std::ops::ControlFlow;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rustc_hash::FxHashMap;
use serde_json::Value;

use super::load::LoadError;
use super::normalizer::Normalizer;
use crate::tiktoken::classes::{self, WORD};

#[derive(Clone, Copy, PartialEq, Eq)]
struct Rules {
    single_word: bool,
    lstrip: bool,
    rstrip: bool,
}

/// The added tokens of one kind (normalized or not).
pub(crate) struct TokenSet {
    matcher: AhoCorasick,
    /// By pattern index.
    rules: Vec<Rules>,
}

/// A stretch of text between added tokens, or an added token.
pub(crate) enum Segment<'t> {
    /// Text, and whether it starts at the start of the text it was cut from.
    Text(&'t str, bool),
    Token,
}

pub(crate) struct AddedTokens {
    /// `normalized: false`: matched in the original text.
    pub(crate) raw: Option<TokenSet>,
    /// `normalized: true`: matched, in their normalized form, in normalized text.
    pub(crate) normalized: Option<TokenSet>,
}

impl AddedTokens {
    /// From `added_tokens`; `normalizer` gives the form normalized tokens are matched in.
    pub(crate) fn from_json(value: &Value, normalizer: Option<&Normalizer>) -> Result<AddedTokens, LoadError> {
        let list = match value {
            Value::Null => return Ok(AddedTokens { raw: None, normalized: None }),
            Value::Array(list) => list,
            _ => return Err(LoadError::Invalid("added_tokens must be an array".into())),
        };
        // The crate adds them in order; a content seen again replaces the first one's options.
        let mut by_content: FxHashMap<&str, usize> = FxHashMap::default();
        let mut tokens: Vec<(&str, bool, Rules)> = Vec::new();
        for entry in list {
            let content = entry["content"]
                .as_str()
                .ok_or_else(|| LoadError::Invalid("an added token needs a string \"content\"".into()))?;
            let flag = |key: &str, default: bool| -> Result<bool, LoadError> {
                match entry.get(key) {
                    None => Ok(default),
                    Some(Value::Bool(b)) => Ok(*b),
                    Some(_) => Err(LoadError::Invalid(format!("added token {content:?}: \"{key}\" must be a boolean"))),
                }
            };
            let special = flag("special", false)?;
            let normalized = flag("normalized", !special)?;
            let rules = Rules {
                single_word: flag("single_word", false)?,
                lstrip: flag("lstrip", false)?,
                rstrip: flag("rstrip", false)?,
            };
            if content.is_empty() {
                continue;
            }
            match by_content.get(content) {
                Some(&at) => tokens[at] = (content, normalized, rules),
                None => {
                    by_content.insert(content, tokens.len());
                    tokens.push((content, normalized, rules));
                }
            }
        }
        let mut raw = Vec::new();
        let mut normalized = Vec::new();
        for (content, is_normalized, rules) in tokens {
            if is_normalized {
                let form = match normalizer {
                    Some(n) => n.apply(content).into_owned(),
                    None => content.to_string(),
                };
                normalized.push((form, rules));
            } else {
                raw.push((content.to_string(), rules));
            }
        }
        Ok(AddedTokens { raw: TokenSet::build(raw)?, normalized: TokenSet::build(normalized)? })
    }
}

impl TokenSet {
    fn build(tokens: Vec<(String, Rules)>) -> Result<Option<TokenSet>, LoadError> {
        if tokens.is_empty() {
            return Ok(None);
        }
        // Two tokens matched as the same text (after normalization): the crate keeps both in
        // its matcher and which one's options apply depends on a hash map's order, so it counts
        // such a text differently from one load to the next unless their options agree.
        let mut seen: FxHashMap<&str, Rules> = FxHashMap::default();
        let mut unique = Vec::with_capacity(tokens.len());
        for (pattern, rules) in &tokens {
            if pattern.is_empty() {
                return Err(LoadError::Unsupported("an added token that normalizes to the empty string".into()));
            }
            match seen.get(pattern.as_str()) {
                Some(first) if *first == *rules => continue,
                Some(_) => {
                    return Err(LoadError::Invalid(format!(
                        "two added tokens are matched as the same text {pattern:?} (after normalization) with \
                         different single_word/lstrip/rstrip options: the tokenizers crate applies either one at \
                         random, so no count of a text holding it is exact"
                    )))
                }
                None => {
                    seen.insert(pattern, *rules);
                    unique.push((pattern.clone(), *rules));
                }
            }
        }
        let tokens = unique;
        let matcher = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(tokens.iter().map(|(p, _)| p.as_bytes()))
            .map_err(|e| LoadError::Invalid(format!("added tokens: {e}")))?;
        Ok(Some(TokenSet { matcher, rules: tokens.into_iter().map(|(_, r)| r).collect() }))
    }

    /// Cuts `text` into segments; a text segment starts `text` when it starts at 0 and
    /// `at_start`.
    pub(crate) fn segments<'t>(
        &self,
        text: &'t str,
        at_start: bool,
        segment: &mut dyn FnMut(Segment<'t>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let mut start_offset = 0;
        for m in self.matcher.find_iter(text) {
            let (mut start, mut stop) = (m.start(), m.end());
            let rules = self.rules[m.pattern().as_usize()];
            if rules.single_word {
                let alone_before = start == 0 || !ends_with_word(&text[..start]);
                let alone_after = stop == text.len() || !starts_with_word(&text[stop..]);
                if !alone_before || !alone_after {
                    continue;
                }
            }
            if rules.lstrip {
                let trimmed = text[..start].trim_end_matches(char::is_whitespace).len();
                start = trimmed.max(start_offset);
            }
            if rules.rstrip {
                stop += text[stop..].len() - text[stop..].trim_start_matches(char::is_whitespace).len();
            }
            if start_offset < start {
                segment(Segment::Text(&text[start_offset..start], at_start && start_offset == 0))?;
            }
            // A token whose span the strips of the one before it took is an empty split, which
            // the crate drops.
            if start < stop {
                segment(Segment::Token)?;
            }
            start_offset = stop;
        }
        if start_offset < text.len() {
            segment(Segment::Text(&text[start_offset..], at_start && start_offset == 0))?;
        }
        ControlFlow::Continue(())
    }
}

fn ends_with_word(text: &str) -> bool {
    text.chars().next_back().is_some_and(|c| classes::of(c) & WORD != 0)
}

fn starts_with_word(text: &str) -> bool {
    text.chars().next().is_some_and(|c| classes::of(c) & WORD != 0)
}
