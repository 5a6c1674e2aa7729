"""The Python API: every call, every error, threads, closing, pickling and processes."""

import dataclasses
import multiprocessing
import os
import pathlib
import pickle
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import kano_tokenizer as kano
from conftest import SENTENCE, golden_toml
import workers


@pytest.fixture
def registry():
    return kano.get_default_registry()


def test_versions(root):
    cargo = (root / "Cargo.toml").read_text()
    version = re.search(r'(?m)^version = "([^"]+)"', cargo).group(1)
    assert kano.library_version() == version
    assert kano.__version__ == version
    assert int(version.split(".")[0]) == kano._native.MAJOR_VERSION
    assert kano.library_path() == os.environ["KANO_TOKENIZER_LIBRARY"]


@pytest.mark.parametrize(
    "adapter_name, model_name, name, model, count, exact",
    [
        ("tiktoken", "gpt-4o", "tiktoken", "o200k_base", 10, True),
        ("tiktoken", "cl100k_base", "tiktoken", "cl100k_base", 10, True),
        ("tiktoken", "text-davinci-003", "tiktoken", "p50k_base", 10, True),
        # [CLS] the quick brown fox jumps over the lazy dog . [SEP]
        ("huggingface", "all-MiniLM-L6-v2", "huggingface", "embedded:sentence-transformers/all-MiniLM-L6-v2", 12, True),
        ("auto", "gpt-4", "tiktoken", "cl100k_base", 10, True),
        ("auto", "sentence-transformers/all-MiniLM-L6-v2", "huggingface", None, 12, True),
        ("auto", "no-such-model", "heuristic", "no-such-model", None, False),
        ("heuristic", "default", "heuristic", "default", None, False),
    ],
)
def test_every_adapter(registry, adapter_name, model_name, name, model, count, exact):
    adapter = registry.resolve(adapter_name, model_name=model_name)
    assert adapter.name == name
    if model is not None:
        assert adapter.model == model
    result = adapter.count_tokens(SENTENCE)
    assert isinstance(result, kano.TokenCount)
    assert result.is_exact is exact
    assert result.method == name
    if count is not None:
        assert result.count == count
    else:
        assert 5 <= result.count <= 20  # an estimate of the 10 tokens
    assert repr(adapter) == f"<kano_tokenizer.Adapter {adapter.name} {adapter.model}>"
    # auto says why it passed over the adapters before the one that serves.
    if adapter_name == "auto" and name != "tiktoken":
        assert adapter.fallback_reason.startswith("tiktoken: ")
        assert ("; huggingface: " in adapter.fallback_reason) == (name == "heuristic")
    else:
        assert adapter.fallback_reason is None


def test_fixture_tokenizer_by_path(registry, root):
    path = root / "tests" / "fixtures" / "tokenizers" / "gpt2" / "tokenizer.json"
    adapter = registry.resolve("huggingface", model_name=path)  # os.PathLike works
    assert adapter.model.endswith("gpt2/tokenizer.json")
    assert adapter.count_tokens(SENTENCE) == kano.TokenCount(10, True, "huggingface")


def test_text_kinds(registry):
    adapter = registry.resolve("tiktoken", model_name="gpt-4")
    text = "Grüße aus Köln, 東京 🙂"
    expected = adapter.count_tokens(text)
    assert expected.count > 5
    encoded = text.encode()
    assert adapter.count_tokens(encoded) == expected
    assert adapter.count_tokens(bytearray(encoded)) == expected
    assert adapter.count_tokens(memoryview(encoded)) == expected
    assert adapter.count_tokens("").count == 0
    assert adapter.count_tokens(b"").count == 0
    # (pointer, length): a NUL byte is text, not the end of it.
    assert adapter.count_tokens("abc\0def").count > adapter.count_tokens("abc").count


