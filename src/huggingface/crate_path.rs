//! The `tokenizers` crate as the fallback counter, for a `tokenizer.json` with a part our
//! engine does not have (`engine: tokenizers`). The checks here keep the crate from the
//! inputs fuzzing found it panics on, or counts wrongly.

use super::precompiled::Precompiled;
use crate::error::{Error, ErrorKind, Result};
use crate::estimate::PipelineBound;

/// A `tokenizer.json` loaded by the `tokenizers` crate, with truncation and padding off.
pub(crate) struct CrateTokenizer {
    tokenizer: tokenizers::Tokenizer,
    /// Set when a split or replace regex needs the crate's backtracking engine, which gives up
    /// after a million steps and then silently ends the split: texts with a run longer than
    /// this (of whitespace, or of anything else) are refused rather than miscounted.
    max_run_bytes: Option<usize>,
    /// How far the normalizer and pre-tokenizer can grow a text: the crate's memory for a
    /// count follows the grown text (about 17 bytes of alignments per byte).
    growth: PipelineBound,
}

/// What the crate may be handed for one text, in bytes of normalized text: up to 16 MiB (about
/// 272 MiB of the crate's memory) whatever the text, then up to `PLAIN_GROWTH` times the text,
/// never past `MAX_GROWN_BYTES`. Our engine, which keeps no alignments, allows 256 MiB.
fn grown_budget(text_bytes: usize) -> u64 {
    const FLOOR: u64 = super::engine::MAX_GROWN_BYTES / 16;
    FLOOR.max(super::engine::PLAIN_GROWTH.saturating_mul(text_bytes as u64)).min(super::engine::MAX_GROWN_BYTES)
}

/// The longest run a backtracking split regex is trusted with. The standard patterns (GPT-2's,
/// Llama 3's) take about one step per byte of a run, so 700,000 spaces still count correctly and
/// 1,000,000 do not; this leaves a margin of more than ten.
const MAX_BACKTRACKING_RUN_BYTES: usize = 64 * 1024;

impl CrateTokenizer {
    /// Loads `bytes` (already parsed as `json`); `label` names the file in errors.
    pub(crate) fn load(bytes: &[u8], json: &serde_json::Value, label: &str) -> Result<CrateTokenizer> {
        let unavailable = |e: &dyn std::fmt::Display| {
            Error::new(ErrorKind::AdapterUnavailable, format!("cannot load tokenizer {label}: {e}"))
        };
        check_templates(&json["post_processor"]).map_err(|e| unavailable(&e))?;
        check_charsmaps(&json["normalizer"]).map_err(|e| unavailable(&e))?;
        check_fixed_length(&json["pre_tokenizer"]).map_err(|e| unavailable(&e))?;
        check_wordpiece(&json["model"]).map_err(|e| unavailable(&e))?;
        check_merges(&json["model"]).map_err(|e| unavailable(&e))?;
        if let Some(pattern) = unbounded_backtracking_regex(json) {
            return Err(unavailable(&format!(
                "the regex {pattern:?} needs a backtracking engine (look-around or back-references \
                 beyond the standard `\\s+(?!\\S)`), which the tokenizers crate stops after a million \
                 steps and then silently ends the split: counts would not be exact"
            )));
        }
        // Every part the crate can run has a bounded growth; a part without "type" (whose kind
        // the crate guesses) or a character map that does not parse leaves it unknown, and the
        // crate could then grow a few bytes of text past the memory there is.
        let growth =
            super::pipeline_bound::growth(json, &|map| Precompiled::from_base64(map).ok().map(|p| p.max_growth()));
        if !growth.is_bounded() {
            return Err(unavailable(
                &"how much its normalizer and pre-tokenizer can grow a text cannot be bounded (a part without \
                  \"type\", or a Precompiled map that does not parse), so the tokenizers crate could exhaust \
                  memory on a short text; refused",
            ));
        }
        // BPE dropout skips merges at random, to train on varied splits; the crate applies it
        // while encoding too, so a count would change from call to call (1027-1106 for a text
        // of 678 tokens at 0.5), each marked exact. Counting is without it, as in our engine:
        // the crate gets the file with `"dropout": null`. (Out of [0, 1] it is left for the
        // crate to refuse.)
        let without_dropout;
        let bytes = match json["model"]["dropout"].as_f64() {
            Some(d) if (0.0..=1.0).contains(&d) => {
                let mut json = json.clone();
                json["model"]["dropout"] = serde_json::Value::Null;
                without_dropout = serde_json::to_vec(&json).map_err(|e| unavailable(&e))?;
                &without_dropout[..]
            }
            _ => bytes,
        };
        // The checks above cover the panics fuzzing has found in the `tokenizers` crate's loader;
        // any other one becomes an error here rather than unwinding into the caller.
        let loaded = std::panic::catch_unwind(|| tokenizers::Tokenizer::from_bytes(bytes))
            .map_err(|_| unavailable(&"the tokenizers crate panicked while loading it"))?;
        let mut tokenizer = loaded.map_err(|e| unavailable(&e))?;
        tokenizer.with_truncation(None).map_err(|e| unavailable(&e))?;
        tokenizer.with_padding(None);
        // The BPE model's word cache lives in a thread-local map keyed by model instance, whose
        // entries outlive the model: with registries created and freed over time it grows
        // without bound (up to 10,000 words per model per thread). Counting goes without it.
        let mut model = tokenizer.get_model().clone();
        model.resize_cache(0);
        tokenizer.with_model(model);
        let max_run_bytes = needs_backtracking(json).then_some(MAX_BACKTRACKING_RUN_BYTES);
        Ok(CrateTokenizer { tokenizer, max_run_bytes, growth })
    }

