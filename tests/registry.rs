//! Resolution: the model table, Hugging Face lookup, `auto`, sharing and threads.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use kano_tokenizer::{encoding_for_model, AdapterName, Config, EncodingName, ErrorKind, Method, Registry};

#[test]
fn model_table_follows_python_tiktoken() {
    use EncodingName::*;
    let cases = [
        ("gpt-5", O200kBase),
        ("gpt-5-mini", O200kBase),
        ("gpt-5.1-codex", O200kBase),
        ("gpt-4.1", O200kBase),
        ("gpt-4.1-nano-2025-04-14", O200kBase),
        ("gpt-4.5-preview", O200kBase),
        ("gpt-4o", O200kBase),
        ("gpt-4o-mini-2024-07-18", O200kBase),
        ("chatgpt-4o-latest", O200kBase),
        ("o1", O200kBase),
        ("o1-preview", O200kBase),
        ("o3-mini", O200kBase),
        ("o4-mini", O200kBase),
        ("o4-mini-2025-04-16", O200kBase),
        ("gpt-4", Cl100kBase),
        ("gpt-4-0314", Cl100kBase),
        ("gpt-4-32k", Cl100kBase),
        ("gpt-4-turbo", Cl100kBase),
        ("gpt-3.5-turbo", Cl100kBase),
        ("gpt-3.5-turbo-16k", Cl100kBase),
        ("gpt-3.5", Cl100kBase),
        ("gpt-35-turbo", Cl100kBase),
        ("gpt-35-turbo-16k", Cl100kBase),
        ("davinci-002", Cl100kBase),
        ("babbage-002", Cl100kBase),
        ("text-embedding-ada-002", Cl100kBase),
        ("text-embedding-3-small", Cl100kBase),
        ("text-embedding-3-large", Cl100kBase),
        ("text-davinci-003", P50kBase),
        ("code-davinci-002", P50kBase),
        ("davinci-codex", P50kBase),
        ("text-davinci-edit-001", P50kEdit),
        ("code-davinci-edit-001", P50kEdit),
        ("text-davinci-001", R50kBase),
        ("davinci", R50kBase),
        ("ada", R50kBase),
        ("text-similarity-ada-001", R50kBase),
        ("code-search-ada-code-001", R50kBase),
        ("gpt2", Gpt2),
        ("gpt-2", Gpt2),
        ("gpt-oss-20b", O200kHarmony),
        ("gpt-oss-120b", O200kHarmony),
        ("ft:gpt-4o-mini-2024-07-18:org::abc", O200kBase),
        ("ft:gpt-4-0613:org::abc", Cl100kBase),
        ("ft:gpt-3.5-turbo-0125:org::abc", Cl100kBase),
        ("ft:davinci-002:org::abc", Cl100kBase),
        ("ft:babbage-002:org::abc", Cl100kBase),
        // Python's prefix order sends fine-tuned gpt-4.1 to "ft:gpt-4": kept for compatibility.
        ("ft:gpt-4.1-mini:org::abc", Cl100kBase),
        // Encoding names are accepted as models.
        ("cl100k_base", Cl100kBase),
        ("o200k_harmony", O200kHarmony),
        ("r50k_base", R50kBase),
    ];
    for (model, expected) in cases {
        assert_eq!(encoding_for_model(model), Some(expected), "{model}");
    }
    for unknown in ["llama-3-8b", "claude-3", "GPT-4", "gpt4", "", "bert-base-uncased", "o2"] {
        assert_eq!(encoding_for_model(unknown), None, "{unknown}");
    }
}

#[test]
fn unknown_models_and_adapters_are_typed_errors() {
    let registry = plain_registry();
    let e = registry.resolve(AdapterName::Tiktoken, "llama-3-8b").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownModel);
    assert!(e.message().contains("llama-3-8b"), "{e}");
    let e = registry.resolve_adapter(AdapterName::Tiktoken).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownModel);
    let e = "sentencepiece".parse::<AdapterName>().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownAdapter);
    assert!(e.message().contains("sentencepiece"), "{e}");
    let e = registry.resolve(AdapterName::Tiktoken, "").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = registry.resolve(AdapterName::Huggingface, "some-org/not-cached").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownModel);
    assert!(e.message().contains("some-org/not-cached") && e.message().contains("nothing is downloaded"), "{e}");
}

