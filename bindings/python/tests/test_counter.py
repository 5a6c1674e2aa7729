"""The background Counter: callback and poll mode with 4 producer threads, a full queue (by
requests and by bytes), invalid UTF-8, flush, close with work pending, the stats invariant,
callbacks that raise or resubmit, garbage collection, pickling, fork and processes."""

import collections
import gc
import logging
import math
import multiprocessing
import pickle
import threading
import time

import pytest

import kano_tokenizer as kano
from conftest import SENTENCE
import workers

WORDS = ["token", "count", "billing", "日本語", "naïve", "42", "request", "emoji 👍"]


def text_for(request_id):
    return " ".join(WORDS[(request_id + i) % 8] for i in range(request_id % 13 + 1))


@pytest.fixture(scope="module")
def adapter():
    return kano.Registry.from_toml("").resolve("tiktoken", model_name="cl100k_base")


@pytest.fixture(scope="module")
def expected(adapter):
    """request_id -> the TokenCount of text_for(request_id), counted directly."""
    cache = {}

    def get(request_id):
        if request_id not in cache:
            cache[request_id] = adapter.count_tokens(text_for(request_id))
        return cache[request_id]

    return get


def consistent(stats):
    return stats.submitted == stats.completed + stats.failed + stats.pending


def test_callback_mode_with_four_producers(adapter, expected):
    n = 4 * 2500
    lock = threading.Lock()
    deliveries = collections.Counter()
    results = {}

    def on_result(result):
        with lock:
            deliveries[result.request_id] += 1
            results[result.request_id] = result

    refusals = [0] * 4
    errors = []
    snapshots = []
    stop = threading.Event()
    with kano.Counter(adapter, workers=2, queue_capacity=8, callback=on_result) as counter:

        def produce(t):
            try:
                for request_id in range(t, n, 4):
                    text = text_for(request_id)
                    while True:
                        try:
                            counter.submit(request_id, text)
                            break
                        except kano.QueueFullError:
                            refusals[t] += 1
                            counter.flush(timeout=60)  # backpressure: wait for room
            except Exception as e:  # reported below
                errors.append(e)

        def observe():
            while not stop.is_set():
                snapshots.append(counter.stats())

        observer = threading.Thread(target=observe)
        observer.start()
        producers = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
        for p in producers:
            p.start()
        for p in producers:
            p.join()
        counter.flush(timeout=600)
        stop.set()
        observer.join()
        stats = counter.stats()

    assert not errors
    assert counter.closed
    assert snapshots and all(consistent(s) and s.pending <= 8 for s in snapshots)
    assert (stats.submitted, stats.completed, stats.failed, stats.pending) == (n, n, 0, 0)
    assert stats.rejected == sum(refusals)
    assert stats.drift_samples == n and 0 < stats.drift_mean_relative_error < 1
    assert stats.drift_over_threshold <= n and stats.drift_max_abs_error > 0
    assert set(deliveries) == set(range(n)) and set(deliveries.values()) == {1}
    wrong = [r for i, r in results.items() if not (r.ok and r.status is kano.Status.OK and r.count == expected(i))]
    assert not wrong, wrong[:5]
    assert counter.callback_errors == 0 and counter.first_callback_error is None


def test_poll_mode_with_four_producers(adapter, expected):
    """Unpolled results count against the capacity: the producers depend on this thread's
    polls."""
    n = 4 * 1000
    refusals = [0] * 4
    errors = []
    seen = collections.Counter()
    wrong = []
    with adapter.counter(workers=2, queue_capacity=32) as counter:

        def produce(t):
            try:
                for request_id in range(t, n, 4):
                    text = text_for(request_id)
                    while True:
                        try:
                            counter.submit(request_id, text)
                            break
                        except kano.QueueFullError:
                            refusals[t] += 1
            except Exception as e:
                errors.append(e)

        producers = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
        for p in producers:
            p.start()
        while sum(seen.values()) < n and not errors:
            batch = counter.poll(max=16)
            assert len(batch) <= 16
            for r in batch:
                seen[r.request_id] += 1
                if r.count != expected(r.request_id):
                    wrong.append(r)
            if not batch:
                counter.flush(timeout=60)  # wait for what is accepted to be ready
        for p in producers:
            p.join()
        stats = counter.stats()
        assert counter.poll() == []
    assert not errors and not wrong
    assert set(seen) == set(range(n)) and set(seen.values()) == {1}
    assert (stats.submitted, stats.completed, stats.pending, stats.rejected) == (n, n, 0, sum(refusals))


