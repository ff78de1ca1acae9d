"""A real redis-server on 127.0.0.1 for the tests: started, stopped and restarted by them.

The fixtures live in tests/conftest.py (`redis_url`: one server for the session;
`redis_server`: a private server a test may stop and restart on the same port).
Use `RedisServer` directly when a test needs more control.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    """A port the OS says is free now (it may be taken again before it is used)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_binary() -> str:
    """The redis-server binary, or skip (fail on CI, where `.ci/run` installs it)."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing: .ci/run installs it")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    return binary


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process without persistence, on 127.0.0.1.

    `start()` picks a free port the first time; `stop()` then `start()` again
    restarts it on the same port (what a client sees when Redis restarts).
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        assert self.port is not None, "start() the server first"
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> str:
        """Start the server (on its old port after a `stop()`); returns its URL."""
        binary = redis_binary()
        fixed = self.port is not None
        for _ in range(5 if not fixed else 50):
            port = self.port if fixed else free_port()
            assert port is not None
            process = subprocess.Popen(
                [
                    binary,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and process.poll() is None:
                if _answers_ping(port):
                    self.port = port
                    self._process = process
                    return self.url
                time.sleep(0.05)
            process.kill()
            process.wait()
            # A new port was taken in between (try another), or the old port is still
            # in TIME_WAIT/used after a stop (wait a little and try it again).
            if fixed:
                time.sleep(0.1)
        pytest.fail(f"could not start redis-server (port {self.port})")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then wait); the port is kept for `start()`."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def running_redis(workdir: Path) -> Iterator[RedisServer]:
    """A private redis-server for a `with` block (stopped at its end)."""
    server = RedisServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