#[test]
fn auto_walks_the_fallback_chain_and_says_who_served() {
    let registry = plain_registry();
    let served = |model: Option<&str>| {
        let a = match model {
            Some(model) => registry.resolve(AdapterName::Auto, model),
            None => registry.resolve_adapter(AdapterName::Auto),
        }
        .unwrap();
        (a.name(), a.model().to_string())
    };
    assert_eq!(served(Some("gpt-4")), ("tiktoken", "cl100k_base".into()));
    assert_eq!(
        served(Some("all-MiniLM-L6-v2")),
        ("huggingface", "embedded:sentence-transformers/all-MiniLM-L6-v2".into())
    );
    assert_eq!(served(Some("mystery-model")), ("heuristic", "mystery-model".into()));
    assert_eq!(served(None), ("heuristic", "default".into()));
    let count = registry.resolve(AdapterName::Auto, "mystery-model").unwrap().count("hello").unwrap();
    assert_eq!((count.method, count.is_exact), (Method::Heuristic, false));

    let mut strict = Config::default();
    strict.fallback_chain = vec![Method::Tiktoken, Method::Huggingface];
    let e = registry_with(strict).resolve(AdapterName::Auto, "mystery-model").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AdapterUnavailable);
    assert!(e.message().contains("tiktoken:") && e.message().contains("huggingface:"), "{e}");
}

/// `auto` says why it passed over the adapters before the one that serves: here a
/// `tokenizer.json` that does not load, which would otherwise show only as a heuristic count.
#[test]
fn auto_keeps_the_reason_it_fell_back() {
    let registry = plain_registry();
    let dir = scratch("fallback-reason");
    let broken = dir.join("tokenizer.json");
    std::fs::write(&broken, "{ \"model\": [not json").unwrap();
    let model = broken.to_str().unwrap();
    let a = registry.resolve(AdapterName::Auto, model).unwrap();
    assert_eq!(a.name(), "heuristic");
    let reason = a.fallback_reason().expect("a reason");
    assert!(reason.starts_with("tiktoken: ") && reason.contains("; huggingface: "), "{reason}");
    assert!(reason.contains("tokenizer.json"), "{reason}");
    // The first adapter of the chain served, or the adapter was asked for by name: no reason.
    assert_eq!(registry.resolve(AdapterName::Auto, "gpt-4o").unwrap().fallback_reason(), None);
    assert_eq!(registry.resolve(AdapterName::Heuristic, model).unwrap().fallback_reason(), None);
    // A model that only the heuristic serves: why the others could not.
    let mystery = registry.resolve(AdapterName::Auto, "mystery-model").unwrap();
    assert!(mystery.fallback_reason().is_some_and(|r| r.contains("mystery-model")), "{mystery:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn each_encoding_loads_once_and_is_shared() {
    let registry = Arc::new(plain_registry());
    assert!(!registry.is_loaded(EncodingName::Cl100kBase));
    let adapters: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..10).map(|_| s.spawn(|| registry.resolve(AdapterName::Tiktoken, "gpt-4").unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(registry.is_loaded(EncodingName::Cl100kBase));
    assert!(!registry.is_loaded(EncodingName::O200kBase), "only what was asked for is loaded");
    assert!(adapters.iter().all(|a| a.shares_engine_with(&adapters[0])));
    // p50k_edit and p50k_base share one table; so do o200k_base and o200k_harmony.
    let edit = registry.resolve(AdapterName::Tiktoken, "p50k_edit").unwrap();
    let base = registry.resolve(AdapterName::Tiktoken, "text-davinci-003").unwrap();
    assert!(edit.shares_engine_with(&base));
    let mini_a = registry.resolve(AdapterName::Huggingface, "all-MiniLM-L6-v2").unwrap();
    let mini_b = registry.resolve(AdapterName::Huggingface, "sentence-transformers/all-MiniLM-L6-v2").unwrap();
    assert!(mini_a.shares_engine_with(&mini_b));
}

#[test]
fn adapters_outlive_their_registry_and_are_shared_across_threads() {
    let registry = plain_registry();
    let adapter = Arc::new(registry.resolve(AdapterName::Tiktoken, "gpt-4o").unwrap());
    drop(registry);
    let text = "Shared adapters count the same on every thread. ".repeat(50);
    let expected = adapter.count(&text).unwrap().count;
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..50 {
                    assert_eq!(adapter.count(&text).unwrap().count, expected);
                }
            });
        }
    });
}

