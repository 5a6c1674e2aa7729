"""The Python examples of the tokenizer-adapters performance guide, run against this package.

Each guide_*.py file is a code block of the guide, copied as it is except for its import line
(``from kano_backlog_core.tokenizer import get_default_registry`` became
``from kano_tokenizer import get_default_registry``). Importing a module runs its "Usage" lines.
"""

import importlib
import json
import os
import subprocess
import sys

import pytest

import kano_tokenizer as kano
from conftest import FIXTURES, ROOT, SENTENCE

TESTS = os.path.dirname(os.path.abspath(__file__))


def fresh_import(name):
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def exact(text, model_name="gpt-4"):
    return kano.get_default_registry().resolve("tiktoken", model_name=model_name).count_tokens(text).count


def test_benchmark_script(capsys):
    guide = fresh_import("guide_benchmark")
    text = "Your typical document content here. " * 50

    tiktoken = guide.benchmark_adapter("tiktoken", "gpt-4", text, iterations=5)
    assert tiktoken["success"] and tiktoken["is_exact"] and tiktoken["consistent"]
    assert tiktoken["avg_tokens"] == exact(text) == 301
    assert 0 < tiktoken["min_time_ms"] <= tiktoken["median_time_ms"] <= tiktoken["max_time_ms"]

    heuristic = guide.benchmark_adapter("heuristic", "gpt-4", text, iterations=5)
    assert heuristic["success"] and not heuristic["is_exact"] and heuristic["consistent"]
    assert 0.5 * 301 < heuristic["avg_tokens"] < 1.5 * 301

    # gpt-4 is no Hugging Face model on this machine: the script reports the library's error.
    huggingface = guide.benchmark_adapter("huggingface", "gpt-4", text, iterations=5)
    assert not huggingface["success"]
    assert huggingface["error"].startswith("unknown model: kano_registry_resolve") and "gpt-4" in huggingface["error"]
    minilm = guide.benchmark_adapter("huggingface", "all-MiniLM-L6-v2", text, iterations=3)
    assert minilm["success"] and minilm["is_exact"] and minilm["avg_tokens"] == 302  # 6 words x 50, [CLS], [SEP]

    guide.main()
    out = capsys.readouterr().out
    assert "Text length: 1800 characters" in out
    assert "Testing tiktoken...\n  Average: " in out and "  Tokens: 301\n  Exact: True\n  Consistent: True" in out
    assert "Testing huggingface...\n  Failed: unknown model: " in out
    ranking = out.split("Performance Ranking (by speed):\n")[1].splitlines()
    assert sorted(line.split(":")[0][3:] for line in ranking) == ["heuristic", "tiktoken"]


def test_batch_processing():
    guide = fresh_import("guide_batch")  # its usage lines count three documents
    assert len(guide.results) == 3
    assert all(r.method == "heuristic" and not r.is_exact and r.count >= 1 for r in guide.results)

    adapter = kano.get_default_registry().resolve("tiktoken", model_name="gpt-4")
    documents = [SENTENCE, "Hello, world!", "", "Grüße " * 100]
    results = guide.process_documents_batch(documents, adapter)
    assert [r.count for r in results] == [10, 4, 0, exact("Grüße " * 100)]


def test_tokenizer_service():
    guide = fresh_import("guide_service")
    service = guide.tokenizer_service
    assert service.tiktoken is not None  # resolved at startup
    assert service.tiktoken.model == "cl100k_base"
    result = service.count_tokens(SENTENCE, prefer_exact=True)
    assert (result.count, result.is_exact, result.method) == (10, True, "tiktoken")
    estimate = service.count_tokens(SENTENCE)
    assert (estimate.is_exact, estimate.method) == (False, "heuristic")


def test_accuracy_validation(capsys):
    guide = fresh_import("guide_accuracy")
    results = guide.validate_tokenization_accuracy(SENTENCE, "gpt-4")
    # huggingface cannot serve gpt-4 here and is left out, as the guide intends.
    assert set(results) == {"tiktoken", "heuristic"}
    assert results["tiktoken"] == {"count": 10, "is_exact": True, "method": "tiktoken"}
    assert results["heuristic"]["method"] == "heuristic" and not results["heuristic"]["is_exact"]

    results = guide.validate_tokenization_accuracy(SENTENCE, "all-MiniLM-L6-v2")
    assert set(results) == {"huggingface", "heuristic"}
    assert results["huggingface"] == {"count": 12, "is_exact": True, "method": "huggingface"}
    assert "Warning" not in capsys.readouterr().out


