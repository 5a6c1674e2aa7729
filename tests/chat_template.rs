//! Chat requests for `tokenizer.json` models, through the real chat templates of
//! tests/fixtures/chat_templates (Qwen 2.5 and 3, Mistral Instruct v0.1 in two revisions, Phi-3
//! in two, OLMo 2 Instruct, gpt-oss) against Python `transformers`' `apply_chat_template`
//! (golden.jsonl, from make_golden.py there): the same prompt text, byte for byte, the same
//! count, and a refusal wherever Python raises. Then what a hostile template or request meets.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use kano_tokenizer::{AdapterName, Config, ErrorKind, Registry};
use serde_json::Value;

fn templates_dir() -> PathBuf {
    common::fixtures().join("chat_templates")
}

fn gunzip(path: &Path) -> Vec<u8> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(file).read_to_end(&mut out).expect("gzip");
    out
}

/// A model folder: the template's files beside the fixture's tokenizer.json.
fn model_dir(template: &str, tokenizer: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kano-chat-{}-{template}-{tokenizer}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for entry in std::fs::read_dir(templates_dir().join(template)).expect("template folder") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, dir.join(path.file_name().expect("name"))).expect("copy");
    }
    let json = gunzip(&common::fixtures().join("real").join(format!("{tokenizer}.json.gz")));
    std::fs::write(dir.join("tokenizer.json"), json).expect("write tokenizer.json");
    dir
}

/// `strftime_now` gives today's date; the golden renders were made on a fixed one (the date
/// arithmetic itself is checked against Python in src/chat/python.rs).
fn fixed_date(text: &str) -> String {
    const LINE: &str = "Current date: ";
    match text.find(LINE) {
        Some(at) if text.len() >= at + LINE.len() + 10 => {
            let date = at + LINE.len();
            format!("{}2026-01-15{}", &text[..date], &text[date + 10..])
        }
        _ => text.to_string(),
    }
}

