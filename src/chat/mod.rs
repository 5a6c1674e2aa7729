//! Chat requests: the prompt tokens of an OpenAI Chat Completions request body, by the rules the
//! OpenAI cookbook publishes ("How to count tokens with tiktoken", whose figures the API
//! confirmed).
//!
//! - Messages: 3 tokens per message and 1 per `name`, plus the encoded value of every field; 3
//!   more prime the reply. `gpt-3.5-turbo-0301`: 4 per message and -1 per `name`.
//! - Tools (`num_tokens_for_tools`): per function, 7 (o200k models) or 10 (cl100k models), plus
//!   `name:description`; a properties block adds 3, each property 3 plus `key:type:description`,
//!   an enum -3 plus 3 and the encoded text per item; 12 at the end when there are tools. A
//!   description's final `.` is dropped.
//!
//! What the rules do not cover exactly is still counted, by the nearest rule, and named in
//! `reasons` with `is_exact` false: content parts, images (the tile rule when `detail` and the
//! size are given, else bounds), audio, tool calls, nested or array parameters, `tool_choice`,
//! `response_format`, fields other than `role`, `content` and `name`. Never a silent guess.
//!
//! The request's `model` (or else the adapter's) picks the message rules; the adapter's encoding
//! picks the tools rules and counts.
//!
//! A `tokenizer.json` model (Llama 3, Qwen, Mistral, Phi, ...) counts with its own chat
//! template instead (`template.rs`): the Jinja template of the `tokenizer_config.json` or
//! `chat_template.jinja` beside the `tokenizer.json`, rendered as `transformers`'
//! `apply_chat_template(messages, tools=tools, add_generation_prompt=True)` renders it, then
//! counted as that call tokenizes it. Without a template that is an `Unsupported` error, not a
//! guess.
//!
//! Hostile input: the text is held to the adapter's input limit before it is read, checked for
//! UTF-8, and refused when nested deeper than [`MAX_DEPTH`] before it is parsed.

mod python;
mod template;

use serde_json::{Map, Value};

pub(crate) use template::ChatTemplate;

use crate::adapter::{Adapter, Engine, Method};
use crate::error::{Error, ErrorKind, Result};
use crate::tiktoken::{EncodingName, RankTableId};

/// The deepest nesting of arrays and objects a request may have.
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, ErrorKind, Registry, MAX_CHAT_DEPTH};
/// let registry = Registry::with_config(Config::default());
/// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
/// let deep = format!("{}{}", "[".repeat(MAX_CHAT_DEPTH + 1), "]".repeat(MAX_CHAT_DEPTH + 1));
/// assert_eq!(adapter.count_chat(&deep).unwrap_err().kind(), ErrorKind::InvalidArgument);
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub const MAX_DEPTH: usize = 64;

/// The prompt tokens of a chat request.
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, Registry};
/// let registry = Registry::with_config(Config::default());
/// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
/// let image = r#"{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}"#;
/// let chat = adapter.count_chat(image)?; // an image of unknown size: bounds, and the reason
/// assert!(!chat.is_exact && chat.lower_bound < chat.total && chat.total <= chat.upper_bound);
/// assert!(chat.reasons[0].contains("an image without its size"));
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatCount {
    /// Every message, tool and the reply priming. When not exact, the nearest rule's count.
    pub total: u64,
    /// The count is never below this when the adapter is exact (equal to `total` when exact).
    pub lower_bound: u64,
    /// Nor above this (`u64::MAX` when something cannot be bounded, such as audio).
    pub upper_bound: u64,
    /// Each message's tokens, its per-message tokens included, in request order. With a chat
    /// template: what each turn adds to the prompt (empty when the template rewrites earlier
    /// turns, or past [`MAX_TEMPLATE_BREAKDOWN`] messages).
    pub messages: Vec<u64>,
    /// The tokens of the tools (0 without tools; 0 with a chat template, which renders them
    /// inside a turn).
    pub tools: u64,
    /// The tokens that prime the reply (3; with a chat template, the generation prompt).
    pub reply_priming: u64,
    /// Whether the published rules cover the request exactly and the adapter counts exactly.
    pub is_exact: bool,
    /// Why the count is not exact, one entry per cause (empty when exact).
    pub reasons: Vec<String>,
    pub method: Method,
}

