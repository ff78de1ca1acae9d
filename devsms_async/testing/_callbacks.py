"""Delivering delivery reports: POST to ``callback_url``, 5-second timeout, no retry.

Each delivery batch uses a fresh ``httpx.AsyncClient``, created and closed inside the
running task. So the sandbox itself is bound to no event loop (it can be built in a
sync fixture, or outlive a loop), and a batch is a handful of POSTs, where a fresh
connection is what the real PHP service would open anyway.
"""

from __future__ import annotations

import datetime as _dt
import enum
import time
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import attrs

from .._transport import (
    AsyncBaseTransport,
    AsyncClient,
    ConnectError,
    Request,
    Response,
    Timeout,
    TimeoutException,
    TransportError,
)
from .._version import __version__
from ..models import SmsStatus
from ._state import CallbackJob

__all__ = ["CallbackAttempt", "CallbackOutcome", "deliver"]

CALLBACK_TIMEOUT = 5.0
"""The service's documented callback timeout, in seconds."""
MAX_CONCURRENT_POSTS = 20


class CallbackOutcome(str, enum.Enum):
    """What became of one callback POST (each is tried exactly once)."""

    DELIVERED = "delivered"
    """The receiver answered 2xx."""
    HTTP_ERROR = "http_error"
    """The receiver answered, with another status (see ``status_code``)."""
    REFUSED = "refused"
    """No connection could be made (refused, unknown host, ...)."""
    TIMEOUT = "timeout"
    """No answer within the timeout (5 s, like the service)."""
    ERROR = "error"
    """Anything else: a reset, a broken answer, an exception in an ASGI receiver."""

    def __str__(self) -> str:
        return self.value


def _hidden_url(url: str) -> str:
    # A callback URL often carries a secret of the receiver's (see callbacks.py).
    return repr(url.split("?", 1)[0])


@attrs.frozen(kw_only=True)
class CallbackAttempt:
    """One POST of a delivery report to a ``callback_url``, as it went."""

    url: str = attrs.field(repr=_hidden_url)
    payload: Mapping[str, Any] = attrs.field(repr=False)
    """The JSON body that was sent (``parse_callback`` reads it)."""
    sms_id: int
    status: SmsStatus
    """The status change it reported."""
    outcome: CallbackOutcome
    status_code: int | None = None
    """The receiver's HTTP status, when it answered."""
    error: str | None = None
    """What went wrong, for every outcome but ``DELIVERED``."""
    at: _dt.datetime = attrs.field(repr=False)
    """The sandbox clock's time of the attempt."""
    elapsed: float | None = attrs.field(default=None, repr=False)
    """Seconds the POST took, from the start of the request to the receiver's answer
    (or to the error); real seconds, whatever the sandbox's clock."""

    @property
    def delivered(self) -> bool:
        return self.outcome is CallbackOutcome.DELIVERED


class _Borrowed(AsyncBaseTransport):
    """Lends a user's transport to a short-lived client without letting it close it."""

    def __init__(self, transport: AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: Request) -> Response:
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        pass


async def deliver(
    jobs: Sequence[CallbackJob],
    *,
    at: _dt.datetime,
    timeout_s: float,
    transport: AsyncBaseTransport | None,
) -> list[CallbackAttempt]:
    """POST every job once; return the attempts in the order of ``jobs``.

    Messages are delivered concurrently (at most ``MAX_CONCURRENT_POSTS`` at a time);
    the changes of one message go in order (``sent`` reaches the receiver before
    ``delivered``).
    """
    if not jobs:
        return []
    by_sms: dict[int, list[int]] = {}
    for index, job in enumerate(jobs):
        by_sms.setdefault(job.sms_id, []).append(index)
    attempts: list[CallbackAttempt | None] = [None] * len(jobs)

    async with AsyncClient(
        transport=_Borrowed(transport) if transport is not None else None,
        timeout=Timeout(timeout_s),
        follow_redirects=False,  # PHP's curl does not follow them either
        trust_env=False,  # never route a callback through the tester's HTTP proxy
        headers={"User-Agent": f"devsms-sandbox/{__version__}"},
    ) as client:
        limiter = anyio.CapacityLimiter(MAX_CONCURRENT_POSTS)

        async def deliver_in_order(indexes: list[int]) -> None:
            async with limiter:
                for index in indexes:
                    attempts[index] = await _post(client, jobs[index], at, timeout_s)

        async with anyio.create_task_group() as tg:
            for indexes in by_sms.values():
                tg.start_soon(deliver_in_order, indexes)
    return [attempt for attempt in attempts if attempt is not None]


async def _post(
    client: AsyncClient, job: CallbackJob, at: _dt.datetime, timeout_s: float
) -> CallbackAttempt:
    status_code: int | None = None
    error: str | None = None
    outcome = CallbackOutcome.ERROR
    started = time.perf_counter()
    # httpx's timeout is per phase; the service's 5 s (curl's CURLOPT_TIMEOUT) is total.
    with anyio.move_on_after(timeout_s) as scope:
        try:
            async with client.stream("POST", job.url, json=job.payload) as response:
                status_code = response.status_code
        except TimeoutException as exc:
            outcome, error = CallbackOutcome.TIMEOUT, _describe(exc)
        except ConnectError as exc:
            outcome, error = CallbackOutcome.REFUSED, _describe(exc)
        except TransportError as exc:
            error = _describe(exc)
        except Exception as exc:  # an ASGI receiver's own bug must not break the sandbox
            error = _describe(exc)
        else:
            if 200 <= status_code < 300:
                outcome = CallbackOutcome.DELIVERED
            else:
                outcome = CallbackOutcome.HTTP_ERROR
                error = f"the receiver answered HTTP {status_code}"
    if scope.cancelled_caught:
        outcome, error = CallbackOutcome.TIMEOUT, f"no answer within {timeout_s:g} s"
    return CallbackAttempt(
        url=job.url,
        payload=job.payload,
        sms_id=job.sms_id,
        status=job.status,
        outcome=outcome,
        status_code=status_code,
        error=error,
        at=at,
        elapsed=time.perf_counter() - started,
    )


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
