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

import atexit
import ctypes
import enum
import json
import logging
import math
import operator
import os
import sys
import sysconfig
import threading
import weakref
from dataclasses import dataclass
from typing import Optional

from . import _native
from ._native import ENV_LIBRARY, LibraryNotFoundError

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


def _lib():
    return _native.library()[0]


def library_version():
    """The C library's version, "MAJOR.MINOR.PATCH" (kano_version)."""
    return _lib().kano_version().decode()


def library_path():
    """Where the C library was loaded from (a path, or a name the system loader resolved)."""
    return _native.library()[1]


@dataclass(frozen=True)
class CacheStats:
    """What the library's per-thread caches of piece counts have done since the process
    started, summed over threads: lookups of pieces up to 64 bytes and their hits, lookups of
    long pieces and whole chunks of text and their hits, the share of all lookups that hit, and
    the threads holding a cache and the bytes those hold now. A thread's latest lookups (fewer
    than 4,096) are added when it makes more or ends; the calling thread's are always in."""

    lookups: int
    hits: int
    long_lookups: int
    long_hits: int
    hit_rate: float
    threads: int
    bytes: int


def cache_stats():
    """The piece caches' :class:`CacheStats` (kano_cache_stats)."""
    lib = _lib()
    out = _native.KanoCacheStats()
    _check(lib, lib.kano_cache_stats(out))
    return CacheStats(*(getattr(out, name) for name, _ in _native.KanoCacheStats._fields_))


class Status(enum.IntEnum):
    """KanoStatus: the result of every fallible C function."""

    OK = 0
    NULL_POINTER = 1
    INVALID_UTF8 = 2
    INVALID_ARGUMENT = 3
    UNKNOWN_ADAPTER = 4
    UNKNOWN_MODEL = 5
    ADAPTER_UNAVAILABLE = 6
    CONFIG_ERROR = 7
    IO_ERROR = 8
    PANIC = 9
    QUEUE_FULL = 10
    TIMEOUT = 11
    CLOSED = 12
    INPUT_TOO_LARGE = 13
    BATCH_PARTIAL = 14
    UNSUPPORTED = 15

    def describe(self):
        """The library's short description, such as "unknown model" (kano_status_str)."""
        return _lib().kano_status_str(int(self)).decode()


class KanoError(Exception):
    """A failure reported by the library: ``status`` (a :class:`Status`) and ``message`` (which
    function failed and why, from kano_last_error). Subclasses name the status."""

    def __init__(self, status, message):
        super().__init__(status, message)
        try:
            self.status = Status(status)
        except ValueError:
            self.status = int(status)
        self.message = message

    def __str__(self):
        described = self.status.describe() if isinstance(self.status, Status) else f"status {self.status}"
        return f"{described}: {self.message}"


class NullPointerError(KanoError):
    pass


class InvalidUTF8Error(KanoError, ValueError):
    pass


class InvalidArgumentError(KanoError, ValueError):
    pass


class UnknownAdapterError(KanoError, LookupError):
    pass


class UnknownModelError(KanoError, LookupError):
    pass


class AdapterUnavailableError(KanoError):
    pass


class ConfigError(KanoError):
    pass


class KanoIOError(KanoError):
    pass


class PanicError(KanoError):
    pass


class QueueFullError(KanoError):
    """A counter's queue is at capacity (requests or bytes); the request was not accepted."""


class KanoTimeoutError(KanoError):
    """:meth:`Counter.flush` returned before every earlier request was delivered."""


class ClosedError(KanoError):
    """The registry, adapter or counter was closed (or the counter is being closed)."""


class InputTooLargeError(KanoError, ValueError):
    """The text is longer than the registry's ``max_input_bytes`` (config
    ``tokenizer.max_input_bytes``, ``KANO_TOKENIZER_MAX_INPUT_BYTES``); it was not read."""


class BatchError(KanoError):
    """:meth:`Adapter.count_batch` counted the batch but some texts failed. ``counts`` has an
    entry for every text (0 for a failed one), ``errors`` the :class:`KanoError` of each failed
    text or None; ``message`` names the first failure (the byte offset of invalid UTF-8...)."""

    def __init__(self, status, message, counts=(), errors=()):
        super().__init__(status, message)
        self.counts = list(counts)
        self.errors = list(errors)

    @property
    def failed(self):
        """The indices of the texts that failed."""
        return [i for i, e in enumerate(self.errors) if e is not None]


_ERRORS = {
    Status.NULL_POINTER: NullPointerError,
    Status.INVALID_UTF8: InvalidUTF8Error,
    Status.INVALID_ARGUMENT: InvalidArgumentError,
    Status.UNKNOWN_ADAPTER: UnknownAdapterError,
    Status.UNKNOWN_MODEL: UnknownModelError,
    Status.ADAPTER_UNAVAILABLE: AdapterUnavailableError,
    Status.CONFIG_ERROR: ConfigError,
    Status.IO_ERROR: KanoIOError,
    Status.PANIC: PanicError,
    Status.QUEUE_FULL: QueueFullError,
    Status.TIMEOUT: KanoTimeoutError,
    Status.CLOSED: ClosedError,
    Status.INPUT_TOO_LARGE: InputTooLargeError,
    Status.BATCH_PARTIAL: BatchError,
}


