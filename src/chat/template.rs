//! Chat templates: the Jinja text a `tokenizer.json` model's `tokenizer_config.json` (or a
//! `chat_template.jinja` beside it) carries, rendered as `transformers`'
//! `apply_chat_template(messages, tools=tools, add_generation_prompt=True)` renders it, and the
//! prompt then counted as that call tokenizes it (`add_special_tokens=False`: the template writes
//! its own special tokens).
//!
//! The template runs on MiniJinja, set up as `transformers` sets up jinja2: `trim_blocks`,
//! `lstrip_blocks`, loop controls, `raise_exception`, `strftime_now`, and a `tojson` that is
//! `json.dumps`. Values print as Python prints them (`python.rs`). A template is untrusted text:
//! it runs in MiniJinja's sandbox, on a fuel budget (each render stops after
//! [`FUEL`] instructions), with its output capped at the adapter's input limit.

use std::path::Path;

use minijinja::value::{Value, ValueKind};
use minijinja::Environment;

use super::python;
use crate::error::{Error, ErrorKind, Result};

/// The instructions one render may run: far more than any real template needs for the longest
/// request (about a hundred per message), few enough that a hostile loop ends in about a second.
const FUEL: u64 = 100_000_000;

/// The largest chat template file read (real ones are a few KB; the largest seen, 30 KB).
const MAX_TEMPLATE_BYTES: u64 = 4 << 20;
/// The largest `tokenizer_config.json` read (those with every added token listed reach a few MB).
const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// A model's chat template(s), compiled, with the special tokens the template may name.
pub(crate) struct ChatTemplate {
    env: Environment<'static>,
    /// The names of the templates in `env`: `default` and others (`tool_use`, `rag`, ...), as
    /// `tokenizer_config.json` lists them; one `default` for a single template.
    names: Vec<String>,
    /// `bos_token`, `eos_token`, ... and `additional_special_tokens`, as `special_tokens_map`
    /// hands them to the template.
    specials: Vec<(String, Value)>,
    /// Where the template came from, for messages.
    origin: String,
}

/// What the request hands the template.
pub(crate) struct TemplateInput {
    /// The messages, as `apply_chat_template` passes them on: keys whose value is null dropped,
    /// and the reasoning copied under the names templates read.
    pub messages: Vec<Value>,
    /// `tools` (null when absent).
    pub tools: Value,
    /// `documents` (null when absent).
    pub documents: Value,
    /// `chat_template_kwargs`: more variables for the template (vLLM's and SGLang's name for
    /// them), such as `enable_thinking` or `date_string`.
    pub kwargs: Vec<(String, Value)>,
}

