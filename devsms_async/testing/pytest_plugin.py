"""pytest fixtures for testing code that uses devsms-async.

Registered as the ``devsms_async`` pytest plugin (entry point ``pytest11``), so
installing devsms-async makes them available; ``-p no:devsms_async`` turns them off.

* ``devsms_clock``: the ``ManualClock`` of
  ``devsms_sandbox`` (starts at 2026-03-09 10:30:00 Tashkent time; ``.advance(s)``).
* ``devsms_sandbox``: a fresh ``Sandbox`` per test, on
  ``devsms_clock`` (deterministic timestamps). While it is in use, stamina's testing
  mode is on with the SDK's own attempts kept (``set_testing(True, attempts=1000,
  cap=True)``): retries happen as configured, without waiting; the previous mode is
  restored after the test. Without stamina installed, retries wait as configured.
* ``devsms_client``: an entered ``AsyncDevSMS`` wired to it in-process. It is an async
  fixture: it needs pytest-asyncio (or the anyio pytest plugin).
* ``devsms_verifier``: a ``Verifier`` on ``devsms_client``,
  a fresh ``MemoryStore`` and ``devsms_clock`` (service name ``"Sandbox App"``);
  read the code it sent with ``devsms_sandbox.last_otp(phone)``.

Nothing heavy is imported until a fixture is used: this module is loaded by every
pytest run in an environment where devsms-async is installed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from devsms_async import AsyncDevSMS
    from devsms_async.testing import ManualClock, Sandbox
    from devsms_async.verify import Verifier

__all__ = ["devsms_client", "devsms_clock", "devsms_sandbox", "devsms_verifier"]


def _async_fixture(fn: Any) -> Any:
    # pytest-asyncio runs an async fixture in strict mode only when it is declared with
    # its own decorator; without pytest-asyncio, the anyio plugin takes plain ones.
    try:
        import pytest_asyncio
    except ImportError:
        return pytest.fixture(fn)
    return pytest_asyncio.fixture(fn)


@pytest.fixture
def devsms_clock() -> ManualClock:
    """The sandbox's clock: it moves only when told (``devsms_clock.advance(5)``)."""
    from devsms_async.testing import ManualClock

    return ManualClock()


NO_WAIT_ATTEMPTS_CAP = 1000
"""``stamina.set_testing(True)`` alone would also cut every retry loop to 1 attempt."""


@pytest.fixture
def devsms_sandbox(devsms_clock: ManualClock) -> Iterator[Sandbox]:
    """A fresh sandbox: token ``sandbox-token``, 100 000 so'm, 50 so'm per Uzbek part.

    Retries run without waiting while it is in use (stamina's testing mode, capped so
    the client's ``max_retries`` still decides); the previous mode comes back after.
    stamina is optional: without it, retries wait as configured.
    """
    from devsms_async.testing import Sandbox

    try:
        import stamina
    except ImportError:
        yield Sandbox(clock=devsms_clock)
        return
    with stamina.set_testing(True, attempts=NO_WAIT_ATTEMPTS_CAP, cap=True):
        yield Sandbox(clock=devsms_clock)


@_async_fixture
async def devsms_client(devsms_sandbox: Sandbox) -> AsyncIterator[AsyncDevSMS]:
    """An entered ``AsyncDevSMS`` answering from ``devsms_sandbox``, in-process."""
    async with devsms_sandbox.client() as client:
        yield client


@_async_fixture
async def devsms_verifier(devsms_client: AsyncDevSMS, devsms_clock: ManualClock) -> Verifier:
    """A ``Verifier`` sending through ``devsms_client``; time moves with ``devsms_clock``."""
    from devsms_async.verify import MemoryStore, Verifier

    return Verifier(
        devsms_client,
        MemoryStore(),
        service_name="Sandbox App",
        secret_key="devsms-sandbox-verify-secret-key",  # noqa: S106 - a test key
        clock=devsms_clock,
    )