def _error(status, message):
    return _ERRORS.get(status, KanoError)(status, message)


def _check(lib, status):
    """Raises for a failed status, with the message of this thread's last error. ctypes calls
    run on the calling OS thread, so the message is the one of this call."""
    if status != Status.OK:
        raise _error(status, lib.kano_last_error().decode("utf-8", "replace"))


def _text_bytes(text):
    """Text for the library: a str as UTF-8 (lone surrogates passed on, for the library to report
    as invalid UTF-8), bytes as they are, other bytes-like objects copied."""
    if isinstance(text, str):
        return text.encode("utf-8", "surrogatepass")
    if isinstance(text, bytes):
        return text
    return bytes(text)  # bytearray, memoryview...


def _unsigned(value, bits, what):
    """An int in [0, 2**bits): TypeError for non-integers, InvalidArgumentError out of range."""
    if type(value) is int and 0 <= value < 1 << bits:
        return value  # the common case, without operator.index
    number = operator.index(value)
    if not 0 <= number < 1 << bits:
        raise InvalidArgumentError(Status.INVALID_ARGUMENT, f"{what} {number} is not in [0, 2**{bits})")
    return number


def _status(value):
    try:
        return Status(value)
    except ValueError:
        return int(value)


def _c_name(value, what):
    """A name or path as NUL-terminated UTF-8 for the library; None stays NULL ("the configured
    one"). Lone surrogates are passed on, for the library to report as invalid UTF-8."""
    if value is None:
        return None
    value = os.fspath(value)
    data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    if b"\0" in data:
        raise InvalidArgumentError(
            Status.INVALID_ARGUMENT, f"{what} {value!r} contains a NUL byte at offset {data.index(0)}"
        )
    return data


# Whether this Python always runs one thread at a time: not a free-threaded build, where the GIL
# may be off, and may go off again after an import turned it on for a while.
_GIL = not sysconfig.get_config_var("Py_GIL_DISABLED")


class _Handle:
    """Owns one C handle: lends it to calls and frees it once, after the calls in progress, so
    that close() from one thread while another counts is safe.

    Calls take no lock (two locked steps cost a sixth of a short count). A call enters
    ``_calls`` before it reads ``_closed``; close() sets ``_closed`` before it reads ``_calls``.
    Under the GIL those steps happen in one order for all threads, and list append and pop are
    atomic, so a call that found the handle open is in ``_calls`` when close() looks, and
    whichever leaves ``_calls`` empty after close() (close() itself, the last call, or a call
    refused as closed) frees: once, as ``_ptrs.pop()`` hands the pointer to only one of them.
    On free-threaded builds the two reads could pass the two writes, so :class:`_LockedHandle`
    serves instead.
    """

    # The pointer lives in a one-element list until it is freed: pop() hands it out once.
    __slots__ = ("_ptrs", "_free", "_what", "_calls", "_closed")

    def __init__(self, ptr, free, what):
        self._ptrs = [ptr]
        self._free = free
        self._what = what
        self._calls = []
        self._closed = False

    def acquire(self, call):
        self._calls.append(None)
        if self._closed:
            self.release()
            raise ClosedError(Status.CLOSED, f"{call}: the {self._what} is closed")
        return self._ptrs[0]

    def release(self):
        calls = self._calls
        calls.pop()
        if self._closed and not calls:
            self._free_now()

    def close(self):
        self._closed = True
        if not self._calls:
            self._free_now()

    @property
    def closed(self):
        return self._closed

    def _free_now(self):
        try:
            ptr = self._ptrs.pop()
        except IndexError:  # freed already
            return
        if ptr:
            self._free(ptr)

    def __del__(self):
        # No call can be in progress: each holds a reference to its object.
        try:
            self._free_now()
        except Exception:  # interpreter shutdown
            pass


class _LockedHandle(_Handle):
    """:class:`_Handle` for free-threaded Python builds: every step under a lock."""

    __slots__ = ("_lock", "_busy")

    def __init__(self, ptr, free, what):
        super().__init__(ptr, free, what)
        self._lock = threading.Lock()
        self._busy = 0

    def acquire(self, call):
        with self._lock:
            if self._closed:
                raise ClosedError(Status.CLOSED, f"{call}: the {self._what} is closed")
            self._busy += 1
            return self._ptrs[0]

    def release(self):
        with self._lock:
            self._busy -= 1
            if self._closed and self._busy == 0:
                self._free_now()

    def close(self):
        with self._lock:
            self._closed = True
            if self._busy == 0:
                self._free_now()


_handle = _Handle if _GIL else _LockedHandle


@dataclass(frozen=True)
class TokenCount:
    """A token count: ``count`` tokens; ``is_exact`` when exact for the resolved encoding or
    tokenizer, False for estimates; ``method``, the adapter that counted ("heuristic",
    "tiktoken" or "huggingface"; for "auto", the one that served)."""

    count: int
    is_exact: bool
    method: str


