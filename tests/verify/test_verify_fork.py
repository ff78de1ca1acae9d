"""The Redis stores across ``os.fork()`` (Celery prefork, ``gunicorn --preload``): a child
never uses a connection its parent opened. Real processes (tests/verify/verify_fork_worker.py)
on a real redis-server; the parent has a pooled connection before it forks."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devsms_async.testing import Sandbox
from devsms_async.verify import SyncMemoryStore, SyncVerifier
from support.redis_server import RedisServer, running_redis

WORKER = Path(__file__).with_name("verify_fork_worker.py")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis-fork")) as running:
        yield running


def _fork_run(server: RedisServer, mode: str, prefix: str) -> dict[str, dict[str, object]]:
    url = server.url + "?socket_timeout=5"
    done = subprocess.run(
        [sys.executable, str(WORKER), mode, url, prefix],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert {line["role"] for line in lines} == {"parent", "child"}, done.stdout + done.stderr
    return {line["role"]: line for line in lines}


@pytest.mark.parametrize("mode", ["async", "sync"])
@pytest.mark.parametrize("attempt", range(2))
def test_a_forked_child_never_uses_its_parents_connections(
    server: RedisServer, mode: str, attempt: int
) -> None:
    result = _fork_run(server, mode, f"fork{mode}{attempt}:")
    parent, child = result["parent"], result["child"]
    for side in (parent, child):
        assert side["errors"] == [], side
        assert side["bad"] == 0, side
    parent_ids = set(parent["ids"])  # type: ignore[call-overload]
    child_ids = set(child["ids"])  # type: ignore[call-overload]
    assert child_ids
    assert parent_ids
    assert not child_ids & parent_ids  # no connection used by both processes


def test_the_memory_store_and_the_name_gate_survive_a_fork() -> None:
    """A child forked while another thread holds the store's lock still gets on."""
    import os
    import threading

    store = SyncMemoryStore()
    sandbox = Sandbox()
    with sandbox.sync_client() as sms:
        verifier = SyncVerifier(sms, store, service_name="MyShop", secret_key="k" * 32)
        verifier.start("998901234567")
        held = threading.Event()
        release = threading.Event()

        def hold() -> None:
            with store._lock:
                held.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait(10)
        pid = os.fork()
        if pid == 0:  # the child: the lock's holder does not exist here
            try:
                code = sandbox.last_otp("998901234567")
                ok = verifier.check("998901234567", code).status == "approved"
                os._exit(0 if ok else 1)
            except BaseException:
                os._exit(2)
        release.set()
        holder.join()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
