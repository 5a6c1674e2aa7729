//! Background counting: the service pattern of `background-token-counting.md` as a library
//! feature. A request is answered at once from the estimate; its text is submitted here, counted
//! exactly on a worker thread, and the count delivered later (to a callback, or through `poll`)
//! for billing. Nothing accepted is ever lost.
//!
//! - `submit` copies the text and never waits for counting: when the queue is at capacity (by
//!   requests or by bytes) it refuses with `QueueFull` and counts the refusal.
//! - Every accepted request yields exactly one result. Text that is not UTF-8 is refused at
//!   `submit` (`InvalidUtf8`, with the byte offset), so the caller learns at once and still
//!   holds the text; it is never accepted, so it never needs a result.
//! - `flush` waits until every request accepted before the call has been delivered.
//! - `close` refuses later submits with `Closed`; `shutdown` (and dropping the counter) also
//!   waits until every accepted request is delivered, then joins the workers.
//! - Stats are read under the one lock that every change takes, so
//!   `submitted == completed + failed + pending` holds in every snapshot; they also track the
//!   drift of the estimate against the exact count (the seed's monitoring query, built in).
//!
//! One mutex guards the queue, the results and the figures; it is held only for bookkeeping,
//! never while copying text, counting or calling the callback.

use std::collections::{BTreeSet, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::adapter::{Adapter, Count};
use crate::error::{Error, ErrorKind, Result};

/// The callback type of [`Delivery::Callback`]: request id and result.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use kano_tokenizer::{AdapterName, CountCallback, Counter, CounterOptions, Delivery, Registry};
/// let adapter = Registry::from_env(&|_| None)?.resolve(AdapterName::Tiktoken, "gpt-4o")?;
/// let total = Arc::new(AtomicU64::new(0));
/// let sum = Arc::clone(&total);
/// let callback: CountCallback = Box::new(move |_id, result| {
///     sum.fetch_add(result.map_or(0, |c| c.count), Ordering::SeqCst);
/// });
/// let counter = Counter::new(adapter, CounterOptions::default(), Delivery::Callback(callback))?;
/// counter.submit(1, b"Hello, world!")?;
/// counter.submit(2, b"Hello, world!")?;
/// counter.flush(Duration::from_secs(30))?;
/// assert_eq!(total.load(Ordering::SeqCst), 8);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub type CountCallback = Box<dyn Fn(u64, Result<Count>) + Send + Sync>;

/// Where results go.
///
/// ```
/// use std::time::Duration;
/// use kano_tokenizer::{AdapterName, Counter, CounterOptions, Delivery, Registry};
/// let adapter = Registry::from_env(&|_| None)?.resolve(AdapterName::Tiktoken, "gpt-4o")?;
/// let options = CounterOptions { queue_capacity: 1, ..CounterOptions::default() };
/// let counter = Counter::new(adapter, options, Delivery::Poll)?;
/// counter.submit(1, b"Hello, world!")?;
/// counter.flush(Duration::from_secs(30))?;
/// // The unpolled result still takes the one place in the queue.
/// assert_eq!(counter.submit(2, b"more").unwrap_err().kind(), kano_tokenizer::ErrorKind::QueueFull);
/// assert_eq!(counter.poll(10)[0].result.as_ref().unwrap().count, 4);
/// counter.submit(2, b"more")?;
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[non_exhaustive]
pub enum Delivery {
    /// Called on a worker thread with each result, possibly on several workers at once. It must
    /// not drop its own counter (the drop would wait for the callback itself), and should not
    /// `flush` it (the flush would wait for the callback until its timeout). A panic in it is
    /// caught: the request still counts as delivered.
    Callback(CountCallback),
    /// Results wait for [`Counter::poll`]. Results not yet polled count against
    /// `queue_capacity`, so memory stays bounded: poll regularly.
    Poll,
}

/// The largest number of worker threads a counter accepts.
///
/// ```
/// use kano_tokenizer::{AdapterName, Counter, CounterOptions, Delivery, ErrorKind, Registry, MAX_COUNTER_WORKERS};
/// let adapter = Registry::from_env(&|_| None)?.resolve(AdapterName::Heuristic, "gpt-4o")?;
/// let options = CounterOptions { workers: MAX_COUNTER_WORKERS + 1, ..CounterOptions::default() };
/// let err = Counter::new(adapter, options, Delivery::Poll).err().unwrap();
/// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub const MAX_WORKERS: usize = 256;

/// Texts at least this long are checked against the capacity before they are copied, so that a
/// refused large text costs no copy.
const PRECHECK_BYTES: usize = 64 * 1024;

/// Counter settings; zeros mean the defaults.
///
/// ```
/// use std::time::Duration;
/// use kano_tokenizer::{AdapterName, Counter, CounterOptions, Delivery, Registry};
/// let adapter = Registry::from_env(&|_| None)?.resolve(AdapterName::Tiktoken, "gpt-4o")?;
/// let counter = Counter::new(adapter, CounterOptions { workers: 2, ..CounterOptions::default() }, Delivery::Poll)?;
/// let options = counter.options();
/// assert_eq!((options.workers, options.queue_capacity), (2, 1024));
/// assert_eq!((options.max_pending_bytes, options.drift_threshold), (64 << 20, 0.10));
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CounterOptions {
    /// Worker threads (default: the available cores, at most 4; at most [`MAX_WORKERS`]).
    pub workers: usize,
    /// Maximum requests pending (queued, being counted, or in poll mode delivered but not yet
    /// polled); default 1024.
    pub queue_capacity: usize,
    /// Maximum text bytes pending; default 64 MiB. A text larger than this is accepted only when
    /// nothing else is pending, so that any text can be counted.
    pub max_pending_bytes: u64,
    /// A request counts as drifted when the estimate is off by more than this fraction of the
    /// exact count; default (0) 0.10. Must not be negative or NaN; +inf never flags drift
    /// (the figures are still kept).
    pub drift_threshold: f64,
}

impl CounterOptions {
    fn resolved(self) -> Result<CounterOptions> {
        if self.workers > MAX_WORKERS {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("workers is {}, at most {MAX_WORKERS} are allowed", self.workers),
            ));
        }
        // +inf passes: no relative error is larger, so nothing counts as drifted.
        if self.drift_threshold.is_nan() || self.drift_threshold < 0.0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "drift_threshold is {}, it must be a fraction >= 0 (0: 0.10; inf: never flag drift)",
                    self.drift_threshold
                ),
            ));
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(CounterOptions {
            workers: if self.workers == 0 { cores.min(4) } else { self.workers },
            queue_capacity: if self.queue_capacity == 0 { 1024 } else { self.queue_capacity },
            max_pending_bytes: if self.max_pending_bytes == 0 { 64 << 20 } else { self.max_pending_bytes },
            drift_threshold: if self.drift_threshold == 0.0 { 0.10 } else { self.drift_threshold },
        })
    }
}