@dataclass(frozen=True)
class Chunk:
    """One chunk of :meth:`Adapter.split_chunks`: bytes ``start`` to ``end`` of the UTF-8 text
    (character boundaries), ``text`` itself, and its tokens counted alone."""

    start: int
    end: int
    count: int
    text: object


@dataclass(frozen=True)
class ChatCount:
    """The prompt tokens of a chat request (:meth:`Adapter.count_chat`): ``total`` (messages,
    tools and reply priming), bounds on it, each message's tokens, the tools' tokens, whether the
    published rules cover the request exactly, and if not, ``reasons`` saying why."""

    total: int
    lower_bound: int
    upper_bound: int
    messages: list
    tools: int
    reply_priming: int
    is_exact: bool
    reasons: list
    method: str


_METHODS = {0: "heuristic", 1: "tiktoken", 2: "huggingface"}
_new = object.__new__

# The results of the per-call functions are made by filling the instance's __dict__: a frozen
# dataclass's generated __init__ sets each field through object.__setattr__, which took a third
# of the time of a short count. Equality, hashing and repr are the dataclass's, as with __init__.


def _token_count(count):
    result = _new(TokenCount)
    fields = result.__dict__
    fields["count"] = count.count
    fields["is_exact"] = count.is_exact
    fields["method"] = _METHODS.get(count.method, "unknown")
    return result


def _estimate(out):
    result = _new(Estimate)
    fields = result.__dict__
    fields["estimate"] = out.estimate
    fields["lower_bound"] = out.lower_bound
    fields["upper_bound"] = out.upper_bound
    return result


def _slice(text, data, start, end):
    """Bytes ``start:end`` of ``data`` (the UTF-8 of ``text``), as ``text``'s type."""
    if isinstance(text, str):
        return data[start:end].decode("utf-8", "surrogatepass")
    return data[start:end]


def _limit_check(out):
    result = _new(LimitCheck)
    fields = result.__dict__
    fields["within_limit"] = out.within_limit
    fields["tokens"] = out.tokens
    fields["is_exact"] = out.is_exact
    return result


@dataclass(frozen=True)
class Estimate:
    """A fast estimate (:meth:`Adapter.estimate`): ``estimate`` lies between the bounds, and for
    exact adapters ``lower_bound <= exact count <= upper_bound`` for every text
    (``upper_bound`` is 2**64 - 1 when a ``tokenizer.json`` step cannot be bounded). For the
    heuristic adapter both bounds are the estimate."""

    estimate: int
    lower_bound: int
    upper_bound: int


@dataclass(frozen=True)
class LimitCheck:
    """Whether a text fits a token limit (:meth:`Adapter.check_limit`): ``within_limit`` is
    always right for exact adapters; ``tokens`` is the exact count when ``is_exact``, otherwise
    what proved the verdict: a bound, or the partial count at which counting stopped past the
    limit (for the heuristic adapter, the estimate)."""

    within_limit: bool
    tokens: int
    is_exact: bool


@dataclass(frozen=True)
class CountResult:
    """One result of a :class:`Counter`: ``request_id`` as submitted, ``status``
    (:attr:`Status.OK`, or why counting failed) and ``count``, a :class:`TokenCount` (None
    unless the status is OK)."""

    request_id: int
    status: Status
    count: Optional[TokenCount]

    @property
    def ok(self):
        return self.status == Status.OK


@dataclass(frozen=True)
class CounterStats:
    """A consistent snapshot of a :class:`Counter`: ``submitted == completed + failed +
    pending`` always holds; ``rejected`` counts refusals (queue full, invalid UTF-8, closed).
    The drift fields compare the estimate with the exact count of every completed request:
    ``drift_samples`` requests, mean absolute and relative error, the largest absolute error,
    and how many were off by more than the counter's ``drift_threshold``."""

    submitted: int
    completed: int
    failed: int
    rejected: int
    pending: int
    drift_samples: int
    drift_mean_abs_error: float
    drift_mean_relative_error: float
    drift_max_abs_error: int
    drift_over_threshold: int


