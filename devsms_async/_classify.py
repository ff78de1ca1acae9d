"""What to do with one attempt's outcome: a pure table (part of the sans-IO core).

=====================================  =========================  ========================
outcome                                read (history, balance...) send
=====================================  =========================  ========================
2xx, parsed                            result                     result
connection refused / connect or pool   retry                      retry
timeout (nothing left)
any other transport failure            retry                      unknown outcome
429, 502, 503, 504                     retry (Retry-After)        raise (4xx) / unknown (5xx)
other 5xx                              raise                      unknown outcome
other 4xx, ``success: false``          raise                      raise (the server refused)
2xx/3xx that cannot be read            raise                      unknown outcome
=====================================  =========================  ========================

"retry" becomes "raise" when ``max_retries`` is spent or the wait would end past the
deadline. A send is never repeated once it may have left: the API has no idempotency
key, so a repeat is a second SMS and a second charge; the caller gets
``SendOutcomeUnknownError`` (built here, and only here) and may reconcile it.

Waits are full jitter (AWS style) doubling from ``backoff_initial`` up to ``backoff_max``,
never shorter than the server's ``Retry-After``. The random draw is a parameter, so the
whole table is deterministic under test.
"""

from __future__ import annotations

import datetime as _dt
import math
import random
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple

import attrs

from . import _unknown
from ._endpoints import Endpoint
from ._fingerprint import fingerprint
from ._redact import body_snippet
from ._response import parse_response, parse_retry_after
from ._wire import TransportFailure, WireResponse
from .errors import (
    APIConnectionError,
    APIError,
    DevSMSError,
    MalformedResponseError,
    RateLimitError,
    SendOutcomeUnknownError,
    ServerError,
    ValidationError,
)

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_ERROR_BODY_BYTES",
    "RETRYABLE_STATUS",
    "Call",
    "Decision",
    "RetryPolicy",
    "classify",
    "fingerprint",
    "unknown_outcome",
]

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
"""Statuses a read is retried on. 500 is not: it is usually a bug, not a blip."""

MAX_BODY_BYTES = 4 * 1024 * 1024
"""A successful answer larger than this is refused (``MalformedResponseError``; for a
send, an unknown outcome). A full history page is ~100 KB."""

MAX_ERROR_BODY_BYTES = 64 * 1024
"""An error answer is read up to this much: plenty for any JSON error and for the start
of a proxy's HTML page; its status decides."""

Outcome = WireResponse | TransportFailure


def _positive_number(field: str, value: object, *, allow_zero: bool = False) -> None:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValidationError(field, f"must be a finite number {bound} (seconds), got {value!r}")


