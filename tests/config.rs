//! Config files, TOML text and environment variables: the guide's examples load, precedence
//! holds, and every bad value is rejected with the key, the value and the reason.

mod common;

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;

use kano_tokenizer::{AdapterName, Config, ConfigSource, EncodingName, ErrorKind, Method, Registry};

fn toml(text: &str) -> Result<Config, kano_tokenizer::Error> {
    Config::from_toml_str(text, None, ConfigSource::Toml)
}

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
    let map: HashMap<String, OsString> = vars.iter().map(|(k, v)| (k.to_string(), OsString::from(v))).collect();
    move |name| map.get(name).cloned()
}

fn config_error(text: &str) -> String {
    let e = toml(text).expect_err(text);
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    e.message().to_string()
}

#[test]
fn the_guides_example_configs_load() {
    let examples = [
        "[tokenizer]\nadapter = \"heuristic\"\nfallback_chain = [\"heuristic\"]  # Skip slower adapters\n\n[tokenizer.heuristic]\nchars_per_token = 4.0  # Tune for your content\n",
        "[tokenizer]\nadapter = \"tiktoken\"\nfallback_chain = [\"tiktoken\", \"heuristic\"]  # Fast fallback\n\n[tokenizer.tiktoken]\n# Let encoding be auto-detected for speed\n",
        "[tokenizer]\nadapter = \"auto\"\nfallback_chain = [\"tiktoken\", \"huggingface\", \"heuristic\"]\n\n[tokenizer.huggingface]\nuse_fast = true  # Enable fast tokenizers\n",
        "[tokenizer.heuristic]\nchars_per_token = 4.2\n",
        "[tokenizer.heuristic]\nchars_per_token = 2.0  # CJK characters are typically 1 token each\n",
        "[tokenizer.huggingface]\nuse_fast = true  # Significant speed improvement\ntrust_remote_code = false  # Security best practice\n",
        "# production_tokenizer_config.toml\n[tokenizer]\n# Use auto for intelligent fallback\nadapter = \"auto\"\n\n# Set production model\nmodel = \"text-embedding-3-small\"  # Adjust for your use case\n\n# Comprehensive fallback chain\nfallback_chain = [\"tiktoken\", \"huggingface\", \"heuristic\"]\n\n# Production-tuned heuristic settings\n[tokenizer.heuristic]\nchars_per_token = 4.0  # Tune based on your content analysis\n\n# TikToken settings\n[tokenizer.tiktoken]\n# Let encoding be auto-detected for reliability\n\n# HuggingFace settings\n[tokenizer.huggingface]\nuse_fast = true           # Enable fast tokenizers\ntrust_remote_code = false # Security best practice\n",
    ];
    for text in examples {
        toml(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    }
    let production = toml(examples[6]).expect("production config");
    assert_eq!(production.adapter, AdapterName::Auto);
    assert_eq!(production.model.as_deref(), Some("text-embedding-3-small"));
    assert_eq!(production.fallback_chain, vec![Method::Tiktoken, Method::Huggingface, Method::Heuristic]);
    // The production config resolves to tiktoken's cl100k_base for its embedding model.
    let adapter = common::registry_with(production).resolve_configured().expect("resolves");
    assert_eq!((adapter.name(), adapter.model()), ("tiktoken", "cl100k_base"));
}

#[test]
fn defaults() {
    let c = Config::default();
    assert_eq!(c.adapter, AdapterName::Auto);
    assert_eq!(c.model, None);
    assert_eq!(c.fallback_chain, vec![Method::Tiktoken, Method::Huggingface, Method::Heuristic]);
    assert_eq!(c.heuristic.chars_per_token, 4.0);
    assert_eq!(c.tiktoken.encoding, None);
    assert!(c.huggingface.add_special_tokens);
    assert_eq!(toml("").expect("empty config"), c);
}

#[test]
fn syntax_errors_give_line_and_column() {
    let m = config_error("[tokenizer]\nadapter = \"auto\"\nmodel = = 3\n");
    assert!(m.contains(":3:"), "{m}");
    let m = config_error("[tokenizer\n");
    assert!(m.contains(":1:"), "{m}");
}

#[test]
fn bad_values_name_the_key_value_and_reason() {
    let m = config_error("[tokenizer.heuristic]\nchars_per_token = 0\n");
    assert!(m.contains("tokenizer.heuristic.chars_per_token") && m.contains("from 0.5 to 64"), "{m}");
    let m = config_error("[tokenizer.heuristic]\nchars_per_token = -1.5\n");
    assert!(m.contains("-1.5"), "{m}");
    let m = config_error("[tokenizer.heuristic]\nchars_per_token = nan\n");
    assert!(m.contains("chars_per_token"), "{m}");
    let m = config_error("[tokenizer.heuristic]\nchars_per_token = \"four\"\n");
    assert!(m.contains("expected a number"), "{m}");
    let m = config_error("[tokenizer]\nadapter = \"fast\"\n");
    assert!(m.contains("tokenizer.adapter") && m.contains("\"fast\"") && m.contains("unknown adapter"), "{m}");
    let m = config_error("[tokenizer]\nfallback_chain = [\"tiktoken\", \"bert\"]\n");
    assert!(m.contains("fallback_chain") && m.contains("\"bert\""), "{m}");
    let m = config_error("[tokenizer]\nfallback_chain = [\"auto\"]\n");
    assert!(m.contains("auto"), "{m}");
    let m = config_error("[tokenizer]\nfallback_chain = []\n");
    assert!(m.contains("empty"), "{m}");
    let m = config_error("[tokenizer.tiktoken]\nencoding = \"cl200k_base\"\n");
    assert!(
        m.contains("tokenizer.tiktoken.encoding") && m.contains("cl200k_base") && m.contains("unknown encoding"),
        "{m}"
    );
    let m = config_error("[tokenizer.huggingface]\nuse_fast = \"yes\"\n");
    assert!(m.contains("tokenizer.huggingface.use_fast") && m.contains("true or false"), "{m}");
    let m = config_error("[tokenizer]\nmodel = \"\"\n");
    assert!(m.contains("empty"), "{m}");
}

#[test]
fn unknown_keys_are_reported_not_ignored() {
    let m = config_error("[tokenizer.heuristic]\nchars_per_tokens = 4.0\n");
    assert!(m.contains("tokenizer.heuristic.chars_per_tokens") && m.contains("unknown key"), "{m}");
    let m = config_error("[tokenizer]\nadaptor = \"auto\"\n");
    assert!(m.contains("tokenizer.adaptor"), "{m}");
    let m = config_error("[tokenizers]\nadapter = \"auto\"\n");
    assert!(m.contains("tokenizers"), "{m}");
    let m = config_error("[tokenizer.openai]\nkey = 1\n");
    assert!(m.contains("tokenizer.openai"), "{m}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let m = config_error("[tokenizer]\nadapter = \"x\"\nfallback_chain = [\"y\"]\n[tokenizer.heuristic]\nchars_per_token = 0\nbogus = 1\n");
    for needle in ["tokenizer.adapter", "fallback_chain", "chars_per_token", "bogus"] {
        assert!(m.contains(needle), "missing {needle} in {m}");
    }
}

#[test]
fn hostile_config_text_is_an_error_not_a_crash() {
    let deep = "a = ".to_string() + &"[".repeat(100_000) + &"]".repeat(100_000);
    assert!(toml(&deep).is_err());
    let long_key = format!("[tokenizer]\n{} = 1\n", "k".repeat(1_000_000));
    assert!(toml(&long_key).is_err());
    assert!(toml("\u{0}\u{1}\u{2}").is_err());
    // TOML forbids raw control characters in strings.
    assert!(toml("[tokenizer]\nmodel = \"\u{0}\"\n").is_err());
    let many_models: String = (0..10_000).map(|i| format!("m{i} = \"/nonexistent/{i}\"\n")).collect();
    let c = toml(&format!("[tokenizer.huggingface.models]\n{many_models}")).expect("many models load");
    assert_eq!(c.huggingface.models.len(), 10_000);
}

#[test]
fn config_files_resolve_relative_paths_against_their_folder() {
    let dir = tempdir("relative");
    std::fs::write(dir.join("kano.toml"), "[tokenizer.huggingface.models]\nmini = \"tok/tokenizer.json\"\n").unwrap();
    let c = Config::from_file(&dir.join("kano.toml")).expect("loads");
    assert_eq!(c.huggingface.models["mini"], dir.join("tok/tokenizer.json"));
    assert_eq!(c.source_of("tokenizer.huggingface.models"), ConfigSource::File(dir.join("kano.toml")));
}

#[test]
fn missing_unreadable_and_odd_config_files() {
    let e = Config::from_file(Path::new("/nonexistent/kano.toml")).expect_err("missing");
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.message().contains("/nonexistent/kano.toml"), "{e}");
    let e = Config::from_file(Path::new("/")).expect_err("a folder");
    assert_eq!(e.kind(), ErrorKind::Io);
    let dir = tempdir("odd");
    std::fs::write(dir.join("bad.toml"), b"[tokenizer]\nmodel = \"\xff\"\n").unwrap();
    let e = Config::from_file(&dir.join("bad.toml")).expect_err("invalid UTF-8");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains("offset 21"), "{e}");
    std::fs::write(dir.join("big.toml"), vec![b'#'; 2 << 20]).unwrap();
    let e = Config::from_file(&dir.join("big.toml")).expect_err("too big");
    assert!(e.message().contains("limit"), "{e}");
}