def test_poll_mode_batches(adapter, expected):
    with kano.Counter(adapter) as counter:  # the defaults: poll mode
        for request_id in range(300):
            counter.submit(request_id, text_for(request_id))
        counter.flush()
        assert counter.stats().pending == 0
        got = []
        while True:
            batch = counter.poll(max=7)
            assert len(batch) <= 7
            if not batch:
                break
            got += batch
        assert sorted(r.request_id for r in got) == list(range(300))
        assert all(r.ok and r.count == expected(r.request_id) and r.count.method == "tiktoken" for r in got)
        assert counter.poll(max=0) == []
        assert repr(counter) == "<kano_tokenizer.Counter tiktoken cl100k_base poll>"
    assert repr(counter).endswith(" poll closed>")
    # A large max is served in chunks of 1024.
    with adapter.counter(queue_capacity=3000) as counter:
        for request_id in range(2500):
            counter.submit(request_id, "x")
        counter.flush(timeout=60)
        assert sorted(r.request_id for r in counter.poll(max=10**9)) == list(range(2500))


def test_queue_full_flush_timeout_and_close_with_work_pending(adapter):
    gate = threading.Event()
    delivered = []

    def held(result):
        gate.wait()
        delivered.append(result)

    counter = kano.Counter(adapter, workers=1, queue_capacity=3, max_pending_bytes=1 << 20, callback=held)
    big = "wwww " * 120_000  # 600,000 bytes: two of these pass the 1 MiB cap
    counter.submit(1, big)
    with pytest.raises(kano.QueueFullError, match="bytes") as e:
        counter.submit(2, big)
    assert e.value.status == kano.Status.QUEUE_FULL
    counter.submit(3, "a")
    counter.submit(4, b"b")
    with pytest.raises(kano.QueueFullError, match="3 requests pending"):
        counter.submit(5, "c")
    with pytest.raises(kano.KanoTimeoutError, match="kano_counter_flush") as e:
        counter.flush(timeout=0.02)
    assert e.value.status == kano.Status.TIMEOUT
    with pytest.raises(kano.KanoTimeoutError):
        counter.flush(timeout=-1)  # no wait at all
    stats = counter.stats()
    assert (stats.submitted, stats.pending, stats.rejected, stats.completed) == (3, 3, 2, 0) and consistent(stats)

    # Close with all three held pending, while a thread submits until it is told the counter
    # is closed, and only then opens the gate: close() must deliver every accepted request.
    outcome = collections.Counter()
    started = threading.Event()

    def race():
        request_id = 100
        try:
            while True:
                try:
                    counter.submit(request_id, "racing")
                    outcome["accepted"] += 1
                except kano.QueueFullError:
                    outcome["full"] += 1
                except kano.ClosedError:
                    outcome["closed"] += 1
                    break
                request_id += 1
                started.set()
        finally:
            gate.set()

    racer = threading.Thread(target=race)
    racer.start()
    started.wait()
    counter.close()
    racer.join()
    assert outcome["closed"] == 1 and outcome["full"] >= 1
    assert len(delivered) == 3 + outcome["accepted"]
    assert sorted(r.request_id for r in delivered)[:3] == [1, 3, 4] and all(r.ok for r in delivered)
    assert [r.count.count for r in delivered if r.request_id == 1] == [adapter.count_tokens(big).count]

    # A text over the byte cap is accepted when nothing else is pending.
    with adapter.counter(workers=1, max_pending_bytes=1000) as capped:
        capped.submit(7, big)
        with pytest.raises(kano.QueueFullError):
            capped.submit(8, "x" * 10)
        capped.flush(timeout=60)
        assert [r.request_id for r in capped.poll()] == [7]


def test_invalid_text_and_ids(adapter):
    with adapter.counter(workers=1) as counter:
        with pytest.raises(kano.InvalidUTF8Error, match="offset 3") as e:
            counter.submit(1, b"ok \xff")
        assert isinstance(e.value, ValueError) and e.value.status == kano.Status.INVALID_UTF8
        with pytest.raises(kano.InvalidUTF8Error, match="offset 2"):
            counter.submit(2, "ok\udc80")  # a lone surrogate is not UTF-8 either
        with pytest.raises(kano.InvalidUTF8Error, match="offset 3"):
            counter.submit(3, bytearray(b"\xe6\x97\xa5\xe6\x9c"))  # truncated at the end
        with pytest.raises(kano.InvalidArgumentError, match="request_id -1"):
            counter.submit(-1, "x")
        with pytest.raises(kano.InvalidArgumentError, match="request_id"):
            counter.submit(2**64, "x")
        with pytest.raises(TypeError):
            counter.submit("7", "x")
        with pytest.raises(TypeError):
            counter.poll(max=1.5)
        stats = counter.stats()
        assert stats.rejected == 3 and stats.submitted == 0  # the id checks never reached the library
        text = "Grüße aus Köln"
        counter.submit(2**64 - 1, text.encode())
        counter.submit(10, memoryview(text.encode()))
        counter.submit(11, "with\0NUL")
        counter.submit(12, "")
        counter.flush(timeout=60)
        got = {r.request_id: r.count.count for r in counter.poll()}
        want = adapter.count_tokens(text).count
        assert got == {2**64 - 1: want, 10: want, 11: adapter.count_tokens("with\0NUL").count, 12: 0}


