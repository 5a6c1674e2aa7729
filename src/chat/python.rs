//! What a chat template sees of Python. Templates are written for Python's `jinja2` as
//! `transformers` runs them (`apply_chat_template`), so here values print as Python prints them,
//! `tojson` writes what `json.dumps` writes, `strip` trims what Python calls whitespace, and
//! `strftime_now` formats the date as `datetime.strftime` does. Each differs from MiniJinja's own
//! behaviour in a way that changes the rendered text, and so the count.

use std::fmt::Write as _;

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

/// Python's `str.isspace`: Unicode White_Space plus the four ASCII separators 0x1C-0x1F.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// The template's output formatter: strings as they are, everything else as Python's `str()`.
pub(super) fn format(out: &mut minijinja::Output, _state: &State, value: &Value) -> Result<(), Error> {
    if let Some(text) = value.as_str() {
        return out.write_str(text).map_err(|_| Error::new(ErrorKind::WriteFailure, "the output is full"));
    }
    let mut text = String::new();
    match value.kind() {
        ValueKind::Undefined => {}
        _ => repr(&mut text, value, 0)?,
    }
    out.write_str(&text).map_err(|_| Error::new(ErrorKind::WriteFailure, "the output is full"))
}

/// The deepest value `repr` and `tojson` write (request values are held to 64 levels before
/// they are parsed; values a template builds could be deeper).
const MAX_DEPTH: usize = 128;

fn too_deep() -> Error {
    Error::new(ErrorKind::InvalidOperation, "a value nested too deeply to print")
}

/// Python's `repr()` of a JSON-like value (`str()` for the outer value: the caller writes
/// strings itself).
fn repr(out: &mut String, value: &Value, depth: usize) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::Number => number(out, value, false),
        ValueKind::String => repr_str(out, value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in value.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr(out, &item, depth + 1)?;
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            for (i, key) in value.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr(out, &key, depth + 1)?;
                out.push_str(": ");
                repr(out, &value.get_item(&key)?, depth + 1)?;
            }
            out.push('}');
        }
        _ => write!(out, "{value}").expect("writing to a String"),
    }
    Ok(())
}

