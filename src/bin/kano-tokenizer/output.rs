//! Printing: JSON to stdout, text tables to stdout, errors to stderr (and, in JSON mode, an
//! `{"error": ...}` object to stdout so that `jq` pipelines see what failed).

use std::io::Write;

use serde_json::Value;

use crate::Format;

/// `println!` that ends the process quietly when stdout is closed (`kano-tokenizer ... | head`)
/// instead of panicking.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write_line(format_args!($($arg)*))
    };
}

pub fn write_line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

pub fn json(value: &Value) {
    outln!("{}", serde_json::to_string_pretty(value).expect("JSON values serialize"));
}

pub fn error(format: Format, message: &str) {
    if format == Format::Json {
        json(&serde_json::json!({ "error": message }));
    }
    eprintln!("error: {message}");
}

/// Prints rows as a table with a header, each column as wide as its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        outln!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    line(widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().iter().map(String::as_str).collect());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Milliseconds with three decimals, as JSON numbers.
pub fn ms(value: f64) -> Value {
    serde_json::json!((value * 1000.0).round() / 1000.0)
}
