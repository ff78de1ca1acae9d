"""What is retried, and how (stamina underneath).

Reads (history, balance, status) are retried on connection errors, timeouts, 429 and
502/503/504, with exponential backoff and full jitter, honouring ``Retry-After``,
within ``max_retries`` and an overall deadline.

Sends are different: the API has no idempotency key, so a repeated send is a second SMS
and a second charge. A send is retried only when the request provably never reached the
server (connection refused, connect timeout, pool timeout). Once it may have been
received (read timeout, reset after writing, 5xx, an unreadable 2xx answer), the SDK
raises ``SendOutcomeUnknownError`` and leaves the decision to the caller.

In tests, ``stamina.set_testing(True)`` removes the waiting (see ``docs/errors.md``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ._redact import mask_phone
from ._transport import (
    AsyncClient,
    Request,
    Response,
    TransportError,
    exception_never_sent,
    map_transport_error,
)
from .errors import (
    APIConnectionError,
    DevSMSError,
    MalformedResponseError,
    RateLimitError,
    SendOutcomeUnknownError,
    ServerError,
    ValidationError,
)

if TYPE_CHECKING:
    from ._endpoints import Endpoint

T = TypeVar("T")

logger = logging.getLogger("devsms_async")

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


@attrs.frozen
class RetryPolicy:
    """How hard reads try. Sends follow stricter rules whatever this says."""

    max_retries: int = 2
    """Retries after the first attempt (so at most ``max_retries + 1`` requests)."""
    deadline: float = 60.0
    """No retry starts after this many seconds since the first attempt."""
    backoff_initial: float = 0.5
    backoff_max: float = 8.0

    def __attrs_post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise ValidationError("max_retries", "must be an int >= 0")
        if self.max_retries < 0:
            raise ValidationError("max_retries", "must be an int >= 0")
        if self.deadline <= 0:
            raise ValidationError("deadline", "must be > 0 seconds")

    def full_jitter(self, retry_number: int) -> float:
        """AWS-style full jitter: uniform in [0, min(max, initial * 2**(n-1))]."""
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** (retry_number - 1))
        return random.uniform(0.0, ceiling)  # noqa: S311 - jitter, not crypto


@attrs.frozen
class SendInfo:
    """What a send needs to report an unknown outcome."""

    phone: str
    text: str


def fingerprint(text: str) -> str:
    """A short, stable, non-reversible id of a message text (SHA-256 prefix)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class _RetryableError(Exception):
    """Internal: carries a retryable failure through stamina."""

    def __init__(self, error: DevSMSError, wait: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


async def call_with_policy(
    http: AsyncClient,
    request: Request,
    endpoint: Endpoint[Any],
    policy: RetryPolicy,
    parse: Callable[[Response], T],
    *,
    send_info: SendInfo | None = None,
    log_sensitive: bool = False,
) -> T:
    """Send ``request`` under the retry rules of ``endpoint``; parse the answer."""
    started_wall = _dt.datetime.now(_dt.timezone.utc)
    attempt_no = 0

    async def one_attempt() -> T:
        nonlocal attempt_no
        attempt_no += 1
        return await _attempt(
            http, request, endpoint, parse, attempt_no, send_info, started_wall, log_sensitive
        )

    if policy.max_retries == 0:
        try:
            return await one_attempt()
        except _RetryableError as exc:
            raise exc.error from exc.error.__cause__

    import stamina

    def backoff(exc: Exception) -> bool | float:
        if not isinstance(exc, _RetryableError):
            return False
        wait = policy.full_jitter(attempt_no)
        if exc.wait is not None:
            wait = max(wait, exc.wait)
        return wait

    try:
        async for attempt in stamina.retry_context(
            on=backoff,
            attempts=policy.max_retries + 1,
            timeout=policy.deadline,
            wait_initial=policy.backoff_initial,
            wait_max=policy.backoff_max,
        ):
            with attempt:
                return await one_attempt()
    except _RetryableError as exc:
        raise exc.error from exc.error.__cause__
    raise AssertionError("unreachable")  # pragma: no cover


async def _attempt(
    http: AsyncClient,
    request: Request,
    endpoint: Endpoint[Any],
    parse: Callable[[Response], T],
    attempt_no: int,
    send_info: SendInfo | None,
    started_wall: _dt.datetime,
    log_sensitive: bool,
) -> T:
    t0 = time.perf_counter()
    status: int | str = "-"
    try:
        try:
            response = await http.send(request)
        except Exception as exc:
            status = type(exc).__name__
            _raise_for_transport_error(exc, endpoint, send_info, started_wall)
            raise  # not a transport error: a bug or a cancellation, let it through
        status = response.status_code
        return _parse_or_classify(response, endpoint, parse, send_info, started_wall)
    finally:
        if logger.isEnabledFor(logging.DEBUG):
            elapsed = time.perf_counter() - t0
            _log(request, endpoint, status, elapsed, attempt_no, send_info, log_sensitive)


def _raise_for_transport_error(
    exc: Exception,
    endpoint: Endpoint[Any],
    send_info: SendInfo | None,
    started_wall: _dt.datetime,
) -> None:
    if not isinstance(exc, TransportError):
        return
    error = map_transport_error(exc)
    error.__cause__ = exc
    if endpoint.retry_safe or exception_never_sent(exc):
        raise _RetryableError(error, None) from exc
    raise _unknown(send_info, started_wall, error, None) from exc


def _parse_or_classify(
    response: Response,
    endpoint: Endpoint[Any],
    parse: Callable[[Response], T],
    send_info: SendInfo | None,
    started_wall: _dt.datetime,
) -> T:
    try:
        return parse(response)
    except RateLimitError as exc:
        if endpoint.retry_safe:
            raise _RetryableError(exc, exc.retry_after) from exc
        raise
    except ServerError as exc:
        if not endpoint.retry_safe:
            raise _unknown(send_info, started_wall, exc, exc.status_code) from exc
        if exc.status_code in RETRYABLE_STATUS:
            raise _RetryableError(exc, None) from exc
        raise
    except MalformedResponseError as exc:
        if not endpoint.retry_safe and 200 <= exc.status_code < 300:
            raise _unknown(send_info, started_wall, exc, exc.status_code) from exc
        raise


def _unknown(
    send_info: SendInfo | None,
    started_wall: _dt.datetime,
    cause: DevSMSError,
    status_code: int | None,
) -> SendOutcomeUnknownError:
    phone = send_info.phone if send_info else ""
    text = send_info.text if send_info else ""
    what = "no answer" if isinstance(cause, APIConnectionError) else "an unusable answer"
    error = SendOutcomeUnknownError(
        f"the send may or may not have reached the provider ({what}: {cause}); it was NOT "
        f"retried, to avoid a duplicate SMS. Use `await sms.reconcile(error)` to look it up "
        f"in the history before sending again.",
        phone=phone,
        fingerprint=fingerprint(text),
        started_at=started_wall,
        status_code=status_code,
        text=text,
    )
    error.__cause__ = cause
    return error


def _log(
    request: Request,
    endpoint: Endpoint[Any],
    status: int | str,
    duration: float,
    attempt_no: int,
    send_info: SendInfo | None,
    log_sensitive: bool,
) -> None:
    to = ""
    if send_info is not None:
        to = f" to={send_info.phone if log_sensitive else mask_phone(send_info.phone)}"
    logger.debug(
        "%s %s status=%s duration_ms=%.1f attempt=%d%s",
        request.method,
        endpoint.path,
        status,
        duration * 1000,
        attempt_no,
        to,
    )
