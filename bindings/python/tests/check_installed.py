"""Checks an installed kano_tokenizer the way a user's program meets it (make test-python-wheel).

Run with the venv's python from outside the repository: the package must come from the venv,
and its library from inside the package (the bundled one), with no KANO_TOKENIZER_LIBRARY.
"""

import os
import sys

import kano_tokenizer
from kano_tokenizer import _native

package_dir = os.path.dirname(os.path.abspath(kano_tokenizer.__file__))
assert os.path.abspath(sys.prefix) in package_dir, f"package imported from {package_dir}, not the venv {sys.prefix}"
assert _native.ENV_LIBRARY not in os.environ, "KANO_TOKENIZER_LIBRARY must not be set for this check"

_, library_path = _native.library()
assert os.path.dirname(os.path.abspath(library_path)) == package_dir, f"library loaded from {library_path}"

registry = kano_tokenizer.get_default_registry()
# Counts of Python tiktoken 0.14 (tests/fixtures/golden.jsonl has more).
for model, text, expected in [
    ("gpt-4o", "hello world", 2),
    ("gpt-4", "The quick brown fox jumps over the lazy dog.", 10),
]:
    result = registry.resolve("tiktoken", model).count_tokens(text)
    assert (result.count, result.is_exact, result.method) == (expected, True, "tiktoken"), (model, result)

text = "hello world " * 100
exact = registry.resolve("tiktoken", "gpt-4o").count_tokens(text).count
estimate = registry.resolve("tiktoken", "gpt-4o").estimate(text)
assert estimate.lower_bound <= exact <= estimate.upper_bound, (exact, estimate)

try:
    registry.resolve("tiktoken", "no-such-model")
except kano_tokenizer.UnknownModelError:
    pass
else:
    raise AssertionError("an unknown model resolved")

print(f"kano_tokenizer {kano_tokenizer.__version__} from {package_dir} (bundled library): counts as expected")