#[test]
fn environment_overrides_file_and_explicit_arguments_override_both() {
    let file =
        "[tokenizer]\nadapter = \"heuristic\"\nmodel = \"gpt-4\"\n[tokenizer.heuristic]\nchars_per_token = 4.0\n";
    let mut c = toml(file).unwrap();
    c.apply_env(&env(&[
        ("KANO_TOKENIZER_ADAPTER", "tiktoken"),
        ("KANO_TOKENIZER_MODEL", "gpt-4o"),
        ("KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN", "2.5"),
        ("KANO_TOKENIZER_FALLBACK_CHAIN", "heuristic, tiktoken"),
    ]))
    .unwrap();
    assert_eq!(c.adapter, AdapterName::Tiktoken);
    assert_eq!(c.model.as_deref(), Some("gpt-4o"));
    assert_eq!(c.heuristic.chars_per_token, 2.5);
    assert_eq!(c.fallback_chain, vec![Method::Heuristic, Method::Tiktoken]);
    assert_eq!(c.source_of("tokenizer.adapter"), ConfigSource::Env("KANO_TOKENIZER_ADAPTER"));
    assert_eq!(c.source_of("tokenizer.tiktoken.encoding"), ConfigSource::Default);

    let registry = common::registry_with(c);
    let configured = registry.resolve_configured().unwrap();
    assert_eq!((configured.name(), configured.model()), ("tiktoken", "o200k_base"));
    let explicit = registry.resolve(AdapterName::Tiktoken, "gpt-3.5-turbo").unwrap();
    assert_eq!(explicit.model(), "cl100k_base");
    let heuristic = registry.resolve_adapter(AdapterName::Heuristic).unwrap();
    assert_eq!(heuristic.name(), "heuristic");
}