/// Tokens per message and per name.
#[derive(Clone, Copy)]
struct MessageRules {
    per_message: i64,
    per_name: i64,
}

/// `num_tokens_for_tools`'s settings.
#[derive(Clone, Copy)]
struct ToolRules {
    func_init: i64,
    prop_init: i64,
    prop_key: i64,
    enum_init: i64,
    enum_item: i64,
    func_end: i64,
}

const REPLY_PRIMING: u64 = 3;

/// Image tokens by the tile rule: a base and a price per 512-px tile.
const IMAGE_BASE: u64 = 85;
const IMAGE_TILE: u64 = 170;
/// The most tiles an image can take after the resize (768 × 2048 px: 2 × 4).
const IMAGE_MAX_TILES: u64 = 8;

struct Counter<'a> {
    adapter: &'a Adapter,
    reasons: Vec<String>,
    /// What the bounds add to the total: below and above.
    slack_down: u64,
    slack_up: u64,
}

impl Counter<'_> {
    fn tokens(&self, text: &str) -> Result<i64> {
        Ok(self.adapter.count(text)?.count as i64)
    }

    fn inexact(&mut self, reason: String) {
        if !self.reasons.contains(&reason) {
            self.reasons.push(reason);
        }
    }
}

impl Adapter {
    /// The prompt tokens of an OpenAI Chat Completions request body (JSON text): see the
    /// module's documentation for the rules and what makes a count inexact.
    ///
    /// Errors: `InputTooLarge` over the input limit; `InvalidArgument` for JSON that does not
    /// parse, is nested deeper than [`MAX_DEPTH`], or has the wrong type where the format needs
    /// one (the message names the place, such as `messages[2].role`), or that the chat template
    /// refuses; `Unsupported` for a `tokenizer.json` adapter with no chat template beside it (or
    /// one that does not compile), or an encoding no chat model uses.
    ///
    /// # Examples
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// let chat = adapter.count_chat(r#"{"messages": [{"role": "user", "content": "Hello, world!"}]}"#)?;
    /// // 3 per message + "user" (1) + "Hello, world!" (4), then 3 to prime the reply.
    /// assert_eq!((chat.messages[0], chat.total, chat.is_exact), (8, 11, true));
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn count_chat(&self, request: &str) -> Result<ChatCount> {
        self.check_input_len(request.len())?;
        check_depth(request.as_bytes())?;
        if let Engine::Huggingface { tokenizer, .. } = self.engine() {
            return self.count_chat_template(tokenizer, request);
        }
        let value: Value = serde_json::from_str(request)
            .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("the request is not valid JSON: {e}")))?;
        self.count_chat_value(&value)
    }

    /// [`Adapter::count_chat`] of UTF-8 bytes; invalid UTF-8 names the offset of the first bad
    /// byte.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, ErrorKind, Registry};
    /// let registry = Registry::with_config(Config::default());
    /// let adapter = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// assert_eq!(adapter.count_chat_bytes(br#"{"messages": [{"role": "user", "content": "Hi"}]}"#)?.total, 8);
    /// let bad = adapter.count_chat_bytes(b"{\"messages\": \"\xff\"}").unwrap_err();
    /// assert_eq!(bad.kind(), ErrorKind::InvalidUtf8);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn count_chat_bytes(&self, request: &[u8]) -> Result<ChatCount> {
        self.check_input_len(request.len())?;
        let text = crate::utf8::validate(request).map_err(|e| Error::invalid_utf8("request", e))?;
        self.count_chat(text)
    }

    /// The prompt text a `tokenizer.json` model's chat template renders for a request, the
    /// generation prompt included: the text [`Adapter::count_chat`] counts. `Unsupported` for
    /// other adapters (their rules count a request without rendering it) and for a model with no
    /// chat template beside its `tokenizer.json`.
    ///
    /// ```
    /// use kano_tokenizer::{AdapterName, Config, ErrorKind, Registry};
    /// let dir = std::env::temp_dir().join("kano-doc-chat-prompt");
    /// std::fs::create_dir_all(&dir).unwrap();
    /// std::fs::write(dir.join("tokenizer.json"), r#"{"pre_tokenizer": {"type": "Whitespace"},
    ///     "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "user": 1, ":": 2}, "unk_token": "[UNK]"}}"#).unwrap();
    /// std::fs::write(dir.join("chat_template.jinja"),
    ///     "{% for m in messages %}{{ m.role }}: {{ m.content.strip() }}\n{% endfor %}").unwrap();
    /// let registry = Registry::with_config(Config::default());
    /// let adapter = registry.resolve(AdapterName::Huggingface, dir.to_str().unwrap())?;
    /// let request = r#"{"messages": [{"role": "user", "content": "  Hi there  "}]}"#;
    /// assert_eq!(adapter.chat_prompt(request)?, "user: Hi there\n");
    /// assert_eq!(adapter.count_chat(request)?.total, 4); // user, :, [UNK], [UNK]
    /// let openai = registry.resolve(AdapterName::Tiktoken, "gpt-4o")?;
    /// assert_eq!(openai.chat_prompt(request).unwrap_err().kind(), ErrorKind::Unsupported);
    /// # Ok::<(), kano_tokenizer::Error>(())
    /// ```
    pub fn chat_prompt(&self, request: &str) -> Result<String> {
        self.check_input_len(request.len())?;
        check_depth(request.as_bytes())?;
        let Engine::Huggingface { tokenizer, .. } = self.engine() else {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("the {} adapter counts chat requests by the OpenAI rules, with no prompt text", self.name()),
            ));
        };
        let (template, input) = template_input(tokenizer, request)?;
        template.render(&input, input.messages.len(), true, self.max_input_bytes())
    }

    fn count_chat_value(&self, request: &Value) -> Result<ChatCount> {
        let request = request.as_object().ok_or_else(|| wrong("the request", "an object", request))?;
        let model = match request.get("model") {
            None | Some(Value::Null) => None,
            Some(Value::String(m)) => Some(m.as_str()),
            Some(other) => return Err(wrong("model", "a string", other)),
        };
        let mut counter = Counter { adapter: self, reasons: Vec::new(), slack_down: 0, slack_up: 0 };
        let table = self.chat_table(model, &mut counter)?;
        let rules = match model.unwrap_or(self.model()) {
            m if m.starts_with("gpt-3.5-turbo-0301") => MessageRules { per_message: 4, per_name: -1 },
            _ => MessageRules { per_message: 3, per_name: 1 },
        };
        let tool_rules = ToolRules {
            func_init: if table == RankTableId::O200k { 7 } else { 10 },
            prop_init: 3,
            prop_key: 3,
            enum_init: -3,
            enum_item: 3,
            func_end: 12,
        };

        let messages = match request.get("messages") {
            Some(Value::Array(messages)) => messages,
            Some(other) => return Err(wrong("messages", "an array", other)),
            None => return Err(Error::new(ErrorKind::InvalidArgument, "the request has no messages")),
        };
        let mut per_message = Vec::with_capacity(messages.len());
        for (i, message) in messages.iter().enumerate() {
            per_message.push(counter.message(i, message, rules)?.max(0) as u64);
        }

        let mut tools = 0i64;
        let mut any_function = false;
        if let Some(list) = request.get("tools") {
            let list = list.as_array().ok_or_else(|| wrong("tools", "an array", list))?;
            for (i, tool) in list.iter().enumerate() {
                let at = format!("tools[{i}]");
                let tool = tool.as_object().ok_or_else(|| wrong(&at, "an object", tool))?;
                match tool.get("type") {
                    Some(Value::String(t)) if t == "function" => {}
                    _ => {
                        counter.inexact(format!("{at}: not a function tool; not counted"));
                        continue;
                    }
                }
                let function = tool.get("function").ok_or_else(|| missing(&format!("{at}.function")))?;
                tools += counter.function(&format!("{at}.function"), function, tool_rules)?;
                any_function = true;
            }
        }
        if let Some(list) = request.get("functions") {
            let list = list.as_array().ok_or_else(|| wrong("functions", "an array", list))?;
            for (i, function) in list.iter().enumerate() {
                tools += counter.function(&format!("functions[{i}]"), function, tool_rules)?;
                any_function = true;
            }
            counter.inexact("functions: the legacy field, counted by the tools rules".into());
        }
        if any_function {
            tools += tool_rules.func_end;
        }
        for field in ["tool_choice", "function_call", "response_format", "audio", "modalities", "prediction"] {
            if request.get(field).is_some_and(|v| !v.is_null()) {
                counter.inexact(format!("{field}: the published rules do not cover it; not counted"));
            }
        }

        let tools = tools.max(0) as u64;
        let total = per_message.iter().sum::<u64>() + tools + REPLY_PRIMING;
        let is_exact = counter.reasons.is_empty() && self.is_exact();
        if !self.is_exact() {
            counter.reasons.insert(0, format!("the {} adapter estimates every count", self.name()));
        }
        Ok(ChatCount {
            total,
            lower_bound: total.saturating_sub(counter.slack_down),
            upper_bound: total.saturating_add(counter.slack_up),
            messages: per_message,
            tools,
            reply_priming: REPLY_PRIMING,
            is_exact,
            reasons: counter.reasons,
            method: self.method(),
        })
    }

    /// A chat request for a `tokenizer.json` model, through its chat template. The total is
    /// the whole prompt counted at once; each message's share is what its turn adds
    /// (`template_breakdown`); the reply priming is the rest, the generation prompt.
    fn count_chat_template(&self, tokenizer: &crate::huggingface::HfTokenizer, request: &str) -> Result<ChatCount> {
        let (template, input) = template_input(tokenizer, request)?;
        let limit = self.max_input_bytes();
        let prompt = template.render(&input, input.messages.len(), true, limit)?;
        let total = tokenizer.count(&prompt, false)?;
        let mut per_message = template_breakdown(&template, tokenizer, &input, limit, prompt.len());
        let shares: u64 = per_message.iter().sum();
        if shares > total {
            // The generation prompt rewrote an earlier turn: no breakdown adds up.
            per_message.clear();
        }
        Ok(ChatCount {
            total,
            lower_bound: total,
            upper_bound: total,
            reply_priming: if per_message.is_empty() { 0 } else { total.saturating_sub(shares) },
            messages: per_message,
            tools: 0,
            is_exact: true,
            reasons: Vec::new(),
            method: self.method(),
        })
    }

    /// The rank table whose rules apply, checking that the adapter can count a chat at all.
    fn chat_table(&self, model: Option<&str>, counter: &mut Counter<'_>) -> Result<RankTableId> {
        let requested = model.and_then(crate::tiktoken::encoding_for_model);
        let ours = match self.engine() {
            Engine::Tiktoken(encoding) => encoding.name(),
            Engine::Heuristic(_) => requested
                .or_else(|| crate::tiktoken::encoding_for_model(self.model()))
                .unwrap_or(EncodingName::O200kBase),
            Engine::Huggingface { .. } => unreachable!("tokenizer.json models count with their chat template"),
        };
        if ours == EncodingName::O200kHarmony {
            counter.inexact(
                "o200k_harmony (gpt-oss): counted by the OpenAI rules, not the harmony template's system \
                 message and channels"
                    .into(),
            );
        }
        if matches!(ours.table(), RankTableId::R50k | RankTableId::P50k) {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("{ours} is no chat model's encoding; chat requests count with cl100k_base or o200k_base"),
            ));
        }
        if let (Some(model), Some(requested)) = (model, requested) {
            if requested.table() != ours.table() {
                counter.inexact(format!(
                    "the request's model {model} uses {requested}, but the adapter counts with {ours}"
                ));
            }
        }
        Ok(ours.table())
    }
}