def test_errors(registry, tmp_path):
    with pytest.raises(kano.UnknownAdapterError) as e:
        registry.resolve("sentencepiece", model_name="gpt-4")
    assert e.value.status == kano.Status.UNKNOWN_ADAPTER and "sentencepiece" in e.value.message

    with pytest.raises(kano.UnknownModelError) as e:
        registry.resolve("tiktoken", model_name="my-private-model")
    err = e.value
    assert isinstance(err, kano.KanoError) and isinstance(err, LookupError)
    assert err.status == kano.Status.UNKNOWN_MODEL
    assert err.message.startswith("kano_registry_resolve: ") and '"my-private-model"' in err.message
    assert str(err) == "unknown model: " + err.message
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is kano.UnknownModelError and (copy.status, copy.message) == (err.status, err.message)

    with pytest.raises(kano.UnknownModelError):
        registry.resolve("tiktoken")  # no model configured or given
    with pytest.raises(kano.InvalidArgumentError, match="model"):
        registry.resolve("tiktoken", model_name="")
    with pytest.raises(kano.InvalidArgumentError, match="NUL byte at offset 5"):
        registry.resolve("tiktoken", model_name="gpt-4\0o")
    with pytest.raises(kano.InvalidUTF8Error, match="offset 3"):
        registry.resolve("tiktoken", model_name=b"gpt\xff")
    with pytest.raises(kano.KanoIOError, match="missing"):
        registry.resolve("huggingface", model_name=tmp_path / "missing" / "tokenizer.json")
    broken = tmp_path / "tokenizer.json"
    broken.write_text('{"model": 42}')
    with pytest.raises(kano.AdapterUnavailableError, match=re.escape(str(broken))):
        registry.resolve("huggingface", model_name=broken)

    adapter = registry.resolve("tiktoken", model_name="gpt-4")
    with pytest.raises(kano.InvalidUTF8Error, match="offset 12") as e:
        adapter.count_tokens(b"valid, then \xff")
    assert isinstance(e.value, ValueError) and e.value.status == kano.Status.INVALID_UTF8
    # A str with a lone surrogate is not UTF-8 either: the library says where.
    with pytest.raises(kano.InvalidUTF8Error, match="offset 2"):
        adapter.count_tokens("ok\udc80")

    with pytest.raises(kano.KanoIOError, match="absent.toml"):
        kano.Registry.from_config(tmp_path / "absent.toml")
    with pytest.raises(kano.ConfigError, match="chars_per_token"):
        kano.Registry.from_toml("[tokenizer.heuristic]\nchars_per_token = 0\n")
    with pytest.raises(kano.ConfigError, match="magic"):
        kano.Registry.from_toml('[tokenizer]\nadapter = "magic"\n')
    with pytest.raises(kano.ConfigError, match="syntax"):
        kano.Registry.from_toml("[tokenizer\n")

    assert kano.Status.UNKNOWN_MODEL.describe() == "unknown model"
    assert kano.Status.CONFIG_ERROR.describe() == "configuration error"
    with pytest.raises(TypeError):
        kano.Adapter()


def test_environment_and_config_file(monkeypatch, root):
    config = root / "examples" / "kano-tokenizer.toml"
    from_file = kano.Registry.from_config(config)
    adapter = from_file.resolve()  # the configured adapter (auto) and model (gpt-4)
    assert (adapter.name, adapter.model) == ("tiktoken", "cl100k_base")
    local = from_file.resolve("huggingface", model_name="gpt2-local")  # a name from the file
    assert local.count_tokens(SENTENCE).count == 10

    monkeypatch.setenv("KANO_TOKENIZER_CONFIG", str(config))
    monkeypatch.setenv("KANO_TOKENIZER_MODEL", "gpt-4o")  # variables beat the file
    with kano.Registry() as from_env:
        assert from_env.resolve().model == "o200k_base"
    monkeypatch.setenv("KANO_TOKENIZER_ADAPTER", "bogus")
    with pytest.raises(kano.ConfigError, match="KANO_TOKENIZER_ADAPTER"):
        kano.Registry()
    monkeypatch.delenv("KANO_TOKENIZER_ADAPTER")
    monkeypatch.delenv("KANO_TOKENIZER_MODEL")

    with kano.Registry.from_toml('[tokenizer]\nadapter = "tiktoken"\nmodel = "davinci"\n') as from_text:
        assert from_text.resolve().model == "r50k_base"
    assert from_text.closed
    assert kano.Registry.from_toml("").resolve().name == "heuristic"  # defaults: auto, no model


