"""Registries and adapters: :class:`Registry`, :class:`Adapter`, the handles that own their C
pointers, the argument helpers of every call, and the per-process registries that
:func:`get_default_registry` and unpickling use."""

import ctypes
import json
import operator
import os
import sysconfig
import threading

from . import _native
from ._errors import BatchError, ClosedError, InvalidArgumentError, Status, _check, _error
from ._results import Chunk, ChatCount, _METHODS, _estimate, _limit_check, _slice, _token_count


def _lib():
    return _native.library()[0]


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
        never fetched. A ``tokenizer.json`` adapter counts with the model's chat template (the
        ``chat_template.jinja`` or ``tokenizer_config.json`` beside the file), as
        ``transformers``' ``apply_chat_template`` renders it; without one it raises
        :class:`KanoError` with status ``UNSUPPORTED``."""
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
        from ._counter import Counter  # here: _counter imports this module

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