class Registry:
    """The configuration plus every encoding and tokenizer loaded so far (KanoRegistry).

    ``Registry()`` reads the defaults, the file named by ``KANO_TOKENIZER_CONFIG`` and the other
    ``KANO_TOKENIZER_*`` variables; :meth:`from_config` reads a TOML file and
    :meth:`from_toml` TOML text (the variables still take precedence). Close it with
    :meth:`close` or a ``with`` block, or let it be garbage-collected; adapters resolved from it
    stay usable. A pickled registry is re-created from the same source in the process that
    unpickles it (once per process and source).
    """

    def __init__(self):
        self._init(("env",))

    @classmethod
    def from_config(cls, path):
        """A registry from a TOML config file (relative paths in it start at its folder)."""
        registry = cls.__new__(cls)
        registry._init(("config", os.path.abspath(os.fspath(path))))
        return registry

    @classmethod
    def from_toml(cls, text):
        """A registry from TOML text (relative paths in it start at the working directory)."""
        registry = cls.__new__(cls)
        registry._init(("toml", text))
        return registry

    def _init(self, source):
        lib = _lib()
        out = _native.RegistryPtr()
        if source[0] == "env":
            status = lib.kano_registry_new(out)
        elif source[0] == "config":
            status = lib.kano_registry_from_config(_c_name(source[1], "the config path"), out)
        else:
            data = source[1].encode("utf-8", "surrogatepass") if isinstance(source[1], str) else bytes(source[1])
            status = lib.kano_registry_from_toml(data, len(data), out)
        _check(lib, status)
        self._source = source
        self._handle = _handle(out, lib.kano_registry_free, "registry")

    def resolve(self, adapter_name=None, model_name=None):
        """An :class:`Adapter` for a model.

        ``adapter_name`` is "auto", "heuristic", "tiktoken" or "huggingface"; ``model_name`` an
        OpenAI model or encoding name, a ``tokenizer.json`` path or folder, a name from the
        config, or a Hugging Face repository in the local cache. None means the configured one.
        Nothing is ever downloaded. Raises :class:`UnknownAdapterError`,
        :class:`UnknownModelError`, :class:`AdapterUnavailableError`...
        """
        adapter = _c_name(adapter_name, "the adapter name")
        model = _c_name(model_name, "the model name")
        lib = _lib()
        ptr = self._handle.acquire("Registry.resolve")
        try:
            out = _native.AdapterPtr()
            _check(lib, lib.kano_registry_resolve(ptr, adapter, model, out))
        finally:
            self._handle.release()
        return Adapter._wrap(lib, out, (self._source, adapter_name, model_name))

    def close(self):
        """Frees the registry now (idempotent, thread-safe); adapters stay usable."""
        self._handle.close()

    @property
    def closed(self):
        return self._handle.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __reduce__(self):
        return (_registry_for, (self._source,))

    def __repr__(self):
        state = " closed" if self.closed else ""
        return f"<kano_tokenizer.Registry from {self._source[0]}{state}>"


