"""Adapter.count_batch: the same counts as count_tokens, failures per text, threads."""

from concurrent.futures import ThreadPoolExecutor

import pytest

import kano_tokenizer as kano
from conftest import golden_cases, golden_toml


def batch_texts(n):
    """n texts of 100 to 2000 bytes (as str) made of the short golden texts."""
    short = [c["text"] for c in golden_cases() if 0 < len(c["text"].encode()) < 500]
    texts, k = [], 0
    for i in range(n):
        target = 100 + (i * 7919) % 1900
        parts, size = [], 0
        while size < target:
            parts.append(short[k % len(short)])
            size += len(parts[-1].encode()) + 1
            k += 1
        texts.append(" ".join(parts).encode()[:target].decode("utf-8", "ignore"))
    return texts


def test_golden_counts():
    cases = golden_cases()
    texts = [c["text"] for c in cases]
    with kano.Registry.from_toml(golden_toml()) as registry:
        for key, adapter_name, model in [
            ("o200k_base", "tiktoken", "o200k_base"),
            ("cl100k_base", "tiktoken", "cl100k_base"),
            ("hf:gpt2", "huggingface", "gpt2"),
        ]:
            adapter = registry.resolve(adapter_name, model)
            counts = adapter.count_batch(texts)
            assert len(counts) == len(cases)
            checked = 0
            for case, count in zip(cases, counts):
                if key in case["counts"]:
                    assert count == case["counts"][key], (key, case["id"])
                    checked += 1
            assert checked > 50


@pytest.mark.parametrize("threads", [1, 3])
def test_equals_single_counts(threads):
    texts = batch_texts(300)
    with kano.Registry.from_toml(f"[tokenizer]\nbatch_threads = {threads}\n") as registry:
        for adapter_name, model in [("tiktoken", "gpt-4o"), ("huggingface", "all-MiniLM-L6-v2"), ("heuristic", "gpt-4")]:
            adapter = registry.resolve(adapter_name, model)
            as_bytes = [t.encode() for t in texts]
            want = [adapter.count_tokens(t).count for t in texts]
            assert adapter.count_batch(texts) == want
            assert adapter.count_batch(as_bytes) == want
            assert adapter.count_batch(iter(texts)) == want


def test_failures_stay_per_text():
    with kano.Registry.from_toml("[tokenizer]\nmax_input_bytes = 2000\n") as registry:
        adapter = registry.resolve("tiktoken", "gpt-4o")
        texts = batch_texts(200)
        texts[4] = b"ok then \xff here"
        texts[120] = "x" * 2001
        texts[7] = ""
        with pytest.raises(kano.BatchError) as caught:
            adapter.count_batch(texts)
        e = caught.value
        assert isinstance(e, kano.KanoError) and e.status == kano.Status.BATCH_PARTIAL
        assert "2 of 200 texts failed; the first, text 4" in e.message and "offset 8" in e.message
        assert e.failed == [4, 120]
        assert isinstance(e.errors[4], kano.InvalidUTF8Error) and "offset 8" in e.errors[4].message
        assert isinstance(e.errors[120], kano.InputTooLargeError) and "text 120" in e.errors[120].message
        assert len(e.counts) == 200 and e.counts[4] == 0 and e.counts[120] == 0 and e.counts[7] == 0
        for i, text in enumerate(texts):
            if i not in (4, 120):
                assert e.counts[i] == adapter.count_tokens(text).count, i
                assert e.errors[i] is None


def test_empty_and_closed():
    registry = kano.get_default_registry()
    adapter = registry.resolve("tiktoken", "gpt-4o")
    assert adapter.count_batch([]) == []
    assert adapter.count_batch(["Hello, world!", ""]) == [4, 0]
    adapter.close()
    with pytest.raises(kano.ClosedError):
        adapter.count_batch(["a"])


def test_many_threads_at_once():
    texts = batch_texts(150)
    adapter = kano.get_default_registry().resolve("tiktoken", "cl100k_base")
    want = adapter.count_batch(texts)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: adapter.count_batch(texts), range(8)))
    assert all(r == want for r in results)


def test_cache_stats_show_the_counting_of_this_thread():
    with kano.Registry.from_toml(golden_toml()) as registry:
        adapter = registry.resolve("tiktoken", "gpt-4o")
        text = "the same words counted again and again, " * 8
        adapter.count_tokens(text)
        before = kano.cache_stats()
        adapter.count_tokens(text)
        after = kano.cache_stats()
    assert isinstance(after, kano.CacheStats)
    # The second count looked every piece up again and found each one.
    assert after.lookups > before.lookups
    assert after.hits - before.hits == after.lookups - before.lookups
    assert after.threads >= 1
    assert after.bytes >= 512 * 1024
    assert 0.0 < after.hit_rate <= 1.0
