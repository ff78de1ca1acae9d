"""A sandbox to rehearse a campaign on: answers that take a while (`latency`,
`--latency MS`) and a provider-like rate limit (`rate_limit`, `--rate-limit N`: HTTP
429 with Retry-After), with the SDK's own handling of a 429: a read waits and tries
again, a send is refused and provably not sent.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import stamina

from devsms_async import AsyncDevSMS, DevSMS, RateLimitError, ServerError, ValidationError
from devsms_async.bulk import BulkOutcome
from devsms_async.testing import ManualClock, Sandbox, _command, serve_sandbox
from support.served import served_sandbox

PHONE = "998901234567"


def phone(i: int) -> str:
    return f"99890{i:07d}"


# -- rate_limit: the 429 itself ------------------------------------------------------------


async def test_beyond_the_limit_a_request_gets_429_with_retry_after_and_is_not_processed() -> None:
    clock = ManualClock()
    sandbox = Sandbox(clock=clock, rate_limit=2)
    async with sandbox.client(max_retries=0) as sms:
        await sms.send_sms(phone(1), "one")
        await sms.get_balance()  # reads count too: a provider limits the token
        with pytest.raises(RateLimitError) as caught:
            await sms.send_sms(phone(2), "two")
        assert caught.value.status_code == 429
        assert caught.value.retry_after == 1.0
        with pytest.raises(RateLimitError):
            await sms.get_balance()
        # The refused send was not stored nor charged.
        assert [m.phone for m in sandbox.messages] == [phone(1)]
        assert sandbox.balance == 100_000 - 50
        assert sandbox.requests[2].status == 429
        # One second after the first request, there is room again.
        clock.advance(1)
        await sms.send_sms(phone(3), "three")
    assert [m.phone for m in sandbox.messages] == [phone(1), phone(3)]
    assert [r.status for r in sandbox.requests] == [200, 200, 429, 429, 200]


async def test_the_window_slides_and_refusals_do_not_count() -> None:
    clock = ManualClock()
    sandbox = Sandbox(clock=clock, rate_limit=3)
    async with sandbox.client(max_retries=0) as sms:
        for _ in range(3):
            await sms.get_balance()
            clock.advance(0.4)  # at 0, 0.4, 0.8
        # At 1.2 the first (0.0) has left the window: room for exactly one.
        await sms.get_balance()
        for _ in range(5):  # refused, and not counted: the window is unchanged
            with pytest.raises(RateLimitError) as caught:
                await sms.get_balance()
        # The oldest left in the window is 0.4: free again at 1.4, written as 1 s.
        assert caught.value.retry_after == 1.0
        clock.advance(0.2)  # 1.4
        await sms.get_balance()
    statuses = [r.status for r in sandbox.requests]
    assert statuses == [200, 200, 200, 200, 429, 429, 429, 429, 429, 200]


def test_a_fault_a_test_armed_comes_first_and_unknown_paths_are_not_limited() -> None:
    sandbox = Sandbox(clock=ManualClock(), rate_limit=1)
    sandbox.fail_next(503)
    with sandbox.sync_client(max_retries=0) as sms:
        with pytest.raises(ServerError):
            sms.get_balance()
        sms.get_balance()  # the fault used no slot
        with pytest.raises(RateLimitError):
            sms.get_balance()
    import httpx

    transport = sandbox.transport()
    with httpx.Client(transport=transport, base_url="https://devsms.uz") as raw:
        assert raw.get("/api/nothing.php").status_code == 404  # not limited, not counted
    assert [r.status for r in sandbox.requests] == [503, 200, 429, 404]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"rate_limit": 0}, "rate_limit"),
        ({"rate_limit": 2.5}, "rate_limit"),
        ({"rate_limit": True}, "rate_limit"),
        ({"latency": -0.1}, "latency"),
        ({"latency": float("inf")}, "latency"),
        ({"latency": "1"}, "latency"),
    ],
)
def test_bad_pace_options_are_validation_errors(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Sandbox(**options)
    assert caught.value.field == field
    sandbox = Sandbox()
    with pytest.raises(ValidationError):
        setattr(sandbox, field, next(iter(options.values())))


# -- the SDK's handling of a 429, over real HTTP -------------------------------------------


async def test_a_read_that_gets_429_waits_for_retry_after_and_succeeds() -> None:
    # Real waits: the SDK must honour Retry-After (1 s) rather than the test's 0 s.
    stamina.set_testing(False)
    sandbox = Sandbox(rate_limit=1)
    async with serve_sandbox(sandbox) as server, server.client(max_retries=3) as sms:
        await sms.send_sms(PHONE, "uses the one request of this second")
        started = time.monotonic()
        balance = await sms.get_balance()
        waited = time.monotonic() - started
    assert balance.balance == 100_000 - 50
    assert [r.status for r in sandbox.requests] == [200, 429, 200]
    assert waited >= 0.9  # it waited for Retry-After, not for the next backoff step


async def test_a_send_that_gets_429_is_refused_not_unknown_and_never_repeated() -> None:
    # A manual clock: every request falls in the same second, over real HTTP.
    sandbox = Sandbox(clock=ManualClock(), rate_limit=1)
    async with serve_sandbox(sandbox) as server, server.client(max_retries=5) as sms:
        await sms.get_balance()
        with pytest.raises(RateLimitError) as caught:
            await sms.send_sms(PHONE, "one too many")
        results = await sms.send_bulk([(PHONE, "bulk")], concurrency=1)
    assert caught.value.retry_after == 1.0
    # Each send went out once (a send is never retried after an answer), and the
    # provider stored nothing: the bulk message is FAILED, provably not sent.
    sends = [r.status for r in sandbox.requests if r.endpoint == "send_sms.php"]
    assert sends == [429, 429]
    assert sandbox.messages == []
    assert results[0].outcome is BulkOutcome.FAILED
    assert isinstance(results[0].error, RateLimitError)


# -- latency ---------------------------------------------------------------------------------


async def test_latency_delays_each_answer_and_other_requests_are_served_meanwhile() -> None:
    sandbox = Sandbox(latency=2.0)
    arrived_before_first_answer: list[int] = []
    async with serve_sandbox(sandbox) as server, server.client() as sms:

        async def send(i: int) -> None:
            await sms.send_sms(phone(i), "slow")
            if not arrived_before_first_answer:
                arrived_before_first_answer.append(len(sandbox.requests))

        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(send, i)
        elapsed = time.monotonic() - started
    # All three were received and handled while the first answer was still on its way.
    assert arrived_before_first_answer == [3]
    assert elapsed >= 2.0
    assert len(sandbox.messages) == 3


def test_latency_in_process_on_both_faces(run: Callable[..., Any]) -> None:
    sandbox = Sandbox(latency=0.05)

    async def scenario() -> float:
        async with sandbox.client() as sms:
            started = anyio.current_time()
            await sms.get_balance()
            return anyio.current_time() - started

    assert run(scenario) >= 0.05
    with sandbox.sync_client() as sms:
        started = time.monotonic()
        sms.get_balance()
        assert time.monotonic() - started >= 0.05
    sandbox.latency = 0
    assert sandbox.latency == 0.0


def test_received_at_is_the_arrival_with_microseconds() -> None:
    clock = ManualClock()
    sandbox = Sandbox(clock=clock)
    with DevSMS(sandbox.token, transport=sandbox.transport()) as sms:
        sms.get_balance()
        clock.advance(0.25)
        sms.send_sms(PHONE, "x")
    first, second = (r.received_at for r in sandbox.requests)
    assert first is not None
    assert second is not None
    assert (second - first).total_seconds() == 0.25


# -- the command: --latency MS and --rate-limit N ------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="stopped with SIGINT")
def test_the_command_serves_with_latency_and_a_rate_limit() -> None:
    with (
        served_sandbox("--no-inbox", "--latency", "300", "--rate-limit", "1") as served,
        DevSMS("sandbox-token", base_url=served.base_url, max_retries=0) as sms,
    ):
        started = time.monotonic()
        sms.send_sms(PHONE, "first")
        assert time.monotonic() - started >= 0.3
        # Sends one after another: two of them fall within one second.
        refused: RateLimitError | None = None
        for _ in range(20):
            try:
                sms.send_sms(PHONE, "again")
            except RateLimitError as exc:
                refused = exc
                break
    assert refused is not None
    assert refused.status_code == 429
    assert refused.retry_after is not None
    assert refused.retry_after >= 1
    assert served.returncode == 0, served.err
    assert "answers take 300 ms" in served.out
    assert "more than 1 requests a second get HTTP 429" in served.out


def test_the_pace_options_reach_the_sandbox() -> None:
    args = _command.build_parser("x").parse_args(["--latency", "250", "--rate-limit", "40"])
    assert (args.latency, args.rate_limit) == (0.25, 40)
    defaults = _command.build_parser("x").parse_args([])
    assert (defaults.latency, defaults.rate_limit) == (0.0, None)


def test_async_client_sees_retry_after_on_reads_in_process() -> None:
    # In-process, on a manual clock: the read's retry is made after the wait (0 s in
    # tests), sees 429 again, and gives up after max_retries with the server's answer.
    sandbox = Sandbox(clock=ManualClock(), rate_limit=1)

    async def scenario() -> None:
        async with AsyncDevSMS(sandbox.token, transport=sandbox.transport(), max_retries=2) as sms:
            await sms.get_balance()
            with pytest.raises(RateLimitError):
                await sms.get_balance()

    anyio.run(scenario)
    assert [r.status for r in sandbox.requests] == [200, 429, 429, 429]