#[test]
fn huggingface_files_folders_and_config_names() {
    let fixture = tokenizer_path("all-MiniLM-L6-v2");
    let registry = plain_registry();
    let by_file = registry.resolve(AdapterName::Huggingface, fixture.to_str().unwrap()).unwrap();
    let by_folder = registry.resolve(AdapterName::Huggingface, fixture.parent().unwrap().to_str().unwrap()).unwrap();
    assert!(by_file.shares_engine_with(&by_folder), "one file, one load");
    assert_eq!(by_file.model(), std::fs::canonicalize(&fixture).unwrap().display().to_string());

    let mut config = Config::default();
    config.huggingface.models.insert("mini".into(), fixture.clone());
    config.huggingface.models.insert("gone".into(), PathBuf::from("/nonexistent/tokenizer.json"));
    let registry = registry_with(config);
    assert_eq!(registry.resolve(AdapterName::Huggingface, "mini").unwrap().count("hello world").unwrap().count, 4);
    let e = registry.resolve(AdapterName::Huggingface, "gone").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.message().contains("gone") && e.message().contains("/nonexistent/tokenizer.json"), "{e}");

    let e = plain_registry().resolve(AdapterName::Huggingface, "/nonexistent/dir/tokenizer.json").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    let e = plain_registry().resolve(AdapterName::Huggingface, "./missing-tokenizer.json").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    let empty_dir = scratch("no-tokenizer");
    let e = plain_registry().resolve(AdapterName::Huggingface, empty_dir.to_str().unwrap()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.message().contains("holds no tokenizer.json"), "{e}");
}

#[test]
fn huggingface_hub_cache_layout() {
    let cache = scratch("hub");
    let fixture = tokenizer_path("gpt2");
    let place = |repo_dir: &str, rev: &str| {
        let snap = cache.join(repo_dir).join("snapshots").join(rev);
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::copy(&fixture, snap.join("tokenizer.json")).unwrap();
        snap.join("tokenizer.json")
    };
    let org = place("models--openai-community--gpt2", "1111");
    let bare = place("models--bert-base-uncased", "2222");
    // refs/main picks the snapshot when several exist.
    let main = place("models--acme--model", "aaaa");
    place("models--acme--model", "bbbb");
    std::fs::create_dir_all(cache.join("models--acme--model/refs")).unwrap();
    std::fs::write(cache.join("models--acme--model/refs/main"), "aaaa\n").unwrap();

    let cache_str = cache.to_str().unwrap().to_string();
    let registry =
        Registry::with_env(Config::default(), &|name| (name == "HF_HUB_CACHE").then(|| cache_str.clone().into()));
    assert_eq!(registry.hub_cache(), Some(cache.as_path()));
    let identity = |model: &str| registry.resolve(AdapterName::Huggingface, model).unwrap().model().to_string();
    assert_eq!(identity("openai-community/gpt2"), canonical(&org));
    assert_eq!(identity("bert-base-uncased"), canonical(&bare));
    assert_eq!(identity("acme/model"), canonical(&main));
    // Path tricks are not repository names.
    assert_eq!(registry.resolve(AdapterName::Huggingface, "../acme/model").unwrap_err().kind(), ErrorKind::Io);
    assert_eq!(registry.resolve(AdapterName::Huggingface, "a/b/c").unwrap_err().kind(), ErrorKind::UnknownModel);

    // HF_HOME/hub, then ~/.cache/huggingface/hub.
    let home = cache.to_str().unwrap().to_string();
    let r = Registry::with_env(Config::default(), &|name| (name == "HF_HOME").then(|| home.clone().into()));
    assert_eq!(r.hub_cache(), Some(cache.join("hub").as_path()));
    let r = Registry::with_env(Config::default(), &|name| (name == "HOME").then(|| home.clone().into()));
    assert_eq!(r.hub_cache(), Some(cache.join(".cache/huggingface/hub").as_path()));
}

