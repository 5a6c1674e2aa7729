//! Shared test helpers: fixture paths, golden data and an environment-free registry.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Output};

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

/// The variable that marks a child process started by [`run_child`]; its value is the test.
const CHILD_VAR: &str = "KANO_TEST_CHILD";

/// Runs the test `name` of this test binary again, alone, in a child process with `vars` set
/// (and no other `KANO_TOKENIZER_*` variable), and returns its output. Output capture is off
/// in the child, so whatever the library writes to stderr shows in `Output::stderr`. The child
/// knows it is one through [`is_child`].
pub fn run_child(name: &str, vars: &[(&str, &OsStr)]) -> Output {
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command.args(["--exact", name, "--nocapture", "--test-threads=1", "--quiet"]).env(CHILD_VAR, name);
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("KANO_TOKENIZER_")) {
            command.env_remove(key);
        }
    }
    command.envs(vars.iter().copied());
    let output = command.output().expect("the test binary runs again");
    assert!(output.status.success(), "child {name} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// Whether this process is the child [`run_child`] started for the test `name`.
pub fn is_child(name: &str) -> bool {
    std::env::var_os(CHILD_VAR).is_some_and(|v| v == name)
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
