"""The engines: one retry loop, async and sync, around the core.

A call builds its request once (``_wire``); ``_Attempts`` counts each attempt, logs it,
and lets the pure ``classify`` decide: return the result, wait and retry, or raise. The
two engines share it and differ only in ``await`` and the clock.

stamina is not used for the loop, although it has both flavours: its retry hooks are
process-wide, and by default they print ``stamina.retry_scheduled`` on stderr for every
retry of an application that has not configured ``logging``, which only a change of
stamina's (or logging's) global settings would silence, and the SDK must not change
those for its user. The loop is a few lines; the decisions are ``_classify``'s.
stamina's switches are still honoured (read, never set): ``stamina.set_testing(True)``
makes every wait 0 while keeping every decision, as tests want, and
``stamina.set_active(False)`` turns retries off.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Protocol, TypeVar

import anyio  # the loop's clock and sleep: trio's MockClock included

from ._classify import Call, Decision, RetryPolicy, classify
from ._endpoints import Endpoint
from ._logging import log_attempt, log_retry, logger
from ._wire import (
    PhaseTimeouts,
    Timeouts,
    TransportFailure,
    WireRequest,
    WireResponse,
    build_request,
)

__all__ = ["AsyncBackend", "AsyncEngine", "SyncBackend", "SyncEngine"]

T = TypeVar("T")
Params = Mapping[str, Any]
Outcome = WireResponse | TransportFailure


class AsyncBackend(Protocol):
    """Sends one plain request; a transport failure is returned, anything else raised.

    ``timeouts=None``: the backend's own default (its HTTP client's).
    """

    name: str

    async def send(self, request: WireRequest, timeouts: Timeouts | None) -> Outcome: ...

    async def aclose(self) -> None: ...


class SyncBackend(Protocol):
    name: str

    def send(self, request: WireRequest, timeouts: Timeouts | None) -> Outcome: ...

    def close(self) -> None: ...


def _no_waits() -> bool:
    stamina = sys.modules.get("stamina")
    return stamina is not None and bool(stamina.is_testing())


def _retries_off() -> bool:
    stamina = sys.modules.get("stamina")
    return stamina is not None and not stamina.is_active()


def _loop_clock() -> Callable[[], float]:
    """The running loop's clock (trio's MockClock included), resolved once: asking
    anyio on every call costs a sniffio look-up each time."""
    import sniffio

    if sniffio.current_async_library() == "asyncio":
        import asyncio

        return asyncio.get_running_loop().time
    return anyio.current_time


class _Attempts:
    """One call's attempts, for either engine: the request (built once), the count, the
    log lines, and what ``classify`` decides after each one.

    Used as a context manager around each send: it counts the attempt and logs a
    cancellation or a bug (anything the backend raises) before it propagates.
    """

    __slots__ = (
        "_clock",
        "_engine",
        "_sent_at",
        "_started",
        "call",
        "number",
        "request",
        "timeouts",
    )

    def __init__(
        self,
        engine: _Engine,
        endpoint: Endpoint[Any],
        params: Params,
        call: Call,
        timeouts: PhaseTimeouts | None,
    ) -> None:
        self.request = build_request(endpoint, params, engine.base_url)
        self.call = call
        self.timeouts = None if timeouts is None else Timeouts.of(timeouts)
        self.number = 0
        self._engine = engine
        self._clock = engine.clock
        self._started = self._clock()
        self._sent_at = 0.0

    def __enter__(self) -> None:
        self.number += 1
        self._sent_at = time.perf_counter()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self._log(exc, None)

    def judge(self, outcome: Outcome) -> Decision:
        """The decision on this attempt's outcome, a result or a retry (both logged); an
        error that ends the call is raised."""
        engine = self._engine
        elapsed = self._clock() - self._started
        try:
            decision = classify(
                self.call, outcome, attempt=self.number, elapsed=elapsed, policy=engine.policy
            )
        except BaseException as exc:  # a bug: logged, re-raised
            self._log(exc, None)
            raise
        self._log(outcome, decision)
        if decision.action == "result":
            return decision
        assert decision.error is not None
        if decision.action != "retry" or _retries_off():
            raise decision.error
        log_retry(self.call, decision, self.number)
        return decision

    def wait(self, decision: Decision) -> float:
        """Seconds to sleep before the next attempt (none in stamina's testing mode)."""
        return 0 if _no_waits() else decision.wait

    def _log(self, outcome: Outcome | BaseException, decision: Decision | None) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            duration = time.perf_counter() - self._sent_at
            log_attempt(
                self.request,
                self.call,
                outcome,
                decision,
                duration,
                self.number,
                self._engine.log_sensitive,
            )


class _Engine:
    """What both engines hold."""

    clock: Callable[[], float] = time.monotonic

    def __init__(self, *, base_url: str, policy: RetryPolicy, log_sensitive: bool) -> None:
        self.base_url = base_url
        self.policy = policy
        self.log_sensitive = log_sensitive


class AsyncEngine(_Engine):
    """Create it inside the running event loop (``__aenter__``)."""

    def __init__(
        self, backend: AsyncBackend, *, base_url: str, policy: RetryPolicy, log_sensitive: bool
    ) -> None:
        super().__init__(base_url=base_url, policy=policy, log_sensitive=log_sensitive)
        self.clock = _loop_clock()
        self.backend = backend

    async def call(
        self, endpoint: Endpoint[T], params: Params, call: Call, timeouts: PhaseTimeouts | None
    ) -> T:
        attempts = _Attempts(self, endpoint, params, call, timeouts)
        while True:
            decision = attempts.judge(await self._send(attempts))
            if decision.action == "result":
                return decision.value  # type: ignore[no-any-return]
            await anyio.sleep(attempts.wait(decision))

    async def _send(self, attempts: _Attempts) -> Outcome:
        with attempts:
            return await self.backend.send(attempts.request, attempts.timeouts)


class SyncEngine(_Engine):
    def __init__(
        self, backend: SyncBackend, *, base_url: str, policy: RetryPolicy, log_sensitive: bool
    ) -> None:
        super().__init__(base_url=base_url, policy=policy, log_sensitive=log_sensitive)
        self.backend = backend

    def call(
        self, endpoint: Endpoint[T], params: Params, call: Call, timeouts: PhaseTimeouts | None
    ) -> T:
        attempts = _Attempts(self, endpoint, params, call, timeouts)
        while True:
            decision = attempts.judge(self._send(attempts))
            if decision.action == "result":
                return decision.value  # type: ignore[no-any-return]
            time.sleep(attempts.wait(decision))

    def _send(self, attempts: _Attempts) -> Outcome:
        with attempts:
            return self.backend.send(attempts.request, attempts.timeouts)