class Adapter:
    """A resolved adapter for one model (KanoAdapter), from :meth:`Registry.resolve`.

    ``name`` is the adapter that serves ("heuristic", "tiktoken" or "huggingface"), ``model``
    what it resolved to (an encoding, a tokenizer file, or the heuristic's model), and
    ``fallback_reason`` why ``auto`` passed over the adapters of the fallback chain before it
    ("adapter: why" for each, joined by "; "; None when the first served or the adapter was
    asked for by name). It may be
    used from many threads at once, outlives its registry, and pickles (the unpickling process
    resolves it again from the same registry source and names).
    """

    def __init__(self):
        raise TypeError("adapters come from Registry.resolve()")

    @classmethod
    def _wrap(cls, lib, ptr, recipe):
        adapter = cls.__new__(cls)
        adapter._handle = _handle(ptr, lib.kano_adapter_free, "adapter")
        adapter._recipe = recipe
        adapter.name = lib.kano_adapter_name(ptr).decode()
        adapter.model = lib.kano_adapter_model(ptr).decode()
        reason = lib.kano_adapter_fallback_reason(ptr)
        adapter.fallback_reason = reason.decode("utf-8", "replace") if reason is not None else None
        return adapter

    def count_tokens(self, text):
        """Counts the tokens of ``text`` (str, or UTF-8 bytes) and returns a
        :class:`TokenCount`. Bytes are passed without a copy. Invalid UTF-8 raises
        :class:`InvalidUTF8Error`, whose message gives the byte offset."""
        data = _text_bytes(text)
        lib = _lib()
        out = _native.KanoCount()
        handle = self._handle
        ptr = handle.acquire("Adapter.count_tokens")
        try:
            status = lib.kano_adapter_count(ptr, data, len(data), out)
            if status:
                _check(lib, status)  # read before release() calls the library again
        finally:
            handle.release()
        return _token_count(out)

    def count_batch(self, texts):
        """Counts the tokens of every text of ``texts`` (an iterable of str or UTF-8 bytes) in
        one call and returns the counts as a list of ints, in order. Bytes are passed without a
        copy. Batches of 64 KiB of text or more are counted on several library threads (the
        config's ``batch_threads``), with the GIL released; whether counts are exact is the
        adapter's, the same for all.

        When some texts fail, the others are still counted and :class:`BatchError` is raised,
        with every count (0 for a failed text) in ``counts`` and each failed text's error
        (:class:`InvalidUTF8Error`, :class:`InputTooLargeError`...) in ``errors``."""
        datas = [_text_bytes(text) for text in texts]
        n = len(datas)
        lib = _lib()
        pointers = (ctypes.c_char_p * n)(*datas)
        lengths = (ctypes.c_size_t * n)(*[len(d) for d in datas])
        counts = (ctypes.c_uint64 * n)()
        statuses = (ctypes.c_int * n)()
        ptr = self._handle.acquire("Adapter.count_batch")
        try:
            status = lib.kano_adapter_count_batch(ptr, pointers, lengths, n, counts, statuses)
            message = lib.kano_last_error().decode("utf-8", "replace") if status != Status.OK else ""
        finally:
            self._handle.release()
        if status == Status.BATCH_PARTIAL:
            errors = [None] * n
            first = True
            for i, s in enumerate(statuses):
                if s != Status.OK:
                    text_message = message if first else f"kano_adapter_count_batch: text {i}: {lib.kano_status_str(s).decode()}"
                    errors[i] = _error(s, text_message)
                    first = False
            raise BatchError(status, message, list(counts), errors)
        if status != Status.OK:
            raise _error(status, message)
        return list(counts)

    def estimate(self, text):
        """A fast :class:`Estimate` of the tokens of ``text`` (str or UTF-8 bytes), in one pass
        and without allocating: for exact adapters ``lower_bound <= count_tokens(text).count <=
        upper_bound``. Raises like :meth:`count_tokens`."""
        data = _text_bytes(text)
        lib = _lib()
        out = _native.KanoEstimate()
        handle = self._handle
        ptr = handle.acquire("Adapter.estimate")
        try:
            status = lib.kano_adapter_estimate(ptr, data, len(data), out)
            if status:
                _check(lib, status)  # read before release() calls the library again
        finally:
            handle.release()
        return _estimate(out)

    def check_limit(self, text, max_tokens):
        """Whether ``text`` has at most ``max_tokens`` tokens, as a :class:`LimitCheck`; always
        right for exact adapters (the bounds decide when they can, otherwise the count, which
        stops past the limit for OpenAI encodings). Raises like :meth:`count_tokens`."""
        limit = _unsigned(max_tokens, 64, "max_tokens")
        data = _text_bytes(text)
        lib = _lib()
        out = _native.KanoLimitCheck()
        handle = self._handle
        ptr = handle.acquire("Adapter.check_limit")
        try:
            status = lib.kano_adapter_check_limit(ptr, data, len(data), limit, out)
            if status:
                _check(lib, status)  # read before release() calls the library again
        finally:
            handle.release()
        return _limit_check(out)

    def truncate(self, text, max_tokens):
        """The longest prefix of ``text`` (str, or UTF-8 bytes: the result has the same type)
        with at most ``max_tokens`` tokens, counted alone; cut at a character boundary. For
        OpenAI encodings only the start of the text is read (a 1 MB text cut to 1,000 tokens reads
        a few KB). :class:`InvalidArgumentError` when even the empty text has more tokens (a
        tokenizer that adds ``[CLS]`` and ``[SEP]``). Use :meth:`truncate_info` for the count."""
        data, out = self._truncate(text, max_tokens)
        return _slice(text, data, 0, out.byte_len)

    def truncate_info(self, text, max_tokens):
        """:meth:`truncate`'s cut as ``(byte_len, count, is_exact)``."""
        _, out = self._truncate(text, max_tokens)
        return out.byte_len, out.count, out.is_exact

    def _truncate(self, text, max_tokens):
        limit = _unsigned(max_tokens, 64, "max_tokens")
        data = _text_bytes(text)
        lib = _lib()
        out = _native.KanoTruncation()
        handle = self._handle
        ptr = handle.acquire("Adapter.truncate")
        try:
            status = lib.kano_adapter_truncate(ptr, data, len(data), limit, out)
            if status:
                _check(lib, status)
        finally:
            handle.release()
        return data, out

    def split(self, text, max_tokens, overlap=0):
        """``text`` (str, or UTF-8 bytes) cut into chunks of at most ``max_tokens`` tokens each
        (counted alone), returned as a list of the same type; each chunk starts ``overlap`` tokens
        (at most) before the previous one ends. Cuts prefer a line end, then whitespace, in the
        last 10% of a chunk. :class:`InvalidArgumentError` when ``max_tokens`` is 0, ``overlap``
        is not below it, or one character takes more."""
        return [c.text for c in self.split_chunks(text, max_tokens, overlap)]

    def split_chunks(self, text, max_tokens, overlap=0):
        """:meth:`split` as :class:`Chunk` objects with byte offsets and counts."""
        limit = _unsigned(max_tokens, 64, "max_tokens")
        overlap = _unsigned(overlap, 64, "overlap")
        data = _text_bytes(text)
        lib = _lib()
        chunks = _native.ChunksPtr()
        handle = self._handle
        ptr = handle.acquire("Adapter.split")
        try:
            status = lib.kano_adapter_split(ptr, data, len(data), limit, overlap, ctypes.byref(chunks))
            if status:
                _check(lib, status)
        finally:
            handle.release()
        try:
            start, end, count = ctypes.c_size_t(), ctypes.c_size_t(), ctypes.c_uint64()
            out = []
            for i in range(lib.kano_chunks_len(chunks)):
                _check(lib, lib.kano_chunks_get(chunks, i, ctypes.byref(start), ctypes.byref(end), ctypes.byref(count)))
                s, e = start.value, end.value
                out.append(Chunk(s, e, count.value, _slice(text, data, s, e)))
            return out
        finally:
            lib.kano_chunks_free(chunks)

    def count_chat(self, request):
        """The prompt tokens of an OpenAI Chat Completions request (a dict, or its JSON as str
        or bytes) as a :class:`ChatCount`, by the OpenAI cookbook's rules for messages and tools.
        What the rules do not cover exactly (images, audio, tool calls, nested parameters,
        ``tool_choice``, ``response_format``...) gives ``is_exact`` False and a reason. URLs are
        never fetched. ``tokenizer.json`` adapters raise :class:`KanoError` with status
        ``UNSUPPORTED`` (a chat template is needed)."""
        if isinstance(request, (str, bytes, bytearray, memoryview)):
            data = _text_bytes(request)
        else:
            data = json.dumps(request, ensure_ascii=False).encode("utf-8", "surrogatepass")
        lib = _lib()
        out = _native.KanoChatCount()
        handle = self._handle
        ptr = handle.acquire("Adapter.count_chat")
        try:
            status = lib.kano_adapter_count_chat(ptr, data, len(data), ctypes.byref(out))
            if status:
                _check(lib, status)
        finally:
            handle.release()
        try:
            tokens = ctypes.c_uint64()
            messages = []
            for i in range(out.message_count):
                _check(lib, lib.kano_chat_count_message(ctypes.byref(out), i, ctypes.byref(tokens)))
                messages.append(tokens.value)
            reasons = out.reasons.decode("utf-8", "replace").split("\n") if out.reasons else []
            return ChatCount(
                out.total,
                out.lower_bound,
                out.upper_bound,
                messages,
                out.tools,
                out.reply_priming,
                out.is_exact,
                reasons,
                _METHODS.get(out.method, "unknown"),
            )
        finally:
            lib.kano_chat_count_free(ctypes.byref(out))

    def counter(self, **options):
        """A background :class:`Counter` over this adapter: ``Counter(adapter, **options)``."""
        return Counter(self, **options)

    def close(self):
        """Frees the adapter (idempotent, thread-safe; waits for no one: counts in progress
        finish first). Later calls raise :class:`ClosedError`."""
        self._handle.close()

    @property
    def closed(self):
        return self._handle.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __reduce__(self):
        return (_resolve_for, self._recipe)

    def __repr__(self):
        state = " closed" if self.closed else ""
        return f"<kano_tokenizer.Adapter {self.name} {self.model}{state}>"


