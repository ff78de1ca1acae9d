"""The arq worker of tests/scale/test_campaign_engines.py: docs/examples/scale_arq.py as a user
would run it, plus a record of each job start (which process, which try), so the test
knows which worker to SIGKILL and can see the job run again."""

from __future__ import annotations

import json
import os
from typing import Any

import scale_arq


async def _record_start(ctx: dict[str, Any]) -> None:
    record = {"id": ctx["job_id"], "try": ctx["job_try"], "pid": os.getpid()}
    with open(os.environ["CAMPAIGN_STARTS"], "a", encoding="utf-8") as starts:
        starts.write(json.dumps(record) + "\n")


# arq reads a settings class's own attributes only (not inherited ones): copy them.
WorkerSettings = type(
    "WorkerSettings",
    (),
    {
        **{k: v for k, v in vars(scale_arq.WorkerSettings).items() if not k.startswith("__")},
        "on_job_start": _record_start,
        "poll_delay": 0.2,
    },
)
