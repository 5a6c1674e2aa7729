//! `KanoCounter`: exact counts in the background, delivered to a callback or through
//! `kano_counter_poll`. The core is `crate::counter`; this file only converts.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use super::adapter::KanoAdapter;
use super::boundary::{bytes, free_handle, handle, into_handle, out_param, write_out, FfiError};
use super::error::KanoStatus;
use super::process::{KanoCount, KanoMethod};
use crate::counter::{CountResult, Counter, CounterOptions, Delivery};

/// Receives one result, on a worker thread: the `user_data` of `KanoCounterOptions` unchanged,
/// the request id given to `kano_counter_submit`, the status (`KANO_STATUS_OK`, or why counting
/// failed) and the count (zeroed unless the status is `KANO_STATUS_OK`).
///
/// It may run on several worker threads at once, so it must be thread-safe, and it must return
/// (a request counts as delivered when its callback returns). It must not call
/// `kano_counter_free` on its own counter (that waits for the callback itself) and should not
/// call `kano_counter_flush` on it (that waits for the callback until its timeout);
/// `kano_counter_submit`, `kano_counter_stats` and every adapter function are fine.
/// `kano_last_error()` read inside it is the worker thread's.
///
/// ```c
/// static void on_count(void *user_data, uint64_t request_id, KanoStatus status, KanoCount count) {
///     (void)user_data; // runs on a worker thread, maybe on several at once
///     if (status == KANO_STATUS_OK)
///         printf("%llu: %llu tokens\n", (unsigned long long)request_id, (unsigned long long)count.count);
///     else
///         fprintf(stderr, "%llu: %s\n", (unsigned long long)request_id, kano_status_str(status));
/// }
/// ```
pub type KanoCountCallback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, request_id: u64, status: KanoStatus, count: KanoCount)>;

/// Counter settings for `kano_counter_new`. Zero fields take the defaults; NULL options are all
/// defaults (and poll mode). The struct is read during the call only.
///
/// With `adapter` from `kano_registry_resolve` and `on_count` a `KanoCountCallback`:
///
/// ```c
/// KanoCounterOptions options = {0}; // zero fields: the defaults
/// options.workers = 2;
/// options.callback = on_count; // NULL: poll mode
/// KanoCounter *counter = NULL;
/// if (kano_counter_new(adapter, &options, &counter) != KANO_STATUS_OK)
///     return 1;
/// kano_counter_free(counter); // delivers every accepted request first
/// ```
#[repr(C)]
pub struct KanoCounterOptions {
    /// Worker threads; 0: the available cores, at most 4. At most 256.
    pub workers: u32,
    /// Maximum requests pending (queued, being counted, or in poll mode delivered and not yet
    /// polled); 0: 1024.
    pub queue_capacity: u32,
    /// Maximum text bytes pending; 0: 64 MiB. A larger text is accepted when nothing is pending.
    pub max_pending_bytes: u64,
    /// Called with each result on a worker thread (see `KanoCountCallback`); NULL: results wait
    /// for `kano_counter_poll`.
    pub callback: KanoCountCallback,
    /// Passed to the callback unchanged; the library never reads it. It must stay valid until
    /// `kano_counter_free` returns.
    pub user_data: *mut c_void,
    /// A request counts as drifted (`drift_over_threshold`) when the estimate is off by more
    /// than this fraction of the exact count; 0: 0.10; `INFINITY`: never (the other drift
    /// figures are still kept). Negative (`-INFINITY` too) or NaN: `KANO_STATUS_INVALID_ARGUMENT`.
    pub drift_threshold: f64,
}

/// One delivered result, from `kano_counter_poll`.
///
/// With `counter` from `kano_counter_new` (poll mode: NULL options):
///
/// ```c
/// KanoCountResult results[64];
/// size_t n = kano_counter_poll(counter, results, 64);
/// for (size_t i = 0; i < n; i++)
///     if (results[i].status == KANO_STATUS_OK)
///         printf("%llu: %llu tokens\n", (unsigned long long)results[i].request_id,
///                (unsigned long long)results[i].count.count);
/// ```
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KanoCountResult {
    /// The id given to `kano_counter_submit`.
    pub request_id: u64,
    /// `KANO_STATUS_OK`, or why counting failed.
    pub status: KanoStatus,
    /// Zeroed when `status` is not `KANO_STATUS_OK`.
    pub count: KanoCount,
}

