"""A real PostgreSQL for the tests: Debian's binaries, a throw-away cluster per session.

``postgres_server`` (session-scoped, registered in ``tests/conftest.py``) runs ``initdb``
into a temporary directory and starts ``postgres`` on 127.0.0.1 with a port the OS chose
(and a Unix socket in the same directory); it is stopped and deleted after the session.
PostgreSQL refuses to run as root, and CI runs the tests as root: then every server
command runs as an unprivileged user (``DEVSMS_TEST_PG_USER``, default ``nobody``)
through ``setpriv``.

```python
def test_something(postgres_server: PostgresServer) -> None:
    dsn = postgres_server.new_database()     # an empty database of its own
    ...
    postgres_server.stop()                   # PostgreSQL down mid-job
    postgres_server.start()                  # back, same port, same data
```
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "find_bin_dir", "postgres_server"]

BIN_DIRS = [Path(f"/usr/lib/postgresql/{v}/bin") for v in (17, 16, 15, 14, 13)]


def find_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are (Debian keeps them off the PATH)."""
    override = os.environ.get("DEVSMS_TEST_PG_BIN")
    candidates = [Path(override)] if override else BIN_DIRS
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster in ``root``, listening on 127.0.0.1:``port``."""

    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.port = _free_port()
        self._prefix: list[str] = []
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            self._user = pwd.getpwnam(os.environ.get("DEVSMS_TEST_PG_USER", "nobody"))
            self._prefix = [
                "setpriv",
                f"--reuid={self._user.pw_uid}",
                f"--regid={self._user.pw_gid}",
                "--clear-groups",
                "--",
            ]
            os.chown(root, self._user.pw_uid, self._user.pw_gid)

    @property
    def dsn(self) -> str:
        """The ``postgres`` database over TCP (trust authentication: tests only)."""
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._prefix, *args],
            check=check,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.root,
        )

    def init(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )

    def start(self, *, attempts: int = 5) -> None:
        """Start (or restart after ``stop``) on the same port; waits until it answers."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} "
            f"-c unix_socket_directories={self.root} "
            # Nothing here must survive a crash of the machine: faster tests.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c shared_buffers=16MB -c max_connections=200"
        )
        for attempt in range(attempts):
            result = self._run(
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
                check=False,
            )
            if result.returncode == 0 and self.ready():
                return
            if attempt + 1 < attempts and not self.ready():
                self.port = _free_port()  # taken in between by someone else: another
                continue
        log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{log}")

    def _address(self) -> tuple[str, ...]:
        """The client tools' options for this server's address."""
        return ("-h", "127.0.0.1", "-p", str(self.port))

    def ready(self) -> bool:
        result = self._run(
            str(self.bin_dir / "pg_isready"), *self._address(), "-t", "5", check=False
        )
        return result.returncode == 0

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (clients cut off) or ``immediate`` (like a crash)."""
        self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop",
            check=False,
        )  # fmt: skip

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with ``psql``; its output (unaligned, tuples only)."""
        result = self._run(
            str(self.bin_dir / "psql"),
            *self._address(),
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            "-c",
            sql,
        )
        return result.stdout

    def new_database(self, prefix: str = "t") -> str:
        """Create an empty database; its DSN."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.psql(f"CREATE DATABASE {name}")
        return self.dsn_for(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = find_bin_dir()
    if bin_dir is None or (os.geteuid() == 0 and shutil.which("setpriv") is None):
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is missing: .ci/run installs the postgresql package")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    # Under /tmp itself, not pytest's 0700 tmp dir: the unprivileged user must reach it.
    root = Path(tempfile.mkdtemp(prefix="devsms-pg-"))
    server = PostgresServer(bin_dir, root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop("immediate")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (server.data / "postmaster.pid").exists():
            time.sleep(0.05)
        shutil.rmtree(root, ignore_errors=True)
