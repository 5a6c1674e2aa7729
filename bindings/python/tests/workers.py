"""Functions for multiprocessing workers: importable by name in a spawned process."""

import os


def count_with(job):
    """(adapter, text) -> (pid, TokenCount): the adapter arrives pickled."""
    adapter, text = job
    return os.getpid(), adapter.count_tokens(text)


def count_with_registry(job):
    """(registry, adapter_name, model_name, text) -> TokenCount."""
    registry, adapter_name, model_name, text = job
    return registry.resolve(adapter_name, model_name=model_name).count_tokens(text)


def raise_from_worker(model_name):
    """Resolving an unknown model in a worker: the exception comes back pickled."""
    from kano_tokenizer import get_default_registry

    get_default_registry().resolve("tiktoken", model_name=model_name)
