//! `cargo bench --bench latency`: the background-counting design's claim, in process. Each
//! simulated request validates its text, then runs a synthetic 5-50 ms "embedding" step:
//! (a) counting exactly before the step, or (b) checking the limit from the estimate's bounds,
//! then submitting the exact count to a background counter. Prints p50 and p99 latency.

use std::time::{Duration, Instant};

use kano_tokenizer::{AdapterName, Counter, CounterOptions, Delivery, Registry};

const REQUESTS: usize = 200;
const MAX_TOKENS: u64 = 100_000;

fn corpus() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/corpus");
    ["prose_en.txt", "prose_de.txt", "prose_ja.txt", "code_rust.rs"]
        .iter()
        .map(|f| std::fs::read_to_string(dir.join(f)).expect("corpus"))
        .collect()
}

/// Request texts of 2-50 KB from the corpus, and their embedding times, from a fixed seed.
fn requests(corpus: &str) -> Vec<(String, Duration)> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..REQUESTS)
        .map(|_| {
            let len = 2_000 + (next() % 48_000) as usize;
            let mut start = (next() % (corpus.len() - len) as u64) as usize;
            while !corpus.is_char_boundary(start) {
                start += 1;
            }
            let mut end = start + len;
            while !corpus.is_char_boundary(end) {
                end += 1;
            }
            (corpus[start..end].to_string(), Duration::from_millis(5 + next() % 46))
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // cargo test --benches: nothing to check quickly
    }
    let registry = Registry::with_config(Default::default());
    let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o").expect("o200k");
    let corpus = corpus();
    let requests = requests(&corpus);
    adapter.count(&requests[0].0).expect("warm");

    let mut synchronous = Vec::new();
    let mut synchronous_step = Vec::new();
    for (text, embedding) in &requests {
        let start = Instant::now();
        let count = adapter.count(text).expect("count").count;
        assert!(count <= MAX_TOKENS, "within the limit");
        synchronous_step.push(start.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(*embedding);
        synchronous.push(start.elapsed().as_secs_f64() * 1000.0);
    }

    let counter = Counter::new(adapter.clone(), CounterOptions { workers: 1, ..Default::default() }, Delivery::Poll)
        .expect("counter");
    let mut background = Vec::new();
    let mut background_step = Vec::new();
    for (id, (text, embedding)) in requests.iter().enumerate() {
        let start = Instant::now();
        let check = adapter.check_limit(text, MAX_TOKENS).expect("check");
        assert!(check.within_limit);
        counter.submit(id as u64, text.as_bytes()).expect("submit");
        background_step.push(start.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(*embedding);
        background.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    counter.flush(Duration::from_secs(60)).expect("flush");
    let delivered = counter.poll(REQUESTS);
    assert_eq!(delivered.len(), REQUESTS, "every request counted in the background");

    for v in [&mut synchronous, &mut background, &mut synchronous_step, &mut background_step] {
        v.sort_by(f64::total_cmp);
    }
    let row = |name: &str, step: &[f64], total: &[f64]| {
        println!(
            "| {name} | {:.3} | {:.3} | {:.2} | {:.2} |",
            percentile(step, 0.5),
            percentile(step, 0.99),
            percentile(total, 0.5),
            percentile(total, 0.99)
        );
    };
    println!("{REQUESTS} requests of 2-50 KB (o200k_base), synthetic embedding step of 5-50 ms");
    println!("| path | validation p50 ms | validation p99 ms | request p50 ms | request p99 ms |");
    println!("|---|---:|---:|---:|---:|");
    row("(a) exact count, then embedding", &synchronous_step, &synchronous);
    row("(b) limit check from bounds, background count, then embedding", &background_step, &background);
    let stats = counter.stats();
    println!(
        "background: {} completed, drift mean {:.1}% (max {} tokens)",
        stats.completed,
        100.0 * stats.drift_mean_relative_error,
        stats.drift_max_abs_error
    );
}
