//! Our count-only engine for `tokenizer.json`: the pipeline the file describes, built from its
//! parts and run in the `tokenizers` crate's order:
//!
//! 1. added tokens with `normalized: false` are found in the text;
//! 2. each stretch between them is normalized, and added tokens with `normalized: true` are
//!    found in it;
//! 3. each stretch between those is pre-tokenized into pieces;
//! 4. the model counts each piece;
//! 5. the post-processor adds its special tokens (and copies of the text, if its template
//!    repeats it).
//!
//! No part keeps offsets or builds token strings: counting needs neither.

use std::borrow::Cow;
use std::ops::ControlFlow;

use serde_json::Value;

use super::added::{AddedTokens, Segment};
use super::bpe::Bpe;
use super::load::{kind_of, LoadError};
use super::normalizer::{Normalizer, ReplacePattern};
use super::post::PostCount;
use super::pre_tokenizer::{PreTokenizer, Prepend, Step};
use crate::bpe::byte_level;

/// The character SentencePiece writes for a space.
const METASPACE: char = '\u{2581}';
use super::unigram::Unigram;
use super::wordpiece::{WordLevel, WordPiece};
use crate::bpe::chunks;
use crate::bpe::piece_cache::{with_cache, PieceCache};

pub(crate) enum Model {
    Bpe(Bpe),
    Unigram(Unigram),
    WordPiece(WordPiece),
    WordLevel(WordLevel),
}

/// How the pieces the pre-tokenizer leaves reach the model.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PieceForm {
    /// As they are.
    Text,
    /// The last step was a `ByteLevel` whose characters were not built: the pieces' bytes
    /// are the characters a byte-level BPE model counts.
    Bytes,
    /// The same, for a model that reads strings: build the characters.
    BuildChars,
    /// The characters are the byte-level alphabet's (a `ByteLevel` ran before other steps, or
    /// as the normalizer): a byte-level BPE model reads the bytes they stand for.
    DecodeChars,
}

/// Why a count failed.
#[derive(Debug)]
pub(crate) enum CountError {
    /// The text could grow past this many bytes in the pipeline.
    TooLarge(u64),
    /// A piece the model cannot encode without an unknown token, which it lacks (`WordLevel`,
    /// `Unigram`): the crate fails too.
    Unknown(String),
}

pub(crate) struct Engine {
    added: AddedTokens,
    normalizer: Option<Normalizer>,
    pre: PreTokenizer,
    model: Model,
    post: PostCount,
    form: PieceForm,
    /// SentencePiece's pipeline (spaces become `▁`, a `▁` goes first, nothing else), which
    /// the model counts from the text as it is (`Bpe::count_spaced`).
    spaced: Option<Spaced>,
    /// Its whole chunks of text in the piece cache, on the direct path (`bpe::chunks`).
    chunk_owner: u64,
}

/// Where the `▁` that SentencePiece's pipeline puts first comes from.
#[derive(Clone, Copy)]
enum Spaced {
    /// A `Prepend` normalizer (before every non-empty stretch), or none with `false`.
    Normalizer(bool),
    /// A `Metaspace` pre-tokenizer that does not split.
    Metaspace(super::pre_tokenizer::Prepend),
}

/// The most bytes a text may grow to on its way to the model, when its normalizer or
/// pre-tokenizer can make it many times longer (a `Replace` with long content).
pub(crate) const MAX_GROWN_BYTES: u64 = 256 << 20;
/// Growth up to this factor is left alone: the Unicode forms and the usual replacements.
pub(crate) const PLAIN_GROWTH: u64 = 18;

