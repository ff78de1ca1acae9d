"""The sandbox served by a real process: ``python -m devsms_async.testing`` (or
``devsms sandbox serve``) on a port the OS picks, read until it says where it serves,
stopped with Ctrl-C (SIGINT) as a person stops it.

Use `served_sandbox(*args)` as a context manager, or the `sandbox_process` fixture
(tests/conftest.py), which stops every process it started when the test ends.
`exchange` talks raw HTTP to any server on 127.0.0.1 (edge cases no client would send).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import anyio
import attrs

SERVE = (sys.executable, "-m", "devsms_async.testing")
CLI_SERVE = (sys.executable, "-m", "devsms_async.cli", "sandbox", "serve")
FIRST_LINE = "DevSMS sandbox serving at: http://127.0.0.1:"


@attrs.define
class ServedProcess:
    """A running sandbox process; `out`, `err` and `returncode` are set once it stopped."""

    proc: subprocess.Popen[bytes]
    base_url: str = ""
    lines: list[str] = attrs.Factory(list)  # the first lines of stdout, read while it runs
    out: str = ""  # the rest of stdout
    err: str = ""

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1].split("/")[0])

    @property
    def inbox_url(self) -> str:
        """The web inbox's URL, from the ``inbox: URL`` line among `lines`."""
        return next(line.split()[1] for line in self.lines if line.startswith("inbox: "))

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode


@contextmanager
def served_sandbox(
    *args: str,
    command: Sequence[str] = SERVE,
    lines: int = 1,
    env: Mapping[str, str] | None = None,
) -> Iterator[ServedProcess]:
    """Run ``COMMAND --port 0 ARGS`` until the block ends, then Ctrl-C it.

    `lines` lines of stdout are read before the block starts (the first names the API
    root); the rest of the output is in `out` and `err` afterwards.
    """
    # stderr goes to a file: a server that logs a lot never blocks on a full pipe.
    # stdout is unbuffered bytes: readline() takes only the lines asked for, and
    # communicate() gets every later one (a text wrapper could read ahead and keep them).
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [*command, "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=errors,
            bufsize=0,
            env={**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"},
        )
        assert proc.stdout is not None
        served = ServedProcess(proc)
        try:
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            first = proc.stdout.readline().decode() if ready else ""
            assert first.startswith(FIRST_LINE), first
            served.base_url = first.split(": ", 1)[1].strip()
            served.lines = [first] + [proc.stdout.readline().decode() for _ in range(lines - 1)]
            yield served
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                out, _ = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            errors.seek(0)
            served.out, served.err = out.decode(), errors.read().decode()


async def exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes to 127.0.0.1:`port`; everything the server says until it closes."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(request)
        answer = b""
        with anyio.fail_after(5):
            while True:
                try:
                    answer += await stream.receive()
                except anyio.EndOfStream:
                    return answer