/// A consistent snapshot of a counter's figures.
///
/// ```
/// use std::time::Duration;
/// use kano_tokenizer::{AdapterName, Counter, CounterOptions, Delivery, Registry};
/// let adapter = Registry::from_env(&|_| None)?.resolve(AdapterName::Tiktoken, "gpt-4o")?;
/// let counter = Counter::new(adapter, CounterOptions::default(), Delivery::Poll)?;
/// counter.submit(1, b"Hello, world!")?;
/// assert!(counter.submit(2, b"\xff").is_err());
/// counter.flush(Duration::from_secs(30))?;
/// let stats = counter.stats();
/// assert_eq!((stats.submitted, stats.completed, stats.rejected, stats.pending), (1, 1, 1, 0));
/// // The estimate of "Hello, world!" matched its exact count.
/// assert_eq!((stats.drift_samples, stats.drift_max_abs_error), (1, 0));
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CounterStats {
    /// Requests accepted.
    pub submitted: u64,
    /// Results delivered with a count.
    pub completed: u64,
    /// Results delivered with an error.
    pub failed: u64,
    /// Requests refused (queue full, invalid UTF-8, closed); none of them was accepted.
    pub rejected: u64,
    /// Accepted and not yet delivered (in poll mode: not yet in the poll queue).
    pub pending: u64,
    /// Completed requests with an exact count, against which the estimate was compared.
    pub drift_samples: u64,
    /// Mean of |estimate - exact|, in tokens, over the drift samples.
    pub drift_mean_abs_error: f64,
    /// Mean of |estimate - exact| / exact over the drift samples with an exact count above 0.
    pub drift_mean_relative_error: f64,
    /// Largest |estimate - exact|, in tokens.
    pub drift_max_abs_error: u64,
    /// Drift samples whose relative error passed the drift threshold (an exact count of 0 with
    /// a non-zero estimate counts as past any finite threshold).
    pub drift_over_threshold: u64,
}