impl Engine {
    /// Builds the engine for a parsed `tokenizer.json`.
    pub(crate) fn from_json(json: &Value) -> Result<Engine, LoadError> {
        if !json.is_object() {
            return Err(LoadError::Invalid("a tokenizer.json must hold a JSON object".into()));
        }
        let normalizer = Normalizer::from_json(&json["normalizer"])?;
        let pre = PreTokenizer::from_json(&json["pre_tokenizer"])?;
        let post = PostCount::from_json(&json["post_processor"])?;
        let added = AddedTokens::from_json(&json["added_tokens"], normalizer.as_ref())?;
        let normalizer_bytes = matches!(&normalizer, Some(n) if contains_byte_level(n));
        let pre_bytes = pre.steps().iter().any(|s| matches!(s, super::pre_tokenizer::Step::ByteLevel { .. }));
        let byte_level_steps =
            pre.steps().iter().filter(|s| matches!(s, super::pre_tokenizer::Step::ByteLevel { .. })).count();
        if (normalizer_bytes && pre_bytes) || byte_level_steps > 1 {
            return Err(LoadError::Unsupported("more than one ByteLevel step".into()));
        }
        let metaspace_after_bytes = pre
            .steps()
            .iter()
            .skip_while(|s| !matches!(s, super::pre_tokenizer::Step::ByteLevel { .. }))
            .any(|s| matches!(s, super::pre_tokenizer::Step::Metaspace { .. }));
        if metaspace_after_bytes
            || (normalizer_bytes
                && pre.steps().iter().any(|s| matches!(s, super::pre_tokenizer::Step::Metaspace { .. })))
        {
            return Err(LoadError::Unsupported("a Metaspace after a ByteLevel step".into()));
        }
        if let Some(at) = pre.first_metaspace() {
            let normalizer_shifts = normalizer.as_ref().is_some_and(|n| n.can_drop_leading() || inserts_leading(n));
            if normalizer_shifts || pre.inserts_before(at) {
                return Err(LoadError::Unsupported(
                    "a Metaspace with prepend_scheme \"first\" after a step that adds or removes characters at the \
                     start (where the text starts is then an offset this engine does not keep)"
                        .into(),
                ));
            }
        }
        let model_json = &json["model"];
        let kind = match kind_of(model_json, "model")? {
            Some(kind) => kind,
            None => infer_model(model_json),
        };
        let byte_level = normalizer_bytes || pre_bytes;
        let model = match kind {
            "BPE" => Model::Bpe(Bpe::from_json(model_json, byte_level)?),
            "WordPiece" => Model::WordPiece(WordPiece::from_json(model_json)?),
            "WordLevel" => Model::WordLevel(WordLevel::from_json(model_json)?),
            "Unigram" => Model::Unigram(unigram(model_json)?),
            other => return Err(LoadError::Unsupported(format!("the model type {other:?}"))),
        };
        let is_bpe = matches!(model, Model::Bpe(_));
        let form = if pre.ends_byte_level() && !pre.maps_bytes_early() && !normalizer_bytes {
            if is_bpe {
                PieceForm::Bytes
            } else {
                PieceForm::BuildChars
            }
        } else if byte_level && is_bpe {
            PieceForm::DecodeChars
        } else {
            PieceForm::Text
        };
        let spaced = match &model {
            Model::Bpe(bpe) if bpe.counts_spaced() && added.normalized.is_none() && form == PieceForm::Text => {
                match (&normalizer, pre.steps()) {
                    (Some(n), []) => spaces_to_marks(n).map(Spaced::Normalizer),
                    (None, [Step::Metaspace { replacement: METASPACE, prepend, split: false }]) => {
                        Some(Spaced::Metaspace(*prepend))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        Ok(Engine {
            added,
            normalizer,
            pre,
            model,
            post,
            form,
            spaced,
            chunk_owner: crate::bpe::piece_cache::new_owner(),
        })
    }

    /// `"kano-bpe"`, `"kano-unigram"`, `"kano-wordpiece"` or `"kano-wordlevel"`.
    pub(crate) fn name(&self) -> &'static str {
        match self.model {
            Model::Bpe(_) => "kano-bpe",
            Model::Unigram(_) => "kano-unigram",
            Model::WordPiece(_) => "kano-wordpiece",
            Model::WordLevel(_) => "kano-wordlevel",
        }
    }

    pub(crate) fn post(&self) -> PostCount {
        self.post
    }

    /// For token budgets (`budget.rs`): when this engine counts a stretch without added tokens
    /// as the sum of its split pattern's pieces (no normalizer, or a Unicode form that leaves the
    /// stretch as it is: `keeps_text`; no added tokens matched after normalization; one direct
    /// split pattern; a BPE model on the text's bytes), the walk of `chunks::fit_pieces` over
    /// `text` within `limit` model tokens; `None` for other engines.
    pub(crate) fn fit_pieces(
        &self,
        text: &str,
        limit: u64,
        all_cuts: Option<&mut Vec<(usize, u64)>>,
    ) -> Option<chunks::PieceFit> {
        if self.normalizer.as_ref().is_some_and(|n| !n.is_unicode_form())
            || self.spaced.is_some()
            || self.added.normalized.is_some()
        {
            return None;
        }
        let (Some(pattern), Model::Bpe(bpe), PieceForm::Bytes | PieceForm::Text) =
            (self.pre.direct(), &self.model, self.form)
        else {
            return None;
        };
        Some(with_cache(|mut cache| {
            chunks::fit_pieces(
                text,
                limit,
                u64::MAX,
                all_cuts,
                |piece| pattern.for_each_piece(text, piece),
                |piece| bpe.count(piece, &mut cache),
            )
        }))
    }

    /// Whether the normalizer leaves `text` as it is (no normalizer does).
    pub(crate) fn keeps_text(&self, text: &str) -> bool {
        self.normalizer.as_ref().is_none_or(|n| n.leaves_unchanged(text))
    }

    /// Whether an added token matched in the raw text (`normalized: false`) occurs in `text`.
    pub(crate) fn holds_added_token(&self, text: &str) -> bool {
        let Some(set) = &self.added.raw else {
            return false;
        };
        let mut found = false;
        let _ = set.segments(text, true, &mut |segment| match segment {
            Segment::Token => {
                found = true;
                ControlFlow::Break(())
            }
            Segment::Text(..) => ControlFlow::Continue(()),
        });
        found
    }

    /// The number of ids `encode(text, add_special_tokens)` gives.
    pub(crate) fn count(&self, text: &str, add_special_tokens: bool) -> Result<u64, CountError> {
        let budget = MAX_GROWN_BYTES.max(PLAIN_GROWTH.saturating_mul(text.len() as u64));
        // The thread's piece cache, taken once for the whole text.
        let total = with_cache(|cache| {
            let mut run = Run { engine: self, budget, total: 0, failure: None, cache };
            let _ = match &self.added.raw {
                Some(set) => set.segments(text, true, &mut |segment| match segment {
                    Segment::Token => {
                        run.total += 1;
                        ControlFlow::Continue(())
                    }
                    Segment::Text(t, at_start) => run.stretch(t, at_start),
                }),
                None => run.stretch(text, true),
            };
            match run.failure {
                Some(failure) => Err(failure),
                None => Ok(run.total),
            }
        })?;
        Ok(self.post.apply(total, add_special_tokens))
    }

    #[inline]
    fn count_piece(&self, piece: &str, cache: &mut Option<&mut PieceCache>) -> Result<u64, CountError> {
        Ok(match (&self.model, self.form) {
            (Model::Bpe(bpe), PieceForm::Bytes | PieceForm::Text) => bpe.count(piece.as_bytes(), cache),
            // Only the alphabet's characters reach the model (`from_json` refuses steps after a
            // `ByteLevel` that add others).
            (Model::Bpe(bpe), PieceForm::DecodeChars) => match byte_level::to_bytes(piece) {
                Some(bytes) => bpe.count(&bytes, cache),
                None => return Err(CountError::Unknown(piece.to_string())),
            },
            (model, PieceForm::BuildChars) => self.count_text(model, &byte_level::to_chars(piece.as_bytes()), cache)?,
            (model, _) => self.count_text(model, piece, cache)?,
        })
    }

    fn count_text(&self, model: &Model, piece: &str, cache: &mut Option<&mut PieceCache>) -> Result<u64, CountError> {
        Ok(match model {
            Model::Bpe(bpe) => bpe.count(piece.as_bytes(), cache),
            Model::Unigram(unigram) => {
                unigram.try_count(piece).map_err(|_| CountError::Unknown(piece.to_string()))? as u64
            }
            Model::WordPiece(wp) => wp.count(piece, cache),
            Model::WordLevel(wl) => wl.count(piece).ok_or_else(|| CountError::Unknown(piece.to_string()))?,
        })
    }
}

/// One count in progress.
struct Run<'e, 'c> {
    engine: &'e Engine,
    /// The most bytes a stretch may grow to.
    budget: u64,
    total: u64,
    failure: Option<CountError>,
    cache: Option<&'c mut PieceCache>,
}

impl Run<'_, '_> {
    /// A stretch between added tokens with `normalized: false`: normalized, then cut at the
    /// others.
    fn stretch(&mut self, s: &str, at_start: bool) -> ControlFlow<()> {
        let engine = self.engine;
        if let (Some(spaced), Model::Bpe(bpe)) = (engine.spaced, &engine.model) {
            let starts_marked = s.starts_with(' ') || s.starts_with(METASPACE);
            let prepend = !s.is_empty()
                && match spaced {
                    Spaced::Normalizer(prepends) => prepends,
                    Spaced::Metaspace(Prepend::Always) => !starts_marked,
                    Spaced::Metaspace(Prepend::First) => at_start && !starts_marked,
                    Spaced::Metaspace(Prepend::Never) => false,
                };
            self.total += bpe.count_spaced(s.as_bytes(), prepend, &mut self.cache);
            return ControlFlow::Continue(());
        }
        let normalized = match &engine.normalizer {
            Some(n) => {
                let grown = n.max_output(s.len() as u64);
                if grown > self.budget {
                    self.failure = Some(CountError::TooLarge(grown));
                    return ControlFlow::Break(());
                }
                n.apply(s)
            }
            None => Cow::Borrowed(s),
        };
        let grown = engine.pre.max_output(normalized.len() as u64);
        if grown > self.budget {
            self.failure = Some(CountError::TooLarge(grown));
            return ControlFlow::Break(());
        }
        match &engine.added.normalized {
            Some(set) => set.segments(&normalized, at_start, &mut |segment| match segment {
                Segment::Token => {
                    self.total += 1;
                    ControlFlow::Continue(())
                }
                Segment::Text(t, at) => self.pieces(t, at),
            }),
            None => self.pieces(&normalized, at_start),
        }
    }

    /// Pre-tokenizes a stretch and counts its pieces.
    fn pieces(&mut self, text: &str, at_start: bool) -> ControlFlow<()> {
        let engine = self.engine;
        let cache = &mut self.cache;
        // The common byte-level case in one loop, with no call through the pre-tokenizer's
        // callback per piece: a split scanner, then the merges.
        if let (Some(pattern), Model::Bpe(bpe), PieceForm::Bytes | PieceForm::Text) =
            (engine.pre.direct(), &engine.model, engine.form)
        {
            self.total += chunks::count_in_chunks(
                text.as_bytes(),
                engine.chunk_owner,
                engine.chunk_owner,
                cache,
                chunks::ascii_word_gap,
                |from, to, cache| {
                    // Chunks are cut at ASCII bytes, on character boundaries.
                    let chunk = &text[from..to];
                    let mut total = 0;
                    pattern.for_each_batch(chunk, |start, ends| {
                        total += bpe.count_batch(chunk.as_bytes(), start, ends, cache);
                        ControlFlow::Continue(())
                    });
                    total
                },
            );
            return ControlFlow::Continue(());
        }
        let total = &mut self.total;
        let failure = &mut self.failure;
        engine.pre.run(text, at_start, &mut |piece| match engine.count_piece(piece, cache) {
            Ok(n) => {
                *total += n;
                ControlFlow::Continue(())
            }
            Err(e) => {
                *failure = Some(e);
                ControlFlow::Break(())
            }
        })
    }
}

/// `Some(prepends)` when the normalizer makes every space a `▁` and does nothing else but put
/// one `▁` first (`prepends`): SentencePiece's, written as a `Replace`, or a `Sequence` of a
/// `Prepend` and a `Replace` in either order.
fn spaces_to_marks(n: &Normalizer) -> Option<bool> {
    let is_replace = |n: &Normalizer| {
        matches!(n, Normalizer::Replace { pattern: ReplacePattern::Literal(p), content }
            if p == " " && content.as_str() == "\u{2581}")
    };
    let is_prepend = |n: &Normalizer| matches!(n, Normalizer::Prepend(p) if p.as_str() == "\u{2581}");
    match n {
        n if is_replace(n) => Some(false),
        Normalizer::Sequence(items) => match items.as_slice() {
            [only] => spaces_to_marks(only),
            [a, b] if is_prepend(a) && is_replace(b) || is_replace(a) && is_prepend(b) => Some(true),
            _ => None,
        },
        _ => None,
    }
}

fn contains_byte_level(n: &Normalizer) -> bool {
    match n {
        Normalizer::ByteLevel => true,
        Normalizer::Sequence(items) => items.iter().any(contains_byte_level),
        _ => false,
    }
}

/// Whether a normalizer can put characters before the first one (a `Prepend`, the spaces of
/// the BERT normalizer around a Chinese character).
fn inserts_leading(n: &Normalizer) -> bool {
    match n {
        Normalizer::Prepend(_) => true,
        Normalizer::Bert { chinese_chars, .. } => *chinese_chars,
        Normalizer::Sequence(items) => items.iter().any(inserts_leading),
        _ => false,
    }
}

/// The kind of a model without `"type"`, in the order the `tokenizers` crate tries them.
fn infer_model(model: &Value) -> &'static str {
    let has = |key: &str| model.get(key).is_some();
    if has("vocab") && has("merges") {
        "BPE"
    } else if has("unk_token") && has("continuing_subword_prefix") && has("max_input_chars_per_word") && has("vocab") {
        "WordPiece"
    } else if has("vocab") && has("unk_token") && model["vocab"].is_object() {
        "WordLevel"
    } else {
        "Unigram"
    }
}

fn unigram(model: &Value) -> Result<Unigram, LoadError> {
    let invalid = |m: &str| LoadError::Invalid(format!("model: {m}"));
    let list =
        model["vocab"].as_array().ok_or_else(|| invalid("a Unigram vocab must be an array of [piece, score]"))?;
    let mut vocab = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        match (entry.get(0).and_then(Value::as_str), entry.get(1).and_then(Value::as_f64)) {
            // Borrowed from the JSON: the model keeps only its own packed copy of the pieces.
            (Some(piece), Some(score)) => vocab.push((piece, score)),
            _ => return Err(LoadError::Invalid(format!("model.vocab[{i}] is not a [piece, score] pair"))),
        }
    }
    let unk_id = match model.get("unk_id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .ok_or_else(|| invalid("unk_id must be a non-negative integer"))?,
        ),
    };
    let byte_fallback = model.get("byte_fallback").and_then(Value::as_bool).unwrap_or(false);
    Unigram::new(vocab, unk_id, byte_fallback).map_err(|e| LoadError::Invalid(format!("model: {e}")))
}