/// A consistent snapshot of a counter: `submitted == completed + failed + pending` always holds.
/// The drift fields compare the estimate (`kano_adapter_estimate`) with the exact count, for
/// every completed request with an exact count.
///
/// With `counter` from `kano_counter_new` (poll mode: NULL options):
///
/// ```c
/// KanoCounterStats stats;
/// if (kano_counter_stats(counter, &stats) != KANO_STATUS_OK)
///     return 1;
/// printf("%llu pending, %llu rejected, estimate off by %.1f%% on average\n",
///        (unsigned long long)stats.pending, (unsigned long long)stats.rejected,
///        100 * stats.drift_mean_relative_error);
/// ```
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KanoCounterStats {
    /// Requests accepted.
    pub submitted: u64,
    /// Results delivered with a count.
    pub completed: u64,
    /// Results delivered with an error status.
    pub failed: u64,
    /// Requests refused (queue full, invalid UTF-8, closed); none of them was accepted.
    pub rejected: u64,
    /// Accepted and not yet delivered (in poll mode: not yet ready to poll).
    pub pending: u64,
    /// Completed requests compared with their estimate.
    pub drift_samples: u64,
    /// Mean of |estimate - exact|, in tokens.
    pub drift_mean_abs_error: f64,
    /// Mean of |estimate - exact| / exact (samples with an exact count of 0 left out).
    pub drift_mean_relative_error: f64,
    /// Largest |estimate - exact|, in tokens.
    pub drift_max_abs_error: u64,
    /// Samples whose relative error passed `drift_threshold`.
    pub drift_over_threshold: u64,
}

/// A background counter over one adapter: worker threads count submitted texts exactly and
/// deliver each result once, to the callback or to `kano_counter_poll`.
///
/// Created by `kano_counter_new`, freed by `kano_counter_free`. Every function except
/// `kano_counter_free` may be called from many threads at once on the same counter (the handle is
/// not `const` in `submit`, `poll` and `flush` because they change its queue, not because they
/// need exclusive use).
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// KanoCounter *counter = NULL;
/// if (kano_counter_new(adapter, NULL, &counter) != KANO_STATUS_OK) {
///     fprintf(stderr, "kano: %s\n", kano_last_error());
///     return 1;
/// }
/// if (kano_counter_submit(counter, 1, "Hello, world!", 13) != KANO_STATUS_OK)
///     fprintf(stderr, "kano: %s\n", kano_last_error());
/// kano_counter_free(counter);
/// ```
pub struct KanoCounter {
    counter: Counter,
}

/// The caller's callback and data, called from worker threads.
struct CallbackTarget {
    callback: unsafe extern "C" fn(*mut c_void, u64, KanoStatus, KanoCount),
    user_data: *mut c_void,
}

// SAFETY: the documented contract of `KanoCountCallback`: the callback may run on any worker
// thread, on several at once, with `user_data`, which the library itself never dereferences.
unsafe impl Send for CallbackTarget {}
unsafe impl Sync for CallbackTarget {}

impl CallbackTarget {
    fn deliver(&self, request_id: u64, result: crate::error::Result<crate::adapter::Count>) {
        let (status, count) = status_and_count(result);
        // SAFETY: the caller's callback, called as its contract allows.
        unsafe { (self.callback)(self.user_data, request_id, status, count) }
    }
}

const ZERO_COUNT: KanoCount = KanoCount { count: 0, is_exact: false, method: KanoMethod::Heuristic };

fn status_and_count(result: crate::error::Result<crate::adapter::Count>) -> (KanoStatus, KanoCount) {
    match result {
        Ok(count) => (KanoStatus::Ok, count.into()),
        Err(e) => (FfiError::from(e).status, ZERO_COUNT),
    }
}