#[test]
fn forced_encoding_applies_to_every_model() {
    let mut c = Config::default();
    c.apply_env(&env(&[("KANO_TOKENIZER_TIKTOKEN_ENCODING", "p50k_base")])).unwrap();
    assert_eq!(c.tiktoken.encoding, Some(EncodingName::P50kBase));
    let registry = common::registry_with(c);
    for model in ["gpt-4o", "not-a-model", "cl100k_base"] {
        assert_eq!(registry.resolve(AdapterName::Tiktoken, model).unwrap().model(), "p50k_base");
    }
    // No model at all still works with a forced encoding.
    assert_eq!(registry.resolve_adapter(AdapterName::Tiktoken).unwrap().model(), "p50k_base");
}

#[test]
fn bad_environment_values_name_the_variable() {
    let cases = [
        ("KANO_TOKENIZER_ADAPTER", "fastest"),
        ("KANO_TOKENIZER_FALLBACK_CHAIN", "tiktoken,nope"),
        ("KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN", "0"),
        ("KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN", "four"),
        ("KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN", "inf"),
        ("KANO_TOKENIZER_TIKTOKEN_ENCODING", "cl100k"),
        ("KANO_TOKENIZER_MAX_INPUT_BYTES", "0"),
        ("KANO_TOKENIZER_MAX_INPUT_BYTES", "-5"),
        ("KANO_TOKENIZER_MAX_INPUT_BYTES", "lots"),
        ("KANO_TOKENIZER_MAX_INPUT_BYTES", "99999999999G"),
        ("KANO_TOKENIZER_CONFIG", "/nonexistent/kano.toml"),
    ];
    for (name, value) in cases {
        let e = Registry::from_env(&env(&[(name, value)])).expect_err(name);
        assert!(e.message().contains(name) && e.message().contains(value), "{name}: {e}");
    }
    // Empty values count as unset.
    let c =
        Config::from_env(&env(&[("KANO_TOKENIZER_ADAPTER", ""), ("KANO_TOKENIZER_TIKTOKEN_ENCODING", " ")])).unwrap();
    assert_eq!(c, Config::default());
}

/// The estimate is scaled by 4 / chars_per_token, so the value must be sane: 5e-324 made 25
/// bytes count 2^64-1 tokens. Outside [0.5, 64] it is refused, from a file and from the
/// environment alike.
#[test]
fn chars_per_token_outside_its_range_is_refused() {
    for bad in ["5e-324", "1e-9", "0.49", "64.5", "1e300"] {
        let m = config_error(&format!("[tokenizer.heuristic]\nchars_per_token = {bad}\n"));
        assert!(m.contains("tokenizer.heuristic.chars_per_token") && m.contains("0.5") && m.contains("64"), "{m}");
        let e = Config::from_env(&env(&[("KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN", bad)])).expect_err(bad);
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(e.message().contains("KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN") && e.message().contains(bad), "{e}");
    }
    for good in ["0.5", "2.0", "4.2", "64"] {
        let c = toml(&format!("[tokenizer.heuristic]\nchars_per_token = {good}\n")).expect(good);
        assert_eq!(c.heuristic.chars_per_token, good.parse::<f64>().unwrap());
        let c = Config::from_env(&env(&[("KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN", good)])).expect(good);
        assert_eq!(c.heuristic.chars_per_token, good.parse::<f64>().unwrap());
    }
}

