"""Adapter.estimate and Adapter.check_limit: bounds and verdicts against the golden counts."""

import pickle

import pytest

import kano_tokenizer as kano
from conftest import SENTENCE, golden_toml


@pytest.fixture(scope="module")
def adapter_for():
    """key of the golden data ("cl100k_base", "hf:gpt2", "hf:gpt2:no_special"...) -> Adapter."""
    with_special = kano.Registry.from_toml(golden_toml(add_special_tokens=True))
    without_special = kano.Registry.from_toml(golden_toml(add_special_tokens=False))
    adapters = {}

    def get(key):
        if key not in adapters:
            if key.startswith("hf:"):
                name, registry = key[3:], with_special
                if name.endswith(":no_special"):
                    name, registry = name[: -len(":no_special")], without_special
                adapters[key] = registry.resolve("huggingface", model_name=name)
            else:
                adapters[key] = with_special.resolve("tiktoken", model_name=key)
        return adapters[key]

    return get


def test_bounds_hold_on_the_golden_counts(golden, adapter_for):
    checked = 0
    violations = []
    for case in golden:
        for key, exact in case["counts"].items():
            e = adapter_for(key).estimate(case["text"])
            assert isinstance(e, kano.Estimate)
            checked += 1
            if not (e.lower_bound <= exact <= e.upper_bound and e.lower_bound <= e.estimate <= e.upper_bound):
                violations.append(f"{case['id']} [{key}]: exact {exact}, {e}")
    assert checked >= 2000 and len({key for case in golden for key in case["counts"]}) >= 12
    assert not violations, f"{len(violations)} of {checked}:\n" + "\n".join(violations[:20])


def test_limit_verdicts_on_both_sides(golden, adapter_for):
    checked = within = over = by_bounds = 0
    wrong = []
    for case in golden:
        for key, n in case["counts"].items():
            adapter = adapter_for(key)
            # Either side of the count for every text; far from it too for the shorter ones.
            limits = {max(n - 1, 0), n}
            if len(case["text"]) < 5000:
                limits |= {0, n + 1, 2 * n + 5}
            for limit in sorted(limits):
                c = adapter.check_limit(case["text"], limit)
                checked += 1
                ok = c.within_limit == (n <= limit)
                if c.is_exact:
                    ok = ok and c.tokens == n
                elif c.within_limit:
                    ok = ok and n <= c.tokens <= limit  # an upper bound proved it
                    by_bounds += 1
                else:
                    ok = ok and limit < c.tokens <= n  # a lower bound (or a partial count) proved it
                    by_bounds += 1
                within += c.within_limit
                over += not c.within_limit
                if not ok:
                    wrong.append(f"{case['id']} [{key}] limit {limit}, exact {n}: {c}")
    assert checked > 6000 and within > 1000 and over > 1000 and by_bounds > 0
    assert not wrong, f"{len(wrong)} of {checked}:\n" + "\n".join(wrong[:20])


def test_exact_values_and_text_kinds():
    adapter = kano.get_default_registry().resolve("tiktoken", model_name="gpt-4o")
    # 10 tokens, estimated 10 in [9, 44]: the count decides at 10 and 9, the upper bound at 100.
    assert adapter.check_limit(SENTENCE, 10) == kano.LimitCheck(True, 10, True)
    below = adapter.check_limit(SENTENCE, 9)
    assert not below.within_limit and 9 < below.tokens <= 10
    assert adapter.estimate(SENTENCE).lower_bound <= 10 <= adapter.estimate(SENTENCE).upper_bound
    assert adapter.check_limit(SENTENCE, 100).within_limit
    assert adapter.check_limit(SENTENCE, 2**64 - 1).within_limit
    text = "Grüße aus Köln, 東京 🙂"
    e = adapter.estimate(text)
    encoded = text.encode()
    assert adapter.estimate(encoded) == e == adapter.estimate(bytearray(encoded)) == adapter.estimate(memoryview(encoded))
    assert adapter.check_limit(encoded, 3) == adapter.check_limit(text, 3)
    assert adapter.estimate("").estimate == 0 and adapter.estimate(b"").lower_bound == 0
    assert adapter.check_limit("", 0).within_limit
    assert pickle.loads(pickle.dumps(e)) == e
    c = adapter.check_limit(text, 1)
    assert pickle.loads(pickle.dumps(c)) == c


def test_heuristic_bounds_are_the_estimate(golden):
    adapter = kano.get_default_registry().resolve("heuristic", model_name="gpt-4o")
    for case in golden[:300]:
        e = adapter.estimate(case["text"])
        assert e.lower_bound == e.estimate == e.upper_bound == adapter.count_tokens(case["text"]).count
        c = adapter.check_limit(case["text"], e.estimate)
        assert (c.within_limit, c.tokens, c.is_exact) == (True, e.estimate, False)
        if e.estimate:
            assert not adapter.check_limit(case["text"], e.estimate - 1).within_limit


def test_errors():
    adapter = kano.get_default_registry().resolve("tiktoken", model_name="gpt-4")
    with pytest.raises(kano.InvalidUTF8Error, match="offset 12") as e:
        adapter.estimate(b"valid, then \xff")
    assert e.value.status == kano.Status.INVALID_UTF8 and "kano_adapter_estimate" in e.value.message
    with pytest.raises(kano.InvalidUTF8Error, match="offset 2"):
        adapter.check_limit("ok\udc80", 100)
    with pytest.raises(kano.InvalidArgumentError, match="max_tokens -1"):
        adapter.check_limit(SENTENCE, -1)
    with pytest.raises(kano.InvalidArgumentError, match="max_tokens"):
        adapter.check_limit(SENTENCE, 2**64)
    with pytest.raises(TypeError):
        adapter.check_limit(SENTENCE, 1.5)
    adapter.close()
    with pytest.raises(kano.ClosedError, match="Adapter.estimate"):
        adapter.estimate(SENTENCE)
    with pytest.raises(kano.ClosedError, match="Adapter.check_limit"):
        adapter.check_limit(SENTENCE, 10)
