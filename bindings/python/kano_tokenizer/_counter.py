"""The background counter: :class:`Counter`, the handle that owns its KanoCounter, the C callback
that calls a Python callable, and the close of every counter still open at exit."""

import atexit
import logging
import math
import os
import threading
import weakref

from . import _native
from ._errors import ClosedError, Status, _check
from ._handles import _lib, _status, _text_bytes, _unsigned
from ._results import CountResult, CounterStats, _token_count


_logger = logging.getLogger("kano_tokenizer")


# This process's id, kept current through every fork that runs Python's at-fork hooks (os.fork,
# multiprocessing, subprocess): os.getpid() is a system call, and a counter checks on every call
# that it runs in the process that made it.
_pid = os.getpid()


def _reset_after_fork():
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


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