/// Python's `repr(str)`: single quotes unless the text holds `'` and no `"`; backslash, the
/// quote and control characters escaped.
fn repr_str(out: &mut String, text: &str) {
    let quote = if text.contains('\'') && !text.contains('"') { '"' } else { '\'' };
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                write!(out, "\\x{:02x}", c as u32).expect("writing to a String")
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// A number as Python prints it: integers in full, floats by `float.__repr__`; a float that is
/// not finite as `str()` writes it (`nan`, `inf`) or, in JSON, as `json.dumps` does (`NaN`,
/// `Infinity`).
fn number(out: &mut String, value: &Value, json: bool) {
    if value.is_integer() {
        return write!(out, "{value}").expect("writing to a String");
    }
    let x = f64::try_from(value.clone()).unwrap_or(f64::NAN);
    match (x.is_nan(), x.is_infinite(), json) {
        (true, _, true) => out.push_str("NaN"),
        (true, _, false) => out.push_str("nan"),
        (_, true, true) => out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" }),
        (_, true, false) => out.push_str(if x > 0.0 { "inf" } else { "-inf" }),
        _ => float(out, x),
    }
}

/// `float.__repr__` of a finite float: the shortest digits that round-trip, positional when the
/// exponent is in -4..16, else scientific with a sign and at least two exponent digits.
fn float(out: &mut String, x: f64) {
    if x == 0.0 {
        return out.push_str(if x.is_sign_negative() { "-0.0" } else { "0.0" });
    }
    // Rust's `{:e}` gives the same shortest round-trip digits: "d.ddde±x".
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is an integer");
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    out.push_str(sign);
    if (-4..16).contains(&exponent) {
        if exponent < 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
            out.push_str(&digits);
        } else {
            let int_len = exponent as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        write!(out, "e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs()).expect("writing to a String");
    }
}

/// The `tojson` filter as `transformers` defines it: `json.dumps(x, ensure_ascii=False,
/// indent=None, separators=None, sort_keys=False)`, keys in their order.
pub(super) fn tojson(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    let indent: Option<Value> = kwargs.get("indent")?;
    let separators: Option<Vec<String>> = kwargs.get("separators")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => match (v.as_str(), i64::try_from(v.clone())) {
            (Some(s), _) => Some(s.to_string()),
            (None, Ok(n)) => Some(" ".repeat(n.clamp(0, 64) as usize)),
            _ => return Err(Error::new(ErrorKind::InvalidOperation, "tojson: indent must be a number or a string")),
        },
    };
    let (item_sep, key_sep) = match separators {
        Some(pair) if pair.len() == 2 => (pair[0].clone(), pair[1].clone()),
        Some(_) => return Err(Error::new(ErrorKind::InvalidOperation, "tojson: separators must be a pair")),
        // Python's defaults: "," after an item when indenting (the newline follows), else ", ".
        None if indent.is_some() => (",".to_string(), ": ".to_string()),
        None => (", ".to_string(), ": ".to_string()),
    };
    let style = JsonStyle {
        ensure_ascii: ensure_ascii.unwrap_or(false),
        indent,
        item_sep,
        key_sep,
        sort_keys: sort_keys.unwrap_or(false),
    };
    let mut out = String::new();
    style.write(&mut out, value, 0)?;
    Ok(Value::from(out))
}

struct JsonStyle {
    ensure_ascii: bool,
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
    sort_keys: bool,
}

impl JsonStyle {
    fn write(&self, out: &mut String, value: &Value, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        match value.kind() {
            ValueKind::Undefined | ValueKind::None => out.push_str("null"),
            ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
            ValueKind::Number => number(out, value, true),
            ValueKind::String => self.string(out, value.as_str().unwrap_or_default()),
            ValueKind::Seq | ValueKind::Iterable => {
                let items: Vec<Value> = value.try_iter()?.collect();
                self.container(out, '[', ']', items.len(), depth, |out, i| self.write(out, &items[i], depth + 1))?;
            }
            ValueKind::Map => {
                let mut keys: Vec<Value> = value.try_iter()?.collect();
                if self.sort_keys {
                    keys.sort_by_key(|k| k.to_string());
                }
                self.container(out, '{', '}', keys.len(), depth, |out, i| {
                    self.key(out, &keys[i])?;
                    out.push_str(&self.key_sep);
                    self.write(out, &value.get_item(&keys[i])?, depth + 1)
                })?;
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("tojson: a {} is not JSON serializable", value.kind()),
                ))
            }
        }
        Ok(())
    }

    fn container(
        &self,
        out: &mut String,
        open: char,
        close: char,
        len: usize,
        depth: usize,
        mut item: impl FnMut(&mut String, usize) -> Result<(), Error>,
    ) -> Result<(), Error> {
        out.push(open);
        if len == 0 {
            out.push(close);
            return Ok(());
        }
        for i in 0..len {
            if i > 0 {
                out.push_str(&self.item_sep);
            }
            if let Some(indent) = &self.indent {
                out.push('\n');
                out.extend(std::iter::repeat_n(indent.as_str(), depth + 1));
            }
            item(out, i)?;
        }
        if let Some(indent) = &self.indent {
            out.push('\n');
            out.extend(std::iter::repeat_n(indent.as_str(), depth));
        }
        out.push(close);
        Ok(())
    }

    /// A key: strings as they are; numbers, booleans and null as `json.dumps` turns them into
    /// keys.
    fn key(&self, out: &mut String, key: &Value) -> Result<(), Error> {
        match key.kind() {
            ValueKind::String => self.string(out, key.as_str().unwrap_or_default()),
            ValueKind::Number | ValueKind::Bool | ValueKind::None => {
                let mut text = String::new();
                self.write(&mut text, key, 0)?;
                self.string(out, &text);
            }
            _ => return Err(Error::new(ErrorKind::InvalidOperation, "tojson: keys must be strings")),
        }
        Ok(())
    }

    fn string(&self, out: &mut String, text: &str) {
        out.push('"');
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32).expect("writing to a String"),
                c if self.ensure_ascii && !c.is_ascii() => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        write!(out, "\\u{unit:04x}").expect("writing to a String");
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

/// String methods whose Python meaning differs from MiniJinja's Python-compatibility layer:
/// `strip`, `lstrip` and `rstrip` with no argument trim Python's whitespace. Everything else
/// goes to that layer (`minijinja_contrib::pycompat`).
pub(super) fn method(state: &State, value: &Value, method: &str, args: &[Value]) -> Result<Value, Error> {
    if let (Some(text), true) = (value.as_str(), args.is_empty()) {
        match method {
            "strip" => return Ok(Value::from(text.trim_matches(is_space))),
            "lstrip" => return Ok(Value::from(text.trim_start_matches(is_space))),
            "rstrip" => return Ok(Value::from(text.trim_end_matches(is_space))),
            _ => {}
        }
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

/// The `trim` filter: Python's `str.strip` (with `chars`, those characters).
pub(super) fn trim(text: &str, chars: Option<&str>) -> String {
    match chars {
        Some(chars) => text.trim_matches(|c| chars.contains(c)).to_string(),
        None => text.trim_matches(is_space).to_string(),
    }
}

/// `raise_exception(message)`: the template refuses the request.
pub(super) fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, format!("{RAISED}{message}")))
}