def test_default_registry_is_per_process(registry):
    assert kano.get_default_registry() is registry
    assert repr(registry) == "<kano_tokenizer.Registry from env>"


def test_close(registry):
    reg = kano.Registry()
    adapter = reg.resolve("tiktoken", model_name="gpt-4")
    reg.close()
    reg.close()
    assert reg.closed and repr(reg).endswith(" closed>")
    with pytest.raises(kano.ClosedError, match="Registry.resolve: the registry is closed") as e:
        reg.resolve("tiktoken", model_name="gpt-4")
    assert e.value.status == kano.Status.CLOSED
    assert adapter.count_tokens(SENTENCE).count == 10  # an adapter outlives its registry
    with adapter:
        pass
    adapter.close()
    with pytest.raises(kano.ClosedError, match="Adapter.count_tokens"):
        adapter.count_tokens(SENTENCE)
    assert adapter.name == "tiktoken"  # kept after close

    # The default registry, closed, is made again on the next request.
    default = kano.get_default_registry()
    default.close()
    again = kano.get_default_registry()
    assert again is not default and not again.closed


def test_threads_share_one_adapter(golden):
    registry = kano.Registry.from_toml(golden_toml())
    adapters = {
        "o200k_base": registry.resolve("tiktoken", model_name="o200k_base"),
        "hf:gpt2": registry.resolve("huggingface", model_name="gpt2"),
        "hf:all-MiniLM-L6-v2": registry.resolve("huggingface", model_name="all-MiniLM-L6-v2"),
    }
    jobs = [(key, case["text"], case["counts"][key]) for case in golden for key in adapters if len(case["text"]) < 3000]
    assert len(jobs) > 300

    def check(job):
        key, text, expected = job
        return adapters[key].count_tokens(text).count == expected

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(check, jobs * 2))
    assert all(results)


def test_close_while_counting():
    registry = kano.get_default_registry()
    for _ in range(20):
        adapter = registry.resolve("tiktoken", model_name="gpt-4o")
        outcomes = []

        def count():
            for _ in range(50):
                try:
                    outcomes.append(adapter.count_tokens(SENTENCE).count)
                except kano.ClosedError:
                    outcomes.append("closed")

        threads = [threading.Thread(target=count) for _ in range(4)]
        for t in threads:
            t.start()
        adapter.close()
        for t in threads:
            t.join()
        assert set(outcomes) <= {10, "closed"} and len(outcomes) == 200


class _FakePointer:
    freed = False


class _YieldingList(list):
    """A list that lets other threads run before each append and pop, so that the test meets
    orders of the handle's steps the interpreter seldom switches at."""

    def append(self, item):
        time.sleep(0)
        super().append(item)

    def pop(self, *index):
        time.sleep(0)
        return super().pop(*index)


@pytest.mark.parametrize("handle_class", [kano._Handle, kano._LockedHandle])
def test_handles_free_once_and_never_under_a_call(handle_class):
    """Both handle guards (the lock-free one under the GIL, the locked one for free-threaded
    Python), with threads switching every microsecond: the pointer is freed exactly once, never
    while a call holds it, and calls after close() raise ClosedError."""
    if handle_class is kano._Handle and not kano._GIL:
        pytest.skip("free-threaded build: adapters use _LockedHandle")
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for n in range(200):
            frees, misuse, outcomes = [], [], []
            pointer = _FakePointer()

            def free(p):
                if p.freed:
                    misuse.append("double free")
                p.freed = True
                frees.append(p)
                time.sleep(0)  # the library's free runs without the GIL

            handle = handle_class(pointer, free, "thing")
            if handle_class is kano._Handle:
                handle._calls = _YieldingList()

            def call():
                for _ in range(30):
                    try:
                        p = handle.acquire("call")
                    except kano.ClosedError:
                        outcomes.append("closed")
                        continue
                    for _ in range(3):
                        if p.freed:
                            misuse.append("used after free")
                        time.sleep(0)
                    handle.release()
                    outcomes.append("ok")

            threads = [threading.Thread(target=call) for _ in range(1 + n % 4)]
            for t in threads:
                t.start()
            close_after = n * 7 % (30 * len(threads))  # a different point in each round
            while len(outcomes) < close_after:
                time.sleep(0)
            handle.close()
            handle.close()
            for t in threads:
                t.join()
            assert misuse == [] and frees == [pointer] and handle.closed
            assert len(outcomes) == 30 * len(threads) and set(outcomes) <= {"ok", "closed"}
            with pytest.raises(kano.ClosedError, match="call: the thing is closed"):
                handle.acquire("call")
    finally:
        sys.setswitchinterval(interval)