    /// The ids the post-processor adds to one sequence with special tokens.
    pub(crate) fn specials(&self) -> u64 {
        self.tokenizer.get_post_processor().map_or(0, |p| tokenizers::PostProcessor::added_tokens(p, false)) as u64
    }

    /// The most bytes the normalizer and pre-tokenizer can make of `text`.
    fn grown_bytes(&self, text: &str) -> f64 {
        let other = text.bytes().filter(|&b| b >= 0x80).count() as u64;
        self.growth.grown_bytes(text.len() as u64 - other, other)
    }

    /// Whether `text` can grow no more than the plain factor (18x): the estimator's fit at load
    /// counts only such texts, so that a pipeline that grows text thousands of times cannot make
    /// loading take the crate seconds per sample.
    pub(crate) fn grows_plainly(&self, text: &str) -> bool {
        self.grown_bytes(text) <= (super::engine::PLAIN_GROWTH * text.len() as u64) as f64
    }

    pub(crate) fn count(&self, text: &str, add_special_tokens: bool) -> Result<u64> {
        // A normalizer that grows text (a `Replace` with long content, or with an empty pattern,
        // which puts its content between every two characters) could make a small input take
        // gigabytes in the crate, and running out of memory aborts the process: refuse what the
        // pipeline's bound says could grow past the budget, before the crate runs.
        let grown = self.grown_bytes(text);
        let budget = grown_budget(text.len());
        if grown > budget as f64 {
            return Err(Error::new(
                ErrorKind::InputTooLarge,
                format!(
                    "this tokenizer's normalizer and pre-tokenizer can grow the text's {} bytes to {grown:.0} \
                     bytes, over the limit of {budget} bytes on what the tokenizers crate is given",
                    text.len()
                ),
            ));
        }
        if let Some(limit) = self.max_run_bytes {
            let run = longest_run(text);
            if run > limit {
                return Err(Error::new(
                    ErrorKind::InputTooLarge,
                    format!(
                        "the text has a run of {run} bytes without a change between whitespace and \
                         other characters; this tokenizer's split regex needs the tokenizers crate's \
                         backtracking engine, which is only exact on runs up to {limit} bytes"
                    ),
                ));
            }
        }
        // The crate panics on some texts (an added token whose strips overlap the next one's
        // span: "AddedVocabulary bad split"); that is an error of this text, not a crash.
        let encoded =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.tokenizer.encode(text, add_special_tokens)))
                .map_err(|_| {
                    Error::new(
                        ErrorKind::AdapterUnavailable,
                        "the tokenizers crate panicked while encoding the text".to_string(),
                    )
                })?;
        let encoding = encoded.map_err(|e| {
            Error::new(ErrorKind::AdapterUnavailable, format!("the tokenizer could not encode the text: {e}"))
        })?;
        Ok(encoding.len() as u64)
    }
}

