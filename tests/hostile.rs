//! Hostile files: tokenizer.json and config files built to hurt (catastrophic regexes, millions
//! of vocabulary entries, deep nesting, megabytes of junk, truncation at every kind of point, and
//! directories, devices and FIFOs in place of a file). Each must give a clear error that names
//! the file, or a correct count, in bounded time. `hostile_tokenizer_files_are_errors`
//! (tests/registry.rs) and the config tests already cover the empty file, garbage, a file cut in
//! half, 100k unclosed brackets, a wrong shape and /dev/null as a tokenizer; these go further.
//!
//! Times are printed (`cargo test --release --test hostile -- --nocapture`) and bounded by
//! generous limits that only a hang or an exponential blow-up would pass.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use kano_tokenizer::{AdapterName, ErrorKind, Registry};

/// The big cases run one at a time, so their memory figures are their own.
static HEAVY: Mutex<()> = Mutex::new(());

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kano-hostile-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn timed<T>(what: &str, limit: Duration, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let value = f();
    let took = start.elapsed();
    println!("{what}: {took:.3?}");
    assert!(took < limit, "{what} took {took:?}, over the {limit:?} bound");
    value
}

/// The resident set of this process, in MiB.
fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: f64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096.0 / (1024.0 * 1024.0)
}

/// The peak resident set so far (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<f64>().unwrap() / 1024.0
}

/// Resolving `path` as a huggingface model fails with `kind`, and the message names the file.
fn assert_tokenizer_error(path: &Path, kind: ErrorKind, limit: Duration) -> String {
    assert_tokenizer_error_naming(path, path.to_str().unwrap(), kind, limit)
}

/// As [`assert_tokenizer_error`], the message naming `names` (a symlink's target, say).
fn assert_tokenizer_error_naming(path: &Path, names: &str, kind: ErrorKind, limit: Duration) -> String {
    let label = format!("tokenizer {}", path.display());
    let e = timed(&label, limit, || {
        plain_registry().resolve(AdapterName::Huggingface, path.to_str().unwrap()).unwrap_err()
    });
    assert_eq!(e.kind(), kind, "{}: {e}", path.display());
    assert!(e.message().contains(names), "the message names the file: {e}");
    println!("    -> {:?}: {}", e.kind(), truncate(e.message()));
    e.message().to_string()
}

/// Loading a config file fails with `kind`, and the message names the file.
fn assert_config_error(path: &Path, kind: ErrorKind, limit: Duration) -> String {
    let label = format!("config {}", path.display());
    let e = timed(&label, limit, || Registry::from_config_file(path).unwrap_err());
    assert_eq!(e.kind(), kind, "{}: {e}", path.display());
    assert!(e.message().contains(path.to_str().unwrap()), "the message names the file: {e}");
    println!("    -> {:?}: {}", e.kind(), truncate(e.message()));
    e.message().to_string()
}

fn truncate(s: &str) -> String {
    if s.len() <= 200 {
        s.to_string()
    } else {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    }
}

/// A WordLevel tokenizer.json: `vocab` words, unknown words are [UNK], and an optional
/// pre-tokenizer (JSON) in front.
fn word_level(vocab: &[&str], pre_tokenizer: &str) -> String {
    let mut entries = vec![r#""[UNK]": 0"#.to_string()];
    entries.extend(vocab.iter().enumerate().map(|(i, w)| format!("{}: {}", serde_json::json!(w), i + 1)));
    format!(
        r#"{{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null,
"pre_tokenizer": {pre_tokenizer}, "post_processor": null, "decoder": null,
"model": {{"type": "WordLevel", "vocab": {{{}}}, "unk_token": "[UNK]"}}}}"#,
        entries.join(", ")
    )
}

fn split(pattern: &str) -> String {
    format!(
        r#"{{"type": "Split", "pattern": {{"Regex": {}}}, "behavior": "Isolated", "invert": false}}"#,
        serde_json::json!(pattern)
    )
}

// ---------------------------------------------------------------------------------------------
// Catastrophic regexes
// ---------------------------------------------------------------------------------------------

