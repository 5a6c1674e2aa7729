//! The background counter: nothing lost, nothing delivered twice, bounded queues, flush,
//! close and shutdown, stats and drift; then the same through the C ABI, called from Rust.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use kano_tokenizer::{Adapter, AdapterName, Count, Counter, CounterOptions, CounterStats, Delivery, ErrorKind};

fn adapter(model: &str) -> Adapter {
    common::plain_registry().resolve(AdapterName::Tiktoken, model).expect("encoding")
}

fn text_for(id: u64) -> String {
    let words = ["token", "count", "billing", "日本語", "naïve", "42", "request", "   ", "\n", "emoji 👍"];
    (0..(id % 17 + 1)).map(|i| words[((id + i) % words.len() as u64) as usize]).collect::<Vec<_>>().join(" ")
}

fn assert_consistent(s: &CounterStats) {
    assert_eq!(s.submitted, s.completed + s.failed + s.pending, "{s:?}");
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
            ledger.record(id, result.expect("counted").count);
        }))
    }

    fn record(&self, id: u64, count: u64) {
        self.deliveries[id as usize].fetch_add(1, Ordering::SeqCst);
        self.counts[id as usize].store(count, Ordering::SeqCst);
    }

    /// Every id in `ids` delivered once with the adapter's count, and no other id delivered.
    fn check(&self, adapter: &Adapter, ids: impl Fn(u64) -> bool) {
        for id in 0..self.deliveries.len() as u64 {
            let deliveries = self.deliveries[id as usize].load(Ordering::SeqCst);
            if !ids(id) {
                assert_eq!(deliveries, 0, "request {id} was never accepted");
                continue;
            }
            assert_eq!(deliveries, 1, "request {id}");
            let expected = adapter.count(&text_for(id)).unwrap().count;
            assert_eq!(self.counts[id as usize].load(Ordering::SeqCst), expected, "request {id}");
        }
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

/// Reads the stats in a loop until told to stop, checking the invariant at every read.
fn observer(counter: &Arc<Counter>, capacity: u64) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let done = Arc::new(AtomicBool::new(false));
    let (counter, stop) = (Arc::clone(counter), Arc::clone(&done));
    let handle = std::thread::spawn(move || {
        let mut reads = 0u64;
        while !stop.load(Ordering::SeqCst) {
            let s = counter.stats();
            assert_consistent(&s);
            assert!(s.pending <= capacity, "{s:?}");
            reads += 1;
            std::thread::yield_now();
        }
        reads
    });
    (done, handle)
}

fn producers(counter: &Arc<Counter>, n: u64) -> Vec<std::thread::JoinHandle<()>> {
    (0..4u64)
        .map(|p| {
            let counter = Arc::clone(counter);
            std::thread::spawn(move || {
                for id in (p..n).step_by(4) {
                    submit_retrying(&counter, id, text_for(id).as_bytes());
                }
            })
        })
        .collect()
}

#[test]
fn four_producers_and_more_than_100k_requests_through_a_small_queue() {
    const N: u64 = 120_000;
    let adapter = adapter("cl100k_base");
    let ledger = Ledger::new(N as usize);
    let options = CounterOptions { queue_capacity: 1000, workers: 2, ..Default::default() };
    let counter = Arc::new(Counter::new(adapter.clone(), options, ledger.delivery()).unwrap());
    let (done, observer) = observer(&counter, 1000);
    for p in producers(&counter, N) {
        p.join().unwrap();
    }
    counter.flush(Duration::from_secs(120)).expect("flush");
    done.store(true, Ordering::SeqCst);
    let reads = observer.join().unwrap();
    let stats = counter.stats();
    assert_eq!((stats.submitted, stats.completed, stats.failed, stats.pending), (N, N, 0, 0));
    assert!(stats.rejected > 0, "a queue of 1000 fills up under 4 producers");
    assert_eq!(stats.drift_samples, N);
    ledger.check(&adapter, |_| true);
    eprintln!("callback: {N} requests, {} refusals retried, {reads} consistent stats reads", stats.rejected);
}