/// Whether a `Split` pre-tokenizer or `Replace` normalizer (at any depth of a `Sequence`) has a
/// regex that a linear-time engine cannot run (look-around, back-references), or a byte-level
/// pre-tokenizer uses GPT-2's pattern, so that the `tokenizers` crate runs it on its
/// backtracking engine.
fn needs_backtracking(json: &serde_json::Value) -> bool {
    fn walk(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Object(map) => {
                let regex = map.get("pattern").and_then(|p| p.get("Regex")).and_then(serde_json::Value::as_str);
                if regex.is_some_and(|r| regex_automata::meta::Regex::new(r).is_err()) {
                    return true;
                }
                // A byte-level pre-tokenizer splits with GPT-2's pattern, whose `\s+(?!\S)` needs
                // look-ahead, unless `use_regex` is off.
                if map.get("type").and_then(serde_json::Value::as_str) == Some("ByteLevel")
                    && map.get("use_regex") != Some(&serde_json::Value::Bool(false))
                {
                    return true;
                }
                map.values().any(walk)
            }
            serde_json::Value::Array(items) => items.iter().any(walk),
            _ => false,
        }
    }
    walk(&json["pre_tokenizer"]) || walk(&json["normalizer"])
}

/// The first `Split` or `Replace` regex (at any depth of a `Sequence`) that needs backtracking for
/// more than the standard `\s+(?!\S)` of GPT-2-style patterns. That look-ahead takes about one
/// step per byte of a whitespace run, which `max_run_bytes` bounds; other look-around and
/// back-references can take a million steps on a few dozen bytes, and the crate then ends the
/// split early without an error, so no run length makes them safe.
fn unbounded_backtracking_regex(json: &serde_json::Value) -> Option<String> {
    fn walk(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::Object(map) => {
                let regex = map.get("pattern").and_then(|p| p.get("Regex")).and_then(serde_json::Value::as_str);
                if let Some(r) = regex {
                    let standard = r.replace(r"\s+(?!\S)", r"\s+");
                    if regex_automata::meta::Regex::new(&standard).is_err() {
                        return Some(r.to_string());
                    }
                }
                map.values().find_map(walk)
            }
            serde_json::Value::Array(items) => items.iter().find_map(walk),
            _ => None,
        }
    }
    walk(&json["pre_tokenizer"]).or_else(|| walk(&json["normalizer"]))
}

/// The longest run of whitespace, or of other characters, in bytes: no match of a split pattern
/// is longer than that plus one character.
fn longest_run(text: &str) -> usize {
    let (mut longest, mut start, mut in_space) = (0, 0, None);
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if in_space != Some(space) {
            longest = longest.max(i - start);
            start = i;
            in_space = Some(space);
        }
    }
    longest.max(text.len() - start)
}

/// Rejects a `TemplateProcessing` post-processor (at any depth of a `Sequence`) that the
/// `tokenizers` crate would accept but then panic on while encoding: its deserializer skips the
/// checks its builder makes. Found by fuzzing (fuzz/corpus/tokenizer_json/regression-template-*):
/// a template naming a special token missing from `special_tokens`, or a single-sequence
/// template that uses sequence `B`.
fn check_templates(processor: &serde_json::Value) -> std::result::Result<(), String> {
    use serde_json::Value;
    if let Some(processors) = processor.get("processors").and_then(Value::as_array) {
        return processors.iter().try_for_each(check_templates);
    }
    let Some(object) = processor.as_object() else { return Ok(()) };
    if !object.contains_key("single") && !object.contains_key("pair") {
        return Ok(());
    }
    let special = object.get("special_tokens").and_then(Value::as_object);
    for key in ["single", "pair"] {
        for piece in object.get(key).and_then(Value::as_array).into_iter().flatten() {
            if let Some(id) = piece.get("SpecialToken").and_then(|t| t.get("id")).and_then(Value::as_str) {
                if !special.is_some_and(|s| s.contains_key(id)) {
                    return Err(format!("post_processor: the {key} template uses {id:?}, not in special_tokens"));
                }
            }
            let sequence = piece.get("Sequence").and_then(|s| s.get("id")).and_then(Value::as_str);
            if key == "single" && sequence.is_some_and(|id| id != "A") {
                return Err("post_processor: the single template uses a second sequence".to_string());
            }
        }
    }
    Ok(())
}

/// Rejects a `precompiled_charsmap` (at any depth of the normalizer, with or without `"type"`)
/// that our parser refuses, before the crate reads it: the crate reserves the trie size its
/// 4-byte header declares before checking that the bytes are there, so the 4 bytes `8P///w==`
/// asked for 8 GiB, and where address space is capped the process aborted.
fn check_charsmaps(normalizer: &serde_json::Value) -> std::result::Result<(), String> {
    use serde_json::Value;
    match normalizer {
        Value::Object(map) => {
            if let Some(Value::String(charsmap)) = map.get("precompiled_charsmap") {
                Precompiled::from_base64(charsmap).map_err(|e| format!("Precompiled normalizer: {e}"))?;
            }
            map.values().try_for_each(check_charsmaps)
        }
        Value::Array(items) => items.iter().try_for_each(check_charsmaps),
        _ => Ok(()),
    }
}

