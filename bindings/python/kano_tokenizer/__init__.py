"""kano-tokenizer: exact and estimated LLM token counts, from Python (ctypes, no build step).

The API of the tokenizer-adapters guide::

    from kano_tokenizer import get_default_registry

    registry = get_default_registry()
    adapter = registry.resolve("tiktoken", model_name="gpt-4o")
    result = adapter.count_tokens("Hello, world!")
    result.count, result.is_exact, result.method      # 4, True, "tiktoken"

    adapter.estimate(text)              # Estimate(estimate, lower_bound, upper_bound), one pass
    adapter.check_limit(text, 4096)     # LimitCheck(within_limit, tokens, is_exact)

    with adapter.counter(workers=2, callback=on_result) as counter:   # background exact counts
        counter.submit(request_id, text)    # QueueFullError when full; never waits for counting
        counter.flush(timeout=5.0)          # KanoTimeoutError if not all delivered in time

Each call is one call into the C library (libkano_tokenizer; see ``kano_tokenizer._native`` for
how it is found). Failures raise :class:`KanoError` subclasses carrying the library's status and
message. Registries and adapters may be shared by threads (the library releases the GIL while it
counts, and counting takes no lock), and they pickle, so they can be sent to
``multiprocessing`` workers: the worker re-creates the registry from the same source and
re-resolves the adapter. A :class:`Counter` runs worker threads of its own and does not pickle.
"""

from . import _handles, _native
from ._counter import Counter
from ._errors import (
    AdapterUnavailableError,
    BatchError,
    ClosedError,
    ConfigError,
    InputTooLargeError,
    InvalidArgumentError,
    InvalidUTF8Error,
    KanoError,
    KanoIOError,
    KanoTimeoutError,
    NullPointerError,
    PanicError,
    QueueFullError,
    Status,
    UnknownAdapterError,
    UnknownModelError,
    _check,
)
from ._handles import Adapter, Registry, _lib, get_default_registry
from ._native import ENV_LIBRARY, LibraryNotFoundError
from ._results import CacheStats, ChatCount, Chunk, CounterStats, CountResult, Estimate, LimitCheck, TokenCount

# Private names kept here as before the split: the tests check both handle guards, and pickles
# of registries and adapters made before it name their reduce functions in this module.
_GIL, _Handle, _LockedHandle = _handles._GIL, _handles._Handle, _handles._LockedHandle
_registry_for, _resolve_for = _handles._registry_for, _handles._resolve_for

__version__ = "0.1.0"

__all__ = [
    "get_default_registry",
    "Registry",
    "Adapter",
    "TokenCount",
    "Estimate",
    "LimitCheck",
    "Chunk",
    "ChatCount",
    "Counter",
    "CountResult",
    "CounterStats",
    "CacheStats",
    "cache_stats",
    "Status",
    "KanoError",
    "NullPointerError",
    "InvalidUTF8Error",
    "InvalidArgumentError",
    "UnknownAdapterError",
    "UnknownModelError",
    "AdapterUnavailableError",
    "ConfigError",
    "KanoIOError",
    "PanicError",
    "QueueFullError",
    "KanoTimeoutError",
    "ClosedError",
    "InputTooLargeError",
    "BatchError",
    "LibraryNotFoundError",
    "ENV_LIBRARY",
    "library_version",
    "library_path",
]


def library_version():
    """The C library's version, "MAJOR.MINOR.PATCH" (kano_version)."""
    return _lib().kano_version().decode()


def library_path():
    """Where the C library was loaded from (a path, or a name the system loader resolved)."""
    return _native.library()[1]


def cache_stats():
    """The piece caches' :class:`CacheStats` (kano_cache_stats)."""
    lib = _lib()
    out = _native.KanoCacheStats()
    _check(lib, lib.kano_cache_stats(out))
    return CacheStats(*(getattr(out, name) for name, _ in _native.KanoCacheStats._fields_))

