//! `cargo bench --bench chat`: what chat counting adds per message over counting the contents
//! (the target: at most 1 us per message). Requests of N messages (N = 10, 100, 1000),
//! alternating user and assistant, whose contents are lines of `bench/corpus/prose_en.txt`:
//! - `count-chat`: `count_chat` of the request's JSON (parsing included);
//! - `count-contents`: each message's content counted alone, as the rules count it;
//! - `count-joined`: the contents joined by newlines, counted once.
//!
//! Before the criterion runs it prints the per-message difference, measured with a plain loop.
//! o200k_base and cl100k_base. Short criterion settings.
//!
//! Then a `tokenizer.json` model's chat template (Qwen 2.5's, from tests/fixtures): `count_chat`
//! against the prompt it renders counted once, for 10, 32 and 129 messages (the last past the
//! breakdown's limit, so rendered once), printed only.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kano_tokenizer::{Adapter, AdapterName, Registry};
use serde_json::json;

fn contents(n: usize) -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("bench/corpus/prose_en.txt")).expect("corpus");
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    (0..n).map(|i| lines[i % lines.len()].to_string()).collect()
}

fn request(contents: &[String]) -> String {
    let messages: Vec<_> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": c}))
        .collect();
    json!({"messages": messages}).to_string()
}

fn count_each(adapter: &Adapter, contents: &[String]) -> u64 {
    contents.iter().map(|c| adapter.count(c).unwrap().count).sum()
}

/// The mean time of one call of `f`, over about 200 ms.
fn mean(mut f: impl FnMut()) -> Duration {
    f();
    let start = Instant::now();
    let mut runs = 0u32;
    while start.elapsed() < Duration::from_millis(200) {
        f();
        runs += 1;
    }
    start.elapsed() / runs
}

/// Qwen 2.5's tokenizer.json and tokenizer_config.json in a temporary model folder.
fn qwen_folder() -> PathBuf {
    use std::io::Read;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = std::env::temp_dir().join(format!("kano-bench-chat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut json = Vec::new();
    let file = std::fs::File::open(root.join("real/qwen2_5.json.gz")).unwrap();
    flate2::read::GzDecoder::new(file).read_to_end(&mut json).unwrap();
    std::fs::write(dir.join("tokenizer.json"), json).unwrap();
    std::fs::copy(
        root.join("chat_templates/qwen2_5_instruct/tokenizer_config.json"),
        dir.join("tokenizer_config.json"),
    )
    .unwrap();
    dir
}

fn template_overhead(registry: &Registry) {
    let dir = qwen_folder();
    let adapter = registry.resolve(AdapterName::Huggingface, dir.to_str().unwrap()).unwrap();
    for n in [10usize, 32, 129] {
        let json = request(&contents(n));
        let prompt = adapter.chat_prompt(&json).unwrap();
        let chat = mean(|| {
            adapter.count_chat(&json).unwrap();
        });
        let render = mean(|| {
            adapter.chat_prompt(&json).unwrap();
        });
        let once = mean(|| {
            adapter.count(&prompt).unwrap();
        });
        eprintln!(
            "qwen2.5 chat template, {n} messages ({} bytes of prompt): count_chat {:.1} us (render {:.1} us), the \
             prompt counted once {:.1} us: {:.2} us per message over it",
            prompt.len(),
            chat.as_secs_f64() * 1e6,
            render.as_secs_f64() * 1e6,
            once.as_secs_f64() * 1e6,
            (chat.as_secs_f64() - once.as_secs_f64()) * 1e6 / n as f64,
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn chat(c: &mut Criterion) {
    let registry = Registry::with_env(Default::default(), &|_| None);
    template_overhead(&registry);
    let mut group = c.benchmark_group("chat");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    for encoding in ["o200k_base", "cl100k_base"] {
        let adapter = registry.resolve(AdapterName::Tiktoken, encoding).unwrap();
        for n in [10usize, 100, 1000] {
            let contents = contents(n);
            let json = request(&contents);
            let joined = contents.join("\n");
            let chat = mean(|| {
                adapter.count_chat(&json).unwrap();
            });
            let each = mean(|| {
                count_each(&adapter, &contents);
            });
            let once = mean(|| {
                adapter.count(&joined).unwrap();
            });
            let per = |base: Duration| (chat.as_secs_f64() - base.as_secs_f64()) * 1e6 / n as f64;
            eprintln!(
                "{encoding}, {n} messages ({} bytes of JSON): count_chat {:.1} us, contents one by one {:.1} us, \
                 joined {:.1} us: {:.3} us per message over the contents one by one, {:.3} over the joined text",
                json.len(),
                chat.as_secs_f64() * 1e6,
                each.as_secs_f64() * 1e6,
                once.as_secs_f64() * 1e6,
                per(each),
                per(once),
            );
            group.throughput(Throughput::Elements(n as u64));
            group.bench_function(format!("{encoding}/{n}-messages/count-chat"), |b| {
                b.iter(|| adapter.count_chat(&json).unwrap())
            });
            group.bench_function(format!("{encoding}/{n}-messages/count-contents"), |b| {
                b.iter(|| count_each(&adapter, &contents))
            });
            group.bench_function(format!("{encoding}/{n}-messages/count-joined"), |b| {
                b.iter(|| adapter.count(&joined).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, chat);
criterion_main!(benches);