impl Counter<'_> {
    fn message(&mut self, i: usize, message: &Value, rules: MessageRules) -> Result<i64> {
        let at = format!("messages[{i}]");
        let message = message.as_object().ok_or_else(|| wrong(&at, "an object", message))?;
        match message.get("role") {
            Some(Value::String(_)) => {}
            Some(other) => return Err(wrong(&format!("{at}.role"), "a string", other)),
            None => return Err(missing(&format!("{at}.role"))),
        }
        let mut tokens = rules.per_message;
        for (key, value) in message {
            let here = format!("{at}.{key}");
            match (key.as_str(), value) {
                ("role", Value::String(s)) => tokens += self.tokens(s)?,
                ("name", Value::String(s)) => tokens += self.tokens(s)? + rules.per_name,
                ("name", other) => return Err(wrong(&here, "a string", other)),
                ("content", Value::String(s)) => tokens += self.tokens(s)?,
                ("content", Value::Null) => {}
                ("content", Value::Array(parts)) => tokens += self.parts(&here, parts)?,
                ("content", other) => return Err(wrong(&here, "a string, null or an array of parts", other)),
                ("tool_calls", Value::Array(calls)) => {
                    for (j, call) in calls.iter().enumerate() {
                        let function = call.get("function").unwrap_or(&Value::Null);
                        tokens += self.call(&format!("{here}[{j}].function"), function)?;
                    }
                    self.inexact(format!("{here}: tool calls, counted as their names and arguments"));
                }
                ("function_call", call @ Value::Object(_)) => {
                    tokens += self.call(&here, call)?;
                    self.inexact(format!("{here}: a function call, counted as its name and arguments"));
                }
                (_, Value::Null) => {}
                (_, Value::String(s)) => {
                    tokens += self.tokens(s)?;
                    self.inexact(format!("{here}: encoded by the rule for every field, not confirmed for this one"));
                }
                (_, _) => self.inexact(format!("{here}: not covered by the published rules; not counted")),
            }
        }
        Ok(tokens)
    }

    /// The parts of a `content` array: texts encoded one by one, images by the tile rule.
    fn parts(&mut self, at: &str, parts: &[Value]) -> Result<i64> {
        let mut tokens = 0;
        for (j, part) in parts.iter().enumerate() {
            let here = format!("{at}[{j}]");
            let part = part.as_object().ok_or_else(|| wrong(&here, "an object", part))?;
            match part.get("type").and_then(Value::as_str) {
                Some("text") => match part.get("text") {
                    Some(Value::String(s)) => tokens += self.tokens(s)?,
                    other => return Err(wrong(&format!("{here}.text"), "a string", other.unwrap_or(&Value::Null))),
                },
                Some("image_url") => tokens += self.image(&here, part.get("image_url").unwrap_or(&Value::Null))?,
                Some("input_audio") | Some("audio") => {
                    self.slack_up = u64::MAX;
                    self.inexact(format!("{here}: audio, whose tokens depend on its length; not counted"));
                }
                Some("refusal") => {
                    if let Some(Value::String(s)) = part.get("refusal") {
                        tokens += self.tokens(s)?;
                    }
                }
                _ => {
                    self.slack_up = u64::MAX;
                    self.inexact(format!("{here}: a part of unknown type; not counted"));
                }
            }
        }
        if parts.len() > 1 {
            self.inexact(format!("{at}: several parts, counted one by one"));
        }
        Ok(tokens)
    }

    /// An image by the tile rule: 85 tokens at `low` detail; at `high`, 85 + 170 per 512-px
    /// tile after the image is scaled to fit 2048 × 2048 and then its shorter side to 768. The
    /// size is read from `width` and `height` beside `url` (the API itself does not take them;
    /// nothing is fetched). Without both, bounds.
    fn image(&mut self, at: &str, image: &Value) -> Result<i64> {
        let detail = image.get("detail").and_then(Value::as_str).unwrap_or("auto");
        let size = match (image.get("width").and_then(Value::as_u64), image.get("height").and_then(Value::as_u64)) {
            (Some(w), Some(h)) if w > 0 && h > 0 => Some((w, h)),
            _ => None,
        };
        let most = IMAGE_BASE + IMAGE_TILE * IMAGE_MAX_TILES;
        let tokens = match (detail, size) {
            ("low", _) => {
                self.inexact(format!("{at}: an image, counted by the published tile rule (low detail: 85)"));
                IMAGE_BASE
            }
            ("high", Some((w, h))) => {
                let tokens = IMAGE_BASE + IMAGE_TILE * tiles(w, h);
                self.inexact(format!("{at}: an image of {w}x{h} px, counted by the published tile rule: {tokens}"));
                tokens
            }
            (_, Some((w, h))) => {
                // `auto` picks low or high: bounds between the two.
                let high = IMAGE_BASE + IMAGE_TILE * tiles(w, h);
                self.slack_down += high - IMAGE_BASE;
                self.inexact(format!("{at}: an image with detail {detail:?}: between 85 and {high} tokens"));
                high
            }
            _ => {
                self.slack_down += most - IMAGE_BASE;
                self.inexact(format!(
                    "{at}: an image without its size (width and height): between 85 and {most} tokens; nothing is fetched"
                ));
                most
            }
        };
        Ok(tokens as i64)
    }

    /// A tool call or function call: its name and its arguments' text.
    fn call(&mut self, at: &str, call: &Value) -> Result<i64> {
        let mut tokens = 0;
        for field in ["name", "arguments"] {
            match call.get(field) {
                Some(Value::String(s)) => tokens += self.tokens(s)?,
                None | Some(Value::Null) => {}
                Some(other) => return Err(wrong(&format!("{at}.{field}"), "a string", other)),
            }
        }
        Ok(tokens)
    }

    /// One function of `tools` (or `functions`), by `num_tokens_for_tools`.
    fn function(&mut self, at: &str, function: &Value, rules: ToolRules) -> Result<i64> {
        let function = function.as_object().ok_or_else(|| wrong(at, "an object", function))?;
        let name = match function.get("name") {
            Some(Value::String(s)) => s.as_str(),
            Some(other) => return Err(wrong(&format!("{at}.name"), "a string", other)),
            None => return Err(missing(&format!("{at}.name"))),
        };
        let description = self.description(at, function)?;
        let mut tokens = rules.func_init + self.tokens(&format!("{name}:{description}"))?;
        let Some(parameters) = function.get("parameters").filter(|p| !p.is_null()) else {
            return Ok(tokens);
        };
        let parameters =
            parameters.as_object().ok_or_else(|| wrong(&format!("{at}.parameters"), "an object", parameters))?;
        let properties = match parameters.get("properties") {
            None | Some(Value::Null) => return Ok(tokens),
            Some(Value::Object(p)) => p,
            Some(other) => return Err(wrong(&format!("{at}.parameters.properties"), "an object", other)),
        };
        if properties.is_empty() {
            return Ok(tokens);
        }
        tokens += rules.prop_init;
        for (key, property) in properties {
            let here = format!("{at}.parameters.properties.{key}");
            let property = property.as_object().ok_or_else(|| wrong(&here, "an object", property))?;
            tokens += rules.prop_key;
            let kind = match property.get("type") {
                Some(Value::String(t)) => t.clone(),
                Some(other) => {
                    self.inexact(format!("{here}.type: not a single type name; counted as its JSON text"));
                    other.to_string()
                }
                None => {
                    self.inexact(format!("{here}: no type; counted as an empty one"));
                    String::new()
                }
            };
            if matches!(kind.as_str(), "object" | "array")
                || property.contains_key("properties")
                || property.contains_key("items")
                || property.contains_key("anyOf")
                || property.contains_key("oneOf")
            {
                self.inexact(format!(
                    "{here}: a nested or array parameter, counted by its key, type and description only"
                ));
            }
            if let Some(values) = property.get("enum") {
                let values = values.as_array().ok_or_else(|| wrong(&format!("{here}.enum"), "an array", values))?;
                tokens += rules.enum_init;
                for item in values {
                    tokens += rules.enum_item;
                    tokens += match item {
                        Value::String(s) => self.tokens(s)?,
                        other => {
                            self.inexact(format!(
                                "{here}.enum: an item that is not a string, counted as its JSON text"
                            ));
                            self.tokens(&other.to_string())?
                        }
                    };
                }
            }
            let description = self.description(&here, property)?;
            tokens += self.tokens(&format!("{key}:{kind}:{description}"))?;
        }
        Ok(tokens)
    }

    /// A description without its final `.` (as the cookbook encodes it); empty when absent.
    fn description<'v>(&mut self, at: &str, object: &'v Map<String, Value>) -> Result<&'v str> {
        match object.get("description") {
            Some(Value::String(s)) => Ok(s.strip_suffix('.').unwrap_or(s)),
            None | Some(Value::Null) => Ok(""),
            Some(other) => Err(wrong(&format!("{at}.description"), "a string", other)),
        }
    }
}

