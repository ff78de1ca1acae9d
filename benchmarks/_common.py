"""Shared plumbing for the benchmarks: pinning, the server process, results, tables."""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "results.jsonl"
SERVER_CPU = 0
CLIENT_CPU = 1

PACKAGES = (
    "httpx",
    "httpcore",
    "anyio",
    "sniffio",
    "aiohttp",
    "httpx-aiohttp",
    "attrs",
    "cattrs",
    "orjson",
    "stamina",
    "devsms-async",
)


def can_pin() -> bool:
    """``taskset`` exists and there are two CPUs to split between server and client."""
    if shutil.which("taskset") is None or not hasattr(os, "sched_getaffinity"):
        return False
    return {SERVER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0)


def pinned(cmd: Sequence[str], cpu: int, *, pin: bool) -> list[str]:
    """``cmd`` prefixed with ``taskset -c <cpu>`` when pinning is possible and wanted."""
    if pin and can_pin():
        return ["taskset", "-c", str(cpu), *cmd]
    return list(cmd)


def python_cmd(script: str, *args: str) -> list[str]:
    return [sys.executable, str(HERE / script), *args]


@contextlib.contextmanager
def bench_server(*, pin: bool, history_total: int = 0) -> Iterator[int]:
    """Start ``server.py`` in its own process (pinned to CPU 0); yield its port."""
    cmd = pinned(
        python_cmd("server.py", "--history-total", str(history_total)), SERVER_CPU, pin=pin
    )
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the benchmark server did not start: {line!r}")
        yield int(line.split()[1])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_worker(script: str, args: Sequence[str], *, pin: bool) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter pinned to CPU 1; return its JSON line."""
    cmd = pinned(python_cmd(script, *args), CLIENT_CPU, pin=pin)
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{' '.join(cmd)} printed no result:\n{done.stdout[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def version_of(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False, timeout=5
        ).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_facts(*, pin: bool) -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "pinned": pin and can_pin(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "packages": {name: version_of(name) for name in PACKAGES},
    }


def append_result(scenario: str, run_id: str, rows: list[dict[str, Any]], **extra: Any) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    line = {
        "scenario": scenario,
        "run_id": run_id,
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **extra,
        "rows": rows,
    }
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, sort_keys=True) + "\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table; the first column left-aligned, the rest right."""
    align = [":---"] + ["---:"] * (len(headers) - 1)
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(out)


def fmt(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL (Debian's binaries) with its default durability (fsync,
    synchronous commits): yields a DSN. ``DEVSMS_BENCH_DSN`` uses yours instead."""
    given = os.environ.get("DEVSMS_BENCH_DSN")
    if given:
        yield given
        return
    import glob
    import pwd
    import socket
    import tempfile

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = found[-1] if found else shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    bin_dir = Path(initdb).parent
    root = Path(tempfile.mkdtemp(prefix="devsms-bench-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = pwd.getpwnam(os.environ.get("DEVSMS_TEST_PG_USER", "nobody"))
        prefix = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}"]
        prefix += ["--clear-groups", "--"]
        os.chown(root, user.pw_uid, user.pw_gid)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = str(root / "data")

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, cwd=root, timeout=120)

    run(str(bin_dir / "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--locale=C")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root}"
    pg_ctl = str(bin_dir / "pg_ctl")
    log = str(root / "postgres.log")
    run(pg_ctl, "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", data, "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def served_sandbox(*args: str, pin: bool) -> Iterator[str]:
    """``python -m devsms_async.testing`` (pinned to CPU 0) with ``args``; yields its API root."""
    cmd = [sys.executable, "-m", "devsms_async.testing", "--port", "0", "--no-inbox", *args]
    proc = subprocess.Popen(
        pinned(cmd, SERVER_CPU, pin=pin),
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("DevSMS sandbox serving at: "):
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        yield line.split(": ", 1)[1].strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
