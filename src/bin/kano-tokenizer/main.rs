//! `kano-tokenizer`: the command-line tool. Every command, flag and JSON field of the
//! tokenizer-adapters guide's `kano-backlog tokenizer` works the same way, so the guide's scripts
//! run unchanged through a two-line `kano-backlog` wrapper (see the README).
//!
//! Built on the Rust API. Exit status: 0 on success, 1 when the command ran and failed (a bad
//! config, an adapter that cannot serve, unreadable input), 2 for bad arguments and for an
//! unknown adapter name given to `health`.

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
        /// The text to count (default: a built-in sample document).
        #[arg(long, conflicts_with = "file")]
        text: Option<String>,
        /// Read the text from this file.
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
        /// The text to count.
        text: String,
        /// Adapters to compare, comma-separated (default: heuristic,tiktoken,huggingface).
        #[arg(long, value_delimiter = ',')]
        adapters: Option<Vec<String>>,
    },
    /// Resolve an adapter and count once: the adapter, what it resolved to, the count, whether
    /// it is exact. Without --adapter, every adapter and auto.
    Test {
        /// auto, heuristic, tiktoken or huggingface.
        #[arg(long)]
        adapter: Option<String>,
        /// The text to count (default: a short sample sentence).
        #[arg(long)]
        text: Option<String>,
    },
    /// Exit 0 when the adapter (default: the configured one) can serve the model, 1 with the
    /// reason when it cannot, 2 for an unknown adapter name.
    Health {
        /// auto, heuristic, tiktoken or huggingface.
        adapter: Option<String>,
    },
    /// Which adapters can serve, and the effective config with where each value came from.
    Status,
    /// Check a config file: exit 0 with a summary, or 1 with every problem.
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
        /// The text to estimate (default: standard input).
        #[arg(long, conflicts_with = "file")]
        text: Option<String>,
        /// Read the text from this file.
        #[arg(long, value_name = "F")]
        file: Option<PathBuf>,
        /// auto, heuristic, tiktoken or huggingface (default: the configured adapter).
        #[arg(long)]
        adapter: Option<String>,
        /// Also check the text against this many tokens (always right for exact adapters).
        #[arg(long, value_name = "N")]
        max_tokens: Option<u64>,
    },
    /// Count files (or standard input): one line per file and a total.
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
        Command::Compare { text, adapters } => commands::compare(&ctx, &text, adapters),
        Command::Test { adapter, text } => commands::test(&ctx, adapter, text),
        Command::Health { adapter } => commands::health(&ctx, adapter),
        Command::Status => commands::status(&ctx),
        Command::Validate => commands::validate(&ctx),
        Command::Dependencies { verbose } => commands::dependencies(&ctx, verbose),
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
