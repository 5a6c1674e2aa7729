"""Finding and loading libkano_tokenizer, and the C function prototypes (ctypes).

The library is looked for, in this order:

1. the file named by the ``KANO_TOKENIZER_LIBRARY`` environment variable (when it is set, it
   is the only place tried);
2. beside this package: ``kano_tokenizer/libkano_tokenizer.so`` (``.dylib``, ``.dll``), as a
   wheel that bundles the library has it;
3. the system loader: ``libkano_tokenizer.so.MAJOR`` and ``libkano_tokenizer.so`` through the
   library search path (``LD_LIBRARY_PATH``, the ld.so cache, ``make install PREFIX=...``),
   then ``ctypes.util.find_library``.

It is loaded on first use, once per process: a child of ``multiprocessing`` (fork, spawn or
forkserver) loads or inherits it by itself.
"""

import ctypes
import ctypes.util
import os
import sys
import threading

__all__ = ["LibraryNotFoundError", "library", "ENV_LIBRARY", "MAJOR_VERSION"]

ENV_LIBRARY = "KANO_TOKENIZER_LIBRARY"

#: The major version of the C ABI this package is written for (the SONAME's number).
MAJOR_VERSION = 0


class LibraryNotFoundError(OSError):
    """libkano_tokenizer could not be found or loaded; the message lists what was tried."""


class _Registry(ctypes.Structure):
    """Opaque KanoRegistry."""


class _Adapter(ctypes.Structure):
    """Opaque KanoAdapter."""


class _Counter(ctypes.Structure):
    """Opaque KanoCounter."""


class KanoCount(ctypes.Structure):
    _fields_ = [("count", ctypes.c_uint64), ("is_exact", ctypes.c_bool), ("method", ctypes.c_int)]


class KanoEstimate(ctypes.Structure):
    _fields_ = [("estimate", ctypes.c_uint64), ("lower_bound", ctypes.c_uint64), ("upper_bound", ctypes.c_uint64)]


class KanoLimitCheck(ctypes.Structure):
    _fields_ = [("within_limit", ctypes.c_bool), ("tokens", ctypes.c_uint64), ("is_exact", ctypes.c_bool)]


class KanoTruncation(ctypes.Structure):
    _fields_ = [
        ("byte_len", ctypes.c_size_t),
        ("count", ctypes.c_uint64),
        ("is_exact", ctypes.c_bool),
        ("method", ctypes.c_int),
    ]


class _Chunks(ctypes.Structure):
    """Opaque KanoChunks."""


class KanoChatCount(ctypes.Structure):
    _fields_ = [
        ("total", ctypes.c_uint64),
        ("lower_bound", ctypes.c_uint64),
        ("upper_bound", ctypes.c_uint64),
        ("tools", ctypes.c_uint64),
        ("reply_priming", ctypes.c_uint64),
        ("message_count", ctypes.c_size_t),
        ("is_exact", ctypes.c_bool),
        ("method", ctypes.c_int),
        ("reasons", ctypes.c_char_p),
        ("detail", ctypes.c_void_p),
    ]


#: KanoCountCallback: (user_data, request_id, status, count), called on a worker thread.
CountCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int, KanoCount)


class KanoCounterOptions(ctypes.Structure):
    _fields_ = [
        ("workers", ctypes.c_uint32),
        ("queue_capacity", ctypes.c_uint32),
        ("max_pending_bytes", ctypes.c_uint64),
        ("callback", CountCallback),
        ("user_data", ctypes.c_void_p),
        ("drift_threshold", ctypes.c_double),
    ]


class KanoCountResult(ctypes.Structure):
    _fields_ = [("request_id", ctypes.c_uint64), ("status", ctypes.c_int), ("count", KanoCount)]


class KanoCounterStats(ctypes.Structure):
    _fields_ = [
        ("submitted", ctypes.c_uint64),
        ("completed", ctypes.c_uint64),
        ("failed", ctypes.c_uint64),
        ("rejected", ctypes.c_uint64),
        ("pending", ctypes.c_uint64),
        ("drift_samples", ctypes.c_uint64),
        ("drift_mean_abs_error", ctypes.c_double),
        ("drift_mean_relative_error", ctypes.c_double),
        ("drift_max_abs_error", ctypes.c_uint64),
        ("drift_over_threshold", ctypes.c_uint64),
    ]


class KanoCacheStats(ctypes.Structure):
    _fields_ = [
        ("lookups", ctypes.c_uint64),
        ("hits", ctypes.c_uint64),
        ("long_lookups", ctypes.c_uint64),
        ("long_hits", ctypes.c_uint64),
        ("hit_rate", ctypes.c_double),
        ("threads", ctypes.c_uint64),
        ("bytes", ctypes.c_uint64),
    ]


RegistryPtr = ctypes.POINTER(_Registry)
AdapterPtr = ctypes.POINTER(_Adapter)
CounterPtr = ctypes.POINTER(_Counter)
ChunksPtr = ctypes.POINTER(_Chunks)

