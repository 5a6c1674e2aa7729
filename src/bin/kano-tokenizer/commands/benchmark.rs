//! `benchmark`: times counting with each adapter (mean, median, min, max and spread per call).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use kano_tokenizer::Adapter;
use serde_json::{json, Value};

use super::{adapters_or_default, yes_no, Context, Failure, Limit, Outcome};
use crate::outln;
use crate::output::{self, ms};
use crate::Format;

// The help of `benchmark` is the doc comment of `Command::Benchmark` in main.rs.
#[derive(Args)]
pub struct BenchmarkArgs {
    /// The text to count (default: a built-in sample document). "-" reads standard input:
    /// use it, or --file, for texts over 128 KiB (Linux's limit on one argument).
    #[arg(long, conflicts_with = "file")]
    text: Option<String>,
    /// Read the text from this file ("-" for standard input).
    #[arg(long, value_name = "F")]
    file: Option<PathBuf>,
    /// Adapters to run, comma-separated (default: heuristic,tiktoken,huggingface).
    #[arg(long, value_delimiter = ',')]
    adapters: Option<Vec<String>>,
    /// Timed counts per adapter.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    iterations: u32,
}

/// The built-in sample document of `benchmark`: prose, a list, code and numbers.
const SAMPLE_DOCUMENT: &str = "Token counting sits on the hot path of every request: validation, billing and \
context-window budgeting all need it. This sample mixes the kinds of text a service sees.\n\n\
- Plain English prose, with punctuation, contractions (it's, we'll) and numbers like 1,234.56.\n\
- Code: fn count(text: &str) -> usize { text.split_whitespace().count() }\n\
- A URL: https://example.com/docs?q=tokens&lang=en\n\n\
Exact counts come from the model's own vocabulary; estimates trade accuracy for speed.\n";

struct Timing {
    adapter: Adapter,
    times_ms: Vec<f64>,
    counts: Vec<u64>,
}

impl Timing {
    fn json(&self, requested: &str, text_length: usize) -> Value {
        let mut sorted = self.times_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let mean = sorted.iter().sum::<f64>() / n;
        let median = if sorted.len() % 2 == 1 {
            sorted[sorted.len() / 2]
        } else {
            (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
        };
        let std = (sorted.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / n).sqrt();
        let avg_tokens = self.counts.iter().sum::<u64>() as f64 / n;
        json!({
            "adapter": requested,
            "served_by": self.adapter.name(),
            "model": self.adapter.model(),
            "success": true,
            "avg_time_ms": ms(mean),
            "median_time_ms": ms(median),
            "min_time_ms": ms(sorted[0]),
            "max_time_ms": ms(*sorted.last().unwrap_or(&0.0)),
            "std_time_ms": ms(std),
            "avg_tokens": avg_tokens,
            "consistent": self.counts.windows(2).all(|w| w[0] == w[1]),
            "is_exact": self.adapter.is_exact(),
            "text_length": text_length,
        })
    }
}

pub fn run(ctx: &Context, args: BenchmarkArgs) -> Outcome {
    let BenchmarkArgs { text, file, adapters, iterations } = args;
    let adapters = adapters_or_default(adapters)?;
    let registry = ctx.registry()?;
    let text = Limit::of(&registry).input(text, file, SAMPLE_DOCUMENT)?;
    let text_length = text.chars().count();
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(adapters.len() as u64 * u64::from(iterations));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:12} [{bar:30}] {pos}/{len} {elapsed}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar
    });

    let mut results = Vec::new();
    let mut rows = Vec::new();
    let mut unavailable = Vec::new();
    for name in &adapters {
        if let Some(bar) = &progress {
            bar.set_message(name.clone());
            bar.tick();
        }
        let run = || -> Result<Timing, Failure> {
            let adapter = ctx.resolve(&registry, name)?;
            adapter.count(&text)?; // loads rank tables and tokenizer files outside the timing
            let mut timing = Timing { adapter, times_ms: Vec::new(), counts: Vec::new() };
            for _ in 0..iterations {
                let start = Instant::now();
                let count = timing.adapter.count(&text)?;
                timing.times_ms.push(start.elapsed().as_secs_f64() * 1000.0);
                timing.counts.push(count.count);
                if let Some(bar) = &progress {
                    bar.inc(1);
                }
            }
            Ok(timing)
        };
        match run() {
            Ok(timing) => {
                let result = timing.json(name, text_length);
                rows.push(vec![
                    name.clone(),
                    timing.adapter.model().to_string(),
                    output::cell(&result["avg_time_ms"]),
                    output::cell(&result["median_time_ms"]),
                    output::cell(&result["min_time_ms"]),
                    output::cell(&result["max_time_ms"]),
                    output::cell(&result["avg_tokens"]),
                    yes_no(timing.adapter.is_exact()),
                    yes_no(result["consistent"] == true),
                ]);
                results.push(result);
            }
            Err(failure) if failure.exit == 2 => return Err(failure),
            Err(failure) => {
                unavailable.push(format!("{name}: unavailable: {}", failure.message));
                results.push(json!({"adapter": name, "success": false, "error": failure.message}));
            }
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    match ctx.format {
        Format::Json => output::json(&json!({ "results": results })),
        Format::Text => {
            outln!("{} iterations, {} characters", iterations, text_length);
            output::table(
                &["adapter", "model", "avg ms", "median ms", "min ms", "max ms", "tokens", "exact", "consistent"],
                &rows,
            );
            for line in &unavailable {
                outln!("{line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
