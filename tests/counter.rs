//! The background counter: nothing lost, nothing delivered twice, bounded queues, flush,
//! close, stats and drift.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use kano_tokenizer::counter::{Counter, CounterOptions, Delivery};
use kano_tokenizer::{Adapter, Count, ErrorKind};

fn adapter(model: &str) -> Adapter {
    common::plain_registry().resolve(Some("tiktoken"), Some(model)).expect("encoding")
}

fn text_for(id: u64) -> String {
    let words = ["token", "count", "billing", "日本語", "naïve", "42", "request", "   ", "\n", "emoji 👍"];
    (0..(id % 17 + 1)).map(|i| words[((id + i) % words.len() as u64) as usize]).collect::<Vec<_>>().join(" ")
}

/// A callback that records every delivery, to check each id arrives exactly once.
struct Ledger {
    deliveries: Vec<AtomicU64>,
    counts: Vec<AtomicU64>,
}

impl Ledger {
    fn new(n: usize) -> Arc<Ledger> {
        Arc::new(Ledger {
            deliveries: (0..n).map(|_| AtomicU64::new(0)).collect(),
            counts: (0..n).map(|_| AtomicU64::new(u64::MAX)).collect(),
        })
    }

    fn delivery(self: &Arc<Self>) -> Delivery {
        let ledger = Arc::clone(self);
        Delivery::Callback(Box::new(move |id, result: Result<Count, _>| {
            ledger.deliveries[id as usize].fetch_add(1, Ordering::SeqCst);
            ledger.counts[id as usize].store(result.expect("counted").count, Ordering::SeqCst);
        }))
    }
}

fn submit_retrying(counter: &Counter, id: u64, text: &[u8]) {
    loop {
        match counter.submit(id, text) {
            Ok(()) => return,
            Err(e) if e.kind() == ErrorKind::QueueFull => std::thread::yield_now(),
            Err(e) => panic!("submit {id}: {e}"),
        }
    }
}