/// How a `raise_exception` error starts, so that it can be told from the template's own faults.
pub(super) const RAISED: &str = "raise_exception: ";

/// `strftime_now(format)`: the current time (UTC; Python uses the local time zone) through
/// `strftime`'s common directives.
pub(super) fn strftime_now(format: &str) -> Result<Value, Error> {
    let seconds =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    strftime(format, seconds).map(Value::from)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// `strftime` of a Unix time in UTC, for the directives templates use.
fn strftime(format: &str, unix_seconds: i64) -> Result<String, Error> {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = (days + 3).rem_euclid(7) as usize; // 1970-01-01 was a Thursday.
    let day_of_year = days - days_from_civil(year, 1, 1) + 1;
    let (hour, minute, second) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let w = |out: &mut String, args: std::fmt::Arguments<'_>| out.write_fmt(args).expect("writing to a String");
        match chars.next() {
            Some('d') => w(&mut out, format_args!("{day:02}")),
            Some('e') => w(&mut out, format_args!("{day:>2}")),
            Some('m') => w(&mut out, format_args!("{month:02}")),
            Some('Y') => w(&mut out, format_args!("{year}")),
            Some('y') => w(&mut out, format_args!("{:02}", year.rem_euclid(100))),
            Some('B') => out.push_str(MONTHS[month as usize - 1]),
            Some('b') | Some('h') => out.push_str(&MONTHS[month as usize - 1][..3]),
            Some('A') => out.push_str(WEEKDAYS[weekday]),
            Some('a') => out.push_str(&WEEKDAYS[weekday][..3]),
            Some('j') => w(&mut out, format_args!("{day_of_year:03}")),
            Some('H') => w(&mut out, format_args!("{hour:02}")),
            Some('I') => w(&mut out, format_args!("{:02}", (hour + 11) % 12 + 1)),
            Some('p') => out.push_str(if hour < 12 { "AM" } else { "PM" }),
            Some('M') => w(&mut out, format_args!("{minute:02}")),
            Some('S') => w(&mut out, format_args!("{second:02}")),
            Some('F') => w(&mut out, format_args!("{year}-{month:02}-{day:02}")),
            Some('%') => out.push('%'),
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "strftime_now: the directive %{} is not supported",
                        other.map(String::from).unwrap_or_default()
                    ),
                ))
            }
        }
    }
    Ok(out)
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (-2.5, "-2.5"),
            (123456.789, "123456.789"),
            (1e100, "1e+100"),
        ];
        for (x, python) in cases {
            let mut out = String::new();
            float(&mut out, x);
            assert_eq!(out, python, "{x}");
        }

        #[test]
        fn floats_that_are_not_finite_print_as_str_and_as_json_dumps() {
            // str(float("nan")), str(float("-inf")); json.dumps of the same.
            for (x, python, json) in [(f64::NAN, "nan", "NaN"), (f64::NEG_INFINITY, "-inf", "-Infinity")] {
                let (mut shown, mut dumped) = (String::new(), String::new());
                number(&mut shown, &Value::from(x), false);
                number(&mut dumped, &Value::from(x), true);
                assert_eq!((shown.as_str(), dumped.as_str()), (python, json));
            }
        }
    }

    #[test]
    fn strftime_matches_python_for_known_dates() {
        // datetime.fromtimestamp(t, timezone.utc).strftime(...) in Python.
        assert_eq!(strftime("%d %b %Y", 0).unwrap(), "01 Jan 1970");
        assert_eq!(strftime("%Y-%m-%d %H:%M:%S %A %j", 1_796_395_825).unwrap(), "2026-12-04 14:50:25 Friday 338");
        assert_eq!(strftime("%B %e, %y %I%p %%", 951_782_400).unwrap(), "February 29, 00 12AM %");
        assert!(strftime("%Q", 0).is_err());
    }

    #[test]
    fn python_whitespace_includes_the_ascii_separators() {
        assert_eq!(trim("\x1c hi\u{3000}\x1f", None), "hi");
        assert_eq!(trim("xxhix", Some("x")), "hi");
    }
}
