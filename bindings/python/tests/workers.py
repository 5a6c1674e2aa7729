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


def count_in_background(job):
    """(adapter, texts) -> sorted [(request_id, count)]: a counter made in the worker process."""
    adapter, texts = job
    with adapter.counter(workers=2) as counter:
        for request_id, text in enumerate(texts):
            counter.submit(request_id, text)
        counter.flush(timeout=60)
        return sorted((r.request_id, r.count.count) for r in counter.poll(max=len(texts)))


def use_inherited_counter(counter, queue):
    """In a forked child: a counter of the parent refuses to work."""
    from kano_tokenizer import ClosedError

    try:
        counter.submit(1, "text")
        queue.put("accepted")
    except ClosedError as e:
        queue.put(str(e))
    counter.close()  # must not try to join the parent's threads
    queue.put("closed")
