"""kano-tokenizer: exact and estimated LLM token counts, from Python (ctypes, no build step).

The API of the tokenizer-adapters guide::

    from kano_tokenizer import get_default_registry

    registry = get_default_registry()
    adapter = registry.resolve("tiktoken", model_name="gpt-4o")
    result = adapter.count_tokens("Hello, world!")
    result.count, result.is_exact, result.method      # 4, True, "tiktoken"

Each call is one call into the C library (libkano_tokenizer; see ``kano_tokenizer._native`` for
how it is found). Failures raise :class:`KanoError` subclasses carrying the library's status and
message. Registries and adapters may be shared by threads (the library releases the GIL while it
counts, and counting takes no lock), and they pickle, so they can be sent to
``multiprocessing`` workers: the worker re-creates the registry from the same source and
re-resolves the adapter.
"""

import enum
import os
import threading
from dataclasses import dataclass

from . import _native
from ._native import ENV_LIBRARY, LibraryNotFoundError

__version__ = "0.1.0"

__all__ = [
    "get_default_registry",
    "Registry",
    "Adapter",
    "TokenCount",
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
    pass


class KanoTimeoutError(KanoError):
    pass


class ClosedError(KanoError):
    """The registry or adapter was closed."""


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
}


def _error(status, message):
    return _ERRORS.get(status, KanoError)(status, message)


def _check(lib, status):
    """Raises for a failed status, with the message of this thread's last error. ctypes calls
    run on the calling OS thread, so the message is the one of this call."""
    if status != Status.OK:
        raise _error(status, lib.kano_last_error().decode("utf-8", "replace"))


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


class _Handle:
    """Owns one C handle: lends it to calls and frees it once, after the calls in progress, so
    that close() from one thread while another counts is safe."""

    __slots__ = ("ptr", "_free", "_what", "_lock", "_busy", "_closed")

    def __init__(self, ptr, free, what):
        self.ptr = ptr
        self._free = free
        self._what = what
        self._lock = threading.Lock()
        self._busy = 0
        self._closed = False

    def acquire(self, call):
        with self._lock:
            if self._closed:
                raise ClosedError(Status.CLOSED, f"{call}: the {self._what} is closed")
            self._busy += 1
            return self.ptr

    def release(self):
        with self._lock:
            self._busy -= 1
            if self._closed and self._busy == 0:
                self._free_now()

    def close(self):
        with self._lock:
            if not self._closed:
                self._closed = True
                if self._busy == 0:
                    self._free_now()

    @property
    def closed(self):
        return self._closed

    def _free_now(self):
        ptr, self.ptr = self.ptr, None
        if ptr:
            self._free(ptr)

    def __del__(self):
        # No call can be in progress: each holds a reference to its object.
        try:
            self._free_now()
        except Exception:  # interpreter shutdown
            pass


@dataclass(frozen=True)
class TokenCount:
    """A token count: ``count`` tokens; ``is_exact`` when exact for the resolved encoding or
    tokenizer, False for estimates; ``method``, the adapter that counted ("heuristic",
    "tiktoken" or "huggingface"; for "auto", the one that served)."""

    count: int
    is_exact: bool
    method: str


_METHODS = {0: "heuristic", 1: "tiktoken", 2: "huggingface"}


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
        self._handle = _Handle(out, lib.kano_registry_free, "registry")

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
    what it resolved to (an encoding, a tokenizer file, or the heuristic's model). It may be
    used from many threads at once, outlives its registry, and pickles (the unpickling process
    resolves it again from the same registry source and names).
    """

    def __init__(self):
        raise TypeError("adapters come from Registry.resolve()")

    @classmethod
    def _wrap(cls, lib, ptr, recipe):
        adapter = cls.__new__(cls)
        adapter._handle = _Handle(ptr, lib.kano_adapter_free, "adapter")
        adapter._recipe = recipe
        adapter.name = lib.kano_adapter_name(ptr).decode()
        adapter.model = lib.kano_adapter_model(ptr).decode()
        return adapter

    def count_tokens(self, text):
        """Counts the tokens of ``text`` (str, or UTF-8 bytes) and returns a
        :class:`TokenCount`. Bytes are passed without a copy. Invalid UTF-8 raises
        :class:`InvalidUTF8Error`, whose message gives the byte offset."""
        if isinstance(text, str):
            data = text.encode("utf-8", "surrogatepass")
        elif isinstance(text, bytes):
            data = text
        else:
            data = bytes(text)  # bytearray, memoryview...
        lib = _lib()
        out = _native.KanoCount()
        ptr = self._handle.acquire("Adapter.count_tokens")
        try:
            _check(lib, lib.kano_adapter_count(ptr, data, len(data), out))
        finally:
            self._handle.release()
        return TokenCount(out.count, out.is_exact, _METHODS.get(out.method, "unknown"))

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


_registries_lock = threading.Lock()
_registries = {}  # (pid, source) -> Registry


def _reset_after_fork():
    global _registries_lock
    _registries_lock = threading.Lock()


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