/// `(a+)+$` and friends in a Split pre-tokenizer, on long runs of 'a' then 'b' (no match: the
/// classic exponential case for a backtracking engine). The tokenizers crate is built with
/// fancy-regex, which hands patterns without look-around or back-references to the linear-time
/// `regex` crate; patterns with them run on its backtracking VM, which stops at 1,000,000 steps.
/// Every case must finish in bounded time with the right count or a clear error.
#[test]
fn catastrophic_split_regexes_are_bounded() {
    let dir = scratch("regex");
    // Each pattern, and the count that is right for "a" * n + "b" with vocab [UNK], a, b.
    // Isolated split: matches and the gaps between them are pieces; WordLevel maps each piece.
    let cases: &[(&str, fn(usize) -> u64)] = &[
        // No match anywhere: the whole text is one unknown piece.
        (r"(a+)+$", |_| 1),
        (r"(a|aa)+$", |_| 1),
        (r"(a*)*$x", |_| 1),
        // GPT-2's look-ahead, the one backtracking construct served (within the run limit).
        (r"\s+(?!\S)|\s+|(a+)+$", |_| 1),
    ];
    for (i, (pattern, want)) in cases.iter().enumerate() {
        let path = dir.join(format!("regex-{i}.json"));
        std::fs::write(&path, word_level(&["a", "b"], &split(pattern))).unwrap();
        let adapter = timed(&format!("load Split {pattern:?}"), Duration::from_secs(10), || {
            plain_registry()
                .resolve(AdapterName::Huggingface, path.to_str().unwrap())
                .expect("a Split pre-tokenizer loads")
        });
        for n in [10usize, 25, 1000, 100_000] {
            let text = "a".repeat(n) + "b";
            let result = timed(&format!("  count {pattern:?} on 'a' x {n} + 'b'"), Duration::from_secs(20), || {
                adapter.count(&text)
            });
            match result {
                Ok(c) => {
                    println!("    -> {} tokens (want {})", c.count, want(n));
                    assert_eq!(c.count, want(n), "{pattern:?} on {n} 'a's: a wrong count is worse than an error");
                }
                Err(e) => {
                    println!("    -> {:?}: {}", e.kind(), e.message());
                    assert_eq!(e.kind(), ErrorKind::AdapterUnavailable, "{e}");
                }
            }
        }
    }
}

/// Other look-around and back-references can take the backtracking VM past its million steps on
/// a few dozen bytes, after which the crate silently ends the split (`a|(b+)+\1c` counted 30
/// 'b's between 'a's as one piece, marked exact). No run limit makes them safe: they are refused
/// when the file loads.
/// Patterns our engine cannot run in linear time go to the `tokenizers` crate, which runs them
/// on a backtracking engine that gives up after a million steps: they are refused.
#[test]
fn split_regexes_that_need_backtracking_are_refused() {
    let dir = scratch("backtracking");
    for (i, pattern) in
        [r"a|(b+)+\1c", r"(a+)+(?=c)", r"(a+)+\1c", r"(?<=a)b", r"(?>a+)b", r"\s+(?!\S)|(?!x)a"].iter().enumerate()
    {
        let path = dir.join(format!("backtracking-{i}.json"));
        std::fs::write(&path, word_level(&["a", "b"], &split(pattern))).unwrap();
        // A look-ahead that ends the pattern runs on our linear engine; the rest is refused.
        if *pattern == r"(a+)+(?=c)" {
            let adapter = plain_registry().resolve(AdapterName::Huggingface, path.to_str().unwrap()).expect("linear");
            assert_eq!(adapter.engine_path(), "kano-wordlevel");
            // "aaac": the a's before the c, then the c; "aab": no match, one piece.
            assert_eq!(adapter.count("aaac").unwrap().count, 2);
            assert_eq!(adapter.count(&"a".repeat(100_000)).unwrap().count, 1);
            continue;
        }
        let message = assert_tokenizer_error(&path, ErrorKind::AdapterUnavailable, Duration::from_secs(10));
        assert!(message.contains("backtracking") && message.contains("not be exact"), "{pattern:?}: {message}");
    }
    // A back-reference in a Replace normalizer.
    let path = dir.join("replace.json");
    let normalizer = r#"{"type": "Replace", "pattern": {"Regex": "(b+)+\\1c"}, "content": "b"}"#;
    std::fs::write(&path, word_level_normalized(normalizer, "null")).unwrap();
    assert_tokenizer_error(&path, ErrorKind::AdapterUnavailable, Duration::from_secs(10));
}