_logger = logging.getLogger("kano_tokenizer")

# Per thread: the callback states whose callback runs on this thread now (a worker thread of the
# library, in a callback), so that close() and flush() from a counter's own callback are refused
# instead of deadlocking.
_in_callback = threading.local()


def _running_callbacks():
    active = getattr(_in_callback, "states", None)
    if active is None:
        active = _in_callback.states = []
    return active


class _CallbackState:
    """What a counter's callback needs; reachable from the C function pointer, never from the
    counter's handle back to the counter (no reference cycle through C)."""

    __slots__ = ("callback", "lock", "errors", "first_error", "__weakref__")

    def __init__(self, callback):
        self.callback = callback
        self.lock = threading.Lock()
        self.errors = 0
        self.first_error = None

    def record(self, request_id, error):
        with self.lock:
            self.errors += 1
            if self.first_error is None:
                self.first_error = error
        try:
            _logger.error("kano_tokenizer: the counter's callback raised for request %d", request_id, exc_info=error)
        except Exception:  # logging must not fail the worker either
            pass


def _trampoline(state):
    """The C callback for a Python callable: builds the CountResult, calls it, and catches
    everything it raises (nothing may unwind into the library)."""

    def call(_user_data, request_id, status, count):
        running = _running_callbacks()
        running.append(state)
        try:
            status = _status(status)
            state.callback(CountResult(request_id, status, _token_count(count) if status == Status.OK else None))
        except BaseException as error:  # noqa: B036 - KeyboardInterrupt and SystemExit too
            state.record(request_id, error)
        finally:
            running.pop()

    return _native.CountCallback(call)


def _free_counter(free, ptr, keep):
    free(ptr)
    del keep  # the C callback and its state live until kano_counter_free has returned


