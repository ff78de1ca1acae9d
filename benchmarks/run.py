"""Run the benchmark scenarios; print markdown tables; append JSON lines to results.

    python benchmarks/run.py --quick              # what `nox -s bench` runs (1-2 minutes)
    python benchmarks/run.py                      # more requests per measurement
    python benchmarks/run.py --full               # + the 1,000,000-record/message walks
    python benchmarks/run.py --only send,parse    # some scenarios
    python benchmarks/run.py --update-docs        # rewrite the tables in docs/performance.md

The loopback server runs pinned to CPU 0 and every client measurement in a fresh
interpreter pinned to CPU 1 (``taskset``; ``--no-pin`` or a one-CPU machine runs them
unpinned). Each configuration runs ``--runs`` times (default 3), interleaved, and the
median is reported. Compare figures within one run only: the ratios travel between
machines, the absolute numbers do not.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from _common import (
    HERE,
    ROOT,
    append_result,
    bench_server,
    fmt,
    machine_facts,
    median,
    postgres_server,
    python_cmd,
    ratio,
    run_worker,
    served_sandbox,
    table,
)
from bench_import import TARGET as IMPORT_TARGET

DOCS = ROOT / "docs" / "performance.md"
LATEST = HERE / "results" / "latest.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

SEND_IMPLS = (
    ("asyncio", "raw asyncio streams (the ceiling)"),
    ("aiohttp", "raw aiohttp"),
    ("httpx", "raw httpx, 10 connections"),
    ("httpx-pool100", "raw httpx, default Limits(100, 20)"),
    ("httpx-aiohttp", "raw httpx + httpx-aiohttp transport"),
    ("sdk", "**SDK**, default transport"),
    ("sdk-aiohttp", '**SDK**, `http_backend="aiohttp"`'),
    ("httpx-sync", "raw sync httpx.Client, 10 connections (c threads)"),
    ("sdk-sync", "**SDK** sync `DevSMS` (c threads)"),
)
CONCURRENCY = (1, 10, 100)


class Options(argparse.Namespace):
    quick: bool
    full: bool
    runs: int
    pin: bool
    only: str | None
    update_docs: bool


def check(
    label: str, value: float, limit: float, *, at_least: bool = False, unit: str = "x"
) -> str:
    """One target line: ``- met: <label>: 1.04x (target <= 1.1x)``."""
    ok = value >= limit if at_least else value <= limit
    sign = ">=" if at_least else "<="
    space = "" if unit == "x" else " "
    return (
        f"- {'met' if ok else '**not met**'}: {label}: {value:.2f}{space}{unit} "
        f"(target {sign} {limit:g}{space}{unit})"
    )


# -- scenario 1 ---------------------------------------------------------------------------


def scenario_send(opts: Options, run_id: str) -> str:
    requests = 600 if opts.quick else 2000
    samples: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with bench_server(pin=opts.pin) as port:
        for concurrency in CONCURRENCY:
            for _ in range(opts.runs):
                for impl, _label in SEND_IMPLS:
                    args = ["--impl", impl, "--port", str(port)]
                    args += ["--concurrency", str(concurrency), "--requests", str(requests)]
                    result = run_worker("bench_send.py", args, pin=opts.pin)
                    samples.setdefault((impl, concurrency), []).append(result)
    cpu = {key: median([s["cpu_ms_per_req"] for s in runs]) for key, runs in samples.items()}
    rps = {key: median([s["req_per_s"] for s in runs]) for key, runs in samples.items()}

    headers = ["client"] + [f"{c} in flight" for c in CONCURRENCY]
    cpu_rows = [
        [label]
        + [f"{fmt(cpu[impl, c], 3)} ({ratio(cpu[impl, c], cpu['httpx', c])})" for c in CONCURRENCY]
        for impl, label in SEND_IMPLS
    ]
    rps_rows = [
        [label] + [f"{rps[impl, c]:,.0f}" for c in CONCURRENCY] for impl, label in SEND_IMPLS
    ]
    targets = []
    for c in CONCURRENCY:
        targets.append(check(f"SDK / raw httpx at c={c}", cpu["sdk", c] / cpu["httpx", c], 1.05))
    for c in CONCURRENCY:
        targets.append(
            check(
                f"SDK on aiohttp / raw aiohttp at c={c}",
                cpu["sdk-aiohttp", c] / cpu["aiohttp", c],
                1.5,
            )
        )
    for c in CONCURRENCY:
        targets.append(
            check(
                f"SDK sync DevSMS / raw sync httpx at c={c}",
                cpu["sdk-sync", c] / cpu["httpx-sync", c],
                1.05,
            )
        )
    targets.append(
        check(
            "raw default httpx / SDK on aiohttp at c=100 (speed-up)",
            cpu["httpx-pool100", 100] / cpu["sdk-aiohttp", 100],
            4.0,
            at_least=True,
        )
    )
    append_result(
        "send",
        run_id,
        [
            {
                "impl": impl,
                "concurrency": c,
                "cpu_ms_per_req": cpu[impl, c],
                "req_per_s": rps[impl, c],
            }
            for (impl, c) in sorted(cpu)
        ],
        requests=requests,
        runs=opts.runs,
    )
    return "\n".join(
        [
            f"### 1. `send_sms`: client CPU per request ({requests} requests, median of "
            f"{opts.runs})",
            "",
            "Client CPU ms per request (ratio to raw httpx with the same 10 connections):",
            "",
            table(headers, cpu_rows),
            "",
            "Requests per second (wall clock; the server has its own core):",
            "",
            table(headers, rps_rows),
            "",
            *targets,
        ]
    )


# -- scenario 2 ---------------------------------------------------------------------------

BULK_IMPLS = (
    ("httpx-workers", "by hand: raw httpx, 10 workers"),
    ("httpx-gather", "by hand: raw httpx, gather + Semaphore(10)"),
    ("sdk", "**SDK** `send_bulk`, default transport"),
    ("sdk-aiohttp", '**SDK** `send_bulk`, `http_backend="aiohttp"`'),
)


def scenario_bulk(opts: Options, run_id: str) -> str:
    n = 3_000 if opts.quick else 10_000
    samples: dict[str, list[dict[str, Any]]] = {}
    with bench_server(pin=opts.pin) as port:
        for _ in range(opts.runs):
            for impl, _label in BULK_IMPLS:
                args = ["--impl", impl, "--port", str(port), "--messages", str(n)]
                samples.setdefault(impl, []).append(run_worker("bench_bulk.py", args, pin=opts.pin))
    cpu = {impl: median([s["cpu_ms_per_msg"] for s in runs]) for impl, runs in samples.items()}
    rate = {impl: median([s["msgs_per_s"] for s in runs]) for impl, runs in samples.items()}
    base = cpu["httpx-workers"]
    rows = [
        [label, fmt(cpu[impl], 3), ratio(cpu[impl], base), f"{rate[impl]:,.0f}"]
        for impl, label in BULK_IMPLS
    ]
    sizes = [20_000] if opts.quick else [100_000]
    if opts.full:
        sizes.append(1_000_000)
    memory = [
        run_worker("bench_bulk.py", ["--mode", "memory", "--messages", str(size)], pin=opts.pin)
        for size in sizes
    ]
    memory_rows = [
        [
            f"{m['messages']:,}",
            " → ".join(f"{s['rss_mb']:.1f}" for s in m["samples"]),
            fmt(m["growth_mb"], 2),
            fmt(m["cpu_s"] / m["messages"] * 1e6, 0),
        ]
        for m in memory
    ]
    append_result(
        "bulk",
        run_id,
        [{"impl": i, "cpu_ms_per_msg": cpu[i], "msgs_per_s": rate[i]} for i in cpu],
        messages=n,
        runs=opts.runs,
        memory=memory,
    )
    biggest = memory[-1]
    return "\n".join(
        [
            f"### 2. Bulk: {n:,} messages from a generator (client CPU, median of {opts.runs})",
            "",
            table(["client", "CPU ms/msg", "vs by-hand httpx", "msgs/s"], rows),
            "",
            "Memory of `stream_bulk` over a generator (answers from an in-process "
            "`httpx.MockTransport`; resident MB at 1%, 10%, 50%, 100% of the job):",
            "",
            table(["messages", "RSS MB", "growth MB", "µs CPU/msg"], memory_rows),
            "",
            check(
                f"resident memory growth over {biggest['messages']:,} messages",
                biggest["growth_mb"],
                5.0,
                unit="MB",
            ),
        ]
    )


# -- scenario 3 ---------------------------------------------------------------------------

HISTORY_IMPLS = (
    ("httpx", "by hand: raw httpx + json.loads (dicts)"),
    ("sdk", "**SDK** `iter_history`, default transport"),
    ("sdk-aiohttp", '**SDK** `iter_history`, `http_backend="aiohttp"`'),
)


def scenario_history(opts: Options, run_id: str) -> str:
    n = 20_000 if opts.quick else 100_000
    samples: dict[str, list[dict[str, Any]]] = {}
    # The server's sandbox holds the n records before the first walk is timed.
    with bench_server(pin=opts.pin, history_total=n) as port:
        for _ in range(opts.runs):
            for impl, _label in HISTORY_IMPLS:
                args = ["--impl", impl, "--port", str(port), "--records", str(n)]
                samples.setdefault(impl, []).append(
                    run_worker("bench_history.py", args, pin=opts.pin)
                )
        traced = run_worker(
            "bench_history.py",
            ["--impl", "sdk", "--port", str(port), "--records", str(n), "--trace"],
            pin=opts.pin,
        )
        walks = [samples["sdk"][-1]]
        if opts.full:
            args = ["--impl", "sdk", "--port", str(port), "--records", "1000000"]
            walks.append(run_worker("bench_history.py", args, pin=opts.pin))
    cost = {impl: median([s["us_per_record"] for s in runs]) for impl, runs in samples.items()}
    speed = {
        impl: median([s["records"] / s["wall_s"] for s in runs]) for impl, runs in samples.items()
    }
    base = cost["httpx"]
    rows = [
        [label, fmt(cost[impl], 2), ratio(cost[impl], base), f"{speed[impl]:,.0f}"]
        for impl, label in HISTORY_IMPLS
    ]
    memory_rows = [
        [
            f"{w['records']:,}",
            " → ".join(f"{s['rss_mb']:.1f}" for s in w["rss_samples"]),
            fmt(w["rss_growth_mb"], 2),
        ]
        for w in walks
    ]
    append_result(
        "history",
        run_id,
        [{"impl": i, "us_per_record": cost[i], "records_per_s": speed[i]} for i in cost],
        records=n,
        runs=opts.runs,
        traced=traced,
        walks=walks,
    )
    return "\n".join(
        [
            f"### 3. `iter_history` over {n:,} records, 200 per page (client CPU, median of "
            f"{opts.runs})",
            "",
            table(["client", "CPU µs/record", "vs by-hand httpx", "records/s"], rows),
            "",
            f"Peak traced memory of the SDK walk (tracemalloc, after a warm-up walk): "
            f"{traced['peak_traced_mb']:.2f} MB for {n:,} records. Resident MB at 1%, 10%, "
            "50%, 100% of a walk:",
            "",
            table(["records", "RSS MB", "growth MB"], memory_rows),
            "",
            check(
                f"resident memory growth over {walks[-1]['records']:,} records",
                walks[-1]["rss_growth_mb"],
                5.0,
                unit="MB",
            ),
        ]
    )


# -- scenario 4 ---------------------------------------------------------------------------


def scenario_parse(opts: Options, run_id: str) -> str:
    number = 40 if opts.quick else 200
    runs = [
        run_worker("bench_parse.py", ["--number", str(number)], pin=opts.pin)["rows"]
        for _ in range(opts.runs)
    ]
    names = [row["name"] for row in runs[0]]
    cost = {
        name: median([r["us_per_row"] for run in runs for r in run if r["name"] == name])
        for name in names
    }
    base = cost["json.loads"]
    rows = [[name, fmt(cost[name], 2), ratio(cost[name], base)] for name in names]
    structure = cost["structure onto HistoryPage (SDK converter)"]
    append_result(
        "parse", run_id, [{"name": n, "us_per_row": cost[n]} for n in names], runs=opts.runs
    )
    return "\n".join(
        [
            f"### 4. Parsing one history row (200-row page; µs per row, median of {opts.runs})",
            "",
            table(["step", "µs/row", "vs json.loads"], rows),
            "",
            check("structuring / JSON decode (json.loads)", structure / base, 1.0),
        ]
    )


# -- scenario 5 ---------------------------------------------------------------------------


def scenario_import(opts: Options, run_id: str) -> str:
    runs = 11 if opts.quick else 21  # alternating; the ratio is of the medians
    result = run_worker("bench_import.py", ["--runs", str(runs)], pin=opts.pin)
    rows = [
        [
            r["environment"],
            fmt(r["httpx_median_ms"], 1),
            fmt(r["devsms_async_median_ms"], 1),
            f"{r['ratio']:.2f}x",
            f"{r['best_ratio']:.2f}x",
        ]
        for r in result["rows"]
    ]
    extra = [[e["module"], fmt(e["self_ms"], 2)] for e in result["extra_top"]]
    append_result("import", run_id, result["rows"], extra_top=result["extra_top"], runs=runs)
    targets = [
        check(f"import devsms_async / import httpx ({r['environment']})", r["ratio"], IMPORT_TARGET)
        for r in result["rows"]
    ]
    return "\n".join(
        [
            f"### 5. Import time (`python -X importtime`, cumulative ms, median of {runs} "
            "alternating runs)",
            "",
            table(
                ["environment", "import httpx", "import devsms_async", "ratio", "best-of ratio"],
                rows,
            ),
            "",
            *targets,
            "",
            f"What `devsms_async` loads on top of httpx ({result['extra_ms']:.1f} ms of self "
            "time, without httpx's CLI packages):",
            "",
            table(["module (or package)", "self ms"], extra),
        ]
    )


# -- scenario 6 ---------------------------------------------------------------------------

# (journal, worker processes): every process sends its own keyed range of one job.
SCALE_CONFIGS = (("pg", 1), ("pg", 2), ("pg", 4), ("none", 1), ("none", 4))
SCALE_LATENCY_MS = 100
SCALE_CONCURRENCY = 3
# Not pinned: 4 client processes on the one client CPU would measure that CPU, not how a
# job shares out; at 3 in flight and 100 ms a process needs little CPU (30 sends/s).


def _scale_round(
    base_url: str, dsn: str, journal: str, workers: int, per_worker: int, job: str
) -> dict[str, float]:
    """Start ``workers`` processes, let them warm up, start them together; their rate."""
    procs = []
    for w in range(workers):
        args = ["--base-url", base_url, "--dsn", dsn, "--job", job, "--journal", journal]
        args += ["--start", str(w * per_worker), "--stop", str((w + 1) * per_worker)]
        args += ["--concurrency", str(SCALE_CONCURRENCY)]
        cmd = python_cmd("bench_scale.py", *args)
        procs.append(
            subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        )
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"a bench_scale.py worker did not start: {line!r}")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=600)
            if proc.returncode != 0:
                raise RuntimeError(f"a bench_scale.py worker failed ({proc.returncode})")
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    sent = sum(r["sent"] for r in results)
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {
        "sends_per_s": sent / wall,
        "cpu_ms_per_msg": sum(r["cpu_s"] for r in results) / sent * 1000,
    }


def scenario_scale(opts: Options, run_id: str) -> str:
    per_worker = 240 if opts.quick else 900
    samples: dict[tuple[str, int], list[dict[str, float]]] = {}
    args = ["--latency", str(SCALE_LATENCY_MS), "--token", "bench-token"]
    args += ["--balance", str(10**12), "--advance-every", "0"]
    with served_sandbox(*args, pin=False) as base_url, postgres_server() as dsn:
        for round_ in range(opts.runs):
            for journal, workers in SCALE_CONFIGS:
                job = f"bench-{run_id}-{journal}-{workers}-{round_}".lower()
                result = _scale_round(base_url, dsn, journal, workers, per_worker, job)
                samples.setdefault((journal, workers), []).append(result)
    rate = {k: median([s["sends_per_s"] for s in v]) for k, v in samples.items()}
    cpu = {k: median([s["cpu_ms_per_msg"] for s in v]) for k, v in samples.items()}
    labels = {"pg": "`PostgresJournal`, one job", "none": "no journal"}
    rows = [
        [
            labels[journal],
            str(workers),
            f"{rate[journal, workers]:,.0f}",
            ratio(rate[journal, workers], rate[journal, 1]),
            fmt(cpu[journal, workers], 2),
        ]
        for journal, workers in SCALE_CONFIGS
    ]
    append_result(
        "scale",
        run_id,
        [
            {"journal": j, "workers": w, "sends_per_s": rate[j, w], "cpu_ms_per_msg": cpu[j, w]}
            for j, w in SCALE_CONFIGS
        ],
        per_worker=per_worker,
        latency_ms=SCALE_LATENCY_MS,
        concurrency=SCALE_CONCURRENCY,
        runs=opts.runs,
    )
    return "\n".join(
        [
            f"### 6. One job over processes: sandbox answering after {SCALE_LATENCY_MS} ms, "
            f"{SCALE_CONCURRENCY} in flight per process, {per_worker:,} messages per "
            f"process (median of {opts.runs} alternating rounds)",
            "",
            table(["journal", "processes", "sends/s", "vs 1 process", "client CPU ms/msg"], rows),
            "",
            check(
                "4 processes / 1 process, one PostgresJournal job",
                rate["pg", 4] / rate["pg", 1],
                3.0,
                at_least=True,
            ),
            check(
                "PostgresJournal / no journal, sends/s, 1 process",
                rate["pg", 1] / rate["none", 1],
                0.85,
                at_least=True,
            ),
            check(
                "PostgresJournal / no journal, sends/s, 4 processes",
                rate["pg", 4] / rate["none", 4],
                0.85,
                at_least=True,
            ),
            f"- client CPU per message, PostgresJournal / no journal (1 process): "
            f"{cpu['pg', 1] / cpu['none', 1]:.2f}x",
        ]
    )


SCENARIOS: dict[str, Callable[[Options, str], str]] = {
    "send": scenario_send,
    "bulk": scenario_bulk,
    "history": scenario_history,
    "parse": scenario_parse,
    "import": scenario_import,
    "scale": scenario_scale,
}


def machine_section(facts: dict[str, Any], opts: Options) -> str:
    packages = ", ".join(f"{k} {v}" for k, v in facts["packages"].items() if v)
    pinning = (
        "server pinned to CPU 0, clients to CPU 1 (taskset)" if facts["pinned"] else "not pinned"
    )
    mode = "--quick" if opts.quick else "--full" if opts.full else "default"
    return "\n".join(
        [
            f"Machine: {facts['cpu']}, {facts['cpus']} CPUs; {pinning}. "
            f"{facts['implementation']} {facts['python']} on {facts['platform']}.",
            "",
            f"Packages: {packages}. Mode: `{mode}`, {opts.runs} runs per configuration.",
        ]
    )


def update_docs(report: str) -> None:
    text = DOCS.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{DOCS} has no {START} ... {END} block to replace")
    DOCS.write_text(pattern.sub(lambda _: f"{START}\n{report}\n{END}", text), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (nox -s bench)")
    parser.add_argument("--full", action="store_true", help="add the 1,000,000-item walks")
    parser.add_argument("--runs", type=int, default=3, help="runs per configuration")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="no taskset")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(SCENARIOS)}")
    parser.add_argument("--update-docs", action="store_true", help="rewrite docs tables")
    opts = parser.parse_args(argv, namespace=Options())
    chosen = list(SCENARIOS) if not opts.only else [s.strip() for s in opts.only.split(",")]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")

    run_id = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    facts = machine_facts(pin=opts.pin)
    append_result("machine", run_id, [], machine=facts)
    sections = [machine_section(facts, opts)]
    print(sections[0], flush=True)
    started = time.perf_counter()
    for name in chosen:
        t0 = time.perf_counter()
        section = SCENARIOS[name](opts, run_id)
        section += f"\n\n<sub>scenario time: {time.perf_counter() - t0:.0f} s</sub>"
        print(f"\n{section}", flush=True)
        sections.append(section)
    report = f"Run `{run_id}`.\n\n" + "\n\n".join(sections)
    LATEST.parent.mkdir(parents=True, exist_ok=True)
    LATEST.write_text(report + "\n", encoding="utf-8")
    print(
        f"\ntotal {time.perf_counter() - started:.0f} s; results appended to "
        f"{HERE.name}/results/results.jsonl",
        file=sys.stderr,
    )
    if opts.update_docs:
        update_docs(report)
        print(f"tables written to {DOCS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
