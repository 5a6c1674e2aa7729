//! The hot paths allocate nothing: the heuristic count and every adapter's estimate. A counting
//! global allocator sees each allocation made on this test's thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use kano_tokenizer::{AdapterName, Registry};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// The largest single allocation asked for on this thread.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    let _ = LARGEST.try_with(|n| n.set(n.get().max(size)));
}

// SAFETY: forwards to the system allocator; the counters are const-initialised thread-locals
// that never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn heuristic_counts_and_estimates_allocate_nothing() {
    let registry = Registry::with_config(Default::default());
    let texts = [
        String::new(),
        "Hello, world!".to_string(),
        "The quick brown fox jumps over the lazy dog. ".repeat(50),
        "日本語のテキスト、한국어 문장, Привет мир, مرحبا 👍🏽 ".repeat(40),
        " ".repeat(100_000),
        "9".repeat(100_000),
    ];
    let heuristic = registry.resolve(AdapterName::Heuristic, "gpt-4o").unwrap();
    let tiktoken = registry.resolve(AdapterName::Tiktoken, "gpt-4o").unwrap();
    let hf = registry.resolve(AdapterName::Huggingface, "all-MiniLM-L6-v2").unwrap();
    for text in &texts {
        // Warm up once: lazily built tables may allocate on first use.
        let _ = heuristic.count(text);
        let n = allocations_during(|| {
            let count = heuristic.count(text).unwrap();
            assert_eq!(count.count == 0, text.is_empty());
        });
        assert_eq!(n, 0, "heuristic count of {} bytes allocated", text.len());
        for adapter in [&heuristic, &tiktoken, &hf] {
            let _ = adapter.estimate(text);
            let n = allocations_during(|| {
                let e = adapter.estimate(text);
                assert!(e.lower_bound <= e.estimate && e.estimate <= e.upper_bound);
            });
            assert_eq!(n, 0, "{} estimate of {} bytes allocated", adapter.name(), text.len());
        }
    }
    // The counter works: an exact count does allocate (pieces, merge state).
    let exact = allocations_during(|| {
        tiktoken.count(&"word ".repeat(1000)).unwrap();
    });
    assert!(exact > 0, "the allocation counter sees nothing");
}

/// The largest single allocation `f` asks for on this thread.
fn largest_allocation_during(f: impl FnOnce()) -> usize {
    LARGEST.with(|n| n.set(0));
    f();
    LARGEST.with(Cell::get)
}

/// A 4-byte `precompiled_charsmap` (base64 `8P///w==`) whose header declares a trie of 4 GiB:
/// the tokenizers crate reserved 8 GiB for it before checking that the bytes follow, so where
/// address space is capped the process aborted. Whichever path would read it (our engine, or
/// the crate behind a part our engine lacks), it is refused from its header, with no big
/// allocation.
#[test]
fn a_charsmap_header_that_lies_is_refused_without_a_big_allocation() {
    let precompiled = r#"{"type": "Precompiled", "precompiled_charsmap": "8P///w=="}"#;
    let behind_a_crate_part = format!(
        r#"{{"type": "Sequence", "normalizers": [{{"type": "Replace", "pattern": {{"Regex": "\\w"}}, "content": "a"}}, {precompiled}]}}"#
    );
    for normalizer in [precompiled.to_string(), behind_a_crate_part] {
        let json = format!(
            r#"{{"version": "1.0", "added_tokens": [], "normalizer": {normalizer}, "pre_tokenizer": null,
            "post_processor": null, "decoder": null,
            "model": {{"type": "WordLevel", "vocab": {{"[UNK]": 0, "a": 1}}, "unk_token": "[UNK]"}}}}"#
        );
        let mut result = None;
        let largest = largest_allocation_during(|| {
            result = Some(kano_tokenizer::HfTokenizer::from_bytes(json.as_bytes(), "charsmap").map(|_| ()));
        });
        let e = result.unwrap().expect_err("refused");
        assert!(e.message().contains("precompiled_charsmap"), "{e}");
        assert!(largest < 1 << 20, "{normalizer}: an allocation of {largest} bytes");
    }
}

/// A Unigram vocabulary is read from the parsed JSON without a copy of each piece: its load
/// makes about two allocations per entry (the JSON's string and array), no more. (Each piece
/// was copied into a `String` of its own before the model packed them: a third allocation per
/// entry, and 76 MiB more at the peak for 2 million entries.)
#[test]
fn a_unigram_vocabulary_is_not_copied_piece_by_piece() {
    const ENTRIES: u64 = 200_000;
    let mut json = String::from(
        r#"{"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": null, "decoder": null, "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0]"#,
    );
    for i in 1..ENTRIES {
        json.push_str(&format!(r#", ["w{i:07}", -{}.5]"#, i % 100));
    }
    json.push_str("]}}");
    let n = allocations_during(|| {
        kano_tokenizer::HfTokenizer::from_bytes(json.as_bytes(), "unigram").expect("loads");
    });
    println!("{n} allocations for {ENTRIES} entries ({:.2} per entry)", n as f64 / ENTRIES as f64);
    assert!(n < ENTRIES * 5 / 2, "{n} allocations for {ENTRIES} entries");
}
