"""A client used across ``os.fork()`` never gives a process another's answer.

Celery prefork, ``gunicorn --preload`` and ``multiprocessing`` (fork) run a module-level
client in processes forked after it pooled a keep-alive connection. These tests do
exactly that against the sandbox served by a real ``python -m devsms_async.testing``
process on 127.0.0.1: open a client, send once (one connection is pooled), fork, and
send from both processes at once. Each process sends its own texts; every ``sms_id``
it gets back is then looked up with a fresh client and must name that process's text.

Sharing the pooled socket, the two requests meet on one connection: on the old code a
process read the other's answer (a wrong ``sms_id``), or got a torn answer (an unknown
outcome, a 400). A round is a fork and a burst of sends; several rounds make a shared
socket show itself (about 7 rounds in 10 did, measured on the old code).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import pytest

from devsms_async import AsyncDevSMS, DevSMS, DevSMSError, UsageError
from devsms_async.testing import DEFAULT_TOKEN
from support.served import served_sandbox

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX only")

PHONE = "998901234567"
ROUNDS = 4
SENDS = 12  # per process and round, CONCURRENCY at a time
CONCURRENCY = 4

Outcome = tuple[str, "int | str"]  # (text sent, sms_id or the error's class name)


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """The sandbox's API root, served by a real process until the module ends."""
    with served_sandbox("--no-inbox") as sandbox:
        yield sandbox.base_url


class Forked:
    """A child process forked now, running ``work("child")`` once told to ``start()``."""

    def __init__(self, work: Callable[[str], list[Outcome]]) -> None:
        go_r, self._go = os.pipe()
        self._out, out_w = os.pipe()
        with warnings.catch_warnings():
            # Python 3.12+ warns about forking a process that has threads (a resolver's,
            # an executor's); the child here only uses threads it starts itself.
            warnings.simplefilter("ignore", DeprecationWarning)
            self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child's coverage is not collected
            code = 0
            try:
                os.read(go_r, 1)
                payload = json.dumps({"ok": work("child")})
            except BaseException:
                payload = json.dumps({"error": traceback.format_exc()})
                code = 1
            with os.fdopen(out_w, "w") as out:
                out.write(payload)
            os._exit(code)
        os.close(go_r)
        os.close(out_w)

    def start(self) -> None:
        os.write(self._go, b"x")
        os.close(self._go)

    def outcomes(self) -> list[Outcome]:
        with os.fdopen(self._out) as out:
            child = json.loads(out.read() or '{"error": "no output"}')
        _, status = os.waitpid(self.pid, 0)
        assert "error" not in child, child["error"]
        assert os.waitstatus_to_exitcode(status) == 0
        return [(text, answer) for text, answer in child["ok"]]


def in_parent_and_child(work: Callable[[str], list[Outcome]]) -> list[Outcome]:
    """Fork; run ``work("parent")`` here and ``work("child")`` in the child at the same
    moment (the child starts when the parent does); both processes' outcomes."""
    child = Forked(work)
    child.start()
    mine = work("parent")
    return mine + child.outcomes()


def texts_for(who: str, round_: int) -> list[str]:
    return [f"{who} {os.getpid()} round {round_} message {i}" for i in range(SENDS)]


def assert_each_answer_is_its_own(base_url: str, outcomes: list[Outcome]) -> None:
    """Every send succeeded, and the sms_id it got back is that send's own SMS."""
    failed = [(text, answer) for text, answer in outcomes if isinstance(answer, str)]
    assert failed == []
    with DevSMS(DEFAULT_TOKEN, base_url=base_url) as fresh:
        found = {text: fresh.get_status(sms_id=int(answer)).message for text, answer in outcomes}
    assert found == {text: text for text, _ in outcomes}


def sync_sends(sms: DevSMS, texts: list[str]) -> list[Outcome]:
    def one(text: str) -> Outcome:
        try:
            return text, sms.send_sms(PHONE, text).sms_id or "no sms_id"
        except DevSMSError as exc:
            return text, type(exc).__name__

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(one, texts))


