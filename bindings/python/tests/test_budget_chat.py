"""Adapter.truncate, Adapter.split and Adapter.count_chat."""

import pytest

import kano_tokenizer as kano

TEXT = ("The café's 12345 naïve owners — 日本語のテキスト — re-price items.\n  Then   more. " * 40)

SAMPLE = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."},
]


@pytest.fixture(scope="module")
def registry():
    return kano.Registry.from_toml("")


@pytest.mark.parametrize("adapter,model", [("tiktoken", "cl100k_base"), ("tiktoken", "o200k_base"),
                                           ("huggingface", "all-MiniLM-L6-v2"), ("heuristic", "gpt-4o")])
def test_truncate_and_split_count_alone(registry, adapter, model):
    a = registry.resolve(adapter, model_name=model)
    empty = a.count_tokens("").count
    for budget in (empty + 1, empty + 30, a.count_tokens(TEXT).count):
        prefix = a.truncate(TEXT, budget)
        assert isinstance(prefix, str) and TEXT.startswith(prefix)
        assert a.count_tokens(prefix).count <= budget
        byte_len, count, is_exact = a.truncate_info(TEXT, budget)
        assert byte_len == len(prefix.encode()) and count == a.count_tokens(prefix).count
        assert is_exact == (adapter != "heuristic")
        assert a.truncate(TEXT.encode(), budget) == prefix.encode()
    chunks = a.split(TEXT, empty + 40)
    assert "".join(chunks) == TEXT
    assert all(a.count_tokens(c).count <= empty + 40 for c in chunks)
    detailed = a.split_chunks(TEXT, empty + 40, overlap=8)
    assert detailed[0].start == 0 and detailed[-1].end == len(TEXT.encode())
    for c in detailed:
        assert c.count == a.count_tokens(c.text).count and c.count <= empty + 40
    with pytest.raises(kano.InvalidArgumentError, match="overlap"):
        a.split(TEXT, 10, overlap=10)


def test_count_chat_matches_the_cookbook(registry):
    assert registry.resolve("tiktoken", model_name="gpt-4o").count_chat({"model": "gpt-4o", "messages": SAMPLE}).total == 124
    c = registry.resolve("tiktoken", model_name="gpt-4").count_chat({"model": "gpt-4", "messages": SAMPLE})
    assert c.total == 129 and c.is_exact and c.reasons == [] and len(c.messages) == 6
    assert sum(c.messages) + c.reply_priming + c.tools == c.total


def test_count_chat_says_what_is_not_exact(registry):
    a = registry.resolve("tiktoken", model_name="gpt-4o")
    c = a.count_chat({"messages": [{"role": "user", "content": "hi"}], "tool_choice": "auto"})
    assert not c.is_exact and any("tool_choice" in r for r in c.reasons)
    with pytest.raises(kano.InvalidArgumentError, match=r"messages\[0\]\.role"):
        a.count_chat('{"messages": [{"role": 1}]}')
    with pytest.raises(kano.InvalidUTF8Error):
        a.count_chat(b'{"messages": [{"role": "\xff"}]}')
    with pytest.raises(kano.KanoError) as e:
        registry.resolve("huggingface", model_name="all-MiniLM-L6-v2").count_chat({"messages": SAMPLE})
    assert e.value.status == kano.Status.UNSUPPORTED


def test_count_chat_renders_the_chat_template_beside_a_tokenizer_json(registry, tmp_path):
    (tmp_path / "tokenizer.json").write_text(
        '{"pre_tokenizer": {"type": "Whitespace"}, "model": {"type": "WordLevel",'
        ' "vocab": {"[UNK]": 0, "user": 1, ":": 2, "hi": 3}, "unk_token": "[UNK]"}}')
    (tmp_path / "tokenizer_config.json").write_text(
        '{"chat_template": "{% for m in messages %}{{ m.role }}: {{ m.content | trim }}\\n{% endfor %}'
        '{% if add_generation_prompt %}{{ thinking | default(\'assistant\') }}:{% endif %}"}')
    a = registry.resolve("huggingface", model_name=str(tmp_path))
    chat = a.count_chat({"messages": [{"role": "user", "content": " hi "}, {"role": "user", "content": "hi"}]})
    # user : hi, twice, then "assistant" (unknown) and ":".
    assert (chat.total, chat.messages, chat.reply_priming, chat.is_exact) == (8, [3, 3], 2, True)
    chat = a.count_chat({"messages": [{"role": "user", "content": "hi"}], "chat_template_kwargs": {"thinking": "user"}})
    assert chat.total == 5
    with pytest.raises(kano.KanoError) as e:
        a.count_chat({"messages": []})
    assert e.value.status == kano.Status.INVALID_ARGUMENT