#[test]
fn four_producers_and_a_poller_in_poll_mode() {
    const N: u64 = 100_000;
    let adapter = adapter("o200k_base");
    let options = CounterOptions { queue_capacity: 1000, workers: 2, ..Default::default() };
    let counter = Arc::new(Counter::new(adapter.clone(), options, Delivery::Poll).unwrap());
    let ledger = Ledger::new(N as usize);
    let producers_done = Arc::new(AtomicBool::new(false));
    let poller = {
        let (counter, ledger, producers_done) = (Arc::clone(&counter), Arc::clone(&ledger), producers_done.clone());
        std::thread::spawn(move || {
            let mut polled = 0u64;
            loop {
                let finished = producers_done.load(Ordering::SeqCst);
                let batch = counter.poll(256);
                assert!(batch.len() <= 256);
                polled += batch.len() as u64;
                for r in &batch {
                    ledger.record(r.request_id, r.result.as_ref().expect("counted").count);
                }
                if batch.is_empty() {
                    if finished && polled == N {
                        return polled;
                    }
                    std::thread::yield_now();
                }
            }
        })
    };
    for p in producers(&counter, N) {
        p.join().unwrap();
    }
    producers_done.store(true, Ordering::SeqCst);
    assert_eq!(poller.join().unwrap(), N);
    let stats = counter.stats();
    assert_eq!((stats.submitted, stats.completed, stats.failed, stats.pending), (N, N, 0, 0));
    ledger.check(&adapter, |_| true);
    eprintln!("poll: {N} requests, {} refusals retried", stats.rejected);
}

#[test]
fn dropping_the_counter_delivers_everything_pending() {
    let ledger = Ledger::new(3000);
    let options = CounterOptions { workers: 1, queue_capacity: 5000, ..Default::default() };
    let adapter = adapter("o200k_base");
    let counter = Counter::new(adapter.clone(), options, ledger.delivery()).unwrap();
    for id in 0..3000 {
        counter.submit(id, text_for(id).as_bytes()).unwrap();
    }
    assert!(counter.stats().pending > 0, "work is still pending when the counter is dropped");
    drop(counter);
    ledger.check(&adapter, |_| true);
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
fn results_waiting_for_poll_count_against_the_capacity() {
    let options = CounterOptions { queue_capacity: 10, ..Default::default() };
    let counter = Counter::new(adapter("cl100k_base"), options, Delivery::Poll).unwrap();
    for id in 0..10 {
        counter.submit(id, b"some text").unwrap();
    }
    counter.flush(Duration::from_secs(30)).unwrap();
    let s = counter.stats();
    assert_eq!((s.pending, s.completed), (0, 10));
    let err = counter.submit(10, b"one more").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QueueFull);
    assert!(err.message().contains("10 results waiting for poll"), "{}", err.message());
    assert_eq!(counter.poll(3).len(), 3);
    for id in 10..13 {
        counter.submit(id, b"room again").unwrap();
    }
    assert_eq!(counter.submit(13, b"full again").unwrap_err().kind(), ErrorKind::QueueFull);
    counter.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(counter.poll(100).len(), 10);
    assert_eq!(counter.stats().rejected, 2);
}

#[test]
fn invalid_utf8_is_refused_at_submit_and_counted() {
    let options = CounterOptions { queue_capacity: 1, ..Default::default() };
    let (delivery, gate) = gated();
    let counter = Counter::new(adapter("cl100k_base"), options, delivery).unwrap();
    let err = counter.submit(7, b"ok \xff").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidUtf8);
    assert!(err.message().contains("request 7") && err.message().contains("offset 3"), "{}", err.message());
    // A truncated sequence at the end, and invalid text while the queue is full: still InvalidUtf8
    // (retrying would not help), never accepted.
    counter.submit(8, "fine".as_bytes()).unwrap();
    let err = counter.submit(9, &"日本".as_bytes()[..5]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidUtf8);
    assert!(err.message().contains("offset 3"), "{}", err.message());
    assert_eq!(counter.submit(10, b"valid").unwrap_err().kind(), ErrorKind::QueueFull);
    let s = counter.stats();
    assert_eq!((s.submitted, s.rejected), (1, 3));
    open(&gate);
    counter.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(counter.stats().completed, 1);
}