/// The chat template of a `tokenizer.json` model, and what a request hands it.
fn template_input(
    tokenizer: &crate::huggingface::HfTokenizer,
    request: &str,
) -> Result<(std::sync::Arc<ChatTemplate>, template::TemplateInput)> {
    let template = tokenizer.chat_template()?;
    let value: minijinja::Value = serde_json::from_str(request)
        .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("the request is not valid JSON: {e}")))?;
    if value.kind() != minijinja::value::ValueKind::Map {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("the request must be an object, not {}", value.kind()),
        ));
    }
    let field = |name: &str| value.get_attr(name).ok().filter(|v| !v.is_undefined());
    let messages =
        field("messages").ok_or_else(|| Error::new(ErrorKind::InvalidArgument, "the request has no messages"))?;
    let messages = template::template_messages(&messages)?;
    if messages.is_empty() {
        // apply_chat_template refuses an empty conversation too.
        return Err(Error::new(ErrorKind::InvalidArgument, "the request's messages are empty"));
    }
    let none = minijinja::Value::from(());
    let mut kwargs = Vec::new();
    if let Some(extra) = field("chat_template_kwargs").filter(|v| !v.is_none()) {
        if extra.kind() != minijinja::value::ValueKind::Map {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("chat_template_kwargs must be an object, not {}", extra.kind()),
            ));
        }
        for key in extra.try_iter().map_err(|e| Error::new(ErrorKind::InvalidArgument, e.to_string()))? {
            let name = key.as_str().map(str::to_string).unwrap_or_else(|| key.to_string());
            kwargs.push((name, extra.get_item(&key).unwrap_or_default()));
        }
    }
    let tools = field("tools").unwrap_or_else(|| none.clone());
    if !tools.is_none() && tools.kind() != minijinja::value::ValueKind::Seq {
        return Err(Error::new(ErrorKind::InvalidArgument, format!("tools must be an array, not {}", tools.kind())));
    }
    let documents = field("documents").unwrap_or(none);
    Ok((template, template::TemplateInput { messages, tools, documents, kwargs }))
}

