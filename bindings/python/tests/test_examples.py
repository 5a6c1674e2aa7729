"""examples/python/count.py and the README's Python snippet run and print what they should."""

import os
import re
import subprocess
import sys

from conftest import ROOT


def test_example_program():
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "python" / "count.py"), str(ROOT / "examples" / "kano-tokenizer.toml")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert re.search(r"tiktoken gpt-4o\s+tiktoken\s+o200k_base\s+10  exact", out)
    assert re.search(r"huggingface all-MiniLM-L6-v2\s+huggingface\s+embedded:\S+\s+12  exact", out)
    assert re.search(r"auto gpt-4\s+tiktoken\s+cl100k_base\s+10  exact", out)
    assert re.search(r"heuristic gpt-4o\s+heuristic\s+gpt-4o\s+\d+  estimate", out)
    assert "UNKNOWN_MODEL: kano_registry_resolve: " in out
    assert "configured: tiktoken cl100k_base: 10 tokens" in out
    assert re.search(r"huggingface gpt2-local\s+huggingface\s+\S+gpt2/tokenizer.json\s+10  exact", out)


def readme_snippet():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(
        r"<!-- snippet: python \(run by bindings/python/tests/test_examples.py\) -->\s*```python\n(.*?)```", readme, re.S
    )
    assert match, "README.md has no Python snippet marked for this test"
    return match.group(1)


def test_readme_snippet():
    run = subprocess.run([sys.executable, "-c", readme_snippet()], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["4 True tiktoken", "unknown model"]
