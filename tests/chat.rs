//! Chat requests against the OpenAI cookbook's published examples ("How to count tokens with
//! tiktoken", counts confirmed by the API), the inexact cases, and hostile JSON.

mod common;

use kano_tokenizer::{Adapter, AdapterName, ErrorKind};
use serde_json::{json, Value};

/// One registry for every test: the rank tables load once.
fn registry() -> &'static kano_tokenizer::Registry {
    static REGISTRY: std::sync::OnceLock<kano_tokenizer::Registry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(common::plain_registry)
}

fn adapter(model: &str) -> Adapter {
    registry().resolve(AdapterName::Tiktoken, model).expect(model)
}

/// The cookbook's sample conversation (section 6).
fn sample_messages() -> Value {
    json!([
        {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
        {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
        {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
        {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
        {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
        {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."},
    ])
}

/// The cookbook's tools sample (section 7).
fn tools_request(model: &str) -> Value {
    json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
            {"role": "user", "content": "What's the weather like in San Francisco?"},
        ],
        "tools": [{
            "type": "function",
            "function": {
                "name": "get_current_weather",
                "description": "Get the current weather in a given location",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                        "unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]},
                    },
                    "required": ["location"],
                },
            },
        }],
    })
}

fn count(adapter: &Adapter, request: &Value) -> kano_tokenizer::ChatCount {
    adapter.count_chat(&request.to_string()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_cookbook_sample_messages_count_as_the_api_counted_them() {
    for (model, want) in
        [("gpt-3.5-turbo", 129), ("gpt-4-0613", 129), ("gpt-4", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)]
    {
        let c = count(&adapter(model), &json!({"model": model, "messages": sample_messages()}));
        assert_eq!(c.total, want, "{model}");
        assert!(c.is_exact, "{model}: {:?}", c.reasons);
        assert_eq!((c.lower_bound, c.upper_bound), (c.total, c.total));
        assert_eq!(c.messages.len(), 6);
        assert_eq!(c.messages.iter().sum::<u64>() + c.reply_priming + c.tools, c.total);
        assert_eq!(c.tools, 0);
    }
    // The model of the request picks the rules of gpt-3.5-turbo-0301 (4 per message, -1 per
    // name): the cookbook's earlier edition, 127 by the API.
    let c =
        count(&adapter("gpt-3.5-turbo-0301"), &json!({"model": "gpt-3.5-turbo-0301", "messages": sample_messages()}));
    assert_eq!(c.total, 127);
    // Without a model in the request, the adapter's encoding decides.
    assert_eq!(count(&adapter("o200k_base"), &json!({"messages": sample_messages()})).total, 124);
}

#[test]
fn the_cookbook_tools_sample_counts_as_the_api_counted_it() {
    for (model, want) in [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)] {
        let c = count(&adapter(model), &tools_request(model));
        assert_eq!(c.total, want, "{model}");
        assert!(c.is_exact, "{model}: {:?}", c.reasons);
        assert!(c.tools > 12, "{model}");
        assert_eq!(c.messages.iter().sum::<u64>() + c.reply_priming + c.tools, c.total);
    }
}

#[test]
fn message_counts_follow_their_content() {
    let gpt = adapter("gpt-4o");
    let one = count(&gpt, &json!({"messages": [{"role": "user", "content": "Hello there, how are you?"}]}));
    let content = gpt.count("Hello there, how are you?").unwrap().count;
    let role = gpt.count("user").unwrap().count;
    assert_eq!(one.messages, vec![3 + role + content]);
    let named =
        count(&gpt, &json!({"messages": [{"role": "user", "name": "bob", "content": "Hello there, how are you?"}]}));
    assert_eq!(named.messages[0], one.messages[0] + 1 + gpt.count("bob").unwrap().count);
}

fn reasons(adapter: &Adapter, request: Value) -> (kano_tokenizer::ChatCount, String) {
    let c = count(adapter, &request);
    let joined = c.reasons.join("\n");
    (c, joined)
}

#[test]
fn what_the_rules_do_not_cover_is_named_and_not_exact() {
    let gpt = adapter("gpt-4o");
    let base = |extra: Value| {
        let mut request = tools_request("gpt-4o");
        for (k, v) in extra.as_object().unwrap() {
            request[k] = v.clone();
        }
        request
    };
    for (extra, needle) in [
        (json!({"tool_choice": "auto"}), "tool_choice"),
        (json!({"response_format": {"type": "json_object"}}), "response_format"),
    ] {
        let (c, why) = reasons(&gpt, base(extra));
        assert!(!c.is_exact && why.contains(needle), "{why}");
        assert_eq!(c.total, 101, "counted by the rules all the same");
    }
    // A nested parameter.
    let mut nested = tools_request("gpt-4o");
    nested["tools"][0]["function"]["parameters"]["properties"]["where"] =
        json!({"type": "object", "description": "a place", "properties": {"lat": {"type": "number"}}});
    let (c, why) = reasons(&gpt, nested);
    assert!(!c.is_exact && why.contains("nested"), "{why}");
    // Tool calls and tool results.
    let (c, why) = reasons(
        &gpt,
        json!({"messages": [
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_current_weather", "arguments": "{\"location\": \"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
        ]}),
    );
    assert!(!c.is_exact && why.contains("tool_calls") && why.contains("tool_call_id"), "{why}");
    assert!(c.messages[0] >= 3 + gpt.count("{\"location\": \"Paris\"}").unwrap().count);
}

#[test]
fn images_count_by_the_tile_rule_or_as_bounds() {
    let gpt = adapter("gpt-4o");
    let image = |image_url: Value| {
        json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in this image?"},
            {"type": "image_url", "image_url": image_url},
        ]}]})
    };
    let text_only = count(&gpt, &json!({"messages": [{"role": "user", "content": "What is in this image?"}]})).total;
    let (c, why) = reasons(&gpt, image(json!({"url": "https://example.com/a.png", "detail": "low"})));
    assert_eq!(c.total, text_only + 85);
    assert!(!c.is_exact && why.contains("image"), "{why}");
    let (c, _) = reasons(
        &gpt,
        image(json!({"url": "https://example.com/a.png", "detail": "high", "width": 1024, "height": 1024})),
    );
    assert_eq!(c.total, text_only + 765);
    assert_eq!((c.lower_bound, c.upper_bound), (c.total, c.total));
    let (c, why) = reasons(&gpt, image(json!({"url": "https://example.com/a.png"})));
    assert!(c.lower_bound == text_only + 85 && c.upper_bound == c.total && c.total == text_only + 1445, "{c:?}");
    assert!(why.contains("width and height"), "{why}");
    let (c, why) = reasons(
        &gpt,
        json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]}),
    );
    assert!(!c.is_exact && c.upper_bound == u64::MAX && why.contains("audio"), "{why}");
}