def validate_with_hub_cache(folder, fixture, text):
    """Runs the guide's accuracy validation for the model "gpt2" in a new process whose Hugging
    Face cache holds the `fixture` tokenizer.json as the repository "gpt2"; returns what it
    printed and its result."""
    repo = folder / "models--gpt2"
    (repo / "snapshots" / "0123abc").mkdir(parents=True)
    (repo / "snapshots" / "0123abc" / "tokenizer.json").write_bytes(
        (FIXTURES / "tokenizers" / fixture / "tokenizer.json").read_bytes()
    )
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc")
    script = f"import json, guide_accuracy\nprint(json.dumps(guide_accuracy.validate_tokenization_accuracy({text!r}, 'gpt2')))\n"
    env = dict(os.environ, HF_HUB_CACHE=str(folder))
    run = subprocess.run([sys.executable, "-c", script], cwd=TESTS, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    *printed, result = run.stdout.splitlines()
    return printed, json.loads(result)


def test_accuracy_validation_with_two_exact_adapters(tmp_path):
    """gpt2 is a tiktoken model and, with a cached repository of that name, a Hugging Face one:
    two exact adapters, which agree when the cache holds GPT-2's tokenizer."""
    printed, results = validate_with_hub_cache(tmp_path, "gpt2", SENTENCE)
    assert set(results) == {"tiktoken", "huggingface", "heuristic"}
    assert results["tiktoken"]["count"] == results["huggingface"]["count"] == 10
    assert printed == []


def test_accuracy_validation_warns_when_exact_adapters_disagree(tmp_path):
    # A "gpt2" repository that holds a BERT tokenizer: [CLS] ... [SEP] makes 12, not 10.
    printed, results = validate_with_hub_cache(tmp_path, "all-MiniLM-L6-v2", SENTENCE)
    assert (results["tiktoken"]["count"], results["huggingface"]["count"]) == (10, 12)
    assert len(printed) == 1 and printed[0].startswith("Warning: Exact adapters disagree on token count: ")


def test_chunked_processing(tmp_path):
    guide = fresh_import("guide_chunked")
    text = (ROOT / "bench" / "corpus" / "prose_en.txt").read_text(encoding="utf-8")[:55_000]
    path = tmp_path / "document.txt"
    path.write_text(text, encoding="utf-8")
    total = guide.process_large_document_chunked(str(path), chunk_size=10_000)

    adapter = kano.get_default_registry().resolve("heuristic", model_name="default")
    with open(path) as f:
        chunks = list(iter(lambda: f.read(10_000), ""))
    assert len(chunks) == 6
    assert total == sum(adapter.count_tokens(chunk).count for chunk in chunks)
    whole = adapter.count_tokens(text).count
    assert abs(total - whole) <= 0.02 * whole  # chunking barely changes an estimate


def test_tokenizer_monitor(tmp_path, capsys):
    guide = fresh_import("guide_monitor")  # its usage lines time one count and print a summary
    assert "{'tiktoken': {'count': 1, " in capsys.readouterr().out
    monitor = guide.monitor
    assert len(monitor.metrics) == 1
    first = monitor.metrics[0]
    assert (first["adapter"], first["model"], first["text_length"]) == ("tiktoken", "gpt-4", 11)
    assert first["token_count"] == 2 and first["is_exact"] is True and first["duration_ms"] > 0

    monitor.time_tokenization("heuristic", "default", SENTENCE)
    result = monitor.time_tokenization("huggingface", "all-MiniLM-L6-v2", SENTENCE)
    assert result.count == 12
    summary = monitor.get_performance_summary()
    assert set(summary) == {"tiktoken", "heuristic", "huggingface"}
    assert all(s["count"] == 1 and s["min_time_ms"] <= s["avg_time_ms"] <= s["max_time_ms"] for s in summary.values())
    with pytest.raises(kano.UnknownModelError):
        monitor.time_tokenization("tiktoken", "not-a-model", SENTENCE)

    saved = tmp_path / "metrics.json"
    monitor.save_metrics(saved)
    assert json.loads(saved.read_text()) == monitor.metrics
    assert [m["adapter"] for m in monitor.metrics] == ["tiktoken", "heuristic", "huggingface"]


def test_multiprocessing_pool():
    """The guide's parallel example is a script: its usage lines start a Pool as the module
    runs, which works in a script's __main__ with the fork start method (the default on Linux
    before Python 3.14, so it is asked for explicitly); imported as a module it would wait
    forever on the import lock, in plain Python too. So it runs as the script's own code,
    followed by a few more calls. test_api covers the other start methods."""
    documents = [SENTENCE, "Hello, world!", "Grüße aus Köln " * 50, ""] * 3
    script = (
        "import multiprocessing\n"
        "multiprocessing.set_start_method('fork')\n"
        "exec(compile(open('guide_parallel.py').read(), 'guide_parallel.py', 'exec'))\n"
        "import json, multiprocessing, os\n"
        "print(multiprocessing.get_start_method())\n"
        "print(json.dumps([[r.count, r.is_exact, r.method] for r in results]))\n"
        f"more = process_documents_parallel({documents!r}, num_processes=2)\n"
        "print(json.dumps([[r.count, r.is_exact, r.method] for r in more]))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=TESTS, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    method, results, more = run.stdout.splitlines()
    assert method == "fork"
    assert json.loads(results) == [[exact(d), True, "tiktoken"] for d in ["doc1", "doc2", "doc3"]]
    assert json.loads(more) == [[exact(d), True, "tiktoken"] for d in documents]


def test_load_balancing():
    guide = fresh_import("guide_load_balancing")
    balancer = guide.LoadBalancedTokenizer()
    first, second = balancer.count_tokens(SENTENCE), balancer.count_tokens(SENTENCE)
    assert (first.method, first.count) == ("tiktoken", 10)
    assert second.method == "heuristic"
    # tiktoken does not know the model: the example falls back to the heuristic.
    fallback = balancer.count_tokens(SENTENCE, model_name="my-model")
    assert fallback.method == "heuristic" and not fallback.is_exact