impl ChatTemplate {
    /// The chat template stored beside the `tokenizer.json` at `tokenizer_file`, looked for as
    /// `transformers` looks for it: `chat_template.jinja`, then `tokenizer_config.json`'s
    /// `chat_template`, then `chat_template.json`. Special tokens come from
    /// `tokenizer_config.json`. `Unsupported` when there is none.
    pub(crate) fn beside(tokenizer_file: &Path) -> Result<ChatTemplate> {
        let dir = tokenizer_file.parent().unwrap_or(Path::new("."));
        let config_path = dir.join("tokenizer_config.json");
        let config = match config_path.is_file() {
            true => Some(read_json(&config_path, MAX_CONFIG_BYTES)?),
            false => None,
        };
        let specials = config.as_ref().map(special_tokens).unwrap_or_default();
        let jinja_path = dir.join("chat_template.jinja");
        if jinja_path.is_file() {
            let bytes = read(&jinja_path, MAX_TEMPLATE_BYTES)?;
            let text = String::from_utf8(bytes).map_err(|e| {
                Error::new(ErrorKind::AdapterUnavailable, format!("{} is not UTF-8: {e}", jinja_path.display()))
            })?;
            let origin = jinja_path.display().to_string();
            return ChatTemplate::new(vec![("default".into(), text)], specials, origin);
        }
        if let Some(config) = &config {
            if let Some(templates) = templates_of(config, &config_path)? {
                return ChatTemplate::new(templates, specials, config_path.display().to_string());
            }
        }
        let json_path = dir.join("chat_template.json");
        if json_path.is_file() {
            let json = read_json(&json_path, MAX_TEMPLATE_BYTES)?;
            if let Some(templates) = templates_of(&json, &json_path)? {
                return ChatTemplate::new(templates, specials, json_path.display().to_string());
            }
        }
        Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "no chat template beside {}: counting a chat request for a tokenizer.json model needs one \
                 (chat_template.jinja, or chat_template in tokenizer_config.json, in the same folder)",
                tokenizer_file.display()
            ),
        ))
    }

    /// Compiles `templates` (name, Jinja text). A template MiniJinja cannot compile (a syntax
    /// error, or an extension such as `{% generation %}`) is `Unsupported`, with MiniJinja's
    /// message, which names the construct and its line.
    pub(crate) fn new(
        templates: Vec<(String, String)>,
        specials: Vec<(String, Value)>,
        origin: String,
    ) -> Result<ChatTemplate> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(false);
        env.set_fuel(Some(FUEL));
        env.set_formatter(python::format);
        env.set_unknown_method_callback(python::method);
        env.add_filter("tojson", python::tojson);
        env.add_filter("trim", |text: &str, chars: Option<&str>| python::trim(text, chars));
        env.add_function("raise_exception", python::raise_exception);
        env.add_function("strftime_now", |format: &str| python::strftime_now(format));
        let mut names = Vec::with_capacity(templates.len());
        for (name, source) in templates {
            env.add_template_owned(name.clone(), source).map_err(|e| {
                Error::new(
                    ErrorKind::Unsupported,
                    format!("the chat template {name:?} of {origin} does not compile: {e}"),
                )
            })?;
            names.push(name);
        }
        Ok(ChatTemplate { env, names, specials, origin })
    }

    /// The template `apply_chat_template` picks: `tool_use` when the request has tools and the
    /// model names one, else `default`, else the only one.
    fn pick(&self, has_tools: bool) -> Result<&str> {
        let named = |wanted: &str| self.names.iter().find(|n| *n == wanted).map(String::as_str);
        if has_tools {
            if let Some(name) = named("tool_use") {
                return Ok(name);
            }
        }
        if let Some(name) = named("default") {
            return Ok(name);
        }
        match self.names.as_slice() {
            [only] => Ok(only),
            names => Err(Error::new(
                ErrorKind::Unsupported,
                format!("{} names several chat templates ({}) and no default", self.origin, names.join(", ")),
            )),
        }
    }

    /// The prompt text for `input`'s first `messages` messages, with the generation prompt or
    /// without, in at most `max_bytes` bytes.
    pub(crate) fn render(
        &self,
        input: &TemplateInput,
        messages: usize,
        add_generation_prompt: bool,
        max_bytes: u64,
    ) -> Result<String> {
        let has_tools = !input.tools.is_none() && !input.tools.is_undefined();
        let template = self.env.get_template(self.pick(has_tools)?).expect("the picked template was added");
        let mut context: Vec<(String, Value)> = self.specials.clone();
        context.extend(input.kwargs.iter().cloned());
        context.push(("messages".into(), Value::from(input.messages[..messages].to_vec())));
        context.push(("tools".into(), input.tools.clone()));
        context.push(("documents".into(), input.documents.clone()));
        context.push(("add_generation_prompt".into(), Value::from(add_generation_prompt)));
        let context = Value::from_iter(context);
        let mut out = CappedWriter { bytes: Vec::new(), limit: max_bytes };
        template.render_captured_to(context, &mut out).map_err(|e| {
            if out.bytes.len() as u64 >= max_bytes && e.kind() == minijinja::ErrorKind::WriteFailure {
                return Error::new(
                    ErrorKind::InputTooLarge,
                    format!("the rendered prompt is over the limit of {max_bytes} bytes (tokenizer.max_input_bytes)"),
                );
            }
            self.render_error(&e)
        })?;
        Ok(String::from_utf8(out.bytes).expect("templates write UTF-8"))
    }

    fn render_error(&self, e: &minijinja::Error) -> Error {
        let detail = e.detail().unwrap_or_default();
        if let Some(message) = detail.strip_prefix(python::RAISED) {
            return Error::new(ErrorKind::InvalidArgument, format!("the chat template refuses the request: {message}"));
        }
        if e.kind() == minijinja::ErrorKind::OutOfFuel {
            return Error::new(
                ErrorKind::InvalidArgument,
                format!("the chat template of {} ran more than {FUEL} steps on this request", self.origin),
            );
        }
        Error::new(
            ErrorKind::InvalidArgument,
            format!("the chat template of {} fails on this request: {e}", self.origin),
        )
    }
}