def test_pickle_round_trip(registry, root):
    adapter = registry.resolve("huggingface", model_name="all-MiniLM-L6-v2")
    copy = pickle.loads(pickle.dumps(adapter))
    assert (copy.name, copy.model) == (adapter.name, adapter.model)
    assert copy.count_tokens(SENTENCE) == adapter.count_tokens(SENTENCE)
    assert pickle.loads(pickle.dumps(registry)) is registry  # the process's registry for the source
    from_file = kano.Registry.from_config(root / "examples" / "kano-tokenizer.toml")
    copy = pickle.loads(pickle.dumps(from_file.resolve()))
    assert copy.model == "cl100k_base"
    result = pickle.loads(pickle.dumps(kano.TokenCount(3, True, "tiktoken")))
    assert result == kano.TokenCount(3, True, "tiktoken")


@pytest.mark.parametrize("method", multiprocessing.get_all_start_methods())
def test_processes(method, registry, root):
    """Adapters and registries are sent to workers of every start method, which load the
    library themselves; results and exceptions come back."""
    adapters = [
        registry.resolve("tiktoken", model_name="gpt-4o"),
        registry.resolve("huggingface", model_name="all-MiniLM-L6-v2"),
        kano.Registry.from_config(root / "examples" / "kano-tokenizer.toml").resolve("huggingface", "gpt2-local"),
    ]
    texts = [SENTENCE, "Hello, world!", "Grüße aus Köln " * 20]
    jobs = [(adapter, text) for adapter in adapters for text in texts]
    expected = [adapter.count_tokens(text) for adapter, text in jobs]
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        results = pool.map(workers.count_with, jobs, chunksize=1)
        assert [count for _, count in results] == expected
        assert all(pid != os.getpid() for pid, _ in results)
        counted = pool.map(workers.count_with_registry, [(registry, "tiktoken", "gpt-4", SENTENCE)])
        assert counted == [kano.TokenCount(10, True, "tiktoken")]
        with pytest.raises(kano.UnknownModelError, match="not-a-model"):
            pool.apply(workers.raise_from_worker, ("not-a-model",))


def test_results_are_the_frozen_dataclasses(registry):
    """count_tokens, estimate and check_limit build their results without the dataclasses'
    __init__: they must still compare, hash, print and refuse changes as the dataclasses do."""
    adapter = registry.resolve("tiktoken", model_name="gpt-4o")
    c = adapter.count_tokens(SENTENCE)
    assert c == kano.TokenCount(10, True, "tiktoken")
    assert hash(c) == hash(kano.TokenCount(10, True, "tiktoken"))
    assert repr(c) == "TokenCount(count=10, is_exact=True, method='tiktoken')"
    assert dataclasses.asdict(c) == {"count": 10, "is_exact": True, "method": "tiktoken"}
    e = adapter.estimate(SENTENCE)
    assert e == kano.Estimate(e.estimate, e.lower_bound, e.upper_bound)
    assert e.lower_bound <= 10 <= e.upper_bound and type(e.estimate) is int
    limit = adapter.check_limit(SENTENCE, 5)
    assert limit == kano.LimitCheck(False, limit.tokens, limit.is_exact)
    assert type(limit.within_limit) is bool and type(limit.is_exact) is bool
    for result, field in [(c, "count"), (e, "estimate"), (limit, "tokens")]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(result, field, 3)