#[test]
fn real_templates_render_and_count_as_transformers_does() {
    let golden = std::fs::read_to_string(templates_dir().join("golden.jsonl")).expect("golden.jsonl");
    let registry = Registry::with_config(Config::default());
    let mut failures = Vec::new();
    let (mut renders, mut counts, mut refusals) = (0, 0, 0);
    let mut no_breakdown = Vec::new();
    for line in golden.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let record: Value = serde_json::from_str(line).expect("golden line");
        let template = record["template"].as_str().expect("template");
        // Render-only templates (no fixture is their tokenizer) render with Qwen 2.5's file, as
        // make_golden.py does.
        let tokenizer = record["tokenizer"].as_str().unwrap_or("qwen2_5");
        let dir = model_dir(template, tokenizer);
        let adapter = registry.resolve(AdapterName::Huggingface, dir.to_str().expect("path")).expect("adapter");
        assert_ne!(adapter.engine_path(), "tokenizers", "{template}: our own engine counts");
        let request = record["request_json"].as_str().expect("request_json").to_string();
        let what = format!("{template} on {}", &request[..request.len().min(90)]);
        match (record["rendered"].as_str(), adapter.chat_prompt(&request)) {
            (Some(want), Ok(got)) => {
                let got = fixed_date(&got);
                if got != want {
                    failures.push(format!("{what}: rendered\n{got:?}\nwant\n{want:?}"));
                    continue;
                }
                renders += 1;
                let chat = adapter.count_chat(&request).expect("counts what it renders");
                if let Some(want) = record["count"].as_u64() {
                    if chat.total != want {
                        failures.push(format!("{what}: count {} want {want}", chat.total));
                    }
                    counts += 1;
                }
                assert!(chat.is_exact && chat.lower_bound == chat.total && chat.upper_bound == chat.total, "{what}");
                let shares: u64 = chat.messages.iter().sum::<u64>() + chat.reply_priming;
                let turns = record["request"]["messages"].as_array().expect("messages").len();
                if chat.messages.is_empty() {
                    no_breakdown.push(what.clone());
                } else {
                    assert_eq!(shares, chat.total, "{what}: the breakdown adds up to the total");
                    assert_eq!(chat.messages.len(), turns, "{what}");
                }
            }
            (None, Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{what}: {e}");
                assert!(adapter.count_chat(&request).is_err(), "{what}");
                refusals += 1;
            }
            (Some(_), Err(e)) => failures.push(format!("{what}: refused ({e}) where Python renders")),
            (None, Ok(got)) => {
                failures.push(format!("{what}: rendered {got:?} where Python raises {}", record["error"]))
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n\n"));
    // 8 templates x 12 requests: what golden.jsonl holds (Python raises on 17).
    assert_eq!((renders, counts, refusals), (79, 56, 17));
    // Only where a template rewrites earlier turns: Qwen 3 and gpt-oss drop the reasoning of
    // turns before the last question.
    assert_eq!(no_breakdown.len(), 2, "no breakdown for {no_breakdown:?}");
    assert!(no_breakdown
        .iter()
        .all(|w| w.contains("Think first") && (w.starts_with("qwen3") || w.starts_with("gpt_oss"))));
}

/// A model folder with a tiny WordLevel tokenizer.json and the given files.
fn tiny_model(name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kano-chat-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).expect("temp dir");
    let tokenizer = r#"{"pre_tokenizer": {"type": "Whitespace"}, "added_tokens": [{"id": 3, "content": "<s>",
        "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
        "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "user": 1, ":": 2, "<s>": 3}, "unk_token": "[UNK]"}}"#;
    std::fs::write(dir.join("tokenizer.json"), tokenizer).expect("write");
    for (file, bytes) in files {
        std::fs::write(dir.join(file), bytes).expect("write");
    }
    dir
}

fn tiny_adapter(registry: &Registry, dir: &Path) -> kano_tokenizer::Adapter {
    registry.resolve(AdapterName::Huggingface, dir.to_str().expect("path")).expect("adapter")
}

const HELLO: &str = r#"{"messages": [{"role": "user", "content": "hi"}]}"#;

#[test]
fn a_model_without_a_template_says_so() {
    let registry = Registry::with_config(Config::default());
    let dir = tiny_model("none", &[("tokenizer_config.json", br#"{"bos_token": "<s>"}"#)]);
    let err = tiny_adapter(&registry, &dir).count_chat(HELLO).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(
        err.message().contains("no chat template beside") && err.message().contains("chat_template.jinja"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn templates_come_from_the_files_transformers_reads_in_its_order() {
    let registry = Registry::with_config(Config::default());
    let config = br#"{"bos_token": {"content": "<s>", "special": true}, "chat_template": [
        {"name": "default", "template": "{{ bos_token }}default {{ messages | length }}"},
        {"name": "tool_use", "template": "{{ bos_token }}tools {{ tools | length }}"}]}"#;
    let dir = tiny_model("named", &[("tokenizer_config.json", config)]);
    let adapter = tiny_adapter(&registry, &dir);
    assert_eq!(adapter.chat_prompt(HELLO).unwrap(), "<s>default 1");
    let with_tools = r#"{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]}"#;
    assert_eq!(adapter.chat_prompt(with_tools).unwrap(), "<s>tools 1");
    // <s> is one added token; "default" and "1" are not in the vocabulary.
    assert_eq!(adapter.count_chat(HELLO).unwrap().total, 3);
    std::fs::remove_dir_all(&dir).ok();

    // chat_template.jinja wins over tokenizer_config.json, whose special tokens it still sees.
    let dir = tiny_model(
        "jinja",
        &[
            ("tokenizer_config.json", br#"{"bos_token": "<s>", "chat_template": "from the config"}"#),
            ("chat_template.jinja", b"{{ bos_token }}from the jinja file\n"),
        ],
    );
    assert_eq!(tiny_adapter(&registry, &dir).chat_prompt(HELLO).unwrap(), "<s>from the jinja file");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn hostile_templates_fail_cleanly_and_in_bounded_time() {
    let mut config = Config::default();
    config.max_input_bytes = 16 << 20;
    let registry = Registry::with_config(config);
    let cases: [(&str, &[u8], ErrorKind, &str); 7] = [
        ("syntax", b"{% for m in messages %}never closed", ErrorKind::Unsupported, "does not compile"),
        ("generation", b"{% generation %}x{% endgeneration %}", ErrorKind::Unsupported, "does not compile"),
        (
            "loop",
            b"{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            ErrorKind::InvalidArgument,
            "steps",
        ),
        ("raise", b"{{ raise_exception('roles must alternate') }}", ErrorKind::InvalidArgument, "roles must alternate"),
        ("undefined", b"{{ messages[0].content.missing.deeper }}", ErrorKind::InvalidArgument, "fails on this request"),
        // 100 MB of output: over the adapter's input limit, refused before it is counted.
        (
            "huge",
            b"{% for i in range(100) %}{{ 'x' * 1000000 }}{% endfor %}",
            ErrorKind::InputTooLarge,
            "rendered prompt",
        ),
        ("strftime", b"{{ strftime_now('%Q') }}", ErrorKind::InvalidArgument, "%Q"),
    ];
    for (name, template, kind, says) in cases {
        let dir = tiny_model(name, &[("chat_template.jinja", template)]);
        let adapter = tiny_adapter(&registry, &dir);
        let err = adapter.count_chat(HELLO).unwrap_err();
        assert_eq!(err.kind(), kind, "{name}: {err}");
        assert!(err.message().contains(says), "{name}: {err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn hostile_requests_and_files_get_clear_statuses() {
    let registry = Registry::with_config(Config::default());
    let dir = tiny_model(
        "requests",
        &[("chat_template.jinja", b"{% for m in messages %}{{ m.role }} : {{ m.content }} {% endfor %}")],
    );
    let adapter = tiny_adapter(&registry, &dir);
    let cases: [(&str, ErrorKind); 7] = [
        ("{", ErrorKind::InvalidArgument),
        ("[]", ErrorKind::InvalidArgument),
        (r#"{"messages": "hi"}"#, ErrorKind::InvalidArgument),
        (r#"{"messages": []}"#, ErrorKind::InvalidArgument),
        (r#"{"messages": [1]}"#, ErrorKind::InvalidArgument),
        (r#"{"messages": [{"role": "user"}], "tools": 3}"#, ErrorKind::InvalidArgument),
        (r#"{"messages": [{"role": "user"}], "chat_template_kwargs": []}"#, ErrorKind::InvalidArgument),
    ];
    for (request, kind) in cases {
        assert_eq!(adapter.count_chat(request).unwrap_err().kind(), kind, "{request}");
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(adapter.count_chat(&deep).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(adapter.count_chat_bytes(b"{\"messages\": \"\xff\"}").unwrap_err().kind(), ErrorKind::InvalidUtf8);
    // Many messages: counted, linear; the breakdown is left out past its limit.
    let many: Vec<String> = (0..5000).map(|_| r#"{"role": "user", "content": "user"}"#.to_string()).collect();
    let many = format!(r#"{{"messages": [{}]}}"#, many.join(","));
    let chat = adapter.count_chat(&many).unwrap();
    assert_eq!(chat.total, 5000 * 3, "user : user, each a token");
    assert!(chat.messages.is_empty());
    std::fs::remove_dir_all(&dir).ok();

    for (name, files) in [
        ("bom", vec![("tokenizer_config.json", &b"\xEF\xBB\xBF{\"chat_template\": \"x\"}"[..])]),
        ("badjson", vec![("tokenizer_config.json", &b"{\"chat_template\": "[..])]),
        ("badtype", vec![("tokenizer_config.json", &b"{\"chat_template\": 7}"[..])]),
        ("badutf8", vec![("chat_template.jinja", &b"\xff\xfe"[..])]),
    ] {
        let dir = tiny_model(name, &files);
        let err = tiny_adapter(&registry, &dir).count_chat(HELLO).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AdapterUnavailable, "{name}: {err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
