"""Counts against the golden data (Python tiktoken 0.14 and tokenizers 0.23.3): every key."""

import kano_tokenizer as kano
from conftest import golden_toml


def test_golden_counts(golden):
    with_special = kano.Registry.from_toml(golden_toml(add_special_tokens=True))
    without_special = kano.Registry.from_toml(golden_toml(add_special_tokens=False))
    adapters = {}

    def adapter_for(key):
        if key not in adapters:
            if key.startswith("hf:"):
                name = key[3:]
                registry = with_special
                if name.endswith(":no_special"):
                    name, registry = name[: -len(":no_special")], without_special
                adapters[key] = registry.resolve("huggingface", model_name=name)
            else:
                adapters[key] = with_special.resolve("tiktoken", model_name=key)
        return adapters[key]

    checked = {}
    failures = []
    for case in golden:
        for key, expected in case["counts"].items():
            result = adapter_for(key).count_tokens(case["text"])
            checked[key] = checked.get(key, 0) + 1
            method = "huggingface" if key.startswith("hf:") else "tiktoken"
            if (result.count, result.is_exact, result.method) != (expected, True, method):
                failures.append(f"{case['id']} [{key}]: {result}, expected {expected}")
    keys = {key for case in golden for key in case["counts"]}
    assert set(checked) == keys and len(keys) >= 12, checked
    assert not failures, f"{len(failures)} of {sum(checked.values())} differ:\n" + "\n".join(failures[:20])
