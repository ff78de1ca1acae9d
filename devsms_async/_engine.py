"""The engines: one attempt and one retry loop, async and sync, around the core.

Each loop builds the request once (``_wire``), sends it through a backend, and lets the
pure ``classify`` decide: return the result, wait and retry, or raise. Everything that
could differ between the two faces lives in the core; only ``await`` and the clock do.

stamina is not used for the loop, although it has both flavours: its retry hooks are
process-wide, and by default they print ``stamina.retry_scheduled`` on stderr for every
retry of an application that has not configured ``logging``, which only a change of
stamina's (or logging's) global settings would silence, and the SDK must not change
those for its user. The loop is a dozen lines; the decisions are ``_classify``'s.
stamina's switches are still honoured (read, never set): ``stamina.set_testing(True)``
makes every wait 0 while keeping every decision, as tests want, and
``stamina.set_active(False)`` turns retries off.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import anyio  # the loop's clock and sleep: trio's MockClock included

from ._classify import Call, Decision, RetryPolicy, classify, log_attempt, log_retry, logger
from ._endpoints import Endpoint
from ._wire import TransportFailure, WireRequest, WireResponse, build_request

__all__ = ["AsyncBackend", "AsyncEngine", "SyncBackend", "SyncEngine"]

T = TypeVar("T")
Outcome = WireResponse | TransportFailure


class AsyncBackend(Protocol):
    """Sends one plain request; a transport failure is returned, anything else raised."""

    name: str

    async def send(self, request: WireRequest, limits: Any) -> Outcome: ...

    async def aclose(self) -> None: ...


class SyncBackend(Protocol):
    name: str

    def send(self, request: WireRequest, limits: Any) -> Outcome: ...

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


class AsyncEngine:
    """Create it inside the running event loop (``__aenter__``)."""

    def __init__(
        self, backend: AsyncBackend, *, base_url: str, policy: RetryPolicy, log_sensitive: bool
    ) -> None:
        self._clock = _loop_clock()
        self.backend = backend
        self._base_url = base_url
        self._policy = policy
        self._log_sensitive = log_sensitive

    async def call(
        self, endpoint: Endpoint[T], params: Mapping[str, Any], call: Call, limits: Any
    ) -> T:
        request = build_request(endpoint, params, self._base_url)
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            decision = await self._attempt(request, call, limits, attempt, started)
            if decision.action == "result":
                return decision.value  # type: ignore[no-any-return]
            assert decision.error is not None
            if decision.action != "retry" or _retries_off():
                raise decision.error
            log_retry(call, decision, attempt)
            await anyio.sleep(0 if _no_waits() else decision.wait)

    async def _attempt(
        self, request: WireRequest, call: Call, limits: Any, attempt: int, started: float
    ) -> Decision:
        t0 = time.perf_counter()
        outcome: Outcome | BaseException
        decision: Decision | None = None
        try:
            outcome = await self.backend.send(request, limits)
            elapsed = self._clock() - started
            decision = classify(
                call, outcome, attempt=attempt, elapsed=elapsed, policy=self._policy
            )
        except BaseException as exc:  # a cancellation or a bug: logged, re-raised
            outcome = exc
            raise
        else:
            return decision
        finally:
            if logger.isEnabledFor(logging.DEBUG):
                duration = time.perf_counter() - t0
                log_attempt(
                    request, call, outcome, decision, duration, attempt, self._log_sensitive
                )


class SyncEngine:
    def __init__(
        self, backend: SyncBackend, *, base_url: str, policy: RetryPolicy, log_sensitive: bool
    ) -> None:
        self.backend = backend
        self._base_url = base_url
        self._policy = policy
        self._log_sensitive = log_sensitive

    def call(self, endpoint: Endpoint[T], params: Mapping[str, Any], call: Call, limits: Any) -> T:
        request = build_request(endpoint, params, self._base_url)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            decision = self._attempt(request, call, limits, attempt, started)
            if decision.action == "result":
                return decision.value  # type: ignore[no-any-return]
            assert decision.error is not None
            if decision.action != "retry" or _retries_off():
                raise decision.error
            log_retry(call, decision, attempt)
            time.sleep(0 if _no_waits() else decision.wait)

    def _attempt(
        self, request: WireRequest, call: Call, limits: Any, attempt: int, started: float
    ) -> Decision:
        t0 = time.perf_counter()
        outcome: Outcome | BaseException
        decision: Decision | None = None
        try:
            outcome = self.backend.send(request, limits)
            elapsed = time.monotonic() - started
            decision = classify(
                call, outcome, attempt=attempt, elapsed=elapsed, policy=self._policy
            )
        except BaseException as exc:
            outcome = exc
            raise
        else:
            return decision
        finally:
            if logger.isEnabledFor(logging.DEBUG):
                duration = time.perf_counter() - t0
                log_attempt(
                    request, call, outcome, decision, duration, attempt, self._log_sensitive
                )