/// Starts a background counter over `adapter` and writes it to `*out`, to be freed with
/// `kano_counter_free`. The counter holds its own reference to the adapter's engine: the
/// adapter (and its registry) may be freed while the counter lives. `options` may be NULL for
/// the defaults and poll mode; it is read during the call only.
///
/// `KANO_STATUS_INVALID_ARGUMENT` for more than 256 workers or a negative or NaN
/// `drift_threshold` (`INFINITY` is accepted: it never flags drift); `KANO_STATUS_IO_ERROR` when a
/// worker thread cannot be started.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// KanoCounter *counter = NULL;
/// KanoStatus status = kano_counter_new(adapter, NULL, &counter); // NULL: defaults, poll mode
/// if (status != KANO_STATUS_OK) {
///     fprintf(stderr, "kano: %s: %s\n", kano_status_str(status), kano_last_error());
///     return 1;
/// }
/// kano_adapter_free(adapter); // the counter keeps what it counts with
/// kano_counter_free(counter);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_counter_new(
    adapter: *const KanoAdapter,
    options: *const KanoCounterOptions,
    out: *mut *mut KanoCounter,
) -> KanoStatus {
    ffi_boundary!("kano_counter_new", {
        out_param(out, "out")?;
        // SAFETY: the caller passes NULL or a live adapter.
        let adapter = unsafe { handle(adapter, "adapter") }?.adapter().clone();
        // SAFETY: the caller passes NULL or valid options.
        let options = unsafe { options.as_ref() };
        let core = CounterOptions {
            workers: options.map_or(0, |o| o.workers as usize),
            queue_capacity: options.map_or(0, |o| o.queue_capacity as usize),
            max_pending_bytes: options.map_or(0, |o| o.max_pending_bytes),
            drift_threshold: options.map_or(0.0, |o| o.drift_threshold),
        };
        let delivery = match options.and_then(|o| o.callback.map(|callback| (callback, o.user_data))) {
            Some((callback, user_data)) => {
                let target = CallbackTarget { callback, user_data };
                Delivery::Callback(Box::new(move |id, result| target.deliver(id, result)))
            }
            None => Delivery::Poll,
        };
        let counter = Counter::new_quiet(adapter, core, delivery)?;
        // SAFETY: checked by out_param.
        unsafe { write_out(out, into_handle(KanoCounter { counter })) };
        Ok(())
    })
}

/// Queues a copy of `len` bytes of UTF-8 `text` for an exact count under `request_id` (any
/// value; ids are not checked for uniqueness). Never waits for counting; the text may be
/// reused as soon as the call returns.
///
/// On `KANO_STATUS_OK` the request is accepted and will yield exactly one result. Otherwise it
/// was not accepted, and the refusal counts in `rejected`: `KANO_STATUS_QUEUE_FULL` when
/// `queue_capacity` requests are pending or the text would take the pending bytes past
/// `max_pending_bytes` (retry later), `KANO_STATUS_INPUT_TOO_LARGE` for a text over the
/// registry's `max_input_bytes`, `KANO_STATUS_INVALID_UTF8` for text that is not UTF-8 (the
/// message gives the byte offset) and `KANO_STATUS_CLOSED` while the counter is being freed.
/// A call with bad arguments is no request and does not count: `KANO_STATUS_NULL_POINTER` for a
/// NULL `counter`, or a NULL `text` with a non-zero `len`; `KANO_STATUS_INVALID_ARGUMENT` for a
/// `len` over `PTRDIFF_MAX`. Thread-safe.
///
/// With `counter` from `kano_counter_new` (poll mode: NULL options):
///
/// ```c
/// const char *text = "Hello, world!";
/// KanoStatus status = kano_counter_submit(counter, 42, text, strlen(text));
/// if (status == KANO_STATUS_QUEUE_FULL) {
///     // not accepted: retry later, or count it now with kano_adapter_count
/// } else if (status != KANO_STATUS_OK) {
///     fprintf(stderr, "kano: %s: %s\n", kano_status_str(status), kano_last_error());
/// }
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_counter_submit(
    counter: *mut KanoCounter,
    request_id: u64,
    text: *const c_char,
    len: usize,
) -> KanoStatus {
    ffi_boundary!("kano_counter_submit", {
        // SAFETY: the caller passes NULL or a live counter.
        let counter = unsafe { handle(counter, "counter") }?;
        // SAFETY: the caller passes `len` readable bytes (or NULL with 0).
        let text = unsafe { bytes(text, len, "text") }?;
        counter.counter.submit(request_id, text)?;
        Ok(())
    })
}

/// Moves up to `max` delivered results, oldest first, into `out` (room for `max` results) and
/// returns how many. Poll mode only: with a callback there are none. Never waits. Returns 0,
/// and sets the last error, for a NULL counter or a NULL `out` with `max > 0`. Thread-safe:
/// concurrent polls share out the results, each delivered to one of them.
///
/// With `counter` from `kano_counter_new` (poll mode: NULL options):
///
/// ```c
/// KanoCountResult results[16];
/// size_t n;
/// while ((n = kano_counter_poll(counter, results, 16)) > 0) // never waits
///     for (size_t i = 0; i < n; i++)
///         printf("%llu: %s\n", (unsigned long long)results[i].request_id,
///                kano_status_str(results[i].status));
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_counter_poll(counter: *mut KanoCounter, out: *mut KanoCountResult, max: usize) -> usize {
    ffi_boundary!("kano_counter_poll", fallback = 0, {
        // SAFETY: the caller passes NULL or a live counter.
        let counter = unsafe { handle(counter, "counter") }?;
        if max == 0 {
            return Ok(0);
        }
        out_param(out, "out")?;
        let results = counter.counter.poll(max);
        let delivered = results.len();
        for (i, CountResult { request_id, result }) in results.into_iter().enumerate() {
            let (status, count) = status_and_count(result);
            // SAFETY: `out` has room for `max` results and i < max.
            unsafe { write_out(out.add(i), KanoCountResult { request_id, status, count }) };
        }
        Ok(delivered)
    })
}