#[test]
fn embedded_minilm_needs_no_files_and_counts_like_the_fixture() {
    let registry = Registry::with_env(Config::default(), &|_| None);
    assert_eq!(registry.hub_cache(), None);
    let embedded = registry.resolve(AdapterName::Huggingface, "all-MiniLM-L6-v2").unwrap();
    let file =
        registry.resolve(AdapterName::Huggingface, tokenizer_path("all-MiniLM-L6-v2").to_str().unwrap()).unwrap();
    for case in golden() {
        assert_eq!(embedded.count(&case.text).unwrap(), file.count(&case.text).unwrap(), "{}", case.id);
    }
}

#[test]
fn special_tokens_and_truncation() {
    let mut config = Config::default();
    let with = registry_with(config.clone()).resolve(AdapterName::Huggingface, "all-MiniLM-L6-v2").unwrap();
    config.huggingface.add_special_tokens = false;
    let without = registry_with(config).resolve(AdapterName::Huggingface, "all-MiniLM-L6-v2").unwrap();
    assert_eq!(with.count("hello").unwrap().count, 3, "[CLS] hello [SEP]");
    assert_eq!(without.count("hello").unwrap().count, 1);
    // The file truncates at 128 tokens; counting switches that off.
    let long = "word ".repeat(1000);
    assert_eq!(without.count(&long).unwrap().count, 1000);
    assert_eq!(with.count("").unwrap().count, 2);
}

#[test]
fn hostile_tokenizer_files_are_errors() {
    let dir = scratch("hostile");
    let write = |name: &str, content: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        p
    };
    let full = std::fs::read(tokenizer_path("all-MiniLM-L6-v2")).unwrap();
    let deep = "[".repeat(100_000);
    let cases: Vec<(PathBuf, ErrorKind)> = vec![
        (write("empty.json", b""), ErrorKind::AdapterUnavailable),
        (write("garbage.json", b"\xff\xfe not json"), ErrorKind::AdapterUnavailable),
        (write("truncated.json", &full[..full.len() / 2]), ErrorKind::AdapterUnavailable),
        (write("deep.json", deep.as_bytes()), ErrorKind::AdapterUnavailable),
        (write("wrong-shape.json", br#"{"model": 42}"#), ErrorKind::AdapterUnavailable),
        (PathBuf::from("/dev/null"), ErrorKind::Io),
    ];
    for (path, kind) in cases {
        let e = plain_registry().resolve(AdapterName::Huggingface, path.to_str().unwrap()).unwrap_err();
        assert_eq!(e.kind(), kind, "{}: {e}", path.display());
        assert!(e.message().contains(path.to_str().unwrap()), "{e}");
    }
    // A folder named tokenizer.json.
    let sub = dir.join("folder");
    std::fs::create_dir_all(sub.join("tokenizer.json")).unwrap();
    assert!(plain_registry().resolve(AdapterName::Huggingface, sub.to_str().unwrap()).is_err());
}

#[test]
fn huggingface_counts_on_megabyte_runs_without_crashing() {
    const MB: usize = 1 << 20;
    let shapes = [
        "a".repeat(MB),
        " ".repeat(MB),
        " ".repeat(MB - 1) + "x",
        "7".repeat(MB),
        "中".repeat(MB / 3),
        "\n".repeat(MB),
    ];
    for name in TOKENIZERS {
        let adapter =
            plain_registry().resolve(AdapterName::Huggingface, tokenizer_path(name).to_str().unwrap()).unwrap();
        for text in &shapes {
            // Either an exact count or a clear error; never a crash or a hang.
            match adapter.count(text) {
                Ok(c) => assert!(c.is_exact),
                Err(e) => assert_eq!(e.kind(), ErrorKind::AdapterUnavailable, "{name}: {e}"),
            }
        }
    }
}

fn canonical(p: &Path) -> String {
    std::fs::canonicalize(p).unwrap().display().to_string()
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kano-registry-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
