"""The library's statuses and the exceptions they raise: :class:`Status`, :class:`KanoError` and
its subclasses (one per failing status), and the checks that turn a status into an exception."""

import enum

from . import _native


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
        return _native.library()[0].kano_status_str(int(self)).decode()


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
