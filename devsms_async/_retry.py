"""What is retried, and how (stamina underneath).

Reads (history, balance, status) are retried on connection errors, timeouts, 429 and
502/503/504, with exponential backoff and full jitter, honouring ``Retry-After``,
within ``max_retries`` and an overall deadline.

Sends are different: the API has no idempotency key, so a repeated send is a second SMS
and a second charge. A send is retried only when the request provably never reached the
server (connection refused, connect timeout, pool timeout). Once it may have been
received (read timeout, reset after writing, 5xx, an unreadable 2xx answer), the SDK
raises ``SendOutcomeUnknownError`` and leaves the decision to the caller. A 4xx answer
(429 included) is the server refusing the send: a definite, typed ``APIError``.

stamina runs the loop; this module decides, in its backoff hook, whether an error is
retried and how long to wait (full jitter, or ``Retry-After``), and refuses a retry
that would start after the deadline. ``stamina.set_testing(True)`` makes every wait 0
while keeping the decisions, so tests exercise the real policy without sleeping.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs

from ._fingerprint import fingerprint as fingerprint  # re-exported: bulk, tests
from ._redact import SNIPPET_CHARS, body_snippet, mask_phone, phone_repr, text_repr
from ._response import parse_retry_after
from ._transport import (
    AsyncClient,
    Headers,
    Request,
    Response,
    abandon_body,
    close_if_desynchronised,
    exception_never_sent,
    map_transport_error,
)
from ._unknown import unknown_outcome
from .errors import (
    APIConnectionError,
    APIError,
    DevSMSError,
    MalformedResponseError,
    SendOutcomeUnknownError,
    ServerError,
    ValidationError,
)

if TYPE_CHECKING:
    from ._endpoints import Endpoint

T = TypeVar("T")

logger = logging.getLogger("devsms_async")

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
"""Statuses a read is retried on. 500 is not: it is usually a bug, not a blip."""

MAX_BODY_BYTES = 4 * 1024 * 1024
"""A successful answer larger than this is refused (``MalformedResponseError``; for a
send, an unknown outcome). A full history page is ~100 KB."""

MAX_ERROR_BODY_BYTES = 64 * 1024
"""An error answer announced larger than this is not read: its status decides. Plenty
for any JSON error and for the start of a proxy's HTML page."""

_LOGGED_TEXT_CHARS = 160

Parser = Callable[[int, bytes, Headers], T]
"""Turns (status, body, headers) into the endpoint's model or raises a DevSMSError."""


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


@attrs.frozen
class SendInfo:
    """What a send needs to report an unknown outcome."""

    phone: str = attrs.field(repr=phone_repr)
    text: str = attrs.field(repr=text_repr)
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False)
    """Redacted from every error text of this call (an OTP code)."""


