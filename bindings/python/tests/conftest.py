"""Test setup: a library to load and an environment that does not depend on the machine.

Runs before any test module imports kano_tokenizer, so every registry (and every worker process,
which inherits the environment) sees the same settings.
"""

import json
import os
import pathlib
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures"

# The library of this repository unless the caller names one (make test-python does).
os.environ.setdefault("KANO_TOKENIZER_LIBRARY", str(ROOT / "target" / "release" / "libkano_tokenizer.so"))
# Subprocesses of the tests import this package and the tests' own modules too.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT / "bindings" / "python"), str(ROOT / "bindings" / "python" / "tests")]
    + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)
# No KANO_TOKENIZER_* settings of the machine, and an empty Hugging Face cache.
for _name in [n for n in os.environ if n.startswith("KANO_TOKENIZER_") and n != "KANO_TOKENIZER_LIBRARY"]:
    del os.environ[_name]
_HF_CACHE = tempfile.mkdtemp(prefix="kano-py-hf-cache-")
os.environ["HF_HUB_CACHE"] = _HF_CACHE
os.environ["HF_HOME"] = _HF_CACHE

SENTENCE = "The quick brown fox jumps over the lazy dog."


def golden_cases():
    """Every case of tests/fixtures/golden*.jsonl: dicts with id, text and counts."""
    cases = []
    for path in sorted(FIXTURES.glob("golden*.jsonl")):
        with open(path, encoding="utf-8") as f:
            cases += [json.loads(line) for line in f if line.strip()]
    assert cases, "no golden data"
    return cases


def golden_toml(add_special_tokens=True):
    """TOML naming every fixture tokenizer.json, for the golden keys hf:NAME[:no_special]."""
    lines = [
        "[tokenizer.huggingface]",
        f"add_special_tokens = {'true' if add_special_tokens else 'false'}",
        "[tokenizer.huggingface.models]",
    ]
    for folder in sorted((FIXTURES / "tokenizers").iterdir()):
        lines.append(f"{json.dumps(folder.name)} = {json.dumps(str(folder / 'tokenizer.json'))}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def golden():
    return golden_cases()