#[test]
fn the_heuristic_and_tokenizer_json_say_what_they_cannot_do() {
    let registry = registry();
    let heuristic = registry.resolve(AdapterName::Heuristic, "gpt-4o").unwrap();
    let c = count(&heuristic, &json!({"messages": sample_messages()}));
    assert!(!c.is_exact && c.reasons[0].contains("heuristic"), "{:?}", c.reasons);
    assert!(c.total > 60 && c.total < 250, "{}", c.total);
    let hf = registry.resolve(AdapterName::Huggingface, common::tokenizer_path("gpt2").to_str().unwrap()).unwrap();
    let e = hf.count_chat(&json!({"messages": sample_messages()}).to_string()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.message().contains("chat template"), "{e}");
    let e = adapter("r50k_base").count_chat(&json!({"messages": []}).to_string()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
}

#[test]
fn hostile_requests_get_a_clear_status() {
    let gpt = adapter("gpt-4o");
    let deep = format!("{{\"messages\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let e = gpt.count_chat(&deep).unwrap_err();
    assert!(e.kind() == ErrorKind::InvalidArgument && e.message().contains("nested deeper"), "{e}");
    let e = gpt.count_chat_bytes(b"{\"messages\": [{\"role\": \"user\", \"content\": \"caf\xff\"}]}").unwrap_err();
    assert!(e.kind() == ErrorKind::InvalidUtf8 && e.message().contains("offset 46"), "{e}");
    let huge = vec![b' '; 100 << 20];
    let e = gpt.count_chat_bytes(&huge).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InputTooLarge);
    for (request, needle) in [
        ("[1, 2]", "expected an object"),
        ("{}", "no messages"),
        ("{\"messages\": 7}", "messages: expected an array"),
        ("{\"messages\": [{\"role\": 3}]}", "messages[0].role: expected a string"),
        ("{\"messages\": [{\"content\": \"x\"}]}", "messages[0].role: missing"),
        ("{\"messages\": [{\"role\": \"user\", \"content\": {}}]}", "messages[0].content"),
        (
            "{\"messages\": [], \"tools\": [{\"type\": \"function\", \"function\": {\"name\": 5}}]}",
            "tools[0].function.name",
        ),
        ("{\"messages\": [], \"model\": 4}", "model: expected a string"),
        ("{\"messages\": [", "not valid JSON"),
    ] {
        let e = gpt.count_chat(request).unwrap_err();
        assert!(e.kind() == ErrorKind::InvalidArgument && e.message().contains(needle), "{request}: {e}");
    }
    // A large but legal request (100,000 messages) is counted, and fast enough for a test.
    let messages: Vec<Value> =
        (0..100_000).map(|i| json!({"role": "user", "content": format!("message {i}")})).collect();
    let c = count(&gpt, &json!({"messages": messages}));
    assert_eq!(c.messages.len(), 100_000);
    assert!(c.is_exact);
}