class _CounterHandle:
    """Owns a KanoCounter: lends it to calls; close() refuses new calls, waits for those in
    progress, then frees it in the closing thread (which delivers every accepted request). The
    C callback (``keep``) lives until the free has returned."""

    __slots__ = ("ptr", "keep", "pid", "_free", "_lock", "_idle", "_busy", "_closed", "_freed", "__weakref__")

    def __init__(self, ptr, free, keep):
        self.ptr = ptr
        self.keep = keep
        self.pid = os.getpid()
        self._free = free
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        self._closed = False
        self._freed = threading.Event()

    def acquire(self, call):
        with self._lock:
            if self._closed:
                raise ClosedError(Status.CLOSED, f"{call}: the counter is closed")
            if self.pid != _pid:
                raise ClosedError(
                    Status.CLOSED,
                    f"{call}: the counter belongs to process {self.pid}: its worker threads do not survive fork",
                )
            self._busy += 1
            return self.ptr

    def release(self):
        with self._lock:
            self._busy -= 1
            # Only close() waits, and it sets _closed first (under the lock): no notify per call.
            if self._busy == 0 and self._closed:
                self._idle.notify_all()

    def close(self):
        with self._lock:
            first = not self._closed
            self._closed = True
            if first:
                try:
                    while self._busy:
                        self._idle.wait()
                except BaseException:
                    # Interrupted (KeyboardInterrupt) while calls were in progress: the counter
                    # stays open, so that a later close(), or the one at exit, frees it instead
                    # of waiting forever for this one.
                    self._closed = False
                    raise
                ptr, self.ptr = self.ptr, None
        if not first:
            self._freed.wait()  # another thread is freeing it: wait for its deliveries too
            return
        try:
            if ptr and self.pid == os.getpid():  # a forked child has no worker threads to join
                self._free(ptr)
        finally:
            self.keep = None
            self._freed.set()

    @property
    def closed(self):
        return self._closed

    def __del__(self):
        # Unreachable: no call is in progress. Dropped inside its own callback (a worker thread
        # that kano_counter_free would wait for), the free goes to a thread of its own.
        try:
            self._closed = True
            ptr, self.ptr = self.ptr, None
            if not ptr or self.pid != os.getpid():
                return
            state = self.keep[1] if self.keep else None
            if state is not None and any(s is state for s in _running_callbacks()):
                threading.Thread(target=_free_counter, args=(self._free, ptr, self.keep), daemon=True).start()
            else:
                _free_counter(self._free, ptr, self.keep)
        except Exception:  # interpreter shutdown
            pass


_live_counters = weakref.WeakSet()


@atexit.register
def _close_counters_at_exit():
    """Counters still open at exit deliver their work while the interpreter can still run
    callbacks."""
    for handle in list(_live_counters):
        try:
            handle.close()
        except Exception:
            pass