async def async_sends(sms: AsyncDevSMS, texts: list[str]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    limiter = anyio.Semaphore(CONCURRENCY)

    async def one(text: str) -> None:
        async with limiter:
            try:
                outcomes.append((text, (await sms.send_sms(PHONE, text)).sms_id or "no sms_id"))
            except DevSMSError as exc:
                outcomes.append((text, type(exc).__name__))

    async with anyio.create_task_group() as tg:
        for text in texts:
            tg.start_soon(one, text)
    return outcomes


# -- DevSMS -------------------------------------------------------------------------------


def test_sync_client_opened_before_fork_gives_each_process_its_own_answers(
    served: str,
) -> None:
    sms = DevSMS(DEFAULT_TOKEN, base_url=served).open()  # a module-level client
    try:
        for round_ in range(ROUNDS):
            sms.send_sms(PHONE, "pools a keep-alive connection")
            outcomes = in_parent_and_child(
                lambda who, r=round_: sync_sends(sms, texts_for(who, r))  # type: ignore[misc]
            )
            assert len(outcomes) == 2 * SENDS
            assert_each_answer_is_its_own(served, outcomes)
    finally:
        sms.close()


def test_sync_client_works_in_each_worker_of_a_fork_pool(served: str) -> None:
    """The Celery prefork / gunicorn --preload shape: a client opened at import time,
    then a pool of forked workers sending with it."""
    global _worker_client
    _worker_client = DevSMS(DEFAULT_TOKEN, base_url=served).open()
    try:
        _worker_client.send_sms(PHONE, "pools a keep-alive connection")
        texts = [f"worker task {i}" for i in range(16)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            with multiprocessing.get_context("fork").Pool(3) as pool:
                outcomes = pool.map(_worker_send, texts)
        # The parent's own connection still works after the workers are gone.
        outcomes.append(_worker_send("parent after the pool"))
        assert_each_answer_is_its_own(served, outcomes)
    finally:
        _worker_client.close()


_worker_client: DevSMS


def _worker_send(text: str) -> Outcome:  # pragma: no cover - runs in the workers
    try:
        return text, _worker_client.send_sms(PHONE, text).sms_id or "no sms_id"
    except DevSMSError as exc:
        return text, type(exc).__name__


def test_closing_in_the_child_leaves_the_parents_connection_alone(served: str) -> None:
    with DevSMS(DEFAULT_TOKEN, base_url=served) as sms:
        sms.send_sms(PHONE, "pools a keep-alive connection")

        def work(who: str) -> list[Outcome]:
            if who == "child":
                sms.close()
                assert sms.is_closed
                return []
            return []

        in_parent_and_child(work)
        assert not sms.is_closed
        outcomes = sync_sends(sms, texts_for("parent", 0))
        assert_each_answer_is_its_own(served, outcomes)


def test_a_client_of_yours_is_refused_in_a_forked_child(served: str) -> None:
    import httpx

    with httpx.Client() as http, DevSMS(DEFAULT_TOKEN, base_url=served, http_client=http) as sms:
        sms.send_sms(PHONE, "pools a keep-alive connection")

        def work(who: str) -> list[Outcome]:
            if who == "parent":
                return []
            with pytest.raises(UsageError) as caught:
                sms.send_sms(PHONE, "from the child")
            message = str(caught.value)
            assert "http_client=" in message
            assert "after the fork" in message
            return []

        in_parent_and_child(work)
        assert sms.send_sms(PHONE, "the parent's client still works").sms_id


# -- AsyncDevSMS --------------------------------------------------------------------------

ASYNC_CASES = [
    pytest.param("asyncio", "httpx", id="asyncio-httpx"),
    pytest.param("trio", "httpx", id="trio-httpx"),
    pytest.param("asyncio", "aiohttp", id="asyncio-aiohttp"),
]


@pytest.mark.parametrize(("loop", "http_backend"), ASYNC_CASES)
def test_async_client_opened_before_fork_gives_each_process_its_own_answers(
    served: str, loop: str, http_backend: Any
) -> None:
    """The parent forks inside its running loop and goes on sending there. An event
    loop does not survive fork, so the child runs its own (in a new thread, as a
    worker would in its main one) with the same client object, which builds a new
    pool there on first use."""
    if http_backend == "aiohttp":
        pytest.importorskip("aiohttp")

    def child_work(sms: AsyncDevSMS, texts: list[str]) -> list[Outcome]:
        result: list[list[Outcome]] = []
        thread = threading.Thread(
            target=lambda: result.append(anyio.run(async_sends, sms, texts, backend=loop))
        )
        thread.start()
        thread.join()
        assert result, "the child's loop failed"
        return result[0]

    async def main() -> list[list[Outcome]]:
        rounds = []
        async with AsyncDevSMS(DEFAULT_TOKEN, base_url=served, http_backend=http_backend) as sms:
            for round_ in range(ROUNDS):
                await sms.send_sms(PHONE, "pools a keep-alive connection")
                child = Forked(lambda who, r=round_: child_work(sms, texts_for(who, r)))  # type: ignore[misc]
                child.start()
                mine = await async_sends(sms, texts_for("parent", round_))
                rounds.append(mine + child.outcomes())
            # The parent's pool still serves the parent.
            rounds.append(await async_sends(sms, texts_for("parent", ROUNDS)))
        return rounds

    for outcomes in anyio.run(main, backend=loop):
        assert_each_answer_is_its_own(served, outcomes)


@pytest.mark.parametrize(("loop", "http_backend"), ASYNC_CASES)
def test_async_client_closed_in_the_child_leaves_the_parents_pool_alone(
    served: str, loop: str, http_backend: Any
) -> None:
    if http_backend == "aiohttp":
        pytest.importorskip("aiohttp")

    def child_work(sms: AsyncDevSMS) -> list[Outcome]:
        thread = threading.Thread(target=lambda: anyio.run(sms.aclose, backend=loop))
        thread.start()
        thread.join()
        assert sms.is_closed
        return []

    async def main() -> list[Outcome]:
        async with AsyncDevSMS(DEFAULT_TOKEN, base_url=served, http_backend=http_backend) as sms:
            await sms.send_sms(PHONE, "pools a keep-alive connection")
            child = Forked(lambda who: child_work(sms))
            child.start()
            assert child.outcomes() == []
            assert not sms.is_closed
            return await async_sends(sms, texts_for("parent", 0))

    assert_each_answer_is_its_own(served, anyio.run(main, backend=loop))


# -- the documented pattern ---------------------------------------------------------------


def test_the_documented_module_level_client_works_in_forked_workers(
    served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/sync.md's module-level client, imported before the fork, in both processes."""
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "sync.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)
    [code] = [block for block in blocks if "sms = DevSMS().open()" in block]
    monkeypatch.setenv("DEVSMS_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("DEVSMS_BASE_URL", served)
    module: dict[str, Any] = {"__name__": "myapp_sms"}
    exec(compile(code, str(page), "exec"), module)
    try:
        module["notify"](PHONE, "pools a keep-alive connection")

        def work(who: str) -> list[Outcome]:
            return [(text, module["notify"](PHONE, text)) for text in texts_for(who, 0)]

        assert_each_answer_is_its_own(served, in_parent_and_child(work))
    finally:
        module["sms"].close()
