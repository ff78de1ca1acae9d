"""Shared fixtures. Async fixtures are function-scoped (a loop per test)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
import respx
import stamina

from support.faultserver import FaultServer
from support.redis_server import RedisServer, running_redis
from support.served import ServedProcess, served_sandbox

T = TypeVar("T")


@pytest.fixture(autouse=True)
def _no_backoff() -> Iterator[None]:
    """Retries happen as configured, but without sleeping (stamina's testing mode)."""
    stamina.set_testing(True, attempts=1000, cap=True)
    yield
    stamina.set_testing(False)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """respx in front of the real service's URL (https://devsms.uz/api): routes answer,
    and nothing else reaches the network."""
    with respx.mock(base_url="https://devsms.uz/api", assert_all_called=False) as router:
        yield router


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def run(backend: str) -> Callable[..., Any]:
    """Run an async function to completion on asyncio and on trio.

    pytest-asyncio (auto mode) owns ``async def`` tests; code that claims anyio
    support is tested through this fixture instead: ``run(scenario, arg)``.
    """

    def runner(fn: Callable[..., Awaitable[T]], *args: Any, **backend_options: Any) -> T:
        return anyio.run(fn, *args, backend=backend, backend_options=backend_options or None)

    return runner


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A fresh fault server on 127.0.0.1 (support/faultserver.py); the test fails if a
    connection outlives it or a handler raised."""
    with FaultServer() as server:
        yield server
        server.wait_idle()
        assert not server.errors, server.errors


# A real PostgreSQL, started once per session when a test asks for it (support/postgres_server.py).
from support.postgres_server import postgres_server  # noqa: E402, F401


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on 127.0.0.1 for the whole session (support/redis_server.py)."""
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server the test may `stop()` and `start()` again (same port)."""
    with running_redis(tmp_path) as server:
        yield server


@pytest.fixture
def sandbox_process() -> Iterator[Callable[..., ServedProcess]]:
    """``sandbox_process(*args)``: a real ``python -m devsms_async.testing --port 0 ARGS``
    (support/served.py), stopped with Ctrl-C when the test ends."""
    with ExitStack() as stack:
        yield lambda *args, **options: stack.enter_context(served_sandbox(*args, **options))
