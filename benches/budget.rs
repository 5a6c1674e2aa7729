//! `cargo bench --bench budget`: token budgets on a 1 MB text (`bench/corpus/prose_en.txt`
//! repeated).
//! - `truncate`: the 1 MB text cut to 1,000 tokens, through `truncate_bytes` (UTF-8 checked
//!   only where it may be read), against counting the bytes it keeps;
//! - `split`: the 1 MB text cut into chunks of 512 tokens, against counting the whole text (the
//!   issue's target: split within 1.5x of counting).
//!
//! For OpenAI encodings and GPT-2's `tokenizer.json` (the general search). Short criterion
//! settings.

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kano_tokenizer::{Adapter, AdapterName, Registry};

fn megabyte() -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("bench/corpus/prose_en.txt")).expect("corpus");
    let mut out = String::new();
    while out.len() < 1 << 20 {
        out.push_str(&text);
    }
    out
}

fn adapters(registry: &Registry) -> Vec<(&'static str, Adapter)> {
    let gpt2 = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizers/gpt2/tokenizer.json");
    vec![
        ("o200k_base", registry.resolve(AdapterName::Tiktoken, "o200k_base").unwrap()),
        ("cl100k_base", registry.resolve(AdapterName::Tiktoken, "cl100k_base").unwrap()),
        ("hf-gpt2", registry.resolve(AdapterName::Huggingface, gpt2.to_str().unwrap()).unwrap()),
    ]
}

fn budgets(c: &mut Criterion) {
    let registry = Registry::with_env(Default::default(), &|_| None);
    let text = megabyte();
    let mut group = c.benchmark_group("budget");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    for (name, adapter) in adapters(&registry) {
        let t = adapter.truncate_bytes(text.as_bytes(), 1000).unwrap();
        eprintln!("{name}: truncate 1 MB to 1,000 tokens keeps {} bytes ({} tokens)", t.byte_len, t.count);
        group.bench_function(format!("{name}/truncate-1MB-to-1000"), |b| {
            b.iter(|| adapter.truncate_bytes(text.as_bytes(), 1000).unwrap())
        });
        let kept = &text[..t.byte_len];
        group.bench_function(format!("{name}/count-the-kept-prefix"), |b| b.iter(|| adapter.count(kept).unwrap()));
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(format!("{name}/count-1MB"), |b| b.iter(|| adapter.count(&text).unwrap()));
        group.bench_function(format!("{name}/split-1MB-512"), |b| b.iter(|| adapter.split(&text, 512, 0).unwrap()));
        group.bench_function(format!("{name}/split-1MB-512-overlap-64"), |b| {
            b.iter(|| adapter.split(&text, 512, 64).unwrap())
        });
        group.throughput(Throughput::Elements(1));
    }
    group.finish();
}

criterion_group!(benches, budgets);
criterion_main!(benches);
