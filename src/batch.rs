//! Batch counting: many texts in one call, split across a few threads.
//!
//! There is no pool. A batch whose texts total less than [`INLINE_BYTES`] (or that has one text,
//! or a thread limit of 1) is counted on the caller's thread with no hand-off. A larger batch is
//! cut into chunks of about equal bytes, and `std::thread::scope` starts up to `threads - 1`
//! helper threads that take chunks, with the caller's thread taking chunks too; the call returns
//! after every helper has been joined. So no thread outlives a call: nothing is left running
//! when the library is unloaded, and nothing is started until a large batch arrives. Starting a
//! thread costs tens of microseconds, against the milliseconds a batch of 64 KiB takes to count.
//!
//! The helper writes each text's result into its own slot of the caller's output, so a batch
//! allocates only its list of chunks (one `Vec`), plus what counting each text needs.

use std::sync::Mutex;

/// Batches totalling fewer bytes than this are counted on the caller's thread.
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, Registry, BATCH_INLINE_BYTES};
/// assert_eq!(BATCH_INLINE_BYTES, 64 * 1024);
/// let registry = Registry::with_config(Config::default());
/// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
/// // A few short texts: far below the threshold, counted on this thread.
/// assert_eq!(adapter.count_batch(&["Hello, world!"; 3]).len(), 3);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub const INLINE_BYTES: usize = 64 * 1024;

/// The most threads a batch uses (`tokenizer.batch_threads` cannot ask for more).
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, Registry, MAX_BATCH_THREADS};
/// let mut config = Config::default();
/// config.batch_threads = 1000;
/// let adapter = Registry::with_config(config).resolve(AdapterName::Tiktoken, "gpt-4o")?;
/// assert_eq!(adapter.batch_threads(), MAX_BATCH_THREADS);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub const MAX_BATCH_THREADS: usize = 64;

/// The default number of threads when `tokenizer.batch_threads` is 0 (automatic): the available
/// cores, at most 8.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8)
}

/// The thread count a `batch_threads` setting means: 0 is [`default_threads`].
pub fn resolve_threads(batch_threads: usize) -> usize {
    if batch_threads == 0 {
        default_threads()
    } else {
        batch_threads.min(MAX_BATCH_THREADS)
    }
}

/// Chunks hold at least this many bytes of text (or a single text), so that a chunk's work is
/// worth taking a lock for.
const MIN_CHUNK_BYTES: usize = 16 * 1024;

/// Output slices that can be split at an index, so that each chunk of a batch writes only its
/// own slots: a slice, or a pair of slices of the same length (the C ABI's counts and statuses).
pub(crate) trait Slots: Send + Sized {
    fn len(&self) -> usize;
    fn split_at(self, mid: usize) -> (Self, Self);
}

impl<T: Send> Slots for &mut [T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        self.split_at_mut(mid)
    }
}

impl<A: Slots, B: Slots> Slots for (A, B) {
    fn len(&self) -> usize {
        self.0.len().min(self.1.len())
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let (a0, a1) = self.0.split_at(mid);
        let (b0, b1) = self.1.split_at(mid);
        ((a0, b0), (a1, b1))
    }
}

/// Runs `work(start, chunk)` over consecutive chunks of `slots` (item `start + k` of the batch
/// belongs to slot `k` of the chunk), on up to `threads` threads counting the caller's.
/// `weight(i)` is item `i`'s size in bytes (what it costs to count); it decides whether the
/// batch runs inline and where chunks are cut. Returns the number of threads that worked.
///
/// A panic in `work` on a helper thread is re-raised on the caller's thread after every helper
/// has finished (`std::thread::scope`); callers that must not unwind catch panics inside `work`.
pub(crate) fn run<S: Slots>(
    slots: S,
    threads: usize,
    weight: impl Fn(usize) -> usize,
    work: impl Fn(usize, S) + Sync,
) -> usize {
    let n = slots.len();
    let total = (0..n).fold(0usize, |sum, i| sum.saturating_add(weight(i)));
    if threads <= 1 || n <= 1 || total < INLINE_BYTES {
        work(0, slots);
        return 1;
    }
    // About four chunks per thread, so that a thread that drew short texts takes more.
    let target = (total / (threads * 4)).max(MIN_CHUNK_BYTES);
    let mut chunks = Vec::new();
    let (mut rest, mut start, mut bytes) = (slots, 0, 0usize);
    for i in 0..n {
        bytes = bytes.saturating_add(weight(i));
        if bytes >= target && i + 1 < n {
            let (chunk, tail) = rest.split_at(i + 1 - start);
            chunks.push((start, chunk));
            (rest, start, bytes) = (tail, i + 1, 0);
        }
    }
    chunks.push((start, rest));
    let helpers = threads.min(chunks.len()) - 1;
    let queue = Mutex::new(chunks.into_iter());
    let drain = || loop {
        // A poisoned lock only means another thread panicked in `work` (not while holding it).
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
        match next {
            Some((start, chunk)) => work(start, chunk),
            None => break,
        }
    };
    std::thread::scope(|scope| {
        let mut started = 0;
        for _ in 0..helpers {
            // When the system refuses a thread, the threads already running (at least the
            // caller's) take its share.
            match std::thread::Builder::new().name("kano-batch".into()).spawn_scoped(scope, drain) {
                Ok(_) => started += 1,
                Err(_) => break,
            }
        }
        drain();
        started + 1
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn small_batches_run_inline_and_large_ones_on_several_threads() {
        let mut out = vec![0usize; 100];
        let used = run(
            &mut out[..],
            4,
            |_| 100,
            |start, chunk: &mut [usize]| {
                for (k, slot) in chunk.iter_mut().enumerate() {
                    *slot = start + k;
                }
            },
        );
        assert_eq!(used, 1);
        assert!(out.iter().enumerate().all(|(i, &v)| v == i));

        let names = Mutex::new(HashSet::new());
        let mut out = vec![0usize; 1000];
        let used = run(
            &mut out[..],
            4,
            |_| 1000,
            |start, chunk: &mut [usize]| {
                names.lock().unwrap().insert(format!("{:?}", std::thread::current().id()));
                std::thread::sleep(std::time::Duration::from_millis(5));
                for (k, slot) in chunk.iter_mut().enumerate() {
                    *slot = start + k + 1;
                }
            },
        );
        assert_eq!(used, 4);
        assert!(names.lock().unwrap().len() > 1, "the chunks all ran on one thread");
        assert!(out.iter().enumerate().all(|(i, &v)| v == i + 1));
    }

    #[test]
    fn pairs_of_slots_split_together() {
        let mut a = vec![0usize; 300];
        let mut b = vec![0u8; 300];
        let used = run(
            (&mut a[..], &mut b[..]),
            3,
            |i| if i == 7 { usize::MAX } else { 1000 },
            |start, (a, b)| {
                for k in 0..a.len() {
                    a[k] = start + k;
                    b[k] = ((start + k) % 251) as u8;
                }
            },
        );
        assert!(used >= 2);
        assert!((0..300).all(|i| a[i] == i && b[i] == (i % 251) as u8));
    }

    #[test]
    fn thread_settings() {
        assert_eq!(resolve_threads(1), 1);
        assert_eq!(resolve_threads(1000), MAX_BATCH_THREADS);
        assert!((1..=8).contains(&resolve_threads(0)));
    }
}
