//! `kano-tokenizer`: the command-line tool. Every command, flag and JSON field of the
//! tokenizer-adapters guide's `kano-backlog tokenizer` works the same way, so the guide's scripts
//! run unchanged through a two-line `kano-backlog` wrapper (see the README).
//!
//! Built on the Rust API. Exit status: 0 on success, 1 when the command ran and failed (a bad
//! config, an adapter that cannot serve, unreadable input), 2 for bad arguments and for an
//! unknown adapter name given to `health`.
//!
//! Texts longer than Linux's 128 KiB per-argument limit cannot be passed with `--text`: give
//! `--text -` (standard input) or `--file F` instead.

mod budget;
mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

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
    Benchmark {
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
    },
    /// Count one text with several adapters, side by side.
    Compare {
        /// The text to count. "-" reads standard input: use it, or --file, for texts over
        /// 128 KiB (Linux's limit on one argument).
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        text: Option<String>,
        /// Read the text from this file ("-" for standard input).
        #[arg(long, value_name = "F")]
        file: Option<PathBuf>,
        /// Adapters to compare, comma-separated (default: heuristic,tiktoken,huggingface).
        #[arg(long, value_delimiter = ',')]
        adapters: Option<Vec<String>>,
    },
    /// Resolve an adapter and count once: the adapter, what it resolved to, the count, whether
    /// it is exact. Without --adapter, the configured adapter, then each other adapter.
    Test {
        /// auto, heuristic, tiktoken or huggingface.
        #[arg(long)]
        adapter: Option<String>,
        /// The text to count (default: a short sample sentence). "-" reads standard input: use
        /// it, or --file, for texts over 128 KiB (Linux's limit on one argument).
        #[arg(long, conflicts_with = "file")]
        text: Option<String>,
        /// Read the text from this file ("-" for standard input).
        #[arg(long, value_name = "F")]
        file: Option<PathBuf>,
    },
    /// Whether an adapter can serve the model it would be asked for.
    ///
    /// "Can serve" means: the adapter resolves the model it would count with (--model, else
    /// [tokenizer] model / KANO_TOKENIZER_MODEL, else cl100k_base for tiktoken and auto and the
    /// embedded all-MiniLM-L6-v2 for huggingface) and counts a text with it, so a benchmark or
    /// count with that adapter would succeed. Exit 0 when it can; 1 with the reason when it
    /// cannot, saying also whether the adapter itself works (for example huggingface works but
    /// has no tokenizer.json for an OpenAI model such as gpt-4; `status` reports that as
    /// available with serves_model false); 2 for an unknown adapter name.
    Health {
        /// auto, heuristic, tiktoken or huggingface.
        adapter: Option<String>,
    },
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
    Dependencies {
        /// Also list the model table and every cache path with whether it exists.
        #[arg(long)]
        verbose: bool,
    },
    /// The fast estimate with bounds on the exact count, and optionally a limit check.
    Estimate {
        /// The text to estimate (default: standard input; "-" also reads it).
        #[arg(long, conflicts_with = "file")]
        text: Option<String>,
        /// Read the text from this file ("-" for standard input).
        #[arg(long, value_name = "F")]
        file: Option<PathBuf>,
        /// auto, heuristic, tiktoken or huggingface (default: the configured adapter).
        #[arg(long)]
        adapter: Option<String>,
        /// Also check the text against this many tokens (always right for exact adapters).
        #[arg(long, value_name = "N")]
        max_tokens: Option<u64>,
    },
    /// Count the prompt tokens of an OpenAI Chat Completions request (JSON), by the OpenAI
    /// cookbook's rules for messages and tools: the total, each message, the tools, and why the
    /// count is not exact when the rules do not cover the request. The model is --model, else
    /// the request's "model", else the configured one.
    Chat {
        /// The request file (default: standard input; "-" also reads it).
        file: Option<PathBuf>,
        /// tiktoken (default) or heuristic; tokenizer.json models need a chat template, which is
        /// not supported yet.
        #[arg(long)]
        adapter: Option<String>,
    },
    /// Print the longest prefix of a text (file or standard input) with at most N tokens.
    Truncate {
        /// The text file (default: standard input; "-" also reads it).
        file: Option<PathBuf>,
        #[arg(long, value_name = "N")]
        max_tokens: u64,
        /// auto, heuristic, tiktoken or huggingface (default: the configured adapter).
        #[arg(long)]
        adapter: Option<String>,
    },
    /// Cut a text (file or standard input) into chunks of at most N tokens, preferring cuts at
    /// line ends and whitespace; with --overlap K, each chunk starts K tokens (at most) before
    /// the previous one ends.
    Split {
        /// The text file (default: standard input; "-" also reads it).
        file: Option<PathBuf>,
        #[arg(long, value_name = "N")]
        max_tokens: u64,
        #[arg(long, value_name = "K", default_value_t = 0)]
        overlap: u64,
        /// auto, heuristic, tiktoken or huggingface (default: the configured adapter).
        #[arg(long)]
        adapter: Option<String>,
    },
    /// Count files (or standard input): one line per file and a total. Files over
    /// tokenizer.max_input_bytes (KANO_TOKENIZER_MAX_INPUT_BYTES, 64 MiB by default) are refused.
    Count {
        /// Files to count; none or "-" reads standard input.
        files: Vec<PathBuf>,
        /// auto, heuristic, tiktoken or huggingface (default: the configured adapter).
        #[arg(long)]
        adapter: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = commands::Context { config: cli.config, model: cli.model, format: cli.format };
    let result = match cli.command {
        Command::Benchmark { text, file, adapters, iterations } => {
            commands::benchmark(&ctx, text, file, adapters, iterations)
        }
        Command::Compare { text, file, adapters } => commands::compare(&ctx, text, file, adapters),
        Command::Test { adapter, text, file } => commands::test(&ctx, adapter, text, file),
        Command::Health { adapter } => commands::health(&ctx, adapter),
        Command::Status => commands::status(&ctx),
        Command::Validate => commands::validate(&ctx),
        Command::Dependencies { verbose } => commands::dependencies(&ctx, verbose),
        Command::Chat { file, adapter } => budget::chat(&ctx, file, adapter),
        Command::Truncate { file, max_tokens, adapter } => budget::truncate(&ctx, file, max_tokens, adapter),
        Command::Split { file, max_tokens, overlap, adapter } => {
            budget::split(&ctx, file, max_tokens, overlap, adapter)
        }
        Command::Count { files, adapter } => commands::count(&ctx, &files, adapter),
        Command::Estimate { text, file, adapter, max_tokens } => {
            commands::estimate(&ctx, text, file, adapter, max_tokens)
        }
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            output::error(ctx.format, &failure.message);
            ExitCode::from(failure.exit)
        }
    }
}