/// The most messages whose shares the breakdown of a templated chat gives: it renders the
/// conversation once per message, so its cost grows with the square of their number (Qwen 2.5's
/// template: 0.24 ms for 10 messages with the breakdown, 0.04 ms without). Longer conversations
/// are still counted, rendered once; their `messages` is empty.
///
/// ```
/// use kano_tokenizer::{AdapterName, Config, Registry, MAX_TEMPLATE_BREAKDOWN};
/// let dir = std::env::temp_dir().join("kano-doc-template-breakdown");
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("tokenizer.json"), r#"{"pre_tokenizer": {"type": "Whitespace"},
///     "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "hi": 1}, "unk_token": "[UNK]"}}"#).unwrap();
/// std::fs::write(dir.join("chat_template.jinja"), "{% for m in messages %}{{ m.content }} {% endfor %}").unwrap();
/// let adapter = Registry::with_config(Config::default()).resolve(AdapterName::Huggingface, dir.to_str().unwrap())?;
/// let turns = |n: usize| format!(r#"{{"messages": [{}]}}"#, vec![r#"{"role": "user", "content": "hi"}"#; n].join(","));
/// assert_eq!(adapter.count_chat(&turns(3))?.messages, [1, 1, 1]);
/// let long = adapter.count_chat(&turns(MAX_TEMPLATE_BREAKDOWN + 1))?;
/// assert_eq!((long.total, long.messages.len()), (MAX_TEMPLATE_BREAKDOWN as u64 + 1, 0));
/// # Ok::<(), kano_tokenizer::Error>(())
/// ```
pub const MAX_TEMPLATE_BREAKDOWN: usize = 32;

