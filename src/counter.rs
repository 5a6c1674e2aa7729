//! Background counting: the service pattern of `background-token-counting.md` as a library
//! feature. A request is answered at once with the estimate; the exact count is submitted here
//! and delivered later (to a callback or through `poll`), and nothing accepted is ever lost.
//!
//! - `submit` copies the text and never blocks: when the queue is at capacity (by requests or by
//!   bytes) it refuses with `QueueFull`, and counts the refusal.
//! - Every accepted request yields exactly one result. Text that is not UTF-8 is refused at
//!   `submit` (`InvalidUtf8`), so the caller learns at once.
//! - `flush` waits until every request accepted before it was delivered.
//! - Dropping the counter delivers every accepted request, then joins the workers; submits racing
//!   with the drop get `Closed`.
//! - Stats hold `submitted == completed + failed + pending` at every read (one lock), and track
//!   the drift of the estimate against the exact count.

use std::collections::{BTreeSet, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::adapter::{Adapter, Count};
use crate::error::{Error, ErrorKind, Result};

/// Where results go.
pub enum Delivery {
    /// Called on a worker thread with each result. It must not drop (free) its own counter.
    Callback(Box<dyn Fn(u64, Result<Count>) + Send + Sync>),
    /// Results wait for [`Counter::poll`].
    Poll,
}

/// Counter settings; zeros mean the defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CounterOptions {
    /// Worker threads (default: the available cores, at most 4).
    pub workers: usize,
    /// Maximum requests pending (queued or being counted, not yet delivered); default 1024.
    pub queue_capacity: usize,
    /// Maximum text bytes pending; default 64 MiB. A text larger than this is accepted only when
    /// nothing else is pending, so that any text can be counted.
    pub max_pending_bytes: u64,
    /// A request counts as drifted when the estimate is off by more than this fraction of the
    /// exact count; default 0.10.
    pub drift_threshold: f64,
}

impl Default for CounterOptions {
    fn default() -> Self {
        CounterOptions { workers: 0, queue_capacity: 0, max_pending_bytes: 0, drift_threshold: 0.0 }
    }
}

impl CounterOptions {
    fn resolved(self) -> CounterOptions {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        CounterOptions {
            workers: if self.workers == 0 { cores.min(4) } else { self.workers.min(256) },
            queue_capacity: if self.queue_capacity == 0 { 1024 } else { self.queue_capacity },
            max_pending_bytes: if self.max_pending_bytes == 0 { 64 << 20 } else { self.max_pending_bytes },
            drift_threshold: if self.drift_threshold > 0.0 && self.drift_threshold.is_finite() {
                self.drift_threshold
            } else {
                0.10
            },
        }
    }
}

/// A consistent snapshot of a counter's figures.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CounterStats {
    /// Requests accepted.
    pub submitted: u64,
    /// Results delivered with a count.
    pub completed: u64,
    /// Results delivered with an error.
    pub failed: u64,
    /// Requests refused (queue full, invalid UTF-8, closed).
    pub rejected: u64,
    /// Accepted and not yet delivered.
    pub pending: u64,
    /// Completed requests whose estimate was compared with the exact count.
    pub drift_samples: u64,
    /// Mean of |estimate - exact|, in tokens.
    pub drift_mean_abs_error: f64,
    /// Mean of |estimate - exact| / exact (requests with an exact count of 0 are left out).
    pub drift_mean_relative_error: f64,
    /// Largest |estimate - exact|, in tokens.
    pub drift_max_abs_error: u64,
    /// Requests whose relative error passed the drift threshold.
    pub drift_over_threshold: u64,
}

/// One delivered result, for `poll`.
#[derive(Debug, Clone, PartialEq)]
pub struct CountResult {
    pub request_id: u64,
    pub result: Result<Count>,
}

struct Job {
    id: u64,
    seq: u64,
    text: String,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Sequence numbers of accepted requests not yet delivered.
    outstanding: BTreeSet<u64>,
    next_seq: u64,
    pending_bytes: u64,
    closed: bool,
    results: VecDeque<CountResult>,
    stats: CounterStats,
    drift_relative_sum: f64,
    drift_relative_samples: u64,
    drift_abs_sum: f64,
}

struct Shared {
    adapter: Adapter,
    delivery: Delivery,
    options: CounterOptions,
    state: Mutex<State>,
    /// Workers wait here for jobs.
    work: Condvar,
    /// `flush` waits here for deliveries.
    delivered: Condvar,
}

/// A pool of workers counting submitted texts exactly, in the background.
pub struct Counter {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Counter {
    pub fn new(adapter: Adapter, options: CounterOptions, delivery: Delivery) -> Result<Counter> {
        let options = options.resolved();
        let shared = Arc::new(Shared {
            adapter,
            delivery,
            options,
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            delivered: Condvar::new(),
        });
        let mut workers = Vec::with_capacity(options.workers);
        for i in 0..options.workers {
            let for_worker = Arc::clone(&shared);
            let spawned =
                std::thread::Builder::new().name(format!("kano-counter-{i}")).spawn(move || work(&for_worker));
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(e) => {
                    let counter = Counter { shared, workers };
                    drop(counter);
                    return Err(Error::new(
                        ErrorKind::AdapterUnavailable,
                        format!("cannot start a worker thread: {e}"),
                    ));
                }
            }
        }
        Ok(Counter { shared, workers })
    }

    pub fn options(&self) -> CounterOptions {
        self.shared.options
    }

