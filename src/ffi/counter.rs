//! `KanoCounter`: exact counts in the background, delivered to a callback or through
//! `kano_counter_poll`.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use super::adapter::KanoAdapter;
use super::boundary::{bytes, free_handle, handle, into_handle, out_param, write_out, FfiError};
use super::status::{KanoCount, KanoMethod, KanoStatus};
use crate::counter::{CountResult, Counter, CounterOptions, Delivery};

/// Receives one result on a worker thread: the caller's `user_data`, the request id given to
/// `kano_counter_submit`, the status (`KANO_STATUS_OK` or why counting failed) and the count
/// (zeroed on failure). It may be called from several worker threads at once, and must not call
/// `kano_counter_free` on its own counter.
pub type KanoCountCallback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, request_id: u64, status: KanoStatus, count: KanoCount)>;

/// Counter settings. Zero fields take the defaults.
#[repr(C)]
pub struct KanoCounterOptions {
    /// Worker threads; 0: the available cores, at most 4.
    pub workers: u32,
    /// Maximum requests pending (queued or being counted); 0: 1024.
    pub queue_capacity: u32,
    /// Maximum text bytes pending; 0: 64 MiB. A larger text is accepted when nothing is pending.
    pub max_pending_bytes: u64,
    /// NULL: results wait for `kano_counter_poll`.
    pub callback: KanoCountCallback,
    /// Passed to the callback unchanged.
    pub user_data: *mut c_void,
    /// A request counts as drifted when the estimate is off by more than this fraction of the
    /// exact count; 0: 0.10.
    pub drift_threshold: f64,
}

/// One delivered result.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KanoCountResult {
    pub request_id: u64,
    pub status: KanoStatus,
    /// Zeroed when `status` is not `KANO_STATUS_OK`.
    pub count: KanoCount,
}

/// A consistent snapshot: `submitted == completed + failed + pending` always holds.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KanoCounterStats {
    /// Requests accepted.
    pub submitted: u64,
    /// Results delivered with a count.
    pub completed: u64,
    /// Results delivered with an error status.
    pub failed: u64,
    /// Requests refused (queue full, invalid UTF-8, closing).
    pub rejected: u64,
    /// Accepted and not yet delivered.
    pub pending: u64,
    /// Completed requests whose estimate was compared with the exact count.
    pub drift_samples: u64,
    /// Mean of |estimate - exact|, in tokens.
    pub drift_mean_abs_error: f64,
    /// Mean of |estimate - exact| / exact.
    pub drift_mean_relative_error: f64,
    /// Largest |estimate - exact|, in tokens.
    pub drift_max_abs_error: u64,
    /// Requests whose relative error passed the drift threshold.
    pub drift_over_threshold: u64,
}

/// A background counter over one adapter. Created by `kano_counter_new`, freed by
/// `kano_counter_free`. Every function may be called from any thread.
pub struct KanoCounter {
    counter: Counter,
}

/// The caller's callback and data, called from worker threads.
struct CallbackTarget {
    callback: unsafe extern "C" fn(*mut c_void, u64, KanoStatus, KanoCount),
    user_data: *mut c_void,
}

// SAFETY: the documented contract of `KanoCounterOptions`: the callback and `user_data` may be
// used from any worker thread, at once.
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

/// Starts a background counter over `adapter` (which it keeps alive: the adapter handle may be
/// freed afterwards). `options` may be NULL for the defaults.
#[no_mangle]
pub unsafe extern "C" fn kano_counter_new(
    adapter: *const KanoAdapter,
    options: *const KanoCounterOptions,
    out: *mut *mut KanoCounter,
) -> KanoStatus {
    ffi_boundary!("kano_counter_new", {
        out_param(out, "out")?;
        // SAFETY: the caller passes NULL or a live adapter, and NULL or valid options.
        let adapter = unsafe { handle(adapter, "adapter") }?.adapter().clone();
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
        let counter = Counter::new(adapter, core, delivery)?;
        // SAFETY: checked by out_param.
        unsafe { write_out(out, into_handle(KanoCounter { counter })) };
        Ok(())
    })
}

/// Queues a copy of `len` bytes of UTF-8 text for an exact count under `request_id`. Never
/// blocks on counting. Returns `KANO_STATUS_QUEUE_FULL` when the queue is at capacity (by
/// requests or by bytes), `KANO_STATUS_INVALID_UTF8` for text that is not UTF-8 (the message
/// gives the offset) and `KANO_STATUS_CLOSED` while the counter is being freed; each refusal
/// counts in `rejected`. Every accepted request yields exactly one result.
#[no_mangle]
pub unsafe extern "C" fn kano_counter_submit(
    counter: *const KanoCounter,
    request_id: u64,
    text: *const c_char,
    len: usize,
) -> KanoStatus {
    ffi_boundary!("kano_counter_submit", {
        // SAFETY: the caller passes NULL or a live counter, and `len` readable bytes.
        let counter = unsafe { handle(counter, "counter") }?;
        let text = unsafe { bytes(text, len, "text") }?;
        counter.counter.submit(request_id, text)?;
        Ok(())
    })
}

/// Moves up to `max` delivered results into `out` and returns how many (poll mode; with a
/// callback there are none). Returns 0, and sets the last error, for a NULL counter or a NULL
/// `out` with `max > 0`.
#[no_mangle]
pub unsafe extern "C" fn kano_counter_poll(
    counter: *const KanoCounter,
    out: *mut KanoCountResult,
    max: usize,
) -> usize {
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

/// Waits up to `timeout_ms` until every request accepted before the call has been delivered:
/// `KANO_STATUS_OK`, or `KANO_STATUS_TIMEOUT`.
#[no_mangle]
pub unsafe extern "C" fn kano_counter_flush(counter: *const KanoCounter, timeout_ms: u32) -> KanoStatus {
    ffi_boundary!("kano_counter_flush", {
        // SAFETY: the caller passes NULL or a live counter.
        let counter = unsafe { handle(counter, "counter") }?;
        counter.counter.flush(Duration::from_millis(u64::from(timeout_ms)))?;
        Ok(())
    })
}

/// A consistent snapshot of the counter's figures.
#[no_mangle]
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

/// Delivers every accepted request (to the callback, or into the poll queue, which is then
/// dropped), joins the workers and frees the counter. NULL is a no-op. Submits racing with it
/// get `KANO_STATUS_CLOSED` until it returns; after that the handle is gone. Must not be called
/// from the counter's own callback.
#[no_mangle]
pub unsafe extern "C" fn kano_counter_free(counter: *mut KanoCounter) {
    // SAFETY: the caller passes NULL or a live counter, once.
    let _ = ffi_boundary!("kano_counter_free", {
        unsafe { free_handle(counter) };
        Ok(())
    });
}
