//! `cargo bench --bench estimate`: the estimate against an exact count of a 2 KB request, per
//! content type and adapter, with the ratio count / estimate (the target: 100x).
//!
//! Each text is 2 KB cut from the middle of a `bench/corpus` file at a character boundary.
//! Short criterion settings: the whole run takes about two minutes.
//!
//! The ratio table times the exact count two ways:
//! - the same 2 KB again and again, as criterion does: the text, the tables it touches and the
//!   branch history all stay in the core's caches, which a service never sees;
//! - 64 different 2 KB requests from the same file, each counted once per round (the piece cache
//!   warm from earlier rounds, as in a service that has run a while).
//!
//! A second table times, in the same run, the exact count of the peers a user would otherwise
//! call for the same request: tiktoken-rs (`CoreBPE::count_ordinary`, the version this crate
//! takes its rank files from) for the OpenAI encodings, and the `tokenizers` crate
//! (`Tokenizer::encode`) for GPT-2's `tokenizer.json`. Their counts are checked against ours.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kano_tokenizer::{Adapter, AdapterName, Registry};

const CONTENT: [(&str, &str); 6] = [
    ("en", "prose_en.txt"),
    ("ja", "prose_ja.txt"),
    ("zh", "prose_zh.txt"),
    ("ru", "prose_ru.txt"),
    ("code", "code_rust.rs"),
    ("json", "data_json.json"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// 2048 bytes (or a little less, at a character boundary) from the middle of a corpus file.
fn request(file: &str) -> String {
    let text = std::fs::read_to_string(root().join("bench/corpus").join(file)).expect("corpus");
    let mut start = text.len() / 2;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let mut end = start + 2048;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[start..end].to_owned()
}

/// A peer's exact count of the same request.
enum Peer {
    TiktokenRs(tiktoken_rs::CoreBPE),
    HfTokenizers(Box<tokenizers::Tokenizer>),
}

impl Peer {
    fn for_adapter(label: &str) -> (&'static str, Peer) {
        match label {
            "cl100k" => ("tiktoken-rs", Peer::TiktokenRs(tiktoken_rs::cl100k_base().expect("tiktoken-rs cl100k"))),
            "o200k" => ("tiktoken-rs", Peer::TiktokenRs(tiktoken_rs::o200k_base().expect("tiktoken-rs o200k"))),
            _ => {
                let path = root().join("tests/fixtures/tokenizers/gpt2/tokenizer.json");
                let mut tokenizer = tokenizers::Tokenizer::from_file(path).expect("gpt2 tokenizer.json");
                // Counting means the whole text, as ours counts it.
                tokenizer.with_truncation(None).expect("no truncation");
                tokenizer.with_padding(None);
                ("tokenizers", Peer::HfTokenizers(Box::new(tokenizer)))
            }
        }
    }

    fn count(&self, text: &str) -> u64 {
        match self {
            Peer::TiktokenRs(bpe) => bpe.count_ordinary(text) as u64,
            Peer::HfTokenizers(t) => t.encode(text, true).expect("tokenizers encode").get_ids().len() as u64,
        }
    }
}

fn adapters() -> Vec<(&'static str, Adapter)> {
    let registry = Registry::with_config(Default::default());
    let gpt2 = root().join("tests/fixtures/tokenizers/gpt2");
    vec![
        ("cl100k", registry.resolve(AdapterName::Tiktoken, "cl100k_base").expect("cl100k")),
        ("o200k", registry.resolve(AdapterName::Tiktoken, "o200k_base").expect("o200k")),
        ("hf-gpt2", registry.resolve(AdapterName::Huggingface, gpt2.to_str().unwrap()).expect("gpt2 fixture")),
    ]
}

/// `n` consecutive 2 KB requests (cut at character boundaries) from the middle of a corpus file.
fn requests(file: &str, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(root().join("bench/corpus").join(file)).expect("corpus");
    let mut start = text.len() / 4;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let mut out = Vec::with_capacity(n);
    while out.len() < n && start + 2048 <= text.len() {
        let mut end = start + 2048;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        out.push(text[start..end].to_owned());
        start = end;
    }
    out
}

/// Median time per call, measured apart from criterion for the ratio table.
fn median_ns(mut f: impl FnMut()) -> f64 {
    let mut times = Vec::with_capacity(31);
    for _ in 0..31 {
        let start = std::time::Instant::now();
        let mut n = 0u32;
        while start.elapsed() < Duration::from_millis(4) {
            f();
            n += 1;
        }
        times.push(start.elapsed().as_nanos() as f64 / f64::from(n));
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn estimate_vs_count(c: &mut Criterion) {
    let adapters = adapters();
    let peers: Vec<(&str, Peer)> = adapters.iter().map(|(label, _)| Peer::for_adapter(label)).collect();
    let mut ratios = Vec::new();
    let mut peer_ratios = Vec::new();
    for (content, file) in CONTENT {
        let text = request(file);
        let mut group = c.benchmark_group(format!("estimate_vs_count/2KB/{content}"));
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_millis(900)).sample_size(20);
        for ((label, adapter), (peer_name, peer)) in adapters.iter().zip(&peers) {
            let exact = adapter.count(&text).expect("count").count;
            assert_eq!(peer.count(&text), exact, "{peer_name} and ours disagree on {content}");
            group.bench_with_input(BenchmarkId::new("estimate", label), &text, |b, t| b.iter(|| adapter.estimate(t)));
            group.bench_with_input(BenchmarkId::new("count", label), &text, |b, t| {
                b.iter(|| adapter.count(t).expect("count"))
            });
            // Side by side in the same moment, so a noisy neighbour hits both alike.
            let estimate = median_ns(|| {
                std::hint::black_box(adapter.estimate(std::hint::black_box(&text)));
            });
            let count = median_ns(|| {
                std::hint::black_box(adapter.count(std::hint::black_box(&text)).expect("count"));
            });
            // Varied requests: one round counts each once; the time is the round's over the count.
            let varied = requests(file, 64);
            let per_request = |f: &mut dyn FnMut(&str)| {
                median_ns(|| varied.iter().for_each(|t| f(std::hint::black_box(t)))) / varied.len() as f64
            };
            let varied_estimate = per_request(&mut |t| {
                std::hint::black_box(adapter.estimate(t));
            });
            let varied_count = per_request(&mut |t| {
                std::hint::black_box(adapter.count(t).expect("count"));
            });
            let peer_count = median_ns(|| {
                std::hint::black_box(peer.count(std::hint::black_box(&text)));
            });
            let varied_peer = per_request(&mut |t| {
                std::hint::black_box(peer.count(t));
            });
            ratios.push((content, *label, text.len(), estimate, count, varied_estimate, varied_count));
            peer_ratios.push((content, *label, *peer_name, estimate, peer_count, varied_estimate, varied_peer));
        }
        group.finish();
    }
    println!(
        "\n| content | adapter | bytes | estimate | count | count / estimate | varied: estimate | count | count / \
         estimate |\n|---|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (content, label, len, estimate, count, varied_estimate, varied_count) in ratios {
        println!(
            "| {content} | {label} | {len} | {:.3} us | {:.1} us | {:.0}x | {:.3} us | {:.1} us | {:.0}x |",
            estimate / 1e3,
            count / 1e3,
            count / estimate,
            varied_estimate / 1e3,
            varied_count / 1e3,
            varied_count / varied_estimate
        );
    }
    println!(
        "\nThe peers' exact count of the same requests, against our estimate (the estimate's times \
         from the table above):\n\n| content | adapter | peer | peer's count | / estimate | varied: peer's count \
         | / estimate |\n|---|---|---|---:|---:|---:|---:|"
    );
    for (content, label, peer, estimate, count, varied_estimate, varied_count) in peer_ratios {
        println!(
            "| {content} | {label} | {peer} | {:.1} us | {:.0}x | {:.1} us | {:.0}x |",
            count / 1e3,
            count / estimate,
            varied_count / 1e3,
            varied_count / varied_estimate
        );
    }
}

/// The estimate's cost by request size, English prose: short requests take blocks of 64 bytes
/// one by one, longer ones groups of eight blocks (with AVX-512). 64 bytes, one block, is the
/// least an estimate that reads the text with these features can cost, sampled or not.
fn estimate_by_size(c: &mut Criterion) {
    let registry = Registry::with_config(Default::default());
    let adapter = registry.resolve(AdapterName::Tiktoken, "cl100k_base").expect("cl100k");
    let text = std::fs::read_to_string(root().join("bench/corpus/prose_en.txt")).expect("corpus");
    let mut group = c.benchmark_group("estimate_by_size/en/cl100k");
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_millis(900)).sample_size(20);
    for size in [64usize, 100, 500, 2048, 8192] {
        let mut end = size;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let t = &text[..end];
        group.throughput(Throughput::Bytes(end as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), t, |b, t| b.iter(|| adapter.estimate(t)));
    }
    group.finish();
}

criterion_group!(benches, estimate_by_size, estimate_vs_count);
criterion_main!(benches);
