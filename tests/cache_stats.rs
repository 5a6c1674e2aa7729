//! The piece caches' figures (`cache_stats`, `kano_cache_stats`): in a process of its own, as
//! they are process-wide.

use kano_tokenizer::ffi::{kano_cache_stats, KanoCacheStats, KanoStatus};
use kano_tokenizer::{cache_stats, AdapterName, Registry};

#[test]
fn counting_shows_in_the_figures_and_an_ended_thread_leaves_them() {
    let registry = Registry::new().expect("registry");
    let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o").expect("adapter");
    let text = "the same words counted again and again, ".repeat(8);
    let before = cache_stats();
    // Joined with `join`, which waits for the thread's end (its caches are freed then); a
    // scoped thread's join may return before.
    let (worker_adapter, worker_text) = (adapter.clone(), text.clone());
    std::thread::spawn(move || {
        let (adapter, text) = (worker_adapter, worker_text);
        {
            adapter.count(&text).expect("counts");
            let first = cache_stats();
            adapter.count(&text).expect("counts");
            let second = cache_stats();
            assert_eq!(second.threads, before.threads + 1);
            assert!(first.lookups > before.lookups, "{first:?}");
            // The second count found every piece the first one kept.
            assert_eq!(second.lookups - first.lookups, second.hits - first.hits, "{second:?}");
            assert!(second.bytes >= before.bytes + 512 * 1024, "{second:?}");
            // The C ABI gives the same figures.
            let mut out = std::mem::MaybeUninit::<KanoCacheStats>::uninit();
            // SAFETY: a writable out-parameter.
            assert_eq!(unsafe { kano_cache_stats(out.as_mut_ptr()) }, KanoStatus::Ok);
            // SAFETY: written on Ok.
            let c = unsafe { out.assume_init() };
            assert_eq!((c.lookups, c.hits, c.threads), (second.lookups, second.hits, second.threads));
            assert!((c.hit_rate - second.hit_rate()).abs() < 1e-12);
        }
    })
    .join()
    .expect("the worker's checks hold");
    // The thread ended: its cache is gone from the figures, its lookups stay.
    let after = cache_stats();
    assert_eq!(after.threads, before.threads);
    assert_eq!(after.bytes, before.bytes);
    assert!(after.lookups > before.lookups);
    // SAFETY: NULL is refused, not written.
    assert_eq!(unsafe { kano_cache_stats(std::ptr::null_mut()) }, KanoStatus::NullPointer);
}
