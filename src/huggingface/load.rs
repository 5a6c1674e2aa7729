//! What loading a `tokenizer.json` into our own engine can run into, and small readers of its
//! JSON values.

use serde_json::Value;

/// Why our engine does not take a file.
#[derive(Debug)]
pub(crate) enum LoadError {
    /// A part or an option our engine does not have: the `tokenizers` crate counts the file.
    Unsupported(String),
    /// The file is malformed or hostile (the crate would fail, panic or exhaust memory on it):
    /// it is refused, with this message.
    Invalid(String),
}

/// The `"type"` of a pipeline part, `None` when there is none. Anything else than a string is
/// malformed.
pub(crate) fn kind_of<'v>(value: &'v Value, what: &str) -> Result<Option<&'v str>, LoadError> {
    if !value.is_object() {
        return Err(LoadError::Invalid(format!("the {what} must be a JSON object, not {}", short(value))));
    }
    match value.get("type") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(kind)) => Ok(Some(kind)),
        Some(other) => Err(LoadError::Invalid(format!("the {what}'s \"type\" is {}, not a string", short(other)))),
    }
}

/// A required boolean field.
pub(crate) fn field_bool(value: &Value, key: &str, what: &str) -> Result<bool, LoadError> {
    value[key].as_bool().ok_or_else(|| LoadError::Invalid(format!("the {what} needs a boolean \"{key}\"")))
}

/// A required string field.
pub(crate) fn field_str<'v>(value: &'v Value, key: &str, what: &str) -> Result<&'v str, LoadError> {
    value[key].as_str().ok_or_else(|| LoadError::Invalid(format!("the {what} needs a string \"{key}\"")))
}

/// A value as it appears in a message, cut to a readable length.
pub(crate) fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}