class _RetryableError(Exception):
    """Internal: carries a retryable failure through stamina."""

    def __init__(self, error: DevSMSError, retry_after: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


async def call_with_policy(
    http: AsyncClient,
    request: Request,
    endpoint: Endpoint[Any],
    policy: RetryPolicy,
    parse: Parser[T],
    *,
    send_info: SendInfo | None = None,
    log_sensitive: bool = False,
    fingerprint_key: bytes = b"",
    secrets: tuple[str, ...] = (),
) -> T:
    """Send ``request`` under the retry rules of ``endpoint``; parse the answer."""
    started_wall = _dt.datetime.now(_dt.timezone.utc)
    # The event loop's clock, the one stamina sleeps on (trio's MockClock included).
    started = anyio.current_time()
    attempt_no = 0
    call = _Call(endpoint, send_info, started_wall, fingerprint_key, secrets)

    async def one_attempt() -> T:
        nonlocal attempt_no
        attempt_no += 1
        return await _attempt(http, request, call, parse, attempt_no, log_sensitive)

    if policy.max_retries == 0:
        try:
            return await one_attempt()
        except _RetryableError as exc:
            raise exc.error from exc.error.__cause__

    import stamina  # imports tenacity: paid on the first request, not on import

    def backoff(exc: Exception) -> bool | float:
        if not isinstance(exc, _RetryableError):
            return False
        wait = policy.next_wait(attempt_no, anyio.current_time() - started, exc.retry_after)
        return False if wait is None else wait

    # The first attempt runs outside stamina: setting up its retry loop costs ~30 µs per
    # call (tenacity objects, inspect checks), as much as the rest of the SDK together.
    # Only a retryable failure enters the loop, where it is replayed as attempt 1, so
    # backoff, the deadline, testing mode and instrumentation see what they saw before.
    try:
        return await one_attempt()
    except _RetryableError as exc:
        first_failure: _RetryableError | None = exc
    try:
        async for attempt in stamina.retry_context(
            on=backoff,
            attempts=policy.max_retries + 1,
            # The deadline is enforced in `backoff` (which also sees the coming wait);
            # stamina's own timeout would be ignored in testing mode anyway.
            timeout=None,
            wait_initial=policy.backoff_initial,
            wait_max=policy.backoff_max,
        ):
            with attempt:
                if first_failure is not None:
                    replay, first_failure = first_failure, None
                    raise replay
                return await one_attempt()
    except _RetryableError as exc:
        raise exc.error from exc.error.__cause__
    raise AssertionError("unreachable")  # pragma: no cover


@attrs.frozen
class _Call:
    """What every attempt of one call needs to classify its failures."""

    endpoint: Endpoint[Any]
    send_info: SendInfo | None
    started_wall: _dt.datetime
    fingerprint_key: bytes
    secrets: tuple[str, ...]


async def _attempt(
    http: AsyncClient,
    request: Request,
    call: _Call,
    parse: Parser[T],
    attempt_no: int,
    log_sensitive: bool,
) -> T:
    t0 = time.perf_counter()
    status: int | None = None
    failure = ""
    try:
        try:
            response = await http.send(request, stream=True)
            status = response.status_code
            try:
                body, complete = await _read_capped(response)
                stale = await close_if_desynchronised(response) if complete else None
            finally:
                await response.aclose()
        except Exception as exc:
            _raise_for_transport_error(exc, call)
            raise  # not a transport failure: a bug, let it through unchanged
        if stale:
            _raise_for_stale_answer(call)
        if not complete and 200 <= status < 300:
            parse = _too_large(call.secrets)
        return _parse_or_classify(status, body, response.headers, call, parse)
    except BaseException as exc:  # cancellation included: logged, then re-raised
        failure = _describe_failure(exc)
        raise
    finally:
        if logger.isEnabledFor(logging.DEBUG):
            elapsed = time.perf_counter() - t0
            _log(request, call, status, failure, elapsed, attempt_no, log_sensitive)


def _describe_failure(exc: BaseException) -> str:
    """``ReadTimeout``, ``ServerError outcome=unknown``...: the root cause, for the log."""
    outcome = ""
    if isinstance(exc, _RetryableError):
        exc = exc.error
    elif isinstance(exc, SendOutcomeUnknownError):
        outcome = " outcome=unknown"
        exc = exc.__cause__ or exc
    if isinstance(exc, APIConnectionError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return type(exc).__name__ + outcome


async def _read_capped(response: Response) -> tuple[bytes, bool]:
    """The body, or ``(its start, False)`` when it is over the limit for its status.

    A ``Content-Length`` over the limit is refused without reading a byte; any other
    body (chunked, endless, unannounced) is streamed and dropped as soon as it passes
    the limit, keeping only its start for the error's snippet: memory stays within
    one read over the limit. The connection is then closed (``abandon_body``).
    """
    limit = MAX_BODY_BYTES if 200 <= response.status_code < 300 else MAX_ERROR_BODY_BYTES
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limit:
        return f"<{int(announced):,} bytes, not read>".encode(), False
    chunks: list[bytes] = []
    size = 0
    stream = response.aiter_bytes()
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            chunks.append(chunk)
            head = bytearray()
            for part in chunks:
                head += part[: _HEAD_BYTES - len(head)]
                if len(head) >= _HEAD_BYTES:
                    break
            chunks.clear()
            await abandon_body(response, stream)
            return bytes(head), False
        chunks.append(chunk)
    return b"".join(chunks), True


_HEAD_BYTES = SNIPPET_CHARS * 4
"""What is kept of an answer over the limit: all that ``body_snippet`` looks at."""


def _raise_for_stale_answer(call: _Call) -> None:
    """The answer came on a reused connection with bytes after it: it may be an answer
    left over from an earlier request, and ours the bytes after it."""
    error = APIConnectionError(
        "the server wrote more than its answer on a reused connection, so the answer "
        "read may belong to an earlier request (the connection was closed)"
    )
    if call.endpoint.retry_safe:
        raise _RetryableError(error, None)
    raise _unknown(call, error, None) from error


def _too_large(secrets: tuple[str, ...]) -> Parser[Any]:
    """A parser that refuses an answer cut at ``MAX_BODY_BYTES``."""

    def refuse(status_code: int, body: bytes, headers: Headers) -> Any:
        raise MalformedResponseError(
            f"the answer is larger than {MAX_BODY_BYTES} bytes",
            status_code=status_code,
            body_snippet=body_snippet(body, secrets=secrets),
        )

    return refuse


def _raise_for_transport_error(exc: Exception, call: _Call) -> None:
    error = map_transport_error(exc)
    if error is None:
        return
    error.__cause__ = exc
    if call.endpoint.retry_safe or exception_never_sent(exc):
        raise _RetryableError(error, None) from exc
    raise _unknown(call, error, None) from error


def _parse_or_classify(
    status_code: int,
    body: bytes,
    headers: Headers,
    call: _Call,
    parse: Parser[T],
) -> T:
    try:
        return parse(status_code, body, headers)
    except APIError as exc:
        if call.endpoint.retry_safe:
            if exc.status_code in RETRYABLE_STATUS:
                retry_after = parse_retry_after(headers.get("retry-after"))
                raise _RetryableError(exc, retry_after) from exc
            raise
        if isinstance(exc, ServerError):
            # The service may have sent the SMS and failed afterwards.
            raise _unknown(call, exc, exc.status_code) from exc
        raise  # 4xx: the server refused the send; nothing went out
    except MalformedResponseError as exc:
        if not call.endpoint.retry_safe:
            # A 2xx/3xx we cannot read: the send may well have happened.
            raise _unknown(call, exc, exc.status_code) from exc
        raise


def _unknown(call: _Call, cause: DevSMSError, status_code: int | None) -> SendOutcomeUnknownError:
    info = call.send_info or SendInfo("", "")
    what = "no answer" if isinstance(cause, APIConnectionError) else "an unusable answer"
    return unknown_outcome(
        f"{what}: {cause}",
        phone=info.phone,
        text=info.text,
        fingerprint=lambda text: fingerprint(text, call.fingerprint_key),
        started_at=call.started_wall,
        status_code=status_code,
        cause=cause,
    )


def _log(
    request: Request,
    call: _Call,
    status: int | None,
    failure: str,
    duration: float,
    attempt_no: int,
    log_sensitive: bool,
) -> None:
    extra = ""
    if failure:
        extra += f" error={failure}"
    info = call.send_info
    if info is not None:
        if log_sensitive:
            text = info.text
            if len(text) > _LOGGED_TEXT_CHARS:
                text = text[:_LOGGED_TEXT_CHARS] + "…"
            extra += f" to={info.phone} text={text!r}"
        else:
            extra += f" to={mask_phone(info.phone)}"
    logger.debug(
        "%s %s status=%s duration_ms=%.1f attempt=%d%s",
        request.method,
        call.endpoint.path,
        "-" if status is None else status,
        duration * 1000,
        attempt_no,
        extra,
    )