_PROTOTYPES = {
    # name: (restype, argtypes)
    "kano_version": (ctypes.c_char_p, []),
    "kano_status_str": (ctypes.c_char_p, [ctypes.c_int]),
    "kano_last_error": (ctypes.c_char_p, []),
    "kano_registry_new": (ctypes.c_int, [ctypes.POINTER(RegistryPtr)]),
    "kano_registry_from_config": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(RegistryPtr)]),
    "kano_registry_from_toml": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(RegistryPtr)]),
    "kano_registry_free": (None, [RegistryPtr]),
    "kano_registry_resolve": (
        ctypes.c_int,
        [RegistryPtr, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(AdapterPtr)],
    ),
    "kano_adapter_free": (None, [AdapterPtr]),
    "kano_adapter_name": (ctypes.c_char_p, [AdapterPtr]),
    "kano_adapter_model": (ctypes.c_char_p, [AdapterPtr]),
    "kano_adapter_fallback_reason": (ctypes.c_char_p, [AdapterPtr]),
    "kano_adapter_count": (
        ctypes.c_int,
        [AdapterPtr, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(KanoCount)],
    ),
    "kano_adapter_count_batch": (
        ctypes.c_int,
        [
            AdapterPtr,
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.POINTER(ctypes.c_size_t),
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_uint64),
            ctypes.POINTER(ctypes.c_int),
        ],
    ),
    "kano_adapter_estimate": (
        ctypes.c_int,
        [AdapterPtr, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(KanoEstimate)],
    ),
    "kano_adapter_check_limit": (
        ctypes.c_int,
        [AdapterPtr, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64, ctypes.POINTER(KanoLimitCheck)],
    ),
    "kano_adapter_truncate": (
        ctypes.c_int,
        [AdapterPtr, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64, ctypes.POINTER(KanoTruncation)],
    ),
    "kano_adapter_split": (
        ctypes.c_int,
        [AdapterPtr, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64, ctypes.c_uint64, ctypes.POINTER(ChunksPtr)],
    ),
    "kano_chunks_len": (ctypes.c_size_t, [ChunksPtr]),
    "kano_chunks_is_exact": (ctypes.c_bool, [ChunksPtr]),
    "kano_chunks_get": (
        ctypes.c_int,
        [
            ChunksPtr,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_size_t),
            ctypes.POINTER(ctypes.c_size_t),
            ctypes.POINTER(ctypes.c_uint64),
        ],
    ),
    "kano_chunks_free": (None, [ChunksPtr]),
    "kano_adapter_count_chat": (
        ctypes.c_int,
        [AdapterPtr, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(KanoChatCount)],
    ),
    "kano_chat_count_message": (
        ctypes.c_int,
        [ctypes.POINTER(KanoChatCount), ctypes.c_size_t, ctypes.POINTER(ctypes.c_uint64)],
    ),
    "kano_chat_count_free": (None, [ctypes.POINTER(KanoChatCount)]),
    "kano_counter_new": (
        ctypes.c_int,
        [AdapterPtr, ctypes.POINTER(KanoCounterOptions), ctypes.POINTER(CounterPtr)],
    ),
    "kano_counter_submit": (ctypes.c_int, [CounterPtr, ctypes.c_uint64, ctypes.c_char_p, ctypes.c_size_t]),
    "kano_counter_poll": (ctypes.c_size_t, [CounterPtr, ctypes.POINTER(KanoCountResult), ctypes.c_size_t]),
    "kano_counter_flush": (ctypes.c_int, [CounterPtr, ctypes.c_uint32]),
    "kano_counter_stats": (ctypes.c_int, [CounterPtr, ctypes.POINTER(KanoCounterStats)]),
    "kano_counter_free": (None, [CounterPtr]),
    "kano_cache_stats": (ctypes.c_int, [ctypes.POINTER(KanoCacheStats)]),
}


def _file_names():
    if sys.platform == "darwin":
        return ["libkano_tokenizer.dylib"], [f"libkano_tokenizer.{MAJOR_VERSION}.dylib", "libkano_tokenizer.dylib"]
    if sys.platform == "win32":
        return ["kano_tokenizer.dll"], ["kano_tokenizer.dll"]
    return ["libkano_tokenizer.so"], [f"libkano_tokenizer.so.{MAJOR_VERSION}", "libkano_tokenizer.so"]


def _candidates():
    """(what, path or name) pairs to try, in order."""
    explicit = os.environ.get(ENV_LIBRARY)
    if explicit:
        return [(ENV_LIBRARY, explicit)]
    beside, system = _file_names()
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [("beside the package", os.path.join(here, name)) for name in beside]
    candidates += [("system loader", name) for name in system]
    found = ctypes.util.find_library("kano_tokenizer")
    if found:
        candidates.append(("ctypes.util.find_library", found))
    return candidates


def _load():
    tried = []
    for what, where in _candidates():
        if what == "beside the package" and not os.path.exists(where):
            tried.append(f"{where} ({what}): no such file")
            continue
        try:
            lib = ctypes.CDLL(where)
        except OSError as e:
            tried.append(f"{where} ({what}): {e}")
            continue
        for name, (restype, argtypes) in _PROTOTYPES.items():
            function = getattr(lib, name)
            function.restype = restype
            function.argtypes = argtypes
        return lib, where
    raise LibraryNotFoundError(
        "kano_tokenizer: cannot load libkano_tokenizer; set "
        + ENV_LIBRARY
        + " to its path, put it beside the package, or install it (make install). Tried:\n  "
        + "\n  ".join(tried)
    )


_lock = threading.Lock()
# (CDLL, path) once loaded. A forked child inherits it with the address space (the library is
# mapped there already); a spawned child loads it itself. One global read per call: the process
# id it was keyed by before cost a system call on every count.
_loaded = None


def _reset_after_fork():
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def library():
    """The loaded library and where it was found, loading it on first use in this process."""
    global _loaded
    entry = _loaded
    if entry is None:
        with _lock:
            if _loaded is None:
                _loaded = _load()
            entry = _loaded
    return entry
