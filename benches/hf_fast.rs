//! `cargo bench --bench hf_fast`: our tokenizer.json engine against the `tokenizers`
//! crate's `encode` on the same 100 KB texts, for the BERT WordPiece (all-MiniLM-L6-v2) and
//! GPT-2 byte-level BPE fixtures, and our engine on 1 MB runs of one character. The ratio of
//! the two `.../tokenizers-crate` and `.../kano` times per text is the speed-up.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kano_tokenizer::{HfTokenizer, TokenizerSource};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus(name: &str) -> String {
    std::fs::read_to_string(root().join("bench/corpus").join(name)).expect("bench corpus")
}

fn cut(mut text: String, len: usize) -> String {
    let mut end = len.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

/// 100 KB each: English prose, Python code, and 20 KB from each of five non-English prose files.
fn texts() -> Vec<(&'static str, String)> {
    const LEN: usize = 100 << 10;
    let mut multilingual = String::new();
    for name in ["prose_de.txt", "prose_ja.txt", "prose_zh.txt", "prose_ru.txt", "prose_ko.txt"] {
        multilingual.push_str(&cut(corpus(name), LEN / 5));
    }
    vec![
        ("english", cut(corpus("prose_en.txt"), LEN)),
        ("code", cut(corpus("code_python.py"), LEN)),
        ("multilingual", cut(multilingual, LEN)),
    ]
}

struct Fixture {
    label: &'static str,
    ours: HfTokenizer,
    /// The crate as an application would use it: loaded from the file (its default word cache
    /// on), with truncation and padding off so it counts the whole text.
    theirs: tokenizers::Tokenizer,
}

fn fixtures() -> Vec<Fixture> {
    [("minilm", "all-MiniLM-L6-v2"), ("gpt2", "gpt2")]
        .into_iter()
        .map(|(label, dir)| {
            let path = root().join("tests/fixtures/tokenizers").join(dir).join("tokenizer.json");
            let ours = HfTokenizer::load(&TokenizerSource::File(path.clone())).expect("fixture loads");
            let mut theirs = tokenizers::Tokenizer::from_file(&path).expect("fixture loads");
            theirs.with_truncation(None).expect("no truncation");
            theirs.with_padding(None);
            Fixture { label, ours, theirs }
        })
        .collect()
}

fn versus_crate(c: &mut Criterion) {
    for fixture in fixtures() {
        let mut group = c.benchmark_group(format!("hf_fast/{}", fixture.label));
        group.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
        for (name, text) in texts() {
            let ours = fixture.ours.count(&text, true).expect("count");
            let theirs = fixture.theirs.encode(text.as_str(), true).expect("encode").len() as u64;
            assert_eq!(ours, theirs, "{} {name}: the counts differ", fixture.label);
            group.throughput(Throughput::Bytes(text.len() as u64));
            group.bench_with_input(BenchmarkId::new("kano", name), &text, |b, text| {
                b.iter(|| fixture.ours.count(text, true).expect("count"))
            });
            group.bench_with_input(BenchmarkId::new("tokenizers-crate", name), &text, |b, text| {
                b.iter(|| fixture.theirs.encode(text.as_str(), true).expect("encode").len())
            });
        }
        group.finish();
    }
}

fn megabyte_runs(c: &mut Criterion) {
    const MB: usize = 1 << 20;
    let runs = [("one-char", "a"), ("spaces", " "), ("digits", "7"), ("cjk", "漢")];
    let mut group = c.benchmark_group("hf_fast/1MB-runs");
    group.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    for fixture in fixtures() {
        for (name, unit) in runs {
            let text = unit.repeat(MB / unit.len());
            group.throughput(Throughput::Bytes(text.len() as u64));
            group.bench_with_input(BenchmarkId::new(fixture.label, name), &text, |b, text| {
                b.iter(|| fixture.ours.count(text, true).expect("count"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, versus_crate, megabyte_runs);
criterion_main!(benches);