/// A WordLevel file with `normalizer` and `pre_tokenizer` (JSON) and the vocabulary [UNK], a, b.
fn word_level_normalized(normalizer: &str, pre_tokenizer: &str) -> String {
    let json = word_level(&["a", "b"], pre_tokenizer);
    let json = json.replacen(r#""normalizer": null"#, &format!(r#""normalizer": {normalizer}"#), 1);
    assert!(json.contains(normalizer), "the fixture has a normalizer slot");
    json
}

/// A `Replace` normalizer with 10,000 bytes of content grows 1 MB of text to 10 GB in the
/// `tokenizers` crate, whose allocation failure would abort the host process: the count is
/// refused before the crate runs, from the pipeline's growth bound. Small texts still count.
#[test]
fn a_normalizer_that_grows_text_cannot_exhaust_memory() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("growth");
    let path = dir.join("tokenizer.json");
    let normalizer =
        format!(r#"{{"type": "Replace", "pattern": {{"String": "a"}}, "content": "{}"}}"#, "b".repeat(10_000));
    std::fs::write(&path, word_level_normalized(&normalizer, "null")).unwrap();
    let adapter = plain_registry().resolve(AdapterName::Huggingface, path.to_str().unwrap()).expect("loads");
    let small = "a".repeat(10);
    assert_eq!(adapter.count(&small).expect("100 KB after normalizing").count, 1);
    let big = "a".repeat(1 << 20);
    let peak_before = peak_rss_mib();
    let e = timed("count 1 MiB that would grow to 10 GB", Duration::from_secs(5), || adapter.count(&big)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InputTooLarge, "{e}");
    assert!(e.message().contains("grow"), "{e}");
    assert!(peak_rss_mib() - peak_before < 64.0, "the refusal allocates nothing big");
}

/// A `Replace` with an empty `String` pattern puts its content between every two characters.
/// Our engine refuses it at load; behind a part our engine lacks (a `\w` regex) it reached the
/// `tokenizers` crate, where its growth was classed as unbounded and the growth guard skipped:
/// loading took 26 s and 800 MiB (the estimator's fit counts a few texts), 2 KB took 273 MB and
/// 32 KB 4.35 GB (136,000x the text). Now the growth is bounded (1 + 8,000 bytes per byte), and
/// a text that could grow past the crate's budget is refused before the crate runs.
#[test]
fn an_empty_replace_pattern_behind_a_crate_part_is_bounded() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("empty-replace");
    let empty = format!(r#"{{"type": "Replace", "pattern": {{"String": ""}}, "content": "{}"}}"#, "x".repeat(8000));
    // Our engine refuses it on its own.
    let path = dir.join("alone.json");
    std::fs::write(&path, word_level_normalized(&empty, "null")).unwrap();
    let message = assert_tokenizer_error(&path, ErrorKind::AdapterUnavailable, Duration::from_secs(5));
    assert!(message.contains("empty pattern"), "{message}");
    // Behind a regex our engine lacks, the crate counts it.
    let path = dir.join("crate.json");
    let normalizer = format!(
        r#"{{"type": "Sequence", "normalizers": [{{"type": "Replace", "pattern": {{"Regex": "\\w"}}, "content": "a"}}, {empty}]}}"#
    );
    std::fs::write(&path, word_level_normalized(&normalizer, "null")).unwrap();
    let peak_before = peak_rss_mib();
    let adapter = timed("load an empty Replace pattern behind a crate part", Duration::from_secs(10), || {
        plain_registry().resolve(AdapterName::Huggingface, path.to_str().unwrap()).expect("loads")
    });
    assert_eq!(adapter.engine_path(), "tokenizers");
    // "ab" becomes "x..xax..xax..x": one unknown word.
    assert_eq!(adapter.count("ab").expect("16 KB after normalizing").count, 1);
    let text = "ab".repeat(16 * 1024);
    let e =
        timed("count 32 KiB that would grow to 262 MB", Duration::from_secs(5), || adapter.count(&text)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InputTooLarge, "{e}");
    assert!(e.message().contains("grow"), "{e}");
    let grown = peak_rss_mib() - peak_before;
    println!("    peak RSS +{grown:.0} MiB");
    assert!(grown < 400.0, "+{grown:.0} MiB: the crate's budget is 16 MiB of text, about 272 MiB");
}

/// Letters replaced by a space, which the pre-tokenizer then drops, leave no token: the lower
/// bound must not count on them, and the limit check stays right.
#[test]
fn letters_replaced_by_whitespace_give_no_lower_bound() {
    let dir = scratch("replace-space");
    for (i, content) in [" ", "  ", "", "\\t"].iter().enumerate() {
        let path = dir.join(format!("tokenizer-{i}.json"));
        let normalizer = format!(r#"{{"type": "Replace", "pattern": {{"String": "a"}}, "content": "{content}"}}"#);
        let pre_tokenizer = r#"{"type": "WhitespaceSplit"}"#;
        std::fs::write(&path, word_level_normalized(&normalizer, pre_tokenizer)).unwrap();
        let adapter = plain_registry().resolve(AdapterName::Huggingface, path.to_str().unwrap()).expect("loads");
        for text in ["a", "aaaa", "a a", "ab", "b"] {
            let exact = adapter.count(text).expect("count").count;
            let e = adapter.estimate(text);
            assert!(e.lower_bound <= exact && exact <= e.upper_bound, "{content:?} {text:?}: {exact} outside {e:?}");
            for max in [0, 1, 2] {
                let c = adapter.check_limit(text, max).expect("check");
                assert_eq!(c.within_limit, exact <= max, "{content:?} {text:?} against {max}: {c:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Size: millions of vocabulary entries, megabytes of junk, the file size limit
// ---------------------------------------------------------------------------------------------

/// A WordLevel vocabulary of 2,000,000 entries (a 40 MB file): it loads in bounded time and
/// memory, and counts. Prints the cost per entry and per file byte, which bounds what the
/// 256 MiB file limit (MAX_TOKENIZER_FILE_BYTES) allows.
#[test]
fn a_vocabulary_of_millions_of_entries_loads_in_bounded_time_and_memory() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    const ENTRIES: usize = 2_000_000;
    let dir = scratch("vocab");
    let path = dir.join("tokenizer.json");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    write!(
        file,
        r#"{{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null,
"pre_tokenizer": {{"type": "Whitespace"}}, "post_processor": null, "decoder": null,
"model": {{"type": "WordLevel", "unk_token": "[UNK]", "vocab": {{"[UNK]": 0"#
    )
    .unwrap();
    for i in 1..ENTRIES {
        write!(file, r#", "w{i:07}": {i}"#).unwrap();
    }
    write!(file, "}}}}}}").unwrap();
    file.into_inner().unwrap().sync_all().unwrap();
    let file_mib = std::fs::metadata(&path).unwrap().len() as f64 / (1024.0 * 1024.0);

    let before = rss_mib();
    let registry = plain_registry();
    let adapter =
        timed(&format!("load a {ENTRIES}-entry vocabulary ({file_mib:.1} MiB)"), Duration::from_secs(120), || {
            registry.resolve(AdapterName::Huggingface, path.to_str().unwrap()).expect("a large vocabulary loads")
        });
    let loaded = rss_mib();
    let peak = peak_rss_mib();
    println!(
        "    RSS {before:.0} -> {loaded:.0} MiB after loading (+{:.0} MiB, {:.1}x the file; peak so far {peak:.0} MiB)",
        loaded - before,
        (loaded - before) / file_mib
    );
    let c = timed("  count 5 words", Duration::from_secs(5), || {
        adapter.count("w0000001 w1999999 w0999999 nope w0000000").unwrap()
    });
    assert_eq!(c.count, 5);
    assert!(c.is_exact);
    // At most 40 bytes of memory per file byte: a 256 MiB file then needs at most ~10 GiB; the
    // figure is printed to document the real ratio.
    assert!(loaded - before < 40.0 * file_mib, "{:.0} MiB for a {file_mib:.0} MiB file", loaded - before);
    drop(adapter);
    drop(registry);
    println!("    RSS {:.0} MiB after freeing", rss_mib());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A WordPiece vocabulary of 4,000 continuation entries (and as many first-piece entries) that
/// share a 16-byte prefix, `aaaaaaaaaaaaaaaa` then 1-4,000 `b`s, and no word length limit. Our
/// engine used to try, at each position where the next 16 bytes begin a long entry, every
/// length some long entry has, hashing the text once per length: a 16 KB word of `a`s took
/// 0.5 s with 1,000 such entries, and about n x 8 MB of hashing here (minutes for 256 KiB).
/// The long entries are now found for all positions at once, in one pass over the word.
#[test]
fn wordpiece_entries_sharing_a_16_byte_prefix_count_in_linear_time() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("wordpiece-prefix");
    let path = dir.join("tokenizer.json");
    let shared = "a".repeat(16);
    let mut vocab = vec!["[UNK]".to_string(), "a".to_string(), "##a".to_string(), "##b".to_string()];
    for k in 1..=4000 {
        vocab.push(format!("{shared}{}", "b".repeat(k)));
        vocab.push(format!("##{shared}{}", "b".repeat(k)));
    }
    let vocab: Vec<String> = vocab.iter().enumerate().map(|(i, w)| format!("{}: {i}", serde_json::json!(w))).collect();
    let json = format!(
        r###"{{"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": {{"type": "Whitespace"}},
"post_processor": null, "decoder": null, "model": {{"type": "WordPiece", "unk_token": "[UNK]",
"continuing_subword_prefix": "##", "max_input_chars_per_word": 1000000000, "vocab": {{{}}}}}}}"###,
        vocab.join(", ")
    );
    std::fs::write(&path, json).unwrap();
    let adapter = timed("load 8,000 long WordPiece entries", Duration::from_secs(20), || {
        plain_registry().resolve(AdapterName::Huggingface, path.to_str().unwrap()).expect("loads")
    });
    assert_eq!(adapter.engine_path(), "kano-wordpiece");
    for n in [16 << 10, 256 << 10] {
        let word = "a".repeat(n);
        let c = timed(&format!("  count a word of {n} a's"), Duration::from_secs(60), || adapter.count(&word).unwrap());
        assert_eq!(c.count, n as u64, "one token per letter");
    }
    // The long entries do serve: a, then 16 a's and 4,000 b's, then a.
    let word = format!("a{shared}{}a", "b".repeat(4000));
    assert_eq!(adapter.count(&word).unwrap().count, 3);
}

/// The tokenizers crate's WordPiece is cubic in the length of a word (4,000 letters took 1.9 s,
/// 16,000 over 80 s), and a file with a part our engine lacks goes to it: with a word limit over
/// 200 characters such a file is refused at load; at 200 it counts.
#[test]
fn a_wordpiece_word_limit_over_200_is_refused_on_the_crate_path() {
    let dir = scratch("wordpiece-crate");
    for (limit, loads) in [(200u64, true), (201, false), (1_000_000_000, false)] {
        let path = dir.join(format!("tokenizer-{limit}.json"));
        let json = format!(
            r###"{{"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": {{"type": "UnicodeScripts"}},
"post_processor": null, "decoder": null, "model": {{"type": "WordPiece", "unk_token": "[UNK]",
"continuing_subword_prefix": "##", "max_input_chars_per_word": {limit}, "vocab": {{"[UNK]": 0, "a": 1, "##a": 2}}}}}}"###
        );
        std::fs::write(&path, json).unwrap();
        if loads {
            let adapter = plain_registry().resolve(AdapterName::Huggingface, path.to_str().unwrap()).expect("loads");
            assert_eq!(adapter.engine_path(), "tokenizers");
            let c = timed("  count 16,000 letters on the crate path", Duration::from_secs(10), || {
                adapter.count(&"a".repeat(16_000)).unwrap()
            });
            assert_eq!(c.count, 1, "a word over the limit is the unknown token");
            assert_eq!(adapter.count(&"a".repeat(200)).unwrap().count, 200);
        } else {
            let message = assert_tokenizer_error(&path, ErrorKind::AdapterUnavailable, Duration::from_secs(5));
            assert!(message.contains("max_input_chars_per_word") && message.contains("cubic"), "{message}");
        }
    }
}

/// Many megabytes: 64 MiB of random bytes, 64 MiB of whitespace before a valid tokenizer (which
/// must load: JSON allows it), and a sparse file over the 256 MiB limit, refused before reading.
#[test]
fn many_megabytes_of_junk_and_a_file_over_the_limit() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("junk");
    const MIB: usize = 1 << 20;

    let junk = dir.join("junk.json");
    let mut bytes = vec![0u8; 64 * MIB];
    let mut x = 0x2545F4914F6CDD1Du64;
    for b in bytes.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(&junk, &bytes).unwrap();
    assert_tokenizer_error(&junk, ErrorKind::AdapterUnavailable, Duration::from_secs(10));

    // 64 MiB of a valid JSON prefix that never ends: a string.
    let endless = dir.join("endless-string.json");
    let mut text = br#"{"version": "1.0", "model": {"type": "WordLevel", "unk_token": ""#.to_vec();
    text.resize(64 * MIB, b'x');
    std::fs::write(&endless, &text).unwrap();
    assert_tokenizer_error(&endless, ErrorKind::AdapterUnavailable, Duration::from_secs(10));

    let padded = dir.join("padded.json");
    let mut text = vec![b' '; 64 * MIB];
    text.extend_from_slice(word_level(&["hello", "world"], r#"{"type": "Whitespace"}"#).as_bytes());
    std::fs::write(&padded, &text).unwrap();
    let adapter = timed("tokenizer with 64 MiB of leading whitespace", Duration::from_secs(20), || {
        plain_registry().resolve(AdapterName::Huggingface, padded.to_str().unwrap()).expect("whitespace is valid JSON")
    });
    assert_eq!(adapter.count("hello world hello").unwrap().count, 3);
    drop(bytes);

    // Over the limit: a sparse file, never read.
    let huge = dir.join("huge.json");
    std::fs::File::create(&huge).unwrap().set_len((256 << 20) + 1).unwrap();
    let message = assert_tokenizer_error(&huge, ErrorKind::AdapterUnavailable, Duration::from_secs(1));
    assert!(message.contains("limit"), "{message}");
    // The same for a config file (limit 1 MiB).
    let huge_config = dir.join("huge.toml");
    std::fs::File::create(&huge_config).unwrap().set_len(1 << 30).unwrap();
    let message = assert_config_error(&huge_config, ErrorKind::Config, Duration::from_secs(1));
    assert!(message.contains("limit"), "{message}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Nesting
// ---------------------------------------------------------------------------------------------

/// Deep nesting inside an otherwise valid tokenizer.json, closed (the existing test only opens
/// brackets at the top): arrays and objects 100,000 deep in the normalizer, pre-tokenizer, post-processor and vocabulary
/// (not the decoder: there the tokenizers crate panics instead of returning the error, see the
/// hardening report), and
/// Sequence normalizers nested 60 deep (valid, under serde_json's limit of 128) and 10,000 deep.
#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let dir = scratch("deep");
    let base = word_level(&["hello"], r#"{"type": "Whitespace"}"#);
    let deep_arrays = "[".repeat(100_000) + &"]".repeat(100_000);
    let deep_objects = r#"{"a":"#.repeat(100_000) + "1" + &"}".repeat(100_000);
    let cases = [
        (
            "arrays-in-normalizer.json",
            base.replacen(r#""normalizer": null"#, &format!(r#""normalizer": {deep_arrays}"#), 1),
        ),
        (
            "objects-in-pre-tokenizer.json",
            base.replacen(
                r#""pre_tokenizer": {"type": "Whitespace"}"#,
                &format!(r#""pre_tokenizer": {deep_objects}"#),
                1,
            ),
        ),
        (
            "objects-in-post-processor.json",
            base.replacen(r#""post_processor": null"#, &format!(r#""post_processor": {deep_objects}"#), 1),
        ),
        ("arrays-in-vocab.json", base.replacen(r#""[UNK]": 0"#, &format!(r#""[UNK]": 0, "deep": {deep_arrays}"#), 1)),
    ];
    for (name, content) in &cases {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        let message = assert_tokenizer_error(&path, ErrorKind::AdapterUnavailable, Duration::from_secs(5));
        assert!(message.contains("recursion limit"), "{message}");
    }

    let nested = |depth: usize| {
        let mut n = r#"{"type": "Lowercase"}"#.to_string();
        for _ in 0..depth {
            n = format!(r#"{{"type": "Sequence", "normalizers": [{n}]}}"#);
        }
        base.replacen(r#""normalizer": null"#, &format!(r#""normalizer": {n}"#), 1)
    };
    let ok = dir.join("sequence-60.json");
    std::fs::write(&ok, nested(60)).unwrap();
    let adapter = timed("Sequence normalizers 60 deep", Duration::from_secs(5), || {
        plain_registry()
            .resolve(AdapterName::Huggingface, ok.to_str().unwrap())
            .expect("60 levels are within the limit")
    });
    assert_eq!(adapter.count("HELLO Hello nope").unwrap().count, 3, "lowercased through 60 levels");
    let deep = dir.join("sequence-10000.json");
    std::fs::write(&deep, nested(10_000)).unwrap();
    let message = assert_tokenizer_error(&deep, ErrorKind::AdapterUnavailable, Duration::from_secs(5));
    assert!(message.contains("recursion limit"), "{message}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Truncation
// ---------------------------------------------------------------------------------------------

/// A tokenizer.json cut at 40 points (inside strings, numbers, keys, between tokens, one byte
/// short): every cut is a clear error naming the file.
#[test]
fn truncated_at_every_kind_of_point() {
    let dir = scratch("truncated");
    let full = std::fs::read(tokenizer_path("t5-style-unigram")).unwrap();
    let mut cuts: Vec<usize> = (1..=37).map(|i| full.len() * i / 38).collect();
    cuts.extend([1, 2, full.len() - 1]);
    let start = Instant::now();
    for cut in cuts {
        let path = dir.join(format!("cut-{cut}.json"));
        std::fs::write(&path, &full[..cut]).unwrap();
        let e = plain_registry().resolve(AdapterName::Huggingface, path.to_str().unwrap()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AdapterUnavailable, "cut at {cut}: {e}");
        assert!(e.message().contains(path.to_str().unwrap()), "{e}");
        assert!(e.message().contains("EOF") || e.message().contains("line"), "cut at {cut}: {e}");
    }
    println!("40 truncated files ({} bytes whole): {:.3?}", full.len(), start.elapsed());
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Not a regular file
// ---------------------------------------------------------------------------------------------

fn make_fifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// A directory, /dev/zero, /dev/null, a FIFO (nobody writes to it: opening it would block
/// forever) and a symlink to /dev/zero, in place of a tokenizer.json: given directly, inside a
/// model folder, and through [tokenizer.huggingface.models]. Each is an I/O error that names the
/// path, returned at once, without opening it.
#[test]
fn devices_fifos_and_folders_in_place_of_a_tokenizer_file() {
    let dir = scratch("devices");
    let fifo = dir.join("fifo.json");
    make_fifo(&fifo);
    let link = dir.join("zero-link.json");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let limit = Duration::from_secs(2);
    for path in [Path::new("/dev/zero"), Path::new("/dev/null"), &fifo] {
        let message = assert_tokenizer_error(path, ErrorKind::Io, limit);
        assert!(message.contains("not a regular file"), "{message}");
    }
    // A symlink is followed: the message names what it points at.
    let message = assert_tokenizer_error_naming(&link, "/dev/zero", ErrorKind::Io, limit);
    assert!(message.contains("not a regular file"), "{message}");
    // A model folder whose tokenizer.json is a FIFO, /dev/zero (a symlink) or a folder.
    for (name, make) in [
        ("fifo-folder", &(|p: &Path| make_fifo(p)) as &dyn Fn(&Path)),
        ("zero-folder", &|p: &Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap()),
        ("dir-folder", &|p: &Path| std::fs::create_dir(p).unwrap()),
    ] {
        let folder = dir.join(name);
        std::fs::create_dir(&folder).unwrap();
        make(&folder.join("tokenizer.json"));
        let message = assert_tokenizer_error(&folder, ErrorKind::Io, limit);
        assert!(message.contains("holds no tokenizer.json"), "{message}");
    }
    // Through a name in the config.
    let registry = Registry::from_toml(&format!(
        "[tokenizer.huggingface.models]\nzero = \"/dev/zero\"\nfifo = {:?}\n",
        fifo.to_str().unwrap()
    ))
    .unwrap();
    for (name, path) in [("zero", "/dev/zero"), ("fifo", fifo.to_str().unwrap())] {
        let e = timed(&format!("[tokenizer.huggingface.models] {name}"), limit, || {
            registry.resolve(AdapterName::Huggingface, name).unwrap_err()
        });
        assert_eq!(e.kind(), ErrorKind::Io, "{e}");
        assert!(e.message().contains(path), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A hub cache whose `refs/main` is a FIFO (opening it would block forever) or a symlink to
/// /dev/zero (reading it would never end): the ref is passed over and the newest snapshot
/// serves, at once.
#[test]
fn devices_and_fifos_in_place_of_a_hub_cache_ref() {
    let dir = scratch("hub-refs");
    let hub = dir.join("hub");
    for (name, make) in [
        ("fifo", &(|p: &Path| make_fifo(p)) as &dyn Fn(&Path)),
        ("zero", &|p: &Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap()),
        ("long", &|p: &Path| std::fs::write(p, "x".repeat(1 << 20)).unwrap()),
    ] {
        let repo = hub.join(format!("models--org--{name}"));
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots/rev1")).unwrap();
        std::fs::write(repo.join("snapshots/rev1/tokenizer.json"), word_level(&["a", "b"], "null")).unwrap();
        make(&repo.join("refs/main"));
    }
    let registry =
        Registry::from_toml(&format!("[tokenizer.huggingface]\ncache_dir = {:?}\n", hub.to_str().unwrap())).unwrap();
    for name in ["fifo", "zero", "long"] {
        let adapter = timed(&format!("hub cache refs/main: {name}"), Duration::from_secs(2), || {
            registry.resolve(AdapterName::Huggingface, &format!("org/{name}")).expect("the snapshot serves")
        });
        assert_eq!(adapter.count("a").unwrap().count, 1);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The same for config files through Registry::from_config_file: a folder, /dev/zero (which
/// must not be read forever), /dev/null, a FIFO and a symlink to /dev/zero.
#[test]
fn devices_fifos_and_folders_in_place_of_a_config_file() {
    let dir = scratch("config-devices");
    let fifo = dir.join("fifo.toml");
    make_fifo(&fifo);
    let link = dir.join("zero-link.toml");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let folder = dir.join("folder.toml");
    std::fs::create_dir(&folder).unwrap();
    for path in [Path::new("/dev/zero"), Path::new("/dev/null"), &fifo, &link, &folder] {
        let message = assert_config_error(path, ErrorKind::Io, Duration::from_secs(2));
        assert!(message.contains("not a regular file"), "{message}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A split regex with look-ahead (Llama 3's pattern) gives up after a million steps in the
/// `tokenizers` crate and then ends the split silently: 1,000,000 spaces came out one token
/// short, reported exact, so such files used to refuse runs over 64 KiB. Our engine splits them
/// in linear time, with no limit on the run.
#[test]
fn look_ahead_split_regexes_count_runs_of_any_length() {
    let json = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,
    "pre_tokenizer":{"type":"Split","pattern":{"Regex":"[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},"behavior":"Isolated","invert":false},
    "post_processor":null,"decoder":null,"model":{"type":"WordLevel","vocab":{"[UNK]":0,"a":1," ":2},"unk_token":"[UNK]"}}"#;
    let tokenizer = kano_tokenizer::HfTokenizer::from_bytes(json.as_bytes(), "llama3-style").unwrap();
    assert_ne!(tokenizer.engine(), "tokenizers", "{:?}", tokenizer.fallback_reason());
    // "x", the spaces but the last, " y": three pieces, each one [UNK].
    for spaces in [60_000, 1_000_000, 4_000_000] {
        assert_eq!(tokenizer.count(&format!("x{}y", " ".repeat(spaces)), false).unwrap(), 3, "{spaces} spaces");
    }
    // One word, then "!".
    assert_eq!(tokenizer.count(&format!("{}!", "a".repeat(1_000_000)), false).unwrap(), 2);
    // GPT-2's byte-level pre-tokenizer uses such a pattern too.
    let registry = common::plain_registry();
    let gpt2 = registry.resolve(AdapterName::Huggingface, common::tokenizer_path("gpt2").to_str().unwrap()).unwrap();
    assert_eq!(gpt2.engine_path(), "kano-bpe");
    assert!(gpt2.count(&" ".repeat(1_000_000)).unwrap().count > 0);
    assert!(gpt2.count(&"word ".repeat(200_000)).unwrap().count >= 200_000);
    let bert = registry.resolve(AdapterName::Huggingface, "all-MiniLM-L6-v2").unwrap();
    assert_eq!(bert.count(&" ".repeat(1_000_000)).unwrap().count, 2, "[CLS] [SEP]");
}

/// The read of a tokenizer file stops one byte past the limit whatever the metadata says:
/// /proc/self/pagemap reports size 0 and streams for hundreds of gigabytes.
#[test]
fn a_tokenizer_file_that_streams_without_end_is_cut_at_the_limit() {
    let registry = common::plain_registry();
    let started = std::time::Instant::now();
    let e = registry.resolve(AdapterName::Huggingface, "/proc/self/pagemap").expect_err("not a tokenizer");
    assert!(e.message().contains("pagemap"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "{:?}", started.elapsed());
}

/// The tokenizer file size limit is a config key: a registry may take less (or more).
#[test]
fn the_tokenizer_file_limit_is_configurable() {
    let path = tokenizer_path("gpt2");
    let size = std::fs::metadata(&path).unwrap().len();
    let small = Registry::from_toml(&format!("[tokenizer.huggingface]\nmax_file_bytes = {}\n", size - 1)).unwrap();
    let e = small.resolve(AdapterName::Huggingface, path.to_str().unwrap()).expect_err("over the limit");
    assert!(e.message().contains("max_file_bytes"), "{e}");
    let exact = Registry::from_toml(&format!("[tokenizer.huggingface]\nmax_file_bytes = {size}\n")).unwrap();
    assert!(exact.resolve(AdapterName::Huggingface, path.to_str().unwrap()).is_ok());
    let e = Registry::from_toml("[tokenizer.huggingface]\nmax_file_bytes = 0\n").expect_err("zero");
    assert!(e.message().contains("tokenizer.huggingface.max_file_bytes"), "{e}");
}
