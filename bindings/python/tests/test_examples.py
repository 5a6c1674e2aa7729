"""examples/python/count.py and the Python snippets of the READMEs and docs/ run and print what
they should."""

import os
import re
import subprocess
import sys

import pytest

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


MARKER = "<!-- snippet: python (run by bindings/python/tests/test_examples.py) -->"
SNIPPET_FILES = [ROOT / "bindings" / "python" / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def marked_snippets():
    return list(_marked_snippets())


def _marked_snippets():
    for path in SNIPPET_FILES:
        text = path.read_text(encoding="utf-8")
        blocks = re.findall(re.escape(MARKER) + r"\s*```python\n(.*?)```", text, re.S)
        for i, block in enumerate(blocks):
            yield pytest.param(block, id=f"{path.relative_to(ROOT)}[{i}]")


def expected_output(block):
    """What a snippet says it prints: the comment after each print(...) line, and the text of a
    `# prints "..."` comment (output from a callback)."""
    lines = []
    for line in block.splitlines():
        code, _, comment = line.partition("  # ")
        if code.strip().startswith("print(") and comment:
            lines.append(comment.strip())
        else:
            prints = re.search(r'# prints "(.*)"', line)
            if prints:
                lines.append(prints.group(1))
    return lines


def test_docs_have_python_snippets():
    assert len(marked_snippets()) >= 3, "the marked Python snippets of docs/ and bindings/python/README.md are gone"


@pytest.mark.parametrize("block", marked_snippets())
def test_marked_snippet(block):
    run = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == expected_output(block)