def test_stats_and_drift_threshold(adapter):
    with adapter.counter(workers=1, drift_threshold=1e-9) as strict, adapter.counter(workers=1, drift_threshold=1e9) as lax:
        for counter in (strict, lax):
            for request_id in range(40):
                counter.submit(request_id, text_for(request_id))
            counter.flush(timeout=60)
        s, l = strict.stats(), lax.stats()
        assert isinstance(s, kano.CounterStats) and pickle.loads(pickle.dumps(s)) == s
        assert s.drift_samples == l.drift_samples == 40
        assert s.drift_mean_abs_error == l.drift_mean_abs_error
        assert l.drift_over_threshold == 0 and s.drift_over_threshold > 0
        assert math.isfinite(s.drift_mean_relative_error) and s.drift_max_abs_error >= s.drift_mean_abs_error


def test_close(adapter):
    delivered = []
    counter = adapter.counter(workers=1, callback=delivered.append)
    for request_id in range(200):
        counter.submit(request_id, text_for(request_id))
    counter.close()  # with work pending: all of it is delivered before close() returns
    assert sorted(r.request_id for r in delivered) == list(range(200))
    counter.close()  # idempotent
    assert counter.closed and repr(counter).endswith(" callback closed>")
    for call, args in [("submit", (1, "x")), ("poll", ()), ("flush", ()), ("stats", ())]:
        with pytest.raises(kano.ClosedError, match=f"Counter.{call}: the counter is closed") as e:
            getattr(counter, call)(*args)
        assert e.value.status == kano.Status.CLOSED

    # Poll mode: unpolled results are discarded, and nothing hangs.
    poll = adapter.counter(workers=2)
    for request_id in range(200):
        poll.submit(request_id, text_for(request_id))
    with poll:
        pass
    assert poll.closed

    # Two threads closing at once: both return after the deliveries.
    delivered.clear()
    counter = adapter.counter(workers=1, callback=delivered.append)
    for request_id in range(100):
        counter.submit(request_id, text_for(request_id))
    closers = [threading.Thread(target=counter.close) for _ in range(2)]
    for t in closers:
        t.start()
    counter.close()
    for t in closers:
        t.join()
    assert len(delivered) == 100


def test_close_waits_for_calls_in_progress(adapter):
    """close() from one thread while others submit and one waits in flush(): it returns once
    they have left, every accepted request is delivered once, and later calls are refused."""
    for _ in range(5):
        delivered, accepted, refused = [], [], []

        def slow(result):
            time.sleep(0.0005)
            delivered.append(result.request_id)

        counter = adapter.counter(workers=1, callback=slow)

        def submit(first):
            for request_id in range(first, first + 300):
                try:
                    counter.submit(request_id, text_for(request_id))
                    accepted.append(request_id)
                except kano.ClosedError:
                    refused.append(request_id)

        def flush():
            try:
                counter.flush(timeout=30)
            except kano.ClosedError:
                pass

        submitters = [threading.Thread(target=submit, args=(k * 1000,)) for k in range(3)]
        for t in submitters:
            t.start()
        while len(accepted) < 100:
            time.sleep(0.001)
        flusher = threading.Thread(target=flush)
        flusher.start()
        time.sleep(0.01)
        closer = threading.Thread(target=counter.close, daemon=True)
        closer.start()
        closer.join(timeout=60)
        assert not closer.is_alive(), "close() did not return"
        for t in submitters + [flusher]:
            t.join()
        assert sorted(delivered) == sorted(accepted) and len(accepted) + len(refused) == 900
        with pytest.raises(kano.ClosedError):
            counter.submit(1, "x")