/// Values are bytes. A text variable that is not UTF-8 is refused with the offset of the bad
/// byte (`KANO_TOKENIZER_MODEL` used to be converted, U+FFFD and all, and can name a file); a
/// path variable is used as it is.
#[test]
fn environment_values_that_are_not_utf8() {
    use std::os::unix::ffi::OsStringExt;
    for name in [
        "KANO_TOKENIZER_ADAPTER",
        "KANO_TOKENIZER_MODEL",
        "KANO_TOKENIZER_FALLBACK_CHAIN",
        "KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN",
        "KANO_TOKENIZER_TIKTOKEN_ENCODING",
        "KANO_TOKENIZER_MAX_INPUT_BYTES",
        "KANO_TOKENIZER_BATCH_THREADS",
    ] {
        let env = |n: &str| (n == name).then(|| OsString::from_vec(b"gpt-4\xff".to_vec()));
        let e = Registry::from_env(&env).expect_err(name);
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(
            e.message().contains(name) && e.message().contains("not valid UTF-8 (invalid byte at offset 5)"),
            "{e}"
        );
    }
    let cache = OsString::from_vec(b"/nonexistent/kano-\xff-cache".to_vec());
    let registry = Registry::with_env(Config::default(), &|n| (n == "HF_HUB_CACHE").then(|| cache.clone()));
    assert_eq!(registry.hub_cache().map(Path::as_os_str), Some(cache.as_os_str()));
}

#[test]
fn kano_tokenizer_config_names_the_file() {
    let dir = tempdir("envfile");
    let path = dir.join("kano.toml");
    std::fs::write(&path, "[tokenizer]\nadapter = \"heuristic\"\n[tokenizer.heuristic]\nchars_per_token = 3.0\n")
        .unwrap();
    let path_str = path.to_str().unwrap();
    let c = Config::from_env(&env(&[
        ("KANO_TOKENIZER_CONFIG", path_str),
        ("KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN", "5"),
    ]))
    .unwrap();
    assert_eq!(c.adapter, AdapterName::Heuristic);
    assert_eq!(c.heuristic.chars_per_token, 5.0, "the variable wins over the file");
    assert_eq!(c.source_of("tokenizer.adapter"), ConfigSource::File(path.clone()));
}

pub fn tempdir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kano-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn max_input_bytes_from_file_environment_and_default() {
    assert_eq!(Config::default().max_input_bytes, 64 << 20);
    let c = toml("[tokenizer]\nmax_input_bytes = 1000\n").unwrap();
    assert_eq!(c.max_input_bytes, 1000);
    assert_eq!(c.source_of("tokenizer.max_input_bytes"), ConfigSource::Toml);
    for (value, bytes) in [("4096", 4096u64), ("512K", 512 << 10), ("16m", 16 << 20), ("1G", 1 << 30)] {
        let mut c = toml("[tokenizer]\nmax_input_bytes = 1000\n").unwrap();
        c.apply_env(&env(&[("KANO_TOKENIZER_MAX_INPUT_BYTES", value)])).unwrap();
        assert_eq!(c.max_input_bytes, bytes, "{value}: the variable wins over the file");
    }
    for bad in ["max_input_bytes = 0", "max_input_bytes = -1", "max_input_bytes = \"64M\"", "max_input_bytes = 1.5"] {
        let message = config_error(&format!("[tokenizer]\n{bad}\n"));
        assert!(message.contains("tokenizer.max_input_bytes"), "{bad}: {message}");
    }
    // Adapters carry their registry's limit; the Rust API enforces it too.
    let registry = Registry::with_config(toml("[tokenizer]\nmax_input_bytes = 8\n").unwrap());
    let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o").unwrap();
    assert_eq!(adapter.max_input_bytes(), 8);
    assert!(adapter.count("12345678").unwrap().count > 0, "8 bytes fit");
    let e = adapter.count("123456789").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InputTooLarge);
    assert_eq!(adapter.check_limit("123456789", 100).unwrap_err().kind(), ErrorKind::InputTooLarge);
}

#[test]
fn a_config_file_that_streams_without_end_is_cut_at_the_limit() {
    // /proc/self/pagemap is a regular file of size 0 that reads on for hundreds of gigabytes.
    let path = Path::new("/proc/self/pagemap");
    if !path.exists() {
        panic!("this test needs Linux's /proc/self/pagemap");
    }
    let started = std::time::Instant::now();
    let e = Config::from_file(path).expect_err("pagemap is not a config");
    assert!(e.message().contains("/proc/self/pagemap"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "read for {:?}", started.elapsed());
}
