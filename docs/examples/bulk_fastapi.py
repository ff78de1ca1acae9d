"""A FastAPI endpoint that starts an SMS campaign in the background and reports progress.
See docs/bulk.md.

Run it against the sandbox, in two terminals::

    devsms sandbox serve --port 8000

    DEVSMS_BASE_URL=http://127.0.0.1:8000/api DEVSMS_TOKEN=sandbox-token \\
    uvicorn bulk_fastapi:app --app-dir docs/examples --port 8001

then::

    curl -X POST http://127.0.0.1:8001/campaigns -H 'content-type: application/json' \\
         -d '{"text": "Aksiya! Bugun 20% chegirma.", "phones": ["998901234567", "998901234568"]}'
    curl http://127.0.0.1:8001/campaigns/1

The job runs as a FastAPI background task after the 202 answer, on the app's one
client (opened by ``DevSMSLifespan``). A real app would keep the campaign and the
per-message results in its database, and run very large jobs in a worker process.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

import attrs
from fastapi import BackgroundTasks, Body, FastAPI, HTTPException

from devsms_async import AsyncDevSMS
from devsms_async.bulk import BulkMessage, BulkResult
from devsms_async.contrib.fastapi import DevSMSDep, DevSMSLifespan

MAX_PHONES = 10_000


@attrs.define
class Campaign:
    """What a campaign has done so far; updated as each result arrives."""

    id: int
    total: int
    counts: collections.Counter[str] = attrs.field(factory=collections.Counter[str])
    problems: list[dict[str, Any]] = attrs.field(factory=list[dict[str, Any]])
    spent: Decimal = Decimal(0)
    finished: bool = False

    def record(self, result: BulkResult) -> None:
        self.counts[result.outcome.value] += 1
        if result.result is not None:
            # None only when the server's confirmation did not say what it cost.
            self.spent += result.result.total_cost or 0
        elif result.error is not None and len(self.problems) < 1000:
            # The error text masks the phone number; the index says which one it was.
            self.problems.append({"index": result.index, "error": str(result.error)})

    def report(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "total": self.total,
            "done": sum(self.counts.values()),
            "finished": self.finished,
            "counts": dict(self.counts),
            "spent": self.spent,
            "problems": self.problems[:100],
        }


async def run_campaign(sms: AsyncDevSMS, campaign: Campaign, text: str, phones: list[str]) -> None:
    messages = [BulkMessage(phone=phone, message=text) for phone in phones]
    results = sms.stream_bulk(messages, per_second=50, normalize=True)
    try:
        async with results:
            async for result in results:
                campaign.record(result)
    finally:
        # Shutdown or a crash mid-way: the messages read but not reported yet.
        for result in results.leftover:
            campaign.record(result)
        campaign.finished = True


def create_app(client: Callable[[], AsyncDevSMS]) -> FastAPI:
    """The app; ``client`` makes the ``AsyncDevSMS`` it uses (one per app start)."""
    campaigns: dict[int, Campaign] = {}
    app = FastAPI(title="SMS campaigns", lifespan=DevSMSLifespan(client))

    @app.post("/campaigns", status_code=202)
    async def start_campaign(
        text: Annotated[str, Body(min_length=1)],
        phones: Annotated[list[str], Body(min_length=1, max_length=MAX_PHONES)],
        background: BackgroundTasks,
        sms: DevSMSDep,
    ) -> dict[str, Any]:
        campaign = Campaign(id=len(campaigns) + 1, total=len(phones))
        campaigns[campaign.id] = campaign
        background.add_task(run_campaign, sms, campaign, text, phones)
        return {"id": campaign.id, "progress": f"/campaigns/{campaign.id}"}

    @app.get("/campaigns/{campaign_id}")
    async def campaign_progress(campaign_id: int) -> dict[str, Any]:
        campaign = campaigns.get(campaign_id)
        if campaign is None:
            raise HTTPException(404, "no such campaign")
        return campaign.report()

    return app


def _from_environment() -> FastAPI:
    # The token from DEVSMS_TOKEN, and DEVSMS_BASE_URL when it is set.
    return create_app(AsyncDevSMS)


app = _from_environment()
