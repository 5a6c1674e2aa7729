#!/usr/bin/env python3
"""Counting tokens with kano-tokenizer from Python (bindings/python, ctypes, no build step).

Run from the repository root (or just `make demo`):

    make build
    PYTHONPATH=bindings/python \\
    KANO_TOKENIZER_LIBRARY=target/release/libkano_tokenizer.so \\
    python3 examples/python/count.py examples/kano-tokenizer.toml

Without KANO_TOKENIZER_LIBRARY the library is looked for beside the package, then by the system
loader (after `make install`).
"""

import pathlib
import sys

import kano_tokenizer
from kano_tokenizer import KanoError, Registry, UnknownModelError, get_default_registry

TEXT = "The quick brown fox jumps over the lazy dog."


def count_with(registry, adapter_name, model_name):
    """Resolves an adapter, counts TEXT and prints the result. Returns 0 on success."""
    try:
        adapter = registry.resolve(adapter_name, model_name=model_name)
        result = adapter.count_tokens(TEXT)
    except KanoError as e:
        # e.status says what kind of failure; the message what exactly failed.
        print(f"  {adapter_name} / {model_name}: {e}", file=sys.stderr)
        return 1
    # For "auto", adapter.name is the adapter that served.
    kind = "exact" if result.is_exact else "estimate"
    print(f"  {adapter_name + ' ' + model_name:<28} {adapter.name:<11}  {adapter.model:<48} {result.count:4}  {kind}")
    return 0


def main():
    default_config = pathlib.Path(__file__).resolve().parent.parent / "kano-tokenizer.toml"
    config = sys.argv[1] if len(sys.argv) > 1 else default_config
    failures = 0
    print(f"kano-tokenizer {kano_tokenizer.library_version()} (Python)")

    # 1. The process-wide registry: defaults and the KANO_TOKENIZER_* environment variables.
    try:
        registry = get_default_registry()
    except KanoError as e:
        print(f"kano: {e}", file=sys.stderr)  # a bad KANO_TOKENIZER_* variable or config file
        return 1
    print(f'\nCounting "{TEXT}"\n')
    print(f"  {'asked for':<28} {'served by':<11}  {'resolved to':<48} {'tokens':>4}")
    failures += count_with(registry, "heuristic", "gpt-4o")
    failures += count_with(registry, "tiktoken", "gpt-4o")
    failures += count_with(registry, "huggingface", "all-MiniLM-L6-v2")  # built into the library
    failures += count_with(registry, "auto", "gpt-4")

    # 2. Errors are exceptions, one class per status, all KanoError.
    print("\nAn unknown model:")
    try:
        registry.resolve("tiktoken", model_name="my-private-model")
        failures += 1
    except UnknownModelError as e:
        print(f"  {e.status.name}: {e.message}")

    # 3. A registry from a config file: its adapter, model and named tokenizer files.
    with Registry.from_config(config) as configured:
        adapter = configured.resolve()  # as configured
        print(f"\nFrom {config}:")
        print(f"  configured: {adapter.name} {adapter.model}: {adapter.count_tokens(TEXT).count} tokens")
        failures += count_with(configured, "huggingface", "gpt2-local")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