/// A callback that waits at a gate, to hold work pending.
type Gate = Arc<(Mutex<bool>, Condvar)>;

fn gated() -> (Delivery, Gate) {
    let gate: Gate = Arc::new((Mutex::new(false), Condvar::new()));
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
    let big = "word ".repeat(120_000); // 600 KB: two of them pass the 1 MiB cap
    counter.submit(1, big.as_bytes()).unwrap();
    let err = counter.submit(2, big.as_bytes()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QueueFull);
    assert!(err.message().contains("bytes"), "{}", err.message());
    // Small texts still fit in the bytes left.
    counter.submit(3, b"small").unwrap();
    counter.submit(4, b"small").unwrap();
    let err = counter.submit(5, b"small").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QueueFull);
    assert!(err.message().contains("3 requests pending"), "{}", err.message());
    let err = counter.flush(Duration::from_millis(20)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.message().contains("3 earlier requests undelivered"), "{}", err.message());
    let s = counter.stats();
    assert_eq!((s.submitted, s.pending, s.rejected), (3, 3, 2));
    assert_consistent(&s);
    open(&gate);
    counter.flush(Duration::from_secs(30)).unwrap();
    let s = counter.stats();
    assert_eq!((s.completed, s.pending), (3, 0));
    // A text larger than the byte cap is accepted when nothing else is pending, and then
    // nothing else fits until it is done (the gate, closed again, holds it until then).
    *gate.0.lock().unwrap() = false;
    let huge = "x ".repeat(600_000);
    counter.submit(6, huge.as_bytes()).unwrap();
    let err = counter.submit(7, b"a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QueueFull);
    open(&gate);
    counter.flush(Duration::from_secs(30)).unwrap();
    counter.submit(8, big.as_bytes()).unwrap();
    counter.flush(Duration::from_secs(30)).unwrap();
    let s = counter.stats();
    assert_eq!((s.submitted, s.completed, s.rejected), (5, 5, 3));
}

