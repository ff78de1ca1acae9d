"""One worker process of the cross-process verify tests (run by tests/verify/test_verify_redis.py).

    python tests/verify/verify_worker.py URL SPEC_JSON

Connects a ``Verifier`` on ``RedisStore`` to the test's redis-server, waits at a
barrier (a Redis list) so every worker starts together, runs its checks (or its
starts, with a fake sender) concurrently and prints the outcomes as JSON.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import sys
from typing import Any

from devsms_async import DevSMSError
from devsms_async.models import SendResult, SmsStatus
from devsms_async.verify import Rate, RedisStore, Verifier


class _FakeSms:
    """Sends nothing: answers like a successful send (the cap tests count these)."""

    def __init__(self) -> None:
        self.sent = 0

    async def send_otp(self, phone: str, **kwargs: Any) -> SendResult:
        self.sent += 1
        await asyncio.sleep(0.001)  # a send takes a while; the others run meanwhile
        return SendResult(
            sms_id=self.sent,
            request_id="r",
            status=SmsStatus.SENT,
            status_raw="sent",
            parts_count=1,
            total_cost=50,
            balance=0,
            type="universal_otp",
        )


async def _start(verifier: Verifier, phone: str, key: str | None) -> str:
    try:
        await verifier.start(phone, key=key)
    except DevSMSError as exc:
        return type(exc).__name__
    return "sent"


async def main(url: str, spec: dict[str, Any]) -> list[str]:
    when = _dt.datetime.fromtimestamp(spec["now"], _dt.timezone.utc)
    async with RedisStore(url=url, prefix=spec["prefix"]) as store:
        verifier = Verifier(
            _FakeSms(),
            store,
            service_name=spec["service_name"],
            secret_key=spec["secret_key"],
            max_attempts=spec["max_attempts"],
            clock=lambda: when,
            per_phone=Rate(*spec.get("per_phone", (5, 3600))),
            per_key=Rate(*spec.get("per_key", (10, 3600))),
            per_service=Rate(*spec.get("per_service", (1000, 3600))),
        )
        await store.redis.ping()
        print("ready", flush=True)
        await store.redis.blpop([spec["barrier"]], timeout=60)
        if "starts" in spec:
            return list(
                await asyncio.gather(
                    *(_start(verifier, phone, key) for phone, key in spec["starts"])
                )
            )
        results = await asyncio.gather(
            *(verifier.check(spec["phone"], code) for code in spec["codes"])
        )
        return [result.status for result in results]


if __name__ == "__main__":
    statuses = asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
    print(json.dumps(statuses), flush=True)