@attrs.frozen
class RetryPolicy:
    """How hard reads try. Sends follow stricter rules whatever this says."""

    max_retries: int = 2
    """Retries after the first attempt (so at most ``max_retries + 1`` requests)."""
    deadline: float = 60.0
    """No retry starts, and no backoff wait ends, later than this many seconds after
    the first attempt began. An attempt in flight is bounded by its own timeouts."""
    backoff_initial: float = 0.5
    """Ceiling of the first retry's random wait; it doubles per retry..."""
    backoff_max: float = 8.0
    """...up to this ceiling."""

    def __attrs_post_init__(self) -> None:
        retries: object = self.max_retries  # callers may pass anything at run time
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValidationError("max_retries", f"must be an int >= 0, got {retries!r}")
        _positive_number("retry_deadline", self.deadline)
        _positive_number("backoff_initial", self.backoff_initial, allow_zero=True)
        _positive_number("backoff_max", self.backoff_max, allow_zero=True)

    def jitter_ceiling(self, retry_number: int) -> float:
        """Upper bound of the wait before retry ``retry_number`` (1-based)."""
        exponent = min(max(retry_number - 1, 0), 62)  # 2**62 * anything > backoff_max
        return min(self.backoff_max, self.backoff_initial * 2.0**exponent)

    def full_jitter(
        self,
        retry_number: int,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> float:
        """AWS-style full jitter: uniform in ``[0, jitter_ceiling(retry_number)]``."""
        return uniform(0.0, self.jitter_ceiling(retry_number))

    def next_wait(
        self,
        retry_number: int,
        elapsed: float,
        retry_after: float | None = None,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> float | None:
        """Seconds to wait before retry ``retry_number``, or ``None`` for "give up".

        ``retry_after`` (already capped when parsed) is the server's minimum; the
        jittered wait may exceed it, never undercut it. A retry that could not start
        before the deadline is not attempted: the caller gets the error now, not after
        a pointless sleep.
        """
        if retry_number > self.max_retries:
            return None
        wait = self.full_jitter(retry_number, uniform)
        if retry_after is not None:
            wait = max(wait, retry_after)
        if elapsed + wait >= self.deadline:
            return None
        return wait


_NO_TIME = _dt.datetime.min.replace(tzinfo=_dt.timezone.utc)


def _started_at(call: Call) -> _dt.datetime:
    # When the send began (for reconcile); a read never needs it.
    return _dt.datetime.now(_dt.timezone.utc) if call.phone else _NO_TIME


@attrs.define(eq=False)
class Call:
    """What every attempt of one call needs to judge its outcome."""

    endpoint: Endpoint[Any]
    tz: _dt.tzinfo | None = attrs.field(kw_only=True)
    secrets: tuple[str, ...] = attrs.field(kw_only=True)
    """Redacted from every error text of this call (the token, an OTP code)."""
    key: bytes = attrs.field(default=b"", kw_only=True)
    """The fingerprint key (the token's bytes)."""
    phone: str = attrs.field(default="", kw_only=True)
    text: str = attrs.field(default="", kw_only=True)
    """A send's number and text, for ``SendOutcomeUnknownError`` and the log."""
    asynchronous: bool = attrs.field(default=True, kw_only=True)
    """The face that makes the call: its error advice says ``await`` or not."""
    started_at: _dt.datetime = attrs.field(
        init=False, default=attrs.Factory(_started_at, takes_self=True)
    )


class Decision(NamedTuple):
    """``result`` (``value``), ``retry`` (after ``wait`` s), ``unknown`` or ``raise``
    (``error``)."""

    action: Literal["result", "retry", "unknown", "raise"]
    value: Any = None
    error: DevSMSError | None = None
    wait: float = 0.0


def classify(
    call: Call,
    outcome: Outcome,
    *,
    attempt: int,
    elapsed: float,
    policy: RetryPolicy,
    uniform: Callable[[float, float], float] = random.uniform,
) -> Decision:
    """Judge attempt number ``attempt`` (1-based), ``elapsed`` seconds into the call."""
    is_send = call.endpoint.kind == "send"
    if isinstance(outcome, TransportFailure):
        if is_send and not outcome.never_sent:
            return Decision("unknown", error=unknown_outcome(call, outcome.error, None))
        return _retry(outcome.error, None, attempt, elapsed, policy, uniform)
    headers = outcome.headers
    try:
        value = _parse(call, outcome)
    except APIError as exc:
        if not is_send:
            if exc.status_code in RETRYABLE_STATUS:
                return _retry(exc, _retry_after(exc, headers), attempt, elapsed, policy, uniform)
            return Decision("raise", error=exc)
        if isinstance(exc, ServerError):  # the service may have sent it and failed after
            return Decision("unknown", error=unknown_outcome(call, exc, exc.status_code))
        return Decision("raise", error=exc)  # 4xx: refused, nothing went out
    except MalformedResponseError as exc:
        if is_send:  # a 2xx/3xx we cannot read: the send may well have happened
            return Decision("unknown", error=unknown_outcome(call, exc, exc.status_code))
        return Decision("raise", error=exc)
    return Decision("result", value=value)


def _parse(call: Call, answer: WireResponse) -> Any:
    status, headers, body, complete = answer
    if not complete and 200 <= status < 300:
        raise MalformedResponseError(
            f"the answer is larger than {MAX_BODY_BYTES} bytes",
            status_code=status,
            body_snippet=body_snippet(body, secrets=call.secrets),
        )
    return parse_response(call.endpoint, status, body, headers, tz=call.tz, secrets=call.secrets)


def _retry_after(error: APIError, headers: Mapping[str, str]) -> float | None:
    # Parsed once: the parser already read it into a RateLimitError.
    if isinstance(error, RateLimitError):
        return error.retry_after
    return parse_retry_after(headers.get("retry-after"))


def _retry(
    error: DevSMSError,
    retry_after: float | None,
    attempt: int,
    elapsed: float,
    policy: RetryPolicy,
    uniform: Callable[[float, float], float],
) -> Decision:
    wait = policy.next_wait(attempt, elapsed, retry_after, uniform)
    if wait is None:
        return Decision("raise", error=error)
    return Decision("retry", error=error, wait=wait)


def unknown_outcome(
    call: Call, cause: DevSMSError, status_code: int | None
) -> SendOutcomeUnknownError:
    """This call's ``SendOutcomeUnknownError`` (chained to ``cause``), through the one
    factory that bulk sending uses too (``_unknown``)."""
    what = "no answer" if isinstance(cause, APIConnectionError) else "an unusable answer"
    return _unknown.unknown_outcome(
        f"{what}: {cause}",
        phone=call.phone,
        text=call.text,
        fingerprint=lambda text: fingerprint(text, call.key),
        started_at=call.started_at,
        status_code=status_code,
        cause=cause,
        asynchronous=call.asynchronous,
    )
