//! `cargo bench`: count throughput per adapter at the guide's text sizes (1 KB to 1 MB), on
//! pathological 1 MB runs, and on batches of 1000 texts (`cargo bench --bench count -- batch`).
//! `python3 bench/targets.py` compares the results with the guide's targets table.
//!
//! The text is the multilingual corpus in `bench/corpus` (English, German, Japanese prose and
//! Rust code) interleaved and cut at a character boundary, so every size mixes scripts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kano_tokenizer::{Adapter, AdapterName, Registry};

const SIZES: [(&str, usize); 4] = [("1KB", 1 << 10), ("10KB", 10 << 10), ("100KB", 100 << 10), ("1MB", 1 << 20)];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Mixed text of at least `len` bytes, cut back to the nearest character boundary.
fn corpus_text(len: usize) -> String {
    let mut parts = Vec::new();
    for name in ["prose_en.txt", "prose_de.txt", "prose_ja.txt", "code_rust.rs"] {
        let text = std::fs::read_to_string(root().join("bench/corpus").join(name)).expect("bench corpus");
        parts.push(text);
    }
    // 4 KB from each file in turn: 1 KB is English prose, 10 KB and up mix all four files.
    let mut out = String::with_capacity(len + 8);
    let mut offsets = vec![0usize; parts.len()];
    'fill: loop {
        for (part, offset) in parts.iter().zip(offsets.iter_mut()) {
            let mut end = (*offset + 4096).min(part.len());
            while !part.is_char_boundary(end) {
                end += 1;
            }
            out.push_str(&part[*offset..end]);
            *offset = if end >= part.len() { 0 } else { end };
            if out.len() >= len {
                break 'fill;
            }
        }
    }
    let mut cut = len;
    while !out.is_char_boundary(cut) {
        cut -= 1;
    }
    out.truncate(cut);
    out
}

struct Subject {
    label: &'static str,
    adapter: Adapter,
}

fn subjects() -> Vec<Subject> {
    let registry = Registry::with_config(Default::default());
    let fixture = |name: &str| -> String {
        let path: &Path = &root().join("tests/fixtures/tokenizers").join(name);
        path.to_str().expect("UTF-8 path").to_owned()
    };
    let resolve =
        |label, adapter, model: &str| Subject { label, adapter: registry.resolve(adapter, model).expect("resolve") };
    vec![
        resolve("heuristic", AdapterName::Heuristic, "gpt-4o"),
        resolve("tiktoken-cl100k", AdapterName::Tiktoken, "cl100k_base"),
        resolve("tiktoken-o200k", AdapterName::Tiktoken, "o200k_base"),
        resolve("huggingface-minilm", AdapterName::Huggingface, "all-MiniLM-L6-v2"),
        resolve("huggingface-gpt2", AdapterName::Huggingface, &fixture("gpt2")),
    ]
}

fn sized(c: &mut Criterion) {
    let subjects = subjects();
    for (size_label, size) in SIZES {
        let text = corpus_text(size);
        let mut group = c.benchmark_group(format!("count/{size_label}"));
        group.throughput(Throughput::Bytes(text.len() as u64));
        if size >= 100 << 10 {
            group.sample_size(10).measurement_time(Duration::from_secs(4));
        }
        for subject in &subjects {
            // Warm the adapter (rank tables and tokenizer files load lazily).
            subject.adapter.count(&text).expect("count");
            group.bench_with_input(BenchmarkId::from_parameter(subject.label), &text, |b, text| {
                b.iter(|| subject.adapter.count(text).expect("count"))
            });
        }
        group.finish();
    }
}