class Counter:
    """A background counter over an adapter (KanoCounter): worker threads count submitted texts
    exactly and deliver each accepted request once, to ``callback`` or to :meth:`poll`.

    ``Counter(adapter, workers=0, queue_capacity=0, max_pending_bytes=0, drift_threshold=0.0,
    callback=None)``, or ``adapter.counter(...)``; zero takes the library's default (workers:
    the cores, at most 4; queue_capacity: 1024 requests pending; max_pending_bytes: 64 MiB;
    drift_threshold: 0.10). The counter keeps the adapter's tokenizer alive: the adapter may be
    closed first.

    ``callback(result)`` gets a :class:`CountResult` on a worker thread, possibly on several
    at once, so it must be thread-safe; without one, results wait for :meth:`poll` (and count
    against ``queue_capacity`` until polled). Exceptions the callback raises never reach the
    library: each is logged to the ``kano_tokenizer`` logger (with its traceback) and counted in
    :attr:`callback_errors`; the first is kept in :attr:`first_callback_error`. The callback may
    call :meth:`submit` and :meth:`stats` on its own counter (during :meth:`close` submit raises
    :class:`ClosedError`); :meth:`close` and :meth:`flush` from it raise RuntimeError.

    Every method may be called from many threads at once. :meth:`close` (or a ``with`` block, or
    garbage collection, or interpreter exit) delivers every accepted request and joins the
    workers. A counter does not pickle, and after ``fork`` it belongs to the parent: in the child
    its methods raise :class:`ClosedError`.
    """

    def __init__(self, adapter, *, workers=0, queue_capacity=0, max_pending_bytes=0, drift_threshold=0.0, callback=None):
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable or None, not {type(callback).__name__}")
        options = _native.KanoCounterOptions()
        options.workers = _unsigned(workers, 32, "workers")
        options.queue_capacity = _unsigned(queue_capacity, 32, "queue_capacity")
        options.max_pending_bytes = _unsigned(max_pending_bytes, 64, "max_pending_bytes")
        options.drift_threshold = float(drift_threshold)
        state = c_callback = None
        if callback is not None:
            state = _CallbackState(callback)
            c_callback = _trampoline(state)
            options.callback = c_callback
        lib = _lib()
        out = _native.CounterPtr()
        ptr = adapter._handle.acquire("Counter")
        try:
            _check(lib, lib.kano_counter_new(ptr, options, out))
        finally:
            adapter._handle.release()
        self._handle = _CounterHandle(out, lib.kano_counter_free, (c_callback, state))
        _live_counters.add(self._handle)
        self._state = state
        self.name = adapter.name
        self.model = adapter.model

    def submit(self, request_id, text):
        """Queues a copy of ``text`` (str or UTF-8 bytes) for an exact count under
        ``request_id`` (an int in [0, 2**64); not checked for uniqueness). Never waits for
        counting. When it returns the request is accepted and will yield exactly one result;
        otherwise it raises and nothing was accepted: :class:`QueueFullError` (``queue_capacity``
        requests or ``max_pending_bytes`` pending: retry later, e.g. after :meth:`flush` or
        :meth:`poll`), :class:`InvalidUTF8Error` (with the byte offset),
        :class:`InputTooLargeError` (over the registry's ``max_input_bytes``),
        :class:`ClosedError`."""
        request = _unsigned(request_id, 64, "request_id")
        data = _text_bytes(text)
        lib = _lib()
        handle = self._handle
        ptr = handle.acquire("Counter.submit")
        try:
            status = lib.kano_counter_submit(ptr, request, data, len(data))
            if status:
                _check(lib, status)  # read before release() calls the library again
        finally:
            handle.release()

    def poll(self, max=256):  # noqa: A002 - the C API's name
        """Takes up to ``max`` delivered results, oldest first, as a list of
        :class:`CountResult`; never waits. Poll mode only: with a callback there are none."""
        wanted = _unsigned(max, 64, "max")
        lib = _lib()
        results = []
        ptr = self._handle.acquire("Counter.poll")
        try:
            while len(results) < wanted:
                room = min(wanted - len(results), 1024)
                buffer = (_native.KanoCountResult * room)()
                got = lib.kano_counter_poll(ptr, buffer, room)
                for item in buffer[: min(got, room)]:
                    status = _status(item.status)
                    count = _token_count(item.count) if status == Status.OK else None
                    results.append(CountResult(item.request_id, status, count))
                if got < room:
                    break
        finally:
            self._handle.release()
        return results

    def flush(self, timeout=None):
        """Waits until every request accepted before the call has been delivered (its callback
        returned, or its result is ready to poll); requests submitted meanwhile are not waited
        for. ``timeout`` is in seconds (None: no limit); when it passes first, raises
        :class:`KanoTimeoutError`. The GIL is released while it waits."""
        if self._in_own_callback():
            raise RuntimeError("Counter.flush() from the counter's own callback would wait for itself")
        if timeout is None:
            milliseconds = 0xFFFFFFFF
        else:
            milliseconds = min(max(math.ceil(float(timeout) * 1000), 0), 0xFFFFFFFF)
        lib = _lib()
        ptr = self._handle.acquire("Counter.flush")
        try:
            _check(lib, lib.kano_counter_flush(ptr, milliseconds))
        finally:
            self._handle.release()

    def stats(self):
        """A consistent :class:`CounterStats` snapshot."""
        lib = _lib()
        out = _native.KanoCounterStats()
        ptr = self._handle.acquire("Counter.stats")
        try:
            _check(lib, lib.kano_counter_stats(ptr, out))
        finally:
            self._handle.release()
        return CounterStats(*(getattr(out, name) for name, _ in _native.KanoCounterStats._fields_))

    def close(self):
        """Stops accepting requests, waits for calls in progress, delivers every accepted
        request (to the callback; in poll mode unpolled results are discarded: flush and poll
        first to keep them), joins the workers and frees the counter. Idempotent and
        thread-safe: a second close() waits for the first. Later calls raise
        :class:`ClosedError`."""
        if self._in_own_callback():
            raise RuntimeError("Counter.close() from the counter's own callback would wait for itself")
        self._handle.close()

    @property
    def closed(self):
        return self._handle.closed

    @property
    def callback_errors(self):
        """How many times the callback raised (each exception was logged and swallowed)."""
        return self._state.errors if self._state is not None else 0

    @property
    def first_callback_error(self):
        """The first exception the callback raised, or None."""
        return self._state.first_error if self._state is not None else None

    def _in_own_callback(self):
        return self._state is not None and any(s is self._state for s in _running_callbacks())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __reduce__(self):
        raise TypeError("a kano_tokenizer.Counter does not pickle: it runs worker threads of this process")

    def __repr__(self):
        mode = "callback" if self._state is not None else "poll"
        state = " closed" if self.closed else ""
        return f"<kano_tokenizer.Counter {self.name} {self.model} {mode}{state}>"


_registries_lock = threading.Lock()
_registries = {}  # (pid, source) -> Registry


# This process's id, kept current through every fork that runs Python's at-fork hooks (os.fork,
# multiprocessing, subprocess): os.getpid() is a system call, and a counter checks on every call
# that it runs in the process that made it.
_pid = os.getpid()


def _reset_after_fork():
    global _registries_lock, _pid
    _registries_lock = threading.Lock()
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _registry_for(source):
    """The registry of this process for a source, created on first use."""
    key = (os.getpid(), source)
    registry = _registries.get(key)
    if registry is None or registry.closed:
        with _registries_lock:
            registry = _registries.get(key)
            if registry is None or registry.closed:
                for stale in [k for k in _registries if k[0] != key[0]]:
                    del _registries[stale]  # inherited through fork
                registry = Registry.__new__(Registry)
                registry._init(source)
                _registries[key] = registry
    return registry


def _resolve_for(source, adapter_name, model_name):
    return _registry_for(source).resolve(adapter_name, model_name=model_name)


def get_default_registry():
    """The process-wide registry from the defaults, ``KANO_TOKENIZER_CONFIG`` and the other
    ``KANO_TOKENIZER_*`` variables, created on first use in each process."""
    return _registry_for(("env",))
