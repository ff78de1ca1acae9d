"""The Celery app of tests/scale/test_campaign_engines.py: docs/examples/scale_celery.py as a
user would run it, plus a record of each task start (which process, which chunk), so
the test knows which child to SIGKILL and can see the chunk run again."""

from __future__ import annotations

import json
import os
from typing import Any

from celery.signals import task_prerun
from scale_celery import app, send_chunk, settle

__all__ = ["app", "send_chunk", "settle"]


@task_prerun.connect
def _record_start(task_id: str, task: Any, args: Any = (), **_: Any) -> None:
    record = {"id": task_id, "task": task.name, "args": list(args), "pid": os.getpid()}
    with open(os.environ["CAMPAIGN_STARTS"], "a", encoding="utf-8") as starts:
        starts.write(json.dumps(record) + "\n")