def test_close_interrupted_while_a_call_is_in_progress(adapter):
    """A KeyboardInterrupt in close() while it waits for a call in progress leaves the counter
    open: a later close() (or the one at exit) frees it and delivers everything, instead of
    waiting forever for the interrupted one."""
    delivered = []
    counter = adapter.counter(workers=1, callback=lambda r: delivered.append(r.request_id))
    for request_id in range(20):
        counter.submit(request_id, text_for(request_id))
    handle = counter._handle
    condition = handle._idle

    class Interrupted:
        def wait(self, *args):
            raise KeyboardInterrupt

        def notify_all(self):
            condition.notify_all()

    handle.acquire("a call in progress")
    handle._idle = Interrupted()
    with pytest.raises(KeyboardInterrupt):
        counter.close()
    handle._idle = condition
    assert not counter.closed
    handle.release()
    closer = threading.Thread(target=counter.close, daemon=True)
    closer.start()
    closer.join(timeout=30)
    assert not closer.is_alive(), "close() after an interrupted one did not return"
    assert counter.closed and sorted(delivered) == list(range(20))


def test_callback_exceptions_are_caught_logged_and_kept(adapter, caplog):
    calls = collections.Counter()

    def failing(result):
        calls[result.request_id] += 1
        if result.request_id % 3 == 0:
            raise ValueError(f"no ledger for {result.request_id}")
        if result.request_id == 4:
            raise SystemExit(3)  # not even an Exception

    with caplog.at_level(logging.ERROR, logger="kano_tokenizer"):
        with adapter.counter(workers=2, callback=failing) as counter:
            for request_id in range(30):
                counter.submit(request_id, text_for(request_id))
            counter.flush(timeout=60)
            assert counter.callback_errors == 11
            stats = counter.stats()
            assert (stats.completed, stats.failed, stats.pending) == (30, 0, 0)
            counter.submit(99, SENTENCE)  # still working
            counter.flush(timeout=60)
    assert set(calls) == set(range(30)) | {99} and set(calls.values()) == {1}
    assert counter.callback_errors == 12
    assert isinstance(counter.first_callback_error, (ValueError, SystemExit))
    logged = [r for r in caplog.records if r.name == "kano_tokenizer" and "callback raised" in r.getMessage()]
    assert len(logged) == 12 and all(r.exc_info for r in logged)
    assert any("no ledger for 99" in r.exc_text for r in logged if r.exc_text)


def test_callback_may_submit_but_not_close_or_flush(adapter, expected):
    deliveries = collections.Counter()
    refused = []
    holder = {}

    def chain(result):
        counter = holder["counter"]
        deliveries[result.request_id] += 1
        assert result.count == expected(result.request_id)
        if result.request_id < 50:
            counter.submit(result.request_id + 1000, text_for(result.request_id + 1000))
        if result.request_id == 0:
            for call in (counter.close, counter.flush):
                try:
                    call()
                except RuntimeError as e:
                    refused.append(str(e))
        counter.stats()

    counter = kano.Counter(adapter, workers=3, callback=chain)
    holder["counter"] = counter  # a reference cycle through the callback: fine
    for request_id in range(50):
        counter.submit(request_id, text_for(request_id))
    counter.flush(timeout=60)  # the first 50, whose callbacks submitted the next 50 before returning
    counter.flush(timeout=60)  # those
    stats = counter.stats()
    assert (stats.submitted, stats.completed, stats.pending) == (100, 100, 0)
    assert counter.callback_errors == 0, counter.first_callback_error
    assert len(refused) == 2 and "own callback" in refused[0] and "own callback" in refused[1]
    assert set(deliveries) == set(range(50)) | set(range(1000, 1050)) and set(deliveries.values()) == {1}
    # Closing while the callback keeps submitting: those submits raise ClosedError.
    closed_seen = []

    def resubmit_forever(result):
        try:
            holder["counter2"].submit(result.request_id + 1, "again")
        except kano.ClosedError:
            closed_seen.append(result.request_id)

    counter2 = holder["counter2"] = adapter.counter(workers=1, callback=resubmit_forever)
    counter2.submit(0, "start")
    counter2.close()
    counter.close()
    assert len(closed_seen) == 1


def test_garbage_collection_delivers_everything(adapter):
    delivered = []
    counter = adapter.counter(workers=1, callback=delivered.append)
    for request_id in range(100):
        counter.submit(request_id, "text")
    del counter  # no cycle: freed at once, after delivering
    assert len(delivered) == 100

    class Service:
        def __init__(self):
            self.seen = delivered
            self.counter = adapter.counter(workers=1, callback=self.on_result)  # a cycle

        def on_result(self, result):
            self.seen.append(result)

    delivered.clear()
    service = Service()
    for request_id in range(100):
        service.counter.submit(request_id, "text")
    del service
    gc.collect()
    assert len(delivered) == 100