/// Waits up to `timeout_ms` milliseconds until every request accepted before the call has been
/// delivered (its callback returned, or its result is ready to poll): `KANO_STATUS_OK`, or
/// `KANO_STATUS_TIMEOUT`. Requests submitted during the wait are not waited for. Thread-safe.
///
/// With `counter` from `kano_counter_new` (poll mode: NULL options):
///
/// ```c
/// KanoStatus status = kano_counter_flush(counter, 5000); // wait up to 5 s
/// if (status != KANO_STATUS_OK) // KANO_STATUS_TIMEOUT: some requests are still pending
///     fprintf(stderr, "kano: %s: %s\n", kano_status_str(status), kano_last_error());
/// KanoCountResult results[16];
/// printf("%zu results ready\n", kano_counter_poll(counter, results, 16));
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_counter_flush(counter: *mut KanoCounter, timeout_ms: u32) -> KanoStatus {
    ffi_boundary!("kano_counter_flush", {
        // SAFETY: the caller passes NULL or a live counter.
        let counter = unsafe { handle(counter, "counter") }?;
        counter.counter.flush(Duration::from_millis(u64::from(timeout_ms)))?;
        Ok(())
    })
}

/// Writes a consistent snapshot of the counter's figures to `*out`. Thread-safe.
///
/// With `counter` from `kano_counter_new` (poll mode: NULL options):
///
/// ```c
/// KanoCounterStats stats;
/// KanoStatus status = kano_counter_stats(counter, &stats);
/// if (status != KANO_STATUS_OK) {
///     fprintf(stderr, "kano: %s: %s\n", kano_status_str(status), kano_last_error());
///     return 1;
/// }
/// printf("%llu of %llu submitted are done\n", (unsigned long long)(stats.completed + stats.failed),
///        (unsigned long long)stats.submitted);
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_counter_stats(counter: *const KanoCounter, out: *mut KanoCounterStats) -> KanoStatus {
    ffi_boundary!("kano_counter_stats", {
        out_param(out, "out")?;
        // SAFETY: the caller passes NULL or a live counter.
        let s = unsafe { handle(counter, "counter") }?.counter.stats();
        let stats = KanoCounterStats {
            submitted: s.submitted,
            completed: s.completed,
            failed: s.failed,
            rejected: s.rejected,
            pending: s.pending,
            drift_samples: s.drift_samples,
            drift_mean_abs_error: s.drift_mean_abs_error,
            drift_mean_relative_error: s.drift_mean_relative_error,
            drift_max_abs_error: s.drift_max_abs_error,
            drift_over_threshold: s.drift_over_threshold,
        };
        // SAFETY: checked by out_param.
        unsafe { write_out(out, stats) };
        Ok(())
    })
}

/// Stops accepting requests, delivers every accepted one (to the callback; in poll mode into
/// the poll queue, which is then discarded: flush and poll first to keep them), joins the
/// worker threads and frees the counter. NULL is a no-op; must not be called twice.
///
/// Submits from other threads while it runs get `KANO_STATUS_CLOSED`; once it has returned the
/// handle is gone, so the caller must make sure no thread uses it any more. Must not be called
/// from the counter's own callback.
///
/// With `adapter` from `kano_registry_resolve`:
///
/// ```c
/// KanoCounter *counter = NULL;
/// if (kano_counter_new(adapter, NULL, &counter) != KANO_STATUS_OK)
///     return 1;
/// // ... kano_counter_submit, then kano_counter_flush and kano_counter_poll to keep the results ...
/// kano_counter_free(counter); // joins the workers; results not polled are discarded
/// counter = NULL;
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kano_counter_free(counter: *mut KanoCounter) {
    let _ = ffi_boundary!("kano_counter_free", {
        if counter.is_null() {
            return Ok(());
        }
        // Deliver and join through a shared reference first, so that submits racing with the
        // free (also shared references) meet a closed counter, not one being destroyed.
        // SAFETY: the caller passes a live counter, once.
        unsafe { handle(counter, "counter") }?.counter.shutdown();
        // SAFETY: as above; the workers are joined, and no call may start any more.
        unsafe { free_handle(counter) };
        Ok(())
    });
}
