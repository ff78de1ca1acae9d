"""A moderated service name is paid for once: concurrent starts against the served
sandbox (real HTTP on 127.0.0.1) send one request until the provider has answered for
the name; the rest wait and are refused without sending. Async on asyncio and trio,
sync across threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.from_thread
import pytest

from devsms_async import DevSMS, DevSMSError, ServiceNameRejectedError
from devsms_async.testing import Sandbox, serve_sandbox
from devsms_async.verify import (
    MemoryStore,
    ServiceNameBlockedError,
    SyncVerifier,
    Verifier,
)

SECRET = "single-flight-secret-0123456789"
NAME = "Lucky Casino"


def _sends(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.endpoint == "send_sms.php")


def _outcomes(results: list[BaseException | object]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        name = type(result).__name__ if isinstance(result, BaseException) else "sent"
        counts[name] = counts.get(name, 0) + 1
    return counts


async def _concurrent_starts(verifiers: list[Verifier], count: int) -> list[BaseException | object]:
    """`count` starts at once, to a number each, spread over `verifiers`; what each got."""
    results: list[BaseException | object] = []

    async def one(n: int) -> None:
        try:
            results.append(await verifiers[n % len(verifiers)].start(f"99890100{n:04d}"))
        except DevSMSError as exc:
            results.append(exc)

    async with anyio.create_task_group() as tg:
        for n in range(count):
            tg.start_soon(one, n)
    return results


async def _twenty_async(sandbox: Sandbox, service_name: str) -> list[BaseException | object]:
    async with serve_sandbox(sandbox) as server, server.client() as sms:
        verifier = Verifier(sms, MemoryStore(), service_name=service_name, secret_key=SECRET)
        return await _concurrent_starts([verifier], 20)


def test_twenty_concurrent_starts_pay_a_rejected_name_once(run: Callable[..., Any]) -> None:
    sandbox = Sandbox()
    results = run(_twenty_async, sandbox, NAME)
    assert _outcomes(results) == {"ServiceNameRejectedError": 1, "ServiceNameBlockedError": 19}
    assert _sends(sandbox) == 1


def test_an_accepted_name_sends_every_start(run: Callable[..., Any]) -> None:
    sandbox = Sandbox()
    results = run(_twenty_async, sandbox, "MyShop")
    assert _outcomes(results) == {"sent": 20}
    assert _sends(sandbox) == 20


async def _two_verifiers_one_store(sandbox: Sandbox) -> list[BaseException | object]:
    async with serve_sandbox(sandbox) as server, server.client() as sms:
        store = MemoryStore()
        verifiers = [Verifier(sms, store, service_name=NAME, secret_key=SECRET) for _ in range(2)]
        return await _concurrent_starts(verifiers, 20)


def test_verifiers_sharing_a_store_pay_a_rejected_name_once(run: Callable[..., Any]) -> None:
    sandbox = Sandbox()
    results = run(_two_verifiers_one_store, sandbox)
    assert _outcomes(results) == {"ServiceNameRejectedError": 1, "ServiceNameBlockedError": 19}
    assert _sends(sandbox) == 1


async def _after_a_failed_first_send(sandbox: Sandbox) -> list[BaseException | object]:
    # The first answer is not about the name (a 400 for something else): the next
    # waiter sends, and its rejection is again the only one paid.
    sandbox.fail_next(400, path="send_sms.php", error="Xatolik")
    async with serve_sandbox(sandbox) as server, server.client(max_retries=0) as sms:
        verifier = Verifier(sms, MemoryStore(), service_name=NAME, secret_key=SECRET)
        return await _concurrent_starts([verifier], 10)


def test_a_first_answer_about_something_else_lets_the_next_one_try(
    run: Callable[..., Any],
) -> None:
    sandbox = Sandbox()
    results = run(_after_a_failed_first_send, sandbox)
    assert _outcomes(results) == {
        "BadRequestError": 1,
        "ServiceNameRejectedError": 1,
        "ServiceNameBlockedError": 8,
    }
    assert _sends(sandbox) == 2


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, str]]:
    sandbox = Sandbox()
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_sandbox(sandbox)) as server,
    ):
        yield sandbox, server.base_url


def _twenty_threads(verifier: SyncVerifier) -> list[BaseException | object]:
    results: list[BaseException | object] = []
    barrier = threading.Barrier(20)

    def one(n: int) -> None:
        barrier.wait()
        try:
            results.append(verifier.start(f"99890100{n:04d}"))
        except DevSMSError as exc:
            results.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_twenty_threads_pay_a_rejected_name_once(served: tuple[Sandbox, str]) -> None:
    sandbox, base_url = served
    with DevSMS(sandbox.token, base_url=base_url) as sms:
        verifier = SyncVerifier(sms, service_name=NAME, secret_key=SECRET)
        results = _twenty_threads(verifier)
        assert _outcomes(results) == {"ServiceNameRejectedError": 1, "ServiceNameBlockedError": 19}
        assert _sends(sandbox) == 1
        with pytest.raises(ServiceNameBlockedError):
            verifier.start("998901234567")
    assert _sends(sandbox) == 1


def test_twenty_threads_with_an_accepted_name_all_send(served: tuple[Sandbox, str]) -> None:
    sandbox, base_url = served
    with DevSMS(sandbox.token, base_url=base_url) as sms:
        verifier = SyncVerifier(sms, service_name="MyShop", secret_key=SECRET)
        assert _outcomes(_twenty_threads(verifier)) == {"sent": 20}
    assert _sends(sandbox) == 20


def test_the_rejection_is_typed_as_before(served: tuple[Sandbox, str]) -> None:
    sandbox, base_url = served
    with DevSMS(sandbox.token, base_url=base_url) as sms:
        verifier = SyncVerifier(sms, service_name=NAME, secret_key=SECRET)
        with pytest.raises(ServiceNameRejectedError):
            verifier.start("998901234567")
        with pytest.raises(ServiceNameBlockedError):
            verifier.start("998901234568")
