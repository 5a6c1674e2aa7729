//! The byte-pair encoding core shared by both exact engines: the OpenAI encodings
//! (`tiktoken`, fed by `.tiktoken` rank files) and `tokenizer.json` BPE models (`huggingface`,
//! fed by their vocabulary and merges).
//!
//! - [`ranks`]: a token table (bytes to id) as compact read-only arrays;
//! - [`merge`]: tiktoken's rank-order merge for short pieces, and a heap merge for long ones;
//! - [`merges`]: BPE by a merge list (`tokenizer.json` models), on the same encoder;
//! - [`backtrack`]: the linear-time backtracking encoder for long pieces;
//! - [`byte_level`]: GPT-2's byte-to-character alphabet, which byte-level vocabularies are written in;
//! - [`digits`]: small tables for long runs of digits in r50k and p50k;
//! - [`piece_cache`]: a bounded per-thread cache of piece counts, keyed by vocabulary;
//! - [`chunks`]: whole stretches of a text cached in it, cut where counts stay the same.

pub(crate) mod backtrack;
pub(crate) mod byte_level;
pub(crate) mod chunks;
pub(crate) mod digits;
pub(crate) mod merge;
pub(crate) mod merges;
pub(crate) mod piece_cache;
pub(crate) mod ranks;