/// The messages of a request as `apply_chat_template` hands them to a template.
pub(crate) fn template_messages(messages: &Value) -> Result<Vec<Value>> {
    if messages.kind() != ValueKind::Seq {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("messages must be an array, not {}", messages.kind()),
        ));
    }
    let mut out = Vec::with_capacity(messages.len().unwrap_or(0));
    for (i, message) in
        messages.try_iter().map_err(|e| Error::new(ErrorKind::InvalidArgument, e.to_string()))?.enumerate()
    {
        if message.kind() != ValueKind::Map {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("messages[{i}] must be an object, not {}", message.kind()),
            ));
        }
        let mut fields: Vec<(Value, Value)> = Vec::new();
        for key in message.try_iter().map_err(|e| Error::new(ErrorKind::InvalidArgument, e.to_string()))? {
            let value = message.get_item(&key).unwrap_or_default();
            // Keys whose value is null are dropped: templates test whether a key is there.
            if !value.is_none() {
                fields.push((key, value));
            }
        }
        // The reasoning, under any of its names, is copied to `thinking` (read by gpt-oss
        // templates, and put first) and `reasoning_content` (read by the others).
        let reasoning = ["reasoning_content", "thinking", "reasoning"]
            .iter()
            .find_map(|name| fields.iter().find(|(k, _)| k.as_str() == Some(name)).map(|(_, v)| v.clone()));
        if let Some(reasoning) = reasoning {
            if !fields.iter().any(|(k, _)| k.as_str() == Some("thinking")) {
                fields.insert(0, (Value::from("thinking"), reasoning.clone()));
            } else {
                let at = fields.iter().position(|(k, _)| k.as_str() == Some("thinking")).expect("found above");
                let thinking = fields.remove(at);
                fields.insert(0, thinking);
            }
            match fields.iter_mut().find(|(k, _)| k.as_str() == Some("reasoning_content")) {
                Some((_, value)) => *value = reasoning,
                None => fields.push((Value::from("reasoning_content"), reasoning)),
            }
        }
        out.push(Value::from_iter(fields));
    }
    Ok(out)
}

/// The templates a `tokenizer_config.json` or `chat_template.json` holds: a string, or a list
/// of `{"name", "template"}`.
fn templates_of(json: &serde_json::Value, path: &Path) -> Result<Option<Vec<(String, String)>>> {
    let bad = |what: &str| {
        Error::new(ErrorKind::AdapterUnavailable, format!("{}: chat_template must be {what}", path.display()))
    };
    match json.get("chat_template") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => Ok(Some(vec![("default".into(), text.clone())])),
        Some(serde_json::Value::Array(list)) => {
            let mut templates = Vec::with_capacity(list.len());
            for entry in list {
                match (entry.get("name").and_then(|v| v.as_str()), entry.get("template").and_then(|v| v.as_str())) {
                    (Some(name), Some(text)) => templates.push((name.to_string(), text.to_string())),
                    _ => return Err(bad("a list of {\"name\": ..., \"template\": ...} objects")),
                }
            }
            Ok(Some(templates))
        }
        Some(_) => Err(bad("a string or a list of named templates")),
    }
}

/// `special_tokens_map` of a `tokenizer_config.json`: each `*_token` that is a string or an
/// `AddedToken` object, and `additional_special_tokens`.
fn special_tokens(config: &serde_json::Value) -> Vec<(String, Value)> {
    let content = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("content").and_then(|c| c.as_str()).map(str::to_string),
        _ => None,
    };
    let mut specials = Vec::new();
    for name in ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"] {
        if let Some(text) = config.get(name).and_then(content) {
            specials.push((name.to_string(), Value::from(text)));
        }
    }
    if let Some(list) = config.get("additional_special_tokens").and_then(|v| v.as_array()) {
        let tokens: Vec<Value> = list.iter().filter_map(content).map(Value::from).collect();
        specials.push(("additional_special_tokens".into(), Value::from(tokens)));
    }
    specials
}

fn read(path: &Path, limit: u64) -> Result<Vec<u8>> {
    crate::capped_read::read_capped(path, "chat template file", limit, ErrorKind::AdapterUnavailable, "")
}

fn read_json(path: &Path, limit: u64) -> Result<serde_json::Value> {
    let bytes = read(path, limit)?;
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        // transformers refuses such a file too (json.load: "Unexpected UTF-8 BOM").
        return Err(Error::new(
            ErrorKind::AdapterUnavailable,
            format!(
                "{} starts with a UTF-8 byte-order mark, which JSON does not allow: save it without one",
                path.display()
            ),
        ));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::new(ErrorKind::AdapterUnavailable, format!("{} is not valid JSON: {e}", path.display())))
}

/// A writer that refuses to grow past `limit` bytes.
struct CappedWriter {
    bytes: Vec<u8>,
    limit: u64,
}

impl std::io::Write for CappedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if (self.bytes.len() + buf.len()) as u64 > self.limit {
            self.bytes.extend_from_slice(&buf[..(self.limit as usize).saturating_sub(self.bytes.len())]);
            return Err(std::io::Error::other("the rendered prompt is over the limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
