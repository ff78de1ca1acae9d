"""Order notifications by SMS with FastAPI: send, receive delivery reports, poll as a
fallback. See docs/fastapi.md.

Run it against the sandbox, in two terminals::

    devsms sandbox serve --port 8000

    DEVSMS_BASE_URL=http://127.0.0.1:8000/api DEVSMS_TOKEN=sandbox-token \\
    PUBLIC_URL=http://127.0.0.1:8001 CALLBACK_SECRET=change-me \\
    uvicorn fastapi_app:app --app-dir docs/examples --port 8001 --no-access-log

then::

    curl -X POST 'http://127.0.0.1:8001/orders/42/notify?phone=998901234567'
    curl 'http://127.0.0.1:8001/sms/1'            # what the reports said so far
    curl 'http://127.0.0.1:8001/sms/1?wait=10'    # poll DevSMS if no report came

Against the real service, leave out DEVSMS_BASE_URL, use your token, and set
PUBLIC_URL to an https:// address DevSMS can reach.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query

from devsms_async import AsyncDevSMS, DeliveryReport, SmsStatus
from devsms_async.contrib.fastapi import DevSMSDep, DevSMSLifespan, callback_router


def create_app(
    client: Callable[[], AsyncDevSMS],
    *,
    public_url: str,
    callback_secret: str,
) -> FastAPI:
    """The app; ``client`` makes the ``AsyncDevSMS`` it uses (one per app start)."""
    # Where each SMS stands, by sms_id. A real app keeps this in its database.
    statuses: dict[int, dict[str, Any]] = {}

    async def on_report(report: DeliveryReport) -> None:
        # Runs after DevSMS got its 200: the service waits 5 s and never retries.
        entry = statuses.setdefault(report.sms_id, {"order_id": None})
        entry["status"] = report.status.value
        entry["via"] = "callback"

    app = FastAPI(title="Order notifications", lifespan=DevSMSLifespan(client))
    app.include_router(callback_router(on_report, secret=callback_secret))
    callback_url = f"{public_url.rstrip('/')}/devsms/callback?secret={callback_secret}"

    @app.post("/orders/{order_id}/notify")
    async def notify(order_id: int, phone: str, sms: DevSMSDep) -> dict[str, Any]:
        sent = await sms.send_sms(
            phone,
            f"Buyurtmangiz #{order_id} yo'lda. Rahmat!",
            callback_url=callback_url,
            normalize=True,  # turns look-alike apostrophes into ' (GSM-7, fewer parts)
        )
        if sent.sms_id is not None:  # a proven send may carry only its request_id
            statuses[sent.sms_id] = {
                "order_id": order_id,
                "status": sent.status.value,
                "via": "send",
            }
        return {"sms_id": sent.sms_id, "status": sent.status.value, "cost": sent.total_cost}

    @app.get("/sms/{sms_id}")
    async def sms_status(
        sms_id: int,
        sms: DevSMSDep,
        wait: Annotated[float, Query(ge=0, le=30, description="Seconds to poll DevSMS")] = 0,
    ) -> dict[str, Any]:
        entry = statuses.get(sms_id)
        if entry is None:
            raise HTTPException(404, "no such SMS sent by this app")
        if wait and not SmsStatus(entry["status"]).is_final:
            # The fallback for a report that never came: ask DevSMS, with backoff.
            try:
                record = await sms.wait_for_status(sms_id, timeout=wait, poll_initial=0.5)
            except TimeoutError:  # WaitTimeoutError: still not final
                pass
            else:
                entry.update(status=record.status.value, via="poll")
        return {"sms_id": sms_id, **entry}

    return app


def _from_environment() -> FastAPI:
    secret = os.environ.get("CALLBACK_SECRET") or secrets.token_urlsafe(24)
    return create_app(
        AsyncDevSMS,  # token from DEVSMS_TOKEN, and DEVSMS_BASE_URL when it is set
        public_url=os.environ.get("PUBLIC_URL", "http://127.0.0.1:8001"),
        callback_secret=secret,
    )


app = _from_environment()
