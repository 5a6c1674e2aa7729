//! `kano-tokenizer`: the command-line tool. Every command, flag and JSON field of the
//! tokenizer-adapters guide's `kano-backlog tokenizer` works the same way, so the guide's scripts
//! run unchanged through a two-line `kano-backlog` wrapper (see docs/CLI.md).
//!
//! Built on the Rust API. Exit status: 0 on success, 1 when the command ran and failed (a bad
//! config, an adapter that cannot serve, unreadable input), 2 for bad arguments and for an
//! unknown adapter name given to `health`.
//!
//! Texts longer than Linux's 128 KiB per-argument limit cannot be passed with `--text`: give
//! `--text -` (standard input) or `--file F` instead.

mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use commands::{
    benchmark, chat, compare, count, dependencies, estimate, health, split, status, test, truncate, validate,
};

#[derive(Parser)]
#[command(name = "kano-tokenizer", version, about = "Count LLM tokens: exact (tiktoken, tokenizer.json) or estimated")]
struct Cli {
    /// Config file (TOML, the guide's [tokenizer] keys); KANO_TOKENIZER_* variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Model to resolve (a model or encoding name, a Hugging Face repo, or a tokenizer.json path).
    #[arg(long, global = true, value_name = "M")]
    model: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Time counting with each adapter: mean, median, min, max and spread per call.
    Benchmark(benchmark::BenchmarkArgs),
    /// Count one text with several adapters, side by side.
    Compare(compare::CompareArgs),
    /// Resolve an adapter and count once: the adapter, what it resolved to, the count, whether
    /// it is exact. Without --adapter, the configured adapter, then each other adapter.
    Test(test::TestArgs),
    /// Whether an adapter can serve the model it would be asked for.
    ///
    /// "Can serve" means: the adapter resolves the model it would count with (--model, else
    /// [tokenizer] model / KANO_TOKENIZER_MODEL, else cl100k_base for tiktoken and auto and the
    /// embedded all-MiniLM-L6-v2 for huggingface) and counts a text with it, so a benchmark or
    /// count with that adapter would succeed. Exit 0 when it can; 1 with the reason when it
    /// cannot, saying also whether the adapter itself works (for example huggingface works but
    /// has no tokenizer.json for an OpenAI model such as gpt-4; `status` reports that as
    /// available with serves_model false); 2 for an unknown adapter name.
    Health(health::HealthArgs),
    /// Which adapters work and whether each serves the configured model, and the effective
    /// config with where each value came from.
    ///
    /// adapters.NAME.available is true when the adapter itself works: it serves the configured
    /// model, or, when that model is not one of its models (an OpenAI model for huggingface, a
    /// Hugging Face model for tiktoken), it counts with a built-in one (the embedded
    /// all-MiniLM-L6-v2, cl100k_base). adapters.NAME.serves_model says whether it serves the
    /// configured model, with the reason when it does not.
    Status,
    /// Check a config file (--config FILE, else $KANO_TOKENIZER_CONFIG) and the KANO_TOKENIZER_*
    /// variables over it: exit 0 with the effective values and their sources, or 1 with every
    /// problem.
    Validate,
    /// Library and dependency versions, embedded encodings and tokenizers, and the Hugging Face
    /// cache paths searched.
    Dependencies(dependencies::DependenciesArgs),
    /// The fast estimate with bounds on the exact count, and optionally a limit check.
    Estimate(estimate::EstimateArgs),
    /// Count the prompt tokens of an OpenAI Chat Completions request (JSON), by the OpenAI
    /// cookbook's rules for messages and tools: the total, each message, the tools, and why the
    /// count is not exact when the rules do not cover the request. The model is --model, else
    /// the request's "model", else the configured one.
    Chat(chat::ChatArgs),
    /// Print the longest prefix of a text (file or standard input) with at most N tokens.
    Truncate(truncate::TruncateArgs),
    /// Cut a text (file or standard input) into chunks of at most N tokens, preferring cuts at
    /// line ends and whitespace; with --overlap K, each chunk starts K tokens (at most) before
    /// the previous one ends.
    Split(split::SplitArgs),
    /// Count files (or standard input): one line per file and a total. Files over
    /// tokenizer.max_input_bytes (KANO_TOKENIZER_MAX_INPUT_BYTES, 64 MiB by default) are refused.
    Count(count::CountArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = commands::Context { config: cli.config, model: cli.model, format: cli.format };
    let result = match cli.command {
        Command::Benchmark(args) => benchmark::run(&ctx, args),
        Command::Compare(args) => compare::run(&ctx, args),
        Command::Test(args) => test::run(&ctx, args),
        Command::Health(args) => health::run(&ctx, args),
        Command::Status => status::run(&ctx),
        Command::Validate => validate::run(&ctx),
        Command::Dependencies(args) => dependencies::run(&ctx, args),
        Command::Chat(args) => chat::run(&ctx, args),
        Command::Truncate(args) => truncate::run(&ctx, args),
        Command::Split(args) => split::run(&ctx, args),
        Command::Count(args) => count::run(&ctx, args),
        Command::Estimate(args) => estimate::run(&ctx, args),
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            output::error(ctx.format, &failure.message);
            ExitCode::from(failure.exit)
        }
    }
}