def test_counter_outlives_its_adapter_and_options():
    registry = kano.Registry.from_toml("")
    adapter = registry.resolve("tiktoken", model_name="gpt-4o")
    counter = adapter.counter(workers=1)
    adapter.close()
    registry.close()
    counter.submit(42, "Hello, world!")
    counter.flush(timeout=60)
    assert counter.poll() == [kano.CountResult(42, kano.Status.OK, kano.TokenCount(4, True, "tiktoken"))]
    counter.close()
    with pytest.raises(kano.ClosedError, match="Counter"):
        kano.Counter(adapter)

    live = kano.get_default_registry().resolve("tiktoken", model_name="gpt-4")
    with pytest.raises(kano.InvalidArgumentError, match="workers"):
        live.counter(workers=1000)
    with pytest.raises(kano.InvalidArgumentError, match="workers"):
        live.counter(workers=-1)
    with pytest.raises(kano.InvalidArgumentError, match="drift_threshold"):
        live.counter(drift_threshold=-0.5)
    with pytest.raises(kano.InvalidArgumentError, match="drift_threshold"):
        live.counter(drift_threshold=float("nan"))
    with pytest.raises(TypeError, match="callable"):
        live.counter(callback="print")
    with pytest.raises(TypeError):
        live.counter(2)  # options are keywords


def test_pickling(adapter):
    registry = kano.get_default_registry()
    source = registry.resolve("tiktoken", model_name="gpt-4o")
    with source.counter() as counter:
        with pytest.raises(TypeError, match="does not pickle"):
            pickle.dumps(counter)
        copy = pickle.loads(pickle.dumps(source))  # the adapter still does
        assert copy.count_tokens(SENTENCE).count == 10
    result = kano.CountResult(5, kano.Status.OK, kano.TokenCount(3, True, "tiktoken"))
    assert pickle.loads(pickle.dumps(result)) == result
    failed = kano.CountResult(6, kano.Status.ADAPTER_UNAVAILABLE, None)
    assert not failed.ok and pickle.loads(pickle.dumps(failed)) == failed


@pytest.mark.parametrize("method", multiprocessing.get_all_start_methods())
def test_counters_in_worker_processes(method):
    """An adapter sent to a worker (any start method) makes a counter there."""
    adapter = kano.get_default_registry().resolve("tiktoken", model_name="gpt-4o")
    texts = [SENTENCE, "Hello, world!", "Grüße aus Köln " * 20]
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        results = pool.map(workers.count_in_background, [(adapter, texts)] * 2)
    want = [(i, adapter.count_tokens(t).count) for i, t in enumerate(texts)]
    assert results == [want, want]


def test_forked_child_cannot_use_the_parents_counter(adapter):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    with adapter.counter(workers=1) as counter:
        child = ctx.Process(target=workers.use_inherited_counter, args=(counter, queue))
        child.start()
        answers = [queue.get(timeout=60), queue.get(timeout=60)]
        child.join(60)
        assert child.exitcode == 0
        assert "belongs to process" in answers[0] and answers[1] == "closed"
        counter.submit(1, "still works here")
        counter.flush(timeout=60)
        assert len(counter.poll()) == 1


def test_input_too_large():
    """Texts over the registry's max_input_bytes are refused by count, check_limit and submit;
    estimate takes any length."""
    adapter = kano.Registry.from_toml("[tokenizer]\nmax_input_bytes = 1024\n").resolve("tiktoken", model_name="gpt-4o")
    text = "word " * 300  # 1500 bytes
    with pytest.raises(kano.InputTooLargeError, match="max_input_bytes") as e:
        adapter.count_tokens(text)
    assert isinstance(e.value, ValueError) and e.value.status == kano.Status.INPUT_TOO_LARGE
    with pytest.raises(kano.InputTooLargeError):
        adapter.check_limit(text, 10)
    assert adapter.estimate(text).estimate > 100
    with adapter.counter(workers=1) as counter:
        with pytest.raises(kano.InputTooLargeError):
            counter.submit(1, text)
        counter.submit(2, text[:1000])
        counter.flush(timeout=60)
        assert [r.request_id for r in counter.poll()] == [2]
        assert counter.stats().rejected == 1
    assert kano.Status.INPUT_TOO_LARGE.describe() == "input too large"