/// Rejects a `FixedLength` pre-tokenizer of length 0 (at any depth of a `Sequence`): the crate
/// loads it and then panics on every non-empty text (`chunks(0)`: "chunk size must be
/// non-zero"). Found by fuzzing (fuzz/corpus/hf_pre_tokenizers/regression-fixed-length-zero):
/// our engine leaves such a file to the crate, and the panic, though caught, went through the
/// panic hook on every count.
fn check_fixed_length(pre_tokenizer: &serde_json::Value) -> std::result::Result<(), String> {
    use serde_json::Value;
    match pre_tokenizer {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("FixedLength")
                && map.get("length").and_then(Value::as_u64) == Some(0)
            {
                return Err("a FixedLength pre_tokenizer of length 0 (the tokenizers crate panics on any text \
                            with it)"
                    .to_string());
            }
            map.values().try_for_each(check_fixed_length)
        }
        Value::Array(items) => items.iter().try_for_each(check_fixed_length),
        _ => Ok(()),
    }
}

/// The longest word, in characters, that the crate's WordPiece is trusted with: it tries every
/// end of the word at each position and builds each candidate string, about `n^3 / 6` byte
/// operations for a word of `n` letters (4,000 letters took 1.9 s, 16,000 over 80 s). At this
/// limit a word takes at most about 0.3 ms. Our engine's WordPiece is linear at any length.
pub(crate) const MAX_CRATE_WORDPIECE_CHARS: u64 = 200;

/// Rejects a WordPiece model (with `"type"` or without) whose `max_input_chars_per_word` is over
/// [`MAX_CRATE_WORDPIECE_CHARS`]: longer words would take the crate cubic time.
fn check_wordpiece(model: &serde_json::Value) -> std::result::Result<(), String> {
    let wordpiece = match model["type"].as_str() {
        Some(kind) => kind == "WordPiece",
        None => model.get("merges").is_none(),
    };
    match model["max_input_chars_per_word"].as_u64() {
        Some(n) if wordpiece && n > MAX_CRATE_WORDPIECE_CHARS => Err(format!(
            "model: max_input_chars_per_word is {n}; the tokenizers crate (which counts this file, for a part \
             our engine lacks) takes cubic time in the length of a word, and is trusted with words of at most \
             {MAX_CRATE_WORDPIECE_CHARS} characters"
        )),
        _ => Ok(()),
    }
}

/// Rejects BPE merges the `tokenizers` crate would panic on while building the model (found by
/// fuzzing, fuzz/corpus/tokenizer_json/regression-bpe-merge-*): it joins each merge's tokens in a
/// buffer as long as the longest vocabulary entry, without checking that they fit, and cuts the
/// `continuing_subword_prefix`'s length off the second token without checking that it starts
/// with the prefix (which could also cut a character). Such merges could never name a token of
/// the vocabulary anyway.
fn check_merges(model: &serde_json::Value) -> std::result::Result<(), String> {
    use serde_json::Value;
    // Without a string "type" the `tokenizers` crate tries the model as BPE first, so those are
    // checked too (a fuzzed file without "type" reached the same panic).
    if model["type"].as_str().is_some_and(|kind| kind != "BPE") {
        return Ok(());
    }
    let prefix = model["continuing_subword_prefix"].as_str().unwrap_or("");
    let longest = model["vocab"].as_object().map_or(0, |v| v.keys().map(String::len).max().unwrap_or(0));
    for merge in model["merges"].as_array().into_iter().flatten() {
        let pair = match merge {
            Value::String(pair) => pair.split_once(' '),
            Value::Array(pair) => pair.first().and_then(Value::as_str).zip(pair.get(1).and_then(Value::as_str)),
            _ => None,
        };
        let Some((first, second)) = pair else { continue };
        if !second.starts_with(prefix) {
            return Err(format!(
                "model.merges: {second:?} does not start with the continuing_subword_prefix {prefix:?}"
            ));
        }
        if first.len() + second.len() - prefix.len() > longest {
            return Err(format!("model.merges: {first:?} + {second:?} is longer than every vocabulary entry"));
        }
    }
    Ok(())
}