/// One delivered result, for `poll`.
///
/// ```
/// use std::time::Duration;
/// use kano_tokenizer::{AdapterName, Counter, CounterOptions, Delivery, Registry};
/// let adapter = Registry::from_env(&|_| None)?.resolve(AdapterName::Tiktoken, "gpt-4o")?;
/// let counter = Counter::new(adapter, CounterOptions::default(), Delivery::Poll)?;
/// counter.submit(7, b"Hello, world!")?;
/// counter.flush(Duration::from_secs(30))?;
/// let results = counter.poll(10);
/// assert_eq!(results.len(), 1);
/// assert_eq!(results[0].request_id, 7);
/// assert_eq!(results[0].result.as_ref().map(|c| (c.count, c.is_exact)), Ok((4, true)));
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CountResult {
    /// The id given to [`Counter::submit`].
    pub request_id: u64,
    /// The exact count, or why there is none.
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
    /// Sequence numbers of accepted requests not yet delivered (what `flush` waits for).
    outstanding: BTreeSet<u64>,
    next_seq: u64,
    pending_bytes: u64,
    closed: bool,
    /// Poll mode: delivered results waiting for `poll`.
    results: VecDeque<CountResult>,
    stats: CounterStats,
    drift_abs_sum: f64,
    drift_relative_sum: f64,
    drift_relative_samples: u64,
}

struct Shared {
    adapter: Adapter,
    delivery: Delivery,
    options: CounterOptions,
    /// Started through the C ABI: panics caught on the workers are not printed.
    quiet_panics: bool,
    state: Mutex<State>,
    /// Workers wait here for jobs (and for the close).
    work: Condvar,
    /// `flush` waits here for deliveries.
    delivered: Condvar,
}