#[test]
fn flush_waits_only_for_requests_accepted_before_it() {
    // A chain: each delivery submits the next request before it returns, so from the first
    // submit on there is always a request pending. A flush that waited for everything pending
    // would never end; one that waits for what was accepted before it returns.
    let stop = Arc::new(AtomicBool::new(false));
    let me: Arc<std::sync::OnceLock<std::sync::Weak<Counter>>> = Arc::default();
    let chained = Arc::new(AtomicU64::new(0));
    let delivery = {
        let (stop, me, chained) = (Arc::clone(&stop), Arc::clone(&me), Arc::clone(&chained));
        Delivery::Callback(Box::new(move |id, _| {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let counter = me.get().and_then(std::sync::Weak::upgrade).expect("the test holds the counter");
            counter.submit(id + 1, text_for(id + 1).as_bytes()).expect("room for the chain");
            chained.fetch_add(1, Ordering::SeqCst);
        }))
    };
    let counter = Arc::new(Counter::new(adapter("cl100k_base"), CounterOptions::default(), delivery).unwrap());
    me.set(Arc::downgrade(&counter)).unwrap();
    counter.submit(0, b"first").unwrap();
    for _ in 0..20 {
        counter.flush(Duration::from_secs(30)).expect("flush ends while the chain goes on");
        let s = counter.stats();
        assert!(s.pending >= 1, "the chain is still running: {s:?}");
    }
    stop.store(true, Ordering::SeqCst);
    // A callback that read `stop` just before it was set submits once more, possibly after the
    // flush below took its snapshot: flush again until that last link is delivered too.
    let mut s = counter.stats();
    for _ in 0..1000 {
        counter.flush(Duration::from_secs(30)).unwrap();
        s = counter.stats();
        if s.pending == 0 && s.submitted == chained.load(Ordering::SeqCst) + 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!((s.pending, s.completed, s.submitted), (0, s.submitted, chained.load(Ordering::SeqCst) + 1));
    assert!(counter.flush(Duration::ZERO).is_ok(), "nothing pending: a zero timeout succeeds");
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
fn submits_racing_with_shutdown_are_delivered_or_closed() {
    // Far more ids than the producers can submit before the shutdown, which comes early.
    const N: u64 = 400_000;
    let adapter = adapter("cl100k_base");
    let ledger = Ledger::new(N as usize);
    let options = CounterOptions { queue_capacity: 200, workers: 2, ..Default::default() };
    let counter = Arc::new(Counter::new(adapter.clone(), options, ledger.delivery()).unwrap());
    let accepted: Arc<Vec<AtomicBool>> = Arc::new((0..N).map(|_| AtomicBool::new(false)).collect());
    let started = Arc::new(AtomicU64::new(0));
    let producers: Vec<_> = (0..4u64)
        .map(|p| {
            let (counter, accepted, started) = (Arc::clone(&counter), Arc::clone(&accepted), Arc::clone(&started));
            std::thread::spawn(move || {
                for id in (p..N).step_by(4) {
                    started.fetch_add(1, Ordering::SeqCst);
                    loop {
                        match counter.submit(id, text_for(id).as_bytes()) {
                            Ok(()) => accepted[id as usize].store(true, Ordering::SeqCst),
                            Err(e) if e.kind() == ErrorKind::QueueFull => {
                                std::thread::yield_now();
                                continue;
                            }
                            Err(e) if e.kind() == ErrorKind::Closed => {
                                let again = counter.submit(id + 4, b"later").unwrap_err();
                                assert_eq!(again.kind(), ErrorKind::Closed, "closed stays closed");
                                return true;
                            }
                            Err(e) => panic!("submit {id}: {e}"),
                        }
                        break;
                    }
                }
                false
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) < 10_000 {
        std::thread::yield_now();
    }
    counter.shutdown();
    let after = counter.stats();
    assert_eq!(after.pending, 0, "shutdown returns once every accepted request is delivered");
    let saw_closed = producers.into_iter().map(|p| p.join().unwrap()).filter(|&c| c).count();
    assert_eq!(saw_closed, 4, "every producer was cut off by the shutdown");
    let s = counter.stats();
    assert_eq!(s.submitted, after.submitted, "nothing accepted after shutdown: {s:?}");
    assert_eq!((s.completed, s.failed, s.pending), (s.submitted, 0, 0));
    assert!(s.submitted >= 10_000 - 4 && s.rejected >= 8, "{s:?}");
    let accepted_ids = accepted.iter().filter(|a| a.load(Ordering::SeqCst)).count() as u64;
    assert_eq!(accepted_ids, s.submitted);
    ledger.check(&adapter, |id| accepted[id as usize].load(Ordering::SeqCst));
    counter.shutdown(); // twice is fine
    assert_eq!(counter.submit(0, b"x").unwrap_err().kind(), ErrorKind::Closed);
}

#[test]
fn shutdown_keeps_poll_results_and_a_panicking_callback_loses_nothing() {
    let counter = Counter::new(adapter("cl100k_base"), CounterOptions::default(), Delivery::Poll).unwrap();
    for id in 0..100 {
        counter.submit(id, text_for(id).as_bytes()).unwrap();
    }
    counter.shutdown();
    assert_eq!(counter.poll(1000).len(), 100);

    let calls = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&calls);
    let delivery = Delivery::Callback(Box::new(move |id, _| {
        c.fetch_add(1, Ordering::SeqCst);
        if id % 2 == 0 {
            // A panic without the noise of the panic hook.
            std::panic::resume_unwind(Box::new("the callback panics on even ids"));
        }
    }));
    let options = CounterOptions { workers: 1, ..Default::default() };
    let counter = Counter::new(adapter("cl100k_base"), options, delivery).unwrap();
    for id in 0..50 {
        counter.submit(id, b"text").unwrap();
    }
    counter.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 50);
    assert_eq!(counter.stats().completed, 50);
}

#[test]
fn options_defaults_and_refusals() {
    let counter = Counter::new(adapter("cl100k_base"), CounterOptions::default(), Delivery::Poll).unwrap();
    let o = counter.options();
    assert!((1..=4).contains(&o.workers), "{o:?}");
    assert_eq!((o.queue_capacity, o.max_pending_bytes, o.drift_threshold), (1024, 64 << 20, 0.10));
    for bad in [
        CounterOptions { workers: 257, ..Default::default() },
        CounterOptions { drift_threshold: -0.1, ..Default::default() },
        CounterOptions { drift_threshold: f64::NAN, ..Default::default() },
        CounterOptions { drift_threshold: f64::NEG_INFINITY, ..Default::default() },
    ] {
        let err = Counter::new(adapter("cl100k_base"), bad, Delivery::Poll).err().expect("refused");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad:?}");
    }
}

/// +inf is a threshold no error passes: drift is measured and never flagged. (It was refused,
/// though the header forbids only negative values and NaN.)
#[test]
fn an_infinite_drift_threshold_flags_no_drift() {
    let options = CounterOptions { drift_threshold: f64::INFINITY, ..Default::default() };
    let counter = Counter::new(adapter("o200k_base"), options, Delivery::Poll).expect("+inf is accepted");
    assert_eq!(counter.options().drift_threshold, f64::INFINITY);
    for (id, case) in common::golden().into_iter().take(200).enumerate() {
        submit_retrying(&counter, id as u64, case.text.as_bytes());
    }
    counter.flush(Duration::from_secs(60)).unwrap();
    let s = counter.stats();
    assert!(s.drift_samples > 0 && s.drift_max_abs_error > 0, "there is drift to flag: {s:?}");
    assert_eq!(s.drift_over_threshold, 0, "{s:?}");
}

#[test]
fn drift_stats_match_a_recomputation() {
    let adapter = adapter("o200k_base");
    let options = CounterOptions { drift_threshold: 0.05, ..Default::default() };
    let counter = Counter::new(adapter.clone(), options, Delivery::Poll).unwrap();
    let mut texts: Vec<String> = common::golden().into_iter().map(|c| c.text).collect();
    texts.push(String::new()); // exact 0, estimate 0: a sample, not over the threshold
    texts.truncate(1000);
    for (id, text) in texts.iter().enumerate() {
        submit_retrying(&counter, id as u64, text.as_bytes());
        if id % 500 == 499 {
            counter.flush(Duration::from_secs(60)).unwrap();
            counter.poll(usize::MAX);
        }
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
    assert!((s.drift_mean_abs_error - abs_sum / texts.len() as f64).abs() < 1e-9, "{s:?}");
    assert!((s.drift_mean_relative_error - rel_sum / rel_n as f64).abs() < 1e-9, "{s:?}");
    assert_eq!((s.drift_max_abs_error, s.drift_over_threshold), (max, over));
    // Plausible: the estimator is good on average, and not exact everywhere.
    assert!(s.drift_mean_relative_error < 0.25, "{s:?}");
    assert!(s.drift_max_abs_error > 0 && s.drift_over_threshold > 0, "{s:?}");
    assert!(s.drift_over_threshold < s.drift_samples, "{s:?}");
    eprintln!(
        "drift over {} golden texts: mean {:.2} tokens ({:.1}%), max {}, {} over 5%",
        s.drift_samples,
        s.drift_mean_abs_error,
        100.0 * s.drift_mean_relative_error,
        s.drift_max_abs_error,
        s.drift_over_threshold
    );

    // Counts that are not exact (the heuristic adapter) are not drift samples.
    let heuristic = common::plain_registry().resolve_adapter(AdapterName::Heuristic).unwrap();
    let counter = Counter::new(heuristic, CounterOptions::default(), Delivery::Poll).unwrap();
    counter.submit(1, b"an estimate only").unwrap();
    counter.flush(Duration::from_secs(30)).unwrap();
    let s = counter.stats();
    assert_eq!((s.completed, s.drift_samples), (1, 0));
}

/// The C ABI, called from Rust: NULLs, bad UTF-8, callbacks with `user_data`, poll, the
/// adapter outliving its handle, options, and submits racing with `kano_counter_free`.
mod c_abi {
    use std::ffi::{c_void, CStr};
    use std::ptr::{null, null_mut};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Condvar, Mutex};

    use kano_tokenizer::ffi::*;

    fn last_error() -> String {
        // SAFETY: never NULL; valid until the next failure on this thread.
        unsafe { CStr::from_ptr(kano_last_error()) }.to_string_lossy().into_owned()
    }

    fn adapter(model: &CStr) -> *mut KanoAdapter {
        let (mut registry, mut adapter) = (null_mut(), null_mut());
        unsafe {
            assert_eq!(kano_registry_from_toml(c"".as_ptr(), 0, &mut registry), KanoStatus::Ok);
            assert_eq!(
                kano_registry_resolve(registry, c"tiktoken".as_ptr(), model.as_ptr(), &mut adapter),
                KanoStatus::Ok
            );
            kano_registry_free(registry);
        }
        adapter
    }

    fn count(adapter: *const KanoAdapter, text: &str) -> u64 {
        let mut out = KanoCount { count: 0, is_exact: false, method: KanoMethod::Heuristic };
        assert_eq!(unsafe { kano_adapter_count(adapter, text.as_ptr().cast(), text.len(), &mut out) }, KanoStatus::Ok);
        out.count
    }

    fn options(callback: KanoCountCallback, user_data: *mut c_void) -> KanoCounterOptions {
        KanoCounterOptions {
            workers: 2,
            queue_capacity: 64,
            max_pending_bytes: 0,
            callback,
            user_data,
            drift_threshold: 0.0,
        }
    }

    fn stats(counter: *const KanoCounter) -> KanoCounterStats {
        let mut out = std::mem::MaybeUninit::uninit();
        assert_eq!(unsafe { kano_counter_stats(counter, out.as_mut_ptr()) }, KanoStatus::Ok);
        // SAFETY: written on success.
        unsafe { out.assume_init() }
    }

    fn submit(counter: *mut KanoCounter, id: u64, text: &[u8]) -> KanoStatus {
        unsafe { kano_counter_submit(counter, id, text.as_ptr().cast(), text.len()) }
    }

    #[test]
    fn null_arguments_and_bad_utf8() {
        let adapter = adapter(c"cl100k_base");
        let mut counter = null_mut();
        unsafe {
            assert_eq!(kano_counter_new(null(), null(), &mut counter), KanoStatus::NullPointer);
            assert!(counter.is_null() && last_error().contains("adapter is NULL"), "{}", last_error());
            assert_eq!(kano_counter_new(adapter, null(), null_mut()), KanoStatus::NullPointer);
            assert_eq!(kano_counter_submit(null_mut(), 1, c"x".as_ptr(), 1), KanoStatus::NullPointer);
            assert_eq!(kano_counter_flush(null_mut(), 1), KanoStatus::NullPointer);
            assert_eq!(kano_counter_stats(null(), &mut stats_zero()), KanoStatus::NullPointer);
            let mut results = [result_zero(); 2];
            assert_eq!(kano_counter_poll(null_mut(), results.as_mut_ptr(), 2), 0);
            assert!(last_error().contains("counter is NULL"), "{}", last_error());

            assert_eq!(kano_counter_new(adapter, null(), &mut counter), KanoStatus::Ok);
            assert_eq!(kano_counter_submit(counter, 1, null(), 3), KanoStatus::NullPointer);
            assert_eq!(kano_counter_submit(counter, 2, null(), 0), KanoStatus::Ok);
            assert_eq!(submit(counter, 3, b"caf\xc3"), KanoStatus::InvalidUtf8);
            assert!(
                last_error().contains("kano_counter_submit") && last_error().contains("offset 3"),
                "{}",
                last_error()
            );
            assert_eq!(kano_counter_stats(counter, null_mut()), KanoStatus::NullPointer);
            assert_eq!(kano_counter_poll(counter, null_mut(), 1), 0);
            assert!(last_error().contains("out is NULL"), "{}", last_error());
            assert_eq!(kano_counter_poll(counter, null_mut(), 0), 0);
            assert_eq!(kano_counter_flush(counter, 30_000), KanoStatus::Ok);
            assert_eq!(kano_counter_poll(counter, results.as_mut_ptr(), 2), 1);
            assert_eq!((results[0].request_id, results[0].status, results[0].count.count), (2, KanoStatus::Ok, 0));
            // The invalid UTF-8 is a refusal; the NULL text an argument error before the counter.
            let s = stats(counter);
            assert_eq!((s.submitted, s.completed, s.rejected, s.pending), (1, 1, 1, 0));
            kano_counter_free(counter);
            kano_counter_free(null_mut());

            for (workers, threshold) in [(257, 0.0), (1, -1.0), (1, f64::NAN), (1, f64::NEG_INFINITY)] {
                let o = KanoCounterOptions { workers, drift_threshold: threshold, ..options(None, null_mut()) };
                let mut counter = null_mut();
                assert_eq!(kano_counter_new(adapter, &o, &mut counter), KanoStatus::InvalidArgument);
                assert!(counter.is_null());
            }
            // The header forbids only negative values and NaN: +inf never flags drift.
            let o = KanoCounterOptions { workers: 1, drift_threshold: f64::INFINITY, ..options(None, null_mut()) };
            let mut counter = null_mut();
            assert_eq!(kano_counter_new(adapter, &o, &mut counter), KanoStatus::Ok, "{}", last_error());
            assert_eq!(submit(counter, 1, "Drift is measured but never flagged.".as_bytes()), KanoStatus::Ok);
            assert_eq!(kano_counter_flush(counter, 30_000), KanoStatus::Ok);
            let s = stats(counter);
            assert_eq!((s.drift_samples, s.drift_over_threshold), (1, 0));
            kano_counter_free(counter);
            kano_adapter_free(adapter);
        }
    }

    fn stats_zero() -> KanoCounterStats {
        KanoCounterStats {
            submitted: 0,
            completed: 0,
            failed: 0,
            rejected: 0,
            pending: 0,
            drift_samples: 0,
            drift_mean_abs_error: 0.0,
            drift_mean_relative_error: 0.0,
            drift_max_abs_error: 0,
            drift_over_threshold: 0,
        }
    }

    fn result_zero() -> KanoCountResult {
        KanoCountResult {
            request_id: u64::MAX,
            status: KanoStatus::Panic,
            count: KanoCount { count: 0, is_exact: false, method: KanoMethod::Heuristic },
        }
    }

    /// What the callback receives through `user_data`.
    struct Sums {
        deliveries: AtomicU64,
        id_sum: AtomicU64,
        token_sum: AtomicU64,
    }

    unsafe extern "C" fn add(user_data: *mut c_void, request_id: u64, status: KanoStatus, count: KanoCount) {
        // SAFETY: the test passes a live `Sums`.
        let sums = unsafe { &*user_data.cast::<Sums>() };
        assert_eq!(status, KanoStatus::Ok);
        assert!(count.is_exact && count.method == KanoMethod::Tiktoken);
        sums.deliveries.fetch_add(1, Ordering::SeqCst);
        sums.id_sum.fetch_add(request_id, Ordering::SeqCst);
        sums.token_sum.fetch_add(count.count, Ordering::SeqCst);
    }

    #[test]
    fn callback_with_user_data_and_an_adapter_freed_first() {
        let adapter = adapter(c"o200k_base");
        let sums = Sums { deliveries: AtomicU64::new(0), id_sum: AtomicU64::new(0), token_sum: AtomicU64::new(0) };
        let o = options(Some(add), std::ptr::addr_of!(sums).cast_mut().cast());
        let mut counter = null_mut();
        let texts: Vec<String> = (0..1000u64).map(super::text_for).collect();
        let expected: u64 = texts.iter().map(|t| count(adapter, t)).sum();
        unsafe {
            assert_eq!(kano_counter_new(adapter, &o, &mut counter), KanoStatus::Ok);
            kano_adapter_free(adapter); // the counter keeps its own reference
            for (id, text) in texts.iter().enumerate() {
                while submit(counter, id as u64, text.as_bytes()) == KanoStatus::QueueFull {
                    std::thread::yield_now();
                }
            }
            assert_eq!(kano_counter_flush(counter, 60_000), KanoStatus::Ok);
            let mut results = [result_zero(); 4];
            assert_eq!(kano_counter_poll(counter, results.as_mut_ptr(), 4), 0, "callback mode: nothing to poll");
            let s = stats(counter);
            assert_eq!((s.submitted, s.completed, s.pending, s.drift_samples), (1000, 1000, 0, 1000));
            assert!(s.drift_mean_relative_error > 0.0 && s.drift_mean_relative_error < 1.0, "{s:?}");
            kano_counter_free(counter);
        }
        assert_eq!(sums.deliveries.load(Ordering::SeqCst), 1000);
        assert_eq!(sums.id_sum.load(Ordering::SeqCst), 999 * 1000 / 2);
        assert_eq!(sums.token_sum.load(Ordering::SeqCst), expected);
    }

    /// The gate of `wait_at_gate`: closed until a submit sees `KANO_STATUS_CLOSED`.
    struct Gate {
        open: Mutex<bool>,
        cv: Condvar,
        delivered: AtomicU64,
    }

    unsafe extern "C" fn wait_at_gate(user_data: *mut c_void, _: u64, status: KanoStatus, _: KanoCount) {
        // SAFETY: the test passes a live `Gate`.
        let gate = unsafe { &*user_data.cast::<Gate>() };
        assert_eq!(status, KanoStatus::Ok);
        let mut open = gate.open.lock().unwrap();
        while !*open {
            open = gate.cv.wait(open).unwrap();
        }
        gate.delivered.fetch_add(1, Ordering::SeqCst);
    }

    struct SendPtr(*mut KanoCounter);
    // SAFETY: the counter is thread-safe; the test keeps it alive while the thread uses it.
    unsafe impl Send for SendPtr {}

    #[test]
    fn submits_racing_with_free_get_closed() {
        let adapter = adapter(c"cl100k_base");
        let gate = Gate { open: Mutex::new(false), cv: Condvar::new(), delivered: AtomicU64::new(0) };
        let o = options(Some(wait_at_gate), std::ptr::addr_of!(gate).cast_mut().cast());
        let mut counter = null_mut();
        unsafe { assert_eq!(kano_counter_new(adapter, &o, &mut counter), KanoStatus::Ok) };
        assert_eq!(submit(counter, 0, b"held at the gate"), KanoStatus::Ok);
        let ptr = SendPtr(counter);
        let gate = &gate;
        let started = &AtomicBool::new(false);
        let (accepted, full) = std::thread::scope(|scope| {
            // The racing thread submits until it sees CLOSED, then opens the gate: the free
            // cannot return (and the handle cannot go away) before the gate opens, so every
            // submit here happens while the counter is alive.
            let racer = scope.spawn(move || {
                let ptr = ptr;
                let (mut accepted, mut full) = (0u64, 0u64);
                for id in 1.. {
                    let status = submit(ptr.0, id, b"racing");
                    started.store(true, Ordering::SeqCst);
                    match status {
                        KanoStatus::Ok => accepted += 1,
                        KanoStatus::QueueFull => full += 1,
                        KanoStatus::Closed => break,
                        other => panic!("submit: {other:?}"),
                    }
                }
                assert!(last_error().contains("closed"), "{}", last_error());
                *gate.open.lock().unwrap() = true;
                gate.cv.notify_all();
                (accepted, full)
            });
            while !started.load(Ordering::SeqCst) {
                std::thread::yield_now(); // free while the racer is submitting
            }
            unsafe { kano_counter_free(counter) };
            racer.join().unwrap()
        });
        assert_eq!(gate.delivered.load(Ordering::SeqCst), 1 + accepted, "{full} refusals for a full queue");
        assert!(accepted + full >= 1, "the racer submitted before the free closed the counter");
        unsafe { kano_adapter_free(adapter) };
    }
}
