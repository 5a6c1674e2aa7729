"""The results of calls, as frozen dataclasses (:class:`TokenCount`, :class:`Estimate`,
:class:`LimitCheck`, :class:`Chunk`, :class:`ChatCount`, :class:`CountResult`,
:class:`CounterStats`, :class:`CacheStats`), and the converters from the library's structs."""

from dataclasses import dataclass
from typing import Optional

from ._errors import Status


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