/// A pool of workers counting submitted texts exactly, in the background. Every method may be
/// called from any thread at once (share it in an `Arc`).
///
/// ```
/// use std::time::Duration;
/// use kano_tokenizer::{AdapterName, Counter, CounterOptions, Delivery, Registry};
/// let adapter = Registry::from_env(&|_| None)?.resolve(AdapterName::Tiktoken, "gpt-4o")?;
/// let counter = Counter::new(adapter, CounterOptions::default(), Delivery::Poll)?;
/// counter.submit(1, b"Hello, world!")?; // returns at once
/// counter.flush(Duration::from_secs(30))?;
/// let result = &counter.poll(10)[0];
/// assert_eq!((result.request_id, result.result.as_ref().unwrap().count), (1, 4));
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub struct Counter {
    shared: Arc<Shared>,
    /// Held while joining, so that a second `shutdown` waits for the first.
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Counter {
    /// Starts the workers. The counter owns its own handle on `adapter` (adapters are cheap to
    /// clone and share their engine).
    ///
    /// ```
    /// use std::time::Duration;
    /// use kano_tokenizer::{AdapterName, Counter, CounterOptions, Delivery, Registry};
    /// let adapter = Registry::from_env(&|_| None)?.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// let counter = Counter::new(adapter.clone(), CounterOptions::default(), Delivery::Poll)?;
    /// counter.submit(1, b"Hello, world!")?;
    /// counter.flush(Duration::from_secs(30))?;
    /// assert_eq!(counter.poll(1)[0].result, adapter.count("Hello, world!"));
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn new(adapter: Adapter, options: CounterOptions, delivery: Delivery) -> Result<Counter> {
        Counter::start(adapter, options, delivery, false)
    }

    /// As [`Counter::new`], for the C ABI: a panic the workers catch (while counting, or in the
    /// callback) is reported without being printed, since the host's stderr is not ours. From
    /// the Rust API such panics still reach the panic hook.
    #[cfg(feature = "ffi")]
    pub(crate) fn new_quiet(adapter: Adapter, options: CounterOptions, delivery: Delivery) -> Result<Counter> {
        Counter::start(adapter, options, delivery, true)
    }

    fn start(adapter: Adapter, options: CounterOptions, delivery: Delivery, quiet_panics: bool) -> Result<Counter> {
        let options = options.resolved()?;
        let shared = Arc::new(Shared {
            adapter,
            delivery,
            options,
            quiet_panics,
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            delivered: Condvar::new(),
        });
        let counter = Counter { shared, workers: Mutex::new(Vec::with_capacity(options.workers)) };
        for i in 0..options.workers {
            let shared = Arc::clone(&counter.shared);
            match std::thread::Builder::new().name(format!("kano-counter-{i}")).spawn(move || work(&shared)) {
                Ok(handle) => counter.workers.lock().push(handle),
                // Dropping `counter` stops and joins the workers already started.
                Err(e) => return Err(Error::new(ErrorKind::Io, format!("cannot start a worker thread: {e}"))),
            }
        }
        Ok(counter)
    }

    /// The settings in force, defaults filled in.
    ///
    /// ```
    /// use std::time::Duration;
    /// use kano_tokenizer::{AdapterName, Counter, CounterOptions, Delivery, Registry};
    /// let adapter = Registry::from_env(&|_| None)?.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// let options = CounterOptions { workers: 1, queue_capacity: 8, ..CounterOptions::default() };
    /// let counter = Counter::new(adapter, options, Delivery::Poll)?;
    /// assert_eq!(counter.options(), CounterOptions { max_pending_bytes: 64 << 20, drift_threshold: 0.10, ..options });
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn options(&self) -> CounterOptions {
        self.shared.options
    }

    /// Queues a copy of `text` for an exact count under `request_id`. Never waits for counting.
    ///
    /// Refuses, counting the refusal in `rejected`: `InputTooLarge` for a text over the adapter's
    /// `max_input_bytes`, `InvalidUtf8` (the message gives the byte offset), `Closed` after [`close`](Self::close), and `QueueFull` when `queue_capacity`
    /// requests are pending or the text would take the pending bytes past `max_pending_bytes`
    /// (a text larger than that is accepted when nothing else is pending).
    ///
    /// ```
    /// use std::time::Duration;
    /// use kano_tokenizer::{AdapterName, Counter, CounterOptions, Delivery, Registry};
    /// let adapter = Registry::from_env(&|_| None)?.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// use kano_tokenizer::ErrorKind;
    /// let counter = Counter::new(adapter, CounterOptions::default(), Delivery::Poll)?;
    /// counter.submit(1, b"Hello, world!")?;
    /// let err = counter.submit(2, b"ab\xffc").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidUtf8);
    /// assert!(err.message().contains("invalid byte at offset 2"));
    /// counter.flush(Duration::from_secs(30))?;
    /// assert_eq!((counter.stats().submitted, counter.stats().rejected), (1, 1));
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn submit(&self, request_id: u64, text: &[u8]) -> Result<()> {
        // Validate and copy outside the lock, which is held only for bookkeeping.
        if let Err(e) = self.shared.adapter.check_input_len(text.len()) {
            self.shared.state.lock().stats.rejected += 1;
            return Err(Error::new(e.kind(), format!("request {request_id}: {}", e.message())));
        }
        let text = match crate::utf8::validate(text) {
            Ok(text) => text,
            Err(e) => {
                self.shared.state.lock().stats.rejected += 1;
                let what = format!("text of request {request_id}");
                return Err(Error::invalid_utf8(&what, e));
            }
        };
        if text.len() >= PRECHECK_BYTES {
            let mut state = self.shared.state.lock();
            self.admit(&mut state, text.len())?;
        }
        let text = text.to_owned();
        let mut state = self.shared.state.lock();
        self.admit(&mut state, text.len())?;
        let seq = state.next_seq;
        state.next_seq += 1;
        state.outstanding.insert(seq);
        state.pending_bytes += text.len() as u64;
        state.stats.submitted += 1;
        state.stats.pending += 1;
        state.queue.push_back(Job { id: request_id, seq, text });
        drop(state);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Whether a text of `len` bytes may be queued now; a refusal is counted.
    fn admit(&self, state: &mut State, len: usize) -> Result<()> {
        let options = &self.shared.options;
        let refusal = if state.closed {
            Some((ErrorKind::Closed, "the counter is closed and accepts no more requests".to_string()))
        } else if state.stats.pending + state.results.len() as u64 >= options.queue_capacity as u64 {
            let waiting = if state.results.is_empty() {
                String::new()
            } else {
                format!(" and {} results waiting for poll", state.results.len())
            };
            Some((
                ErrorKind::QueueFull,
                format!(
                    "queue full: {} requests pending{waiting} (capacity {})",
                    state.stats.pending, options.queue_capacity
                ),
            ))
        } else if state.pending_bytes > 0 && state.pending_bytes.saturating_add(len as u64) > options.max_pending_bytes
        {
            Some((
                ErrorKind::QueueFull,
                format!(
                    "queue full: {} bytes pending, {len} more would pass max_pending_bytes {}",
                    state.pending_bytes, options.max_pending_bytes
                ),
            ))
        } else {
            None
        };
        match refusal {
            None => Ok(()),
            Some((kind, message)) => {
                state.stats.rejected += 1;
                Err(Error::new(kind, message))
            }
        }
    }

    /// Takes up to `max` delivered results, oldest first (poll mode; with a callback there are
    /// none).
    ///
    /// ```
    /// use std::time::Duration;
    /// use kano_tokenizer::{AdapterName, Counter, CounterOptions, Delivery, Registry};
    /// let adapter = Registry::from_env(&|_| None)?.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// // One worker counts in submission order.
    /// let options = CounterOptions { workers: 1, ..CounterOptions::default() };
    /// let counter = Counter::new(adapter, options, Delivery::Poll)?;
    /// for id in 1..=3 {
    ///     counter.submit(id, b"Hello, world!")?;
    /// }
    /// counter.flush(Duration::from_secs(30))?;
    /// let ids = |results: Vec<kano_tokenizer::CountResult>| results.iter().map(|r| r.request_id).collect::<Vec<_>>();
    /// assert_eq!(ids(counter.poll(2)), [1, 2]);
    /// assert_eq!(ids(counter.poll(10)), [3]);
    /// assert!(counter.poll(10).is_empty());
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn poll(&self, max: usize) -> Vec<CountResult> {
        let mut state = self.shared.state.lock();
        let n = max.min(state.results.len());
        state.results.drain(..n).collect()
    }

    /// Waits until every request accepted before this call has been delivered (its callback
    /// returned, or its result is in the poll queue), or returns `Timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use kano_tokenizer::{AdapterName, Counter, CounterOptions, Delivery, Registry};
    /// let adapter = Registry::from_env(&|_| None)?.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// let counter = Counter::new(adapter, CounterOptions::default(), Delivery::Poll)?;
    /// counter.submit(1, b"Hello, world!")?;
    /// counter.submit(2, b"Hello")?;
    /// counter.flush(Duration::from_secs(30))?;
    /// assert_eq!(counter.stats().pending, 0);
    /// assert_eq!(counter.poll(10).len(), 2);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.shared.state.lock();
        let target = state.next_seq;
        let undelivered = |state: &State| state.outstanding.first().is_some_and(|&seq| seq < target);
        while undelivered(&state) {
            match deadline {
                Some(deadline) => {
                    if self.shared.delivered.wait_until(&mut state, deadline).timed_out() && undelivered(&state) {
                        let left = state.outstanding.range(..target).count();
                        return Err(Error::new(
                            ErrorKind::Timeout,
                            format!(
                                "flush timed out after {} ms with {left} earlier requests undelivered",
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

    /// Stops accepting requests: later submits get `Closed`. Accepted requests are still counted
    /// and delivered. Returns at once; see [`shutdown`](Self::shutdown) to wait.
    ///
    /// ```
    /// use std::time::Duration;
    /// use kano_tokenizer::{AdapterName, Counter, CounterOptions, Delivery, Registry};
    /// let adapter = Registry::from_env(&|_| None)?.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// let counter = Counter::new(adapter, CounterOptions::default(), Delivery::Poll)?;
    /// counter.submit(1, b"Hello, world!")?;
    /// counter.close();
    /// assert_eq!(counter.submit(2, b"late").unwrap_err().kind(), kano_tokenizer::ErrorKind::Closed);
    /// counter.flush(Duration::from_secs(30))?; // the accepted request is still delivered
    /// assert_eq!(counter.poll(10)[0].request_id, 1);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn close(&self) {
        self.shared.state.lock().closed = true;
        self.shared.work.notify_all();
    }

    /// Closes the counter, waits until every accepted request has been delivered, and joins the
    /// workers. Results of poll mode stay available to `poll`. Concurrent calls all return once
    /// the workers are joined. Must not be called from the counter's own callback. Dropping the
    /// counter calls it.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Counter, CounterOptions, Delivery, ErrorKind, Registry};
    /// let adapter = Registry::from_env(&|_| None)?.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// let counter = Counter::new(adapter, CounterOptions::default(), Delivery::Poll)?;
    /// counter.submit(1, b"Hello, world!")?;
    /// counter.shutdown(); // waits for the delivery
    /// assert_eq!(counter.stats().completed, 1);
    /// assert_eq!(counter.poll(10)[0].request_id, 1);
    /// assert_eq!(counter.submit(2, b"late").unwrap_err().kind(), ErrorKind::Closed);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn shutdown(&self) {
        self.close();
        let mut workers = self.workers.lock();
        for handle in workers.drain(..) {
            // A worker only ends by returning: counting and the callback run under catch_unwind.
            let _ = handle.join();
        }
    }

    /// A consistent snapshot, taken under the lock that every change takes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use kano_tokenizer::{AdapterName, Counter, CounterOptions, Delivery, Registry};
    /// let adapter = Registry::from_env(&|_| None)?.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// let counter = Counter::new(adapter, CounterOptions::default(), Delivery::Poll)?;
    /// counter.submit(1, b"Hello, world!")?;
    /// let stats = counter.stats(); // whenever it is taken
    /// assert_eq!(stats.submitted, stats.completed + stats.failed + stats.pending);
    /// counter.flush(Duration::from_secs(30))?;
    /// assert_eq!((counter.stats().completed, counter.stats().pending), (1, 0));
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
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
    /// Closes the counter, lets the workers deliver every accepted request, then joins them.
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Shared {
    /// Catches a panic of counting or of the callback, giving its message.
    fn catch<R>(&self, body: impl FnOnce() -> R) -> std::result::Result<R, String> {
        if self.quiet_panics {
            crate::quiet_panic::catch(body)
        } else {
            catch_unwind(AssertUnwindSafe(body)).map_err(|payload| crate::quiet_panic::message(payload.as_ref()).into())
        }
    }
}

/// A worker: takes jobs until the counter is closed and the queue is empty.
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
        let exact = shared.catch(|| shared.adapter.count(&job.text)).unwrap_or_else(|message| {
            Err(Error::new(ErrorKind::AdapterUnavailable, format!("internal error (panic) while counting: {message}")))
        });
        // The estimate the request was answered with, against the exact count.
        let drift = match &exact {
            Ok(count) if count.is_exact => shared
                .catch(|| shared.adapter.estimate(&job.text))
                .ok()
                .map(|estimate| (estimate.estimate, count.count)),
            _ => None,
        };
        let text_len = job.text.len() as u64;
        drop(job.text);
        if let Delivery::Callback(callback) = &shared.delivery {
            // A panicking callback must not take the worker (and every later request) down.
            let _ = shared.catch(|| callback(job.id, exact.clone()));
        }
        let mut state = shared.state.lock();
        state.outstanding.remove(&job.seq);
        state.pending_bytes -= text_len;
        state.stats.pending -= 1;
        if exact.is_ok() {
            state.stats.completed += 1;
        } else {
            state.stats.failed += 1;
        }
        if let Some((estimate, exact)) = drift {
            record_drift(&mut state, estimate, exact, shared.options.drift_threshold);
        }
        if matches!(shared.delivery, Delivery::Poll) {
            state.results.push_back(CountResult { request_id: job.id, result: exact });
        }
        drop(state);
        shared.delivered.notify_all();
    }
}

fn record_drift(state: &mut State, estimate: u64, exact: u64, threshold: f64) {
    let error = estimate.abs_diff(exact);
    state.stats.drift_samples += 1;
    state.drift_abs_sum += error as f64;
    state.stats.drift_max_abs_error = state.stats.drift_max_abs_error.max(error);
    let over = if exact > 0 {
        let relative = error as f64 / exact as f64;
        state.drift_relative_sum += relative;
        state.drift_relative_samples += 1;
        relative > threshold
    } else {
        // Any error against an exact 0 is infinitely relative: past every finite threshold.
        error > 0 && threshold.is_finite()
    };
    state.stats.drift_over_threshold += u64::from(over);
}