/// Each message's share of a templated chat (see `count_chat_template`): the count of the
/// conversation up to it, less the count up to the one before, each counted whole (a part
/// counted alone can differ: SentencePiece models put a space before every text they count).
/// Empty when the conversation has more than [`MAX_TEMPLATE_BREAKDOWN`] messages, when a
/// shorter conversation does not render (a template that wants the last message to be the
/// user's), when the template rewrites earlier turns as the conversation grows (a share would
/// be negative: Qwen 3 drops the reasoning of turns before the last question), or when counting
/// every shorter conversation would cost more than counting the prompt sixteen times.
fn template_breakdown(
    template: &ChatTemplate,
    tokenizer: &crate::huggingface::HfTokenizer,
    input: &template::TemplateInput,
    limit: u64,
    prompt_len: usize,
) -> Vec<u64> {
    let n = input.messages.len();
    if n > MAX_TEMPLATE_BREAKDOWN {
        return Vec::new();
    }
    let budget = 16 * prompt_len + (4 << 20);
    let (mut counted, mut before) = (0usize, 0u64);
    let mut shares = Vec::with_capacity(n);
    for i in 1..=n {
        let Ok(text) = template.render(input, i, false, limit) else { return Vec::new() };
        counted += text.len();
        if counted > budget {
            return Vec::new();
        }
        let Ok(count) = tokenizer.count(&text, false) else { return Vec::new() };
        let Some(share) = count.checked_sub(before) else { return Vec::new() };
        shares.push(share);
        before = count;
    }
    shares
}

