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

/// Prints `value` as serde_json's pretty printer does (two-space indent, keys in order), except
/// that floats are always in plain decimal notation (0.000085, never 8.5e-5), which `bc` and
/// other tools downstream of `jq` read.
pub fn json(value: &Value) {
    let mut out = String::new();
    pretty(value, 0, &mut out);
    outln!("{out}");
}

fn pretty(value: &Value, depth: usize, out: &mut String) {
    let indent = |out: &mut String, depth: usize| out.push_str(&"  ".repeat(depth));
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                indent(out, depth + 1);
                pretty(item, depth + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            indent(out, depth);
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            out.push_str("{\n");
            for (i, (key, item)) in map.iter().enumerate() {
                indent(out, depth + 1);
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(": ");
                pretty(item, depth + 1, out);
                out.push_str(if i + 1 < map.len() { ",\n" } else { "\n" });
            }
            indent(out, depth);
            out.push('}');
        }
        Value::Number(n) if n.is_f64() => out.push_str(&plain(n.as_f64().unwrap_or(0.0))),
        other => out.push_str(&other.to_string()),
    }
}

/// A finite float in plain decimal notation, with ".0" on whole numbers as serde_json writes them.
pub fn plain(value: f64) -> String {
    let s = value.to_string();
    if s.contains('.') || !value.is_finite() {
        s
    } else {
        s + ".0"
    }
}

/// A JSON number as a table cell, floats in plain notation.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Number(n) if n.is_f64() => plain(n.as_f64().unwrap_or(f64::NAN)),
        other => other.to_string(),
    }
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

/// Milliseconds to the nanosecond (six decimals; the clock's resolution), as JSON numbers: fast
/// adapters take well under a microsecond, which three decimals would show as 0.
pub fn ms(value: f64) -> Value {
    serde_json::json!((value * 1e6).round() / 1e6)
}