    /// Queues a copy of `text` for counting. Never blocks on counting.
    pub fn submit(&self, request_id: u64, text: &[u8]) -> Result<()> {
        let mut state = self.shared.state.lock();
        let refuse = |state: &mut State, kind, message: String| {
            state.stats.rejected += 1;
            Err(Error::new(kind, message))
        };
        if state.closed {
            return refuse(&mut state, ErrorKind::Closed, "the counter is closing and accepts no more requests".into());
        }
        let options = &self.shared.options;
        if state.stats.pending >= options.queue_capacity as u64 {
            let message =
                format!("queue full: {} requests pending (capacity {})", state.stats.pending, options.queue_capacity);
            return refuse(&mut state, ErrorKind::QueueFull, message);
        }
        let len = text.len() as u64;
        if state.pending_bytes > 0 && state.pending_bytes.saturating_add(len) > options.max_pending_bytes {
            let message = format!(
                "queue full: {} bytes pending, {len} more would pass max_pending_bytes {}",
                state.pending_bytes, options.max_pending_bytes
            );
            return refuse(&mut state, ErrorKind::QueueFull, message);
        }
        let text = match std::str::from_utf8(text) {
            Ok(t) => t.to_owned(),
            Err(e) => {
                let message = format!(
                    "text of request {request_id} is not valid UTF-8: invalid byte at offset {}",
                    e.valid_up_to()
                );
                return refuse(&mut state, ErrorKind::InvalidUtf8, message);
            }
        };
        let seq = state.next_seq;
        state.next_seq += 1;
        state.outstanding.insert(seq);
        state.pending_bytes += len;
        state.stats.submitted += 1;
        state.stats.pending += 1;
        state.queue.push_back(Job { id: request_id, seq, text });
        drop(state);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Takes up to `max` delivered results (poll mode; in callback mode there are none).
    pub fn poll(&self, max: usize) -> Vec<CountResult> {
        let mut state = self.shared.state.lock();
        let n = max.min(state.results.len());
        state.results.drain(..n).collect()
    }

    /// Waits until every request accepted before this call has been delivered.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.shared.state.lock();
        let target = state.next_seq;
        while state.outstanding.first().is_some_and(|&seq| seq < target) {
            match deadline {
                Some(deadline) => {
                    if self.shared.delivered.wait_until(&mut state, deadline).timed_out()
                        && state.outstanding.first().is_some_and(|&seq| seq < target)
                    {
                        let left = state.outstanding.range(..target).count();
                        return Err(Error::new(
                            ErrorKind::Timeout,
                            format!(
                                "flush timed out after {} ms with {left} requests undelivered",
                                timeout.as_millis()
                            ),
                        ));
                    }
                }
                None => self.shared.delivered.wait(&mut state),
            }
        }
        Ok(())
    }

    /// Stops accepting requests (later submits get `Closed`); accepted ones are still counted
    /// and delivered. Dropping the counter closes it, then waits for the workers.
    pub fn close(&self) {
        self.shared.state.lock().closed = true;
        self.shared.work.notify_all();
    }

    pub fn stats(&self) -> CounterStats {
        let state = self.shared.state.lock();
        let mut stats = state.stats;
        if stats.drift_samples > 0 {
            stats.drift_mean_abs_error = state.drift_abs_sum / stats.drift_samples as f64;
        }
        if state.drift_relative_samples > 0 {
            stats.drift_mean_relative_error = state.drift_relative_sum / state.drift_relative_samples as f64;
        }
        stats
    }
}

impl Drop for Counter {
    /// Delivers every accepted request, then joins the workers.
    fn drop(&mut self) {
        self.close();
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

fn work(shared: &Shared) {
    loop {
        let job = {
            let mut state = shared.state.lock();
            loop {
                if let Some(job) = state.queue.pop_front() {
                    break job;
                }
                if state.closed {
                    return;
                }
                shared.work.wait(&mut state);
            }
        };
        let exact = catch_unwind(AssertUnwindSafe(|| shared.adapter.count(&job.text)))
            .unwrap_or_else(|_| Err(Error::new(ErrorKind::AdapterUnavailable, "internal error while counting")));
        let estimate = exact.as_ref().ok().map(|_| shared.adapter.estimate(&job.text).estimate);
        if let Delivery::Callback(callback) = &shared.delivery {
            // A panicking callback must not take the worker (and every later request) down.
            let _ = catch_unwind(AssertUnwindSafe(|| callback(job.id, exact.clone())));
        }
        let mut state = shared.state.lock();
        state.outstanding.remove(&job.seq);
        state.pending_bytes -= job.text.len() as u64;
        state.stats.pending -= 1;
        match (&exact, estimate) {
            (Ok(count), Some(estimate)) => {
                state.stats.completed += 1;
                let error = estimate.abs_diff(count.count);
                state.stats.drift_samples += 1;
                state.drift_abs_sum += error as f64;
                state.stats.drift_max_abs_error = state.stats.drift_max_abs_error.max(error);
                if count.count > 0 {
                    let relative = error as f64 / count.count as f64;
                    state.drift_relative_sum += relative;
                    state.drift_relative_samples += 1;
                    if relative > shared.options.drift_threshold {
                        state.stats.drift_over_threshold += 1;
                    }
                } else if error > 0 {
                    state.stats.drift_over_threshold += 1;
                }
            }
            _ => state.stats.failed += 1,
        }
        if matches!(shared.delivery, Delivery::Poll) {
            state.results.push_back(CountResult { request_id: job.id, result: exact });
        }
        drop(state);
        shared.delivered.notify_all();
    }
}