/// 512-px tiles of a `w` × `h` image after the documented resize.
fn tiles(w: u64, h: u64) -> u64 {
    let (mut w, mut h) = (w as f64, h as f64);
    if w > 2048.0 || h > 2048.0 {
        let scale = 2048.0 / w.max(h);
        (w, h) = (w * scale, h * scale);
    }
    if w.min(h) > 768.0 {
        let scale = 768.0 / w.min(h);
        (w, h) = (w * scale, h * scale);
    }
    ((w / 512.0).ceil() as u64).max(1) * ((h / 512.0).ceil() as u64).max(1)
}

/// Refuses JSON nested deeper than [`MAX_DEPTH`], in one pass before parsing (strings skipped).
fn check_depth(json: &[u8]) -> Result<()> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (offset, &b) in json.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(Error::new(
                        ErrorKind::InvalidArgument,
                        format!("the request is nested deeper than {MAX_DEPTH} levels (at byte {offset})"),
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong(at: &str, expected: &str, found: &Value) -> Error {
    Error::new(ErrorKind::InvalidArgument, format!("{at}: expected {expected}, found {}", kind_of(found)))
}

fn missing(at: &str) -> Error {
    Error::new(ErrorKind::InvalidArgument, format!("{at}: missing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_follow_the_documented_resize() {
        // The vision guide's examples: 1024 x 1024 is 4 tiles (765 tokens); 2048 x 4096 is 6
        // (1105); 4096 x 8192 at high detail also 6.
        assert_eq!(tiles(1024, 1024), 4);
        assert_eq!(tiles(2048, 4096), 6);
        assert_eq!(tiles(4096, 8192), 6);
        assert_eq!(tiles(100, 100), 1);
        assert!(tiles(768, 100_000) <= IMAGE_MAX_TILES);
    }

    #[test]
    fn depth_is_checked_outside_strings_only() {
        assert!(check_depth(format!("{}{}", "[".repeat(64), "]".repeat(64)).as_bytes()).is_ok());
        assert!(check_depth(format!("{}{}", "[".repeat(65), "]".repeat(65)).as_bytes()).is_err());
        let in_string = format!("{{\"a\": \"{}\\\"{}\"}}", "[".repeat(100), "{".repeat(100));
        assert!(check_depth(in_string.as_bytes()).is_ok());
    }
}