/// Inputs that make backtracking pre-tokenizers and naive BPE merges slow.
fn pathological(c: &mut Criterion) {
    let subjects = subjects();
    const MB: usize = 1 << 20;
    let cases: Vec<(&str, String)> = vec![
        ("one-char", "a".repeat(MB)),
        ("spaces", " ".repeat(MB)),
        ("digits", "7".repeat(MB)),
        ("cjk", "漢".repeat(MB / 3)),
    ];
    let mut group = c.benchmark_group("pathological/1MB");
    group.sample_size(10).measurement_time(Duration::from_secs(4));
    for (case, text) in &cases {
        group.throughput(Throughput::Bytes(text.len() as u64));
        for subject in &subjects {
            // A tokenizer.json whose split regex needs backtracking refuses runs this long
            // rather than risk a wrong count (src/huggingface.rs).
            if let Err(e) = subject.adapter.count(text) {
                eprintln!("pathological/1MB/{}/{case}: refused: {e}", subject.label);
                continue;
            }
            group.bench_with_input(BenchmarkId::new(subject.label, case), text, |b, text| {
                b.iter(|| subject.adapter.count(text).expect("count"))
            });
        }
    }
    group.finish();
}

/// The estimate against an exact count of a 2 KB request (the hot-path claim: 100x cheaper),
/// and a limit check of 1 MB against 128 tokens against a full count.
fn estimate(c: &mut Criterion) {
    let subjects = subjects();
    let request = corpus_text(2 << 10);
    let mut group = c.benchmark_group("estimate/2KB");
    group.throughput(Throughput::Bytes(request.len() as u64));
    for subject in subjects.iter().filter(|s| s.label != "heuristic") {
        group.bench_with_input(BenchmarkId::new("count", subject.label), &request, |b, text| {
            b.iter(|| subject.adapter.count(text).expect("count"))
        });
        group.bench_with_input(BenchmarkId::new("estimate", subject.label), &request, |b, text| {
            b.iter(|| subject.adapter.estimate(text))
        });
    }
    group.finish();

    let big = corpus_text(1 << 20);
    let mut group = c.benchmark_group("check_limit/1MB");
    group.sample_size(10).measurement_time(Duration::from_secs(3));
    for subject in subjects.iter().filter(|s| s.label.starts_with("tiktoken")) {
        group.bench_with_input(BenchmarkId::new("count", subject.label), &big, |b, text| {
            b.iter(|| subject.adapter.count(text).expect("count"))
        });
        group.bench_with_input(BenchmarkId::new("check_limit_128", subject.label), &big, |b, text| {
            b.iter(|| subject.adapter.check_limit(text, 128).expect("check"))
        });
    }
    group.finish();
}

/// A batch of 1000 texts of 100 to 2000 bytes (about 1 MB): one `count` call per text against
/// one `count_batch` (on the default threads: the cores, at most 8).
fn batch(c: &mut Criterion) {
    let corpus = corpus_text(1 << 20);
    let mut texts = Vec::with_capacity(1000);
    let mut offset = 0;
    for i in 0..1000 {
        let mut end = offset + 100 + (i * 7919) % 1901;
        if end > corpus.len() {
            offset = 0;
            end = 100 + (i * 7919) % 1901;
        }
        let (mut start, mut end) = (offset, end);
        while !corpus.is_char_boundary(start) {
            start += 1;
        }
        while !corpus.is_char_boundary(end) {
            end += 1;
        }
        texts.push(&corpus[start..end]);
        offset = end;
    }
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let mut group = c.benchmark_group("batch/1000x100B-2KB");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10).measurement_time(Duration::from_secs(4));
    for subject in subjects().iter().filter(|s| s.label != "huggingface-gpt2") {
        let adapter = &subject.adapter;
        for result in adapter.count_batch(&texts) {
            result.expect("count");
        }
        group.bench_with_input(BenchmarkId::new("single", subject.label), &texts, |b, texts| {
            b.iter(|| texts.iter().map(|t| adapter.count(t).expect("count").count).sum::<u64>())
        });
        group.bench_with_input(BenchmarkId::new("count_batch", subject.label), &texts, |b, texts| {
            b.iter(|| adapter.count_batch(texts).iter().map(|r| r.as_ref().expect("count").count).sum::<u64>())
        });
    }
    group.finish();
}

criterion_group!(benches, sized, pathological, estimate, batch);
criterion_main!(benches);
