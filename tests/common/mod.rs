//! Shared test helpers: fixture paths, golden data and an environment-free registry.
#![allow(dead_code)]

use std::path::PathBuf;

use kano_tokenizer::{Config, Registry};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

/// The `tokenizer.json` fixtures, by name.
pub const TOKENIZERS: [&str; 4] = ["all-MiniLM-L6-v2", "gpt2", "llama-style-bpe", "t5-style-unigram"];

pub fn tokenizer_path(name: &str) -> PathBuf {
    fixtures().join("tokenizers").join(name).join("tokenizer.json")
}

/// A registry that ignores the process environment (no KANO_TOKENIZER_*, no HF cache).
pub fn registry_with(config: Config) -> Registry {
    Registry::with_env(config, &|_| None)
}

pub fn plain_registry() -> Registry {
    registry_with(Config::default())
}

pub struct GoldenCase {
    pub id: String,
    pub text: String,
    pub counts: Vec<(String, u64)>,
}

/// Every case of every `golden*.jsonl` file in the fixtures.
pub fn golden() -> Vec<GoldenCase> {
    let mut files: Vec<_> = std::fs::read_dir(fixtures())
        .expect("fixtures folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("golden") && n.ends_with(".jsonl"))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no golden data");
    files.iter().flat_map(|f| parse_golden(&std::fs::read_to_string(f).expect("golden file"))).collect()
}

fn parse_golden(text: &str) -> Vec<GoldenCase> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("golden line is JSON");
            let counts = v["counts"]
                .as_object()
                .expect("counts")
                .iter()
                .map(|(k, c)| (k.clone(), c.as_u64().expect("count")))
                .collect();
            GoldenCase {
                id: v["id"].as_str().expect("id").to_string(),
                text: v["text"].as_str().expect("text").to_string(),
                counts,
            }
        })
        .collect()
}
