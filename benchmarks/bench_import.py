"""Scenario 5: import time of ``devsms_async`` against ``httpx`` alone.

``--runs`` fresh interpreters each (11 by default), alternating ``import httpx`` and
``import devsms_async`` so that drift in the machine's load hits both alike; each
figure is the cumulative time ``python -X importtime`` reports for the top-level
module. The ratio is of the **medians** (the target: at most ``TARGET``); the best of
the runs is reported too (import time is a fixed amount of work that load can only
lengthen). Bytecode is cached (in a temporary ``PYTHONPYCACHEPREFIX``, warmed first) so
the source is not recompiled: a user's installed package has its ``.pyc`` files.

``python benchmarks/bench_import.py`` prints one line per environment, then the JSON
line that ``benchmarks/run.py`` reads.

httpx imports ``click``, ``rich`` and ``pygments`` for its command line when they are
installed (as they are with ``devsms-async[cli]``), which makes ``import httpx`` ~35 ms
heavier; both cases are measured, the second by hiding those three packages.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from typing import Any

TARGET = 1.15
"""``import devsms_async`` may take at most this many times ``import httpx``."""
HIDE_CLI = "import sys; sys.modules.update(click=None, rich=None, pygments=None); "
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def importtime(statement: str, env: dict[str, str]) -> dict[str, tuple[int, int]]:
    """``{module: (self_us, cumulative_us)}`` from one ``-X importtime`` run."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stderr
    out = {}
    for line in err.splitlines():
        match = LINE.match(line)
        if match:
            out[match.group(4)] = (int(match.group(1)), int(match.group(2)))
    return out


def measure(runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="devsms-bench-pyc-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        importtime("import devsms_async, httpx", env)  # write the .pyc files
        rows = []
        samples: dict[tuple[str, str], list[dict[str, tuple[int, int]]]] = {}
        for setup, label in (("", "as installed"), (HIDE_CLI, "without click/rich/pygments")):
            for module in ("httpx", "devsms_async"):
                samples[label, module] = []
            for _ in range(runs):  # interleaved, so drift hits both alike
                for module in ("httpx", "devsms_async"):
                    samples[label, module].append(importtime(f"{setup}import {module}", env))
            best = {
                module: min(s[module][1] for s in samples[label, module]) / 1000
                for module in ("httpx", "devsms_async")
            }
            medians = {
                module: statistics.median(s[module][1] for s in samples[label, module]) / 1000
                for module in ("httpx", "devsms_async")
            }
            rows.append(
                {
                    "environment": label,
                    "httpx_median_ms": medians["httpx"],
                    "devsms_async_median_ms": medians["devsms_async"],
                    "ratio": medians["devsms_async"] / medians["httpx"],
                    "httpx_ms": best["httpx"],
                    "devsms_async_ms": best["devsms_async"],
                    "best_ratio": best["devsms_async"] / best["httpx"],
                }
            )
        # Where the difference goes: modules httpx does not load, by median self time.
        label = "without click/rich/pygments"
        httpx_modules = set().union(*samples[label, "httpx"])
        ours = samples[label, "devsms_async"]
        extra = {m for sample in ours for m in sample} - httpx_modules
        costs = {
            m: statistics.median(sample.get(m, (0, 0))[0] for sample in ours) / 1000 for m in extra
        }
        by_package: dict[str, float] = {}
        for module, cost in costs.items():
            package = module.partition(".")[0]
            if package == "devsms_async":
                package = module
            by_package[package] = by_package.get(package, 0.0) + cost
        top = sorted(by_package.items(), key=lambda item: -item[1])[:12]
    return {
        "rows": rows,
        "extra_ms": sum(costs.values()),
        "extra_top": [{"module": m, "self_ms": round(c, 2)} for m, c in top],
    }


def instructions(statement: str, env: dict[str, str]) -> int:
    """Instructions one interpreter runs for ``statement`` (callgrind's ``Collected``)."""
    valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    err = subprocess.run(
        [*valgrind, sys.executable, "-c", statement],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stderr
    match = re.search(r"Collected : (\d+)", err)
    if match is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{err[-2000:]}")
    return int(match.group(1))


def count_instructions() -> None:
    with tempfile.TemporaryDirectory(prefix="devsms-bench-pyc-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPYCACHEPREFIX=cache, PYTHONHASHSEED="0")
        importtime("import devsms_async, httpx", env)  # write the .pyc files
        for setup, label in (("", "as installed"), (HIDE_CLI, "without click/rich/pygments")):
            base = instructions(setup or "pass", env)
            httpx = instructions(f"{setup}import httpx", env) - base
            ours = instructions(f"{setup}import devsms_async", env) - base
            verdict = "met" if ours / httpx <= TARGET else "NOT met"
            sys.stdout.write(
                f"{label}: import httpx {httpx / 1e6:.1f} M instructions, import devsms_async "
                f"{ours / 1e6:.1f} M: {ours / httpx:.2f}x, target <= {TARGET}x: {verdict}\n"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="import time, devsms_async vs httpx")
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions (valgrind), not time"
    )
    args = parser.parse_args(argv)
    if args.instructions:
        count_instructions()
        return
    result = measure(args.runs)
    for row in result["rows"]:
        verdict = "met" if row["ratio"] <= TARGET else "NOT met"
        sys.stdout.write(
            f"{row['environment']}: import httpx {row['httpx_median_ms']:.1f} ms, import "
            f"devsms_async {row['devsms_async_median_ms']:.1f} ms (medians of {args.runs}): "
            f"{row['ratio']:.2f}x, target <= {TARGET}x: {verdict} "
            f"(best of {args.runs}: {row['best_ratio']:.2f}x)\n"
        )
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