#[test]
fn four_producers_and_more_than_100k_requests_through_a_small_queue() {
    const N: u64 = 120_000;
    let adapter = adapter("cl100k_base");
    let ledger = Ledger::new(N as usize);
    let options = CounterOptions { queue_capacity: 1000, workers: 2, ..Default::default() };
    let counter = Arc::new(Counter::new(adapter.clone(), options, ledger.delivery()).unwrap());
    let observer_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let observer = {
        let (counter, done) = (Arc::clone(&counter), Arc::clone(&observer_done));
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !done.load(Ordering::SeqCst) {
                let s = counter.stats();
                assert_eq!(s.submitted, s.completed + s.failed + s.pending, "{s:?}");
                assert!(s.pending <= 1000, "{s:?}");
                reads += 1;
            }
            reads
        })
    };
    let producers: Vec<_> = (0..4u64)
        .map(|p| {
            let counter = Arc::clone(&counter);
            std::thread::spawn(move || {
                for id in (p..N).step_by(4) {
                    submit_retrying(&counter, id, text_for(id).as_bytes());
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    counter.flush(Duration::from_secs(120)).expect("flush");
    observer_done.store(true, Ordering::SeqCst);
    let reads = observer.join().unwrap();
    let stats = counter.stats();
    assert_eq!((stats.submitted, stats.completed, stats.failed, stats.pending), (N, N, 0, 0));
    assert!(stats.rejected > 0, "a queue of 1000 fills up under 4 producers");
    for id in 0..N {
        assert_eq!(ledger.deliveries[id as usize].load(Ordering::SeqCst), 1, "request {id}");
        let expected = adapter.count(&text_for(id)).unwrap().count;
        assert_eq!(ledger.counts[id as usize].load(Ordering::SeqCst), expected, "request {id}");
    }
    eprintln!("{N} requests, {} refusals retried, {reads} consistent stats reads", stats.rejected);
}

#[test]
fn dropping_the_counter_delivers_everything_pending() {
    let ledger = Ledger::new(3000);
    let options = CounterOptions { workers: 1, queue_capacity: 5000, ..Default::default() };
    let counter = Counter::new(adapter("o200k_base"), options, ledger.delivery()).unwrap();
    for id in 0..3000 {
        counter.submit(id, text_for(id).as_bytes()).unwrap();
    }
    assert!(counter.stats().pending > 0, "work is still pending when the counter is dropped");
    drop(counter);
    assert!(ledger.deliveries.iter().all(|d| d.load(Ordering::SeqCst) == 1));
}

#[test]
fn poll_mode_delivers_each_result_once() {
    let adapter = adapter("cl100k_base");
    let counter = Counter::new(adapter.clone(), CounterOptions::default(), Delivery::Poll).unwrap();
    for id in 0..500 {
        counter.submit(id, text_for(id).as_bytes()).unwrap();
    }
    counter.flush(Duration::from_secs(60)).unwrap();
    let mut seen = vec![false; 500];
    loop {
        let batch = counter.poll(64);
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 64);
        for r in batch {
            assert!(!seen[r.request_id as usize], "{} delivered twice", r.request_id);
            seen[r.request_id as usize] = true;
            assert_eq!(r.result.unwrap().count, adapter.count(&text_for(r.request_id)).unwrap().count);
        }
    }
    assert!(seen.iter().all(|&s| s));
    assert!(counter.poll(10).is_empty());
}

#[test]
fn invalid_utf8_is_refused_at_submit_and_counted() {
    let counter = Counter::new(adapter("cl100k_base"), CounterOptions::default(), Delivery::Poll).unwrap();
    let err = counter.submit(7, b"ok \xff").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidUtf8);
    assert!(err.message().contains("offset 3"), "{}", err.message());
    let s = counter.stats();
    assert_eq!((s.submitted, s.rejected), (0, 1));
}

/// A callback that waits at a gate, to hold work pending.
fn gated() -> (Delivery, Arc<(Mutex<bool>, Condvar)>) {
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let g = Arc::clone(&gate);
    let delivery = Delivery::Callback(Box::new(move |_, _| {
        let (open, cv) = &*g;
        let mut open = open.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
    }));
    (delivery, gate)
}

fn open(gate: &(Mutex<bool>, Condvar)) {
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
}

#[test]
fn queue_full_by_bytes_and_by_requests_then_flush_timeout() {
    let (delivery, gate) = gated();
    let options = CounterOptions { workers: 1, queue_capacity: 3, max_pending_bytes: 1 << 20, ..Default::default() };
    let counter = Counter::new(adapter("cl100k_base"), options, delivery).unwrap();
    let big = "word ".repeat(120_000); // 600 KB
    counter.submit(1, big.as_bytes()).unwrap();
    let err = counter.submit(2, big.as_bytes()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QueueFull);
    assert!(err.message().contains("bytes"), "{}", err.message());
    counter.submit(3, b"small").unwrap();
    counter.submit(4, b"small").unwrap();
    let err = counter.submit(5, b"small").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QueueFull);
    assert!(err.message().contains("requests"), "{}", err.message());
    let err = counter.flush(Duration::from_millis(20)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    let s = counter.stats();
    assert_eq!((s.submitted, s.pending, s.rejected), (3, 3, 2));
    open(&gate);
    counter.flush(Duration::from_secs(30)).unwrap();
    let s = counter.stats();
    assert_eq!((s.completed, s.pending), (3, 0));
    // A text larger than the byte cap is accepted when nothing else is pending.
    let huge = "x ".repeat(600_000);
    counter.submit(6, huge.as_bytes()).unwrap();
    counter.flush(Duration::from_secs(30)).unwrap();
}

#[test]
fn close_refuses_new_requests_and_still_delivers_accepted_ones() {
    let (delivery, gate) = gated();
    let counter =
        Counter::new(adapter("cl100k_base"), CounterOptions { workers: 1, ..Default::default() }, delivery).unwrap();
    counter.submit(1, b"accepted before close").unwrap();
    counter.submit(2, b"also accepted").unwrap();
    counter.close();
    let err = counter.submit(3, b"too late").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
    open(&gate);
    counter.flush(Duration::from_secs(30)).unwrap();
    let s = counter.stats();
    assert_eq!((s.submitted, s.completed, s.rejected), (2, 2, 1));
}

#[test]
fn drift_stats_match_a_recomputation() {
    let adapter = adapter("o200k_base");
    let options = CounterOptions { drift_threshold: 0.05, ..Default::default() };
    let counter = Counter::new(adapter.clone(), options, Delivery::Poll).unwrap();
    let texts: Vec<String> = common::golden().into_iter().map(|c| c.text).filter(|t| !t.is_empty()).collect();
    for (id, text) in texts.iter().enumerate() {
        counter.submit(id as u64, text.as_bytes()).unwrap();
    }
    counter.flush(Duration::from_secs(60)).unwrap();
    let (mut abs_sum, mut rel_sum, mut rel_n, mut max, mut over) = (0.0, 0.0, 0u64, 0u64, 0u64);
    for text in &texts {
        let exact = adapter.count(text).unwrap().count;
        let error = adapter.estimate(text).estimate.abs_diff(exact);
        abs_sum += error as f64;
        max = max.max(error);
        if exact > 0 {
            let rel = error as f64 / exact as f64;
            rel_sum += rel;
            rel_n += 1;
            over += u64::from(rel > 0.05);
        } else {
            over += u64::from(error > 0);
        }
    }
    let s = counter.stats();
    assert_eq!(s.drift_samples, texts.len() as u64);
    assert!((s.drift_mean_abs_error - abs_sum / texts.len() as f64).abs() < 1e-9);
    assert!((s.drift_mean_relative_error - rel_sum / rel_n as f64).abs() < 1e-9);
    assert_eq!((s.drift_max_abs_error, s.drift_over_threshold), (max, over));
    assert!(s.drift_mean_relative_error < 0.25, "{s:?}");
}
