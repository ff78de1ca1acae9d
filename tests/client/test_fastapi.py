"""devsms_async.contrib.fastapi: lifespan, dependency and the callback receiver.

Unit tests run the app in-process: httpx.ASGITransport, plus a small driver of the
ASGI lifespan protocol where the lifespan must run (Starlette's TestClient now wants
the httpx fork). The end-to-end tests at the bottom serve a FastAPI app with
uvicorn on 127.0.0.1 and let the sandbox, served on 127.0.0.1 too, POST real callbacks
to it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest
from fastapi import Depends, FastAPI, Request

from devsms_async import AsyncDevSMS, DeliveryReport, SmsStatus, UsageError, ValidationError
from devsms_async.contrib.fastapi import (
    DevSMSDep,
    DevSMSLifespan,
    callback_router,
    get_devsms,
)
from support import BALANCE_ANSWER, TOKEN

REPORT = {
    "sms_id": 123,
    "request_id": "uuid-here",
    "phone": "998901234567",
    "status": "delivered",
    "sent_at": "2026-03-09 10:30:00",
    "delivered_at": "2026-03-09 10:30:05",
    "failed_at": None,
    "timestamp": "2026-03-09 10:30:05",
}
SECRET = "s3cr3t-Value_0123456789"
PHONE = "998901234567"


def balance_transport() -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=BALANCE_ANSWER)

    return httpx.MockTransport(handler), seen


# -- callback receiver ------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.reports: list[DeliveryReport] = []

    async def __call__(self, report: DeliveryReport) -> None:
        self.reports.append(report)


def receiver_app(handler: Callable[[DeliveryReport], Any], **options: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(callback_router(handler, **options))
    return app


@contextlib.asynccontextmanager
async def asgi_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        yield client


async def test_a_report_is_parsed_and_handed_to_the_handler() -> None:
    recorder = Recorder()
    async with asgi_client(receiver_app(recorder)) as client:
        response = await client.post("/devsms/callback", json=REPORT)
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    [report] = recorder.reports
    assert report.sms_id == 123
    assert report.status is SmsStatus.DELIVERED
    assert report.phone == "998901234567"
    assert report.delivered_at is not None
    assert report.delivered_at.utcoffset() is not None


async def test_sync_handlers_run_in_a_worker_thread() -> None:
    import threading

    threads: list[int] = []
    reports: list[DeliveryReport] = []

    def handler(report: DeliveryReport) -> None:
        threads.append(threading.get_ident())
        reports.append(report)

    async with asgi_client(receiver_app(handler)) as client:
        response = await client.post("/devsms/callback", json=REPORT)
    assert response.status_code == 200
    assert [r.sms_id for r in reports] == [123]
    assert threads != [threading.get_ident()]


@pytest.mark.parametrize("kind", ["partial", "async-callable-object"])
async def test_async_handlers_are_recognised_through_wrappers(kind: str) -> None:
    got: list[tuple[str, int]] = []

    async def tagged(tag: str, report: DeliveryReport) -> None:
        got.append((tag, report.sms_id))

    handler: Callable[[DeliveryReport], Any]
    if kind == "partial":
        handler = functools.partial(tagged, "p")
    else:
        recorder = Recorder()
        handler = recorder
    async with asgi_client(receiver_app(handler)) as client:
        assert (await client.post("/devsms/callback", json=REPORT)).status_code == 200
    if kind == "partial":
        assert got == [("p", 123)]
    else:
        assert [r.sms_id for r in recorder.reports] == [123]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 403),
        ("?secret=wrong", 403),
        ("?secret=" + SECRET[:-1], 403),
        ("?secret=" + SECRET + "x", 403),
        ("?Secret=" + SECRET, 403),
        ("?secret=%D1%81%D0%B5%D0%BA%D1%80%D0%B5%D1%82", 403),  # non-ASCII: no crash
        ("?secret=" + SECRET, 200),
        ("?other=1&secret=" + SECRET, 200),
    ],
)
async def test_the_secret_is_checked(query: str, status: int) -> None:
    recorder = Recorder()
    async with asgi_client(receiver_app(recorder, secret=SECRET)) as client:
        response = await client.post("/devsms/callback" + query, json=REPORT)
    assert response.status_code == status
    assert len(recorder.reports) == (1 if status == 200 else 0)
    assert SECRET not in response.text


async def test_the_secret_is_checked_before_the_body_is_read() -> None:
    recorder = Recorder()
    async with asgi_client(receiver_app(recorder, secret=SECRET)) as client:
        response = await client.post("/devsms/callback?secret=no", content=b"not json")
    assert response.status_code == 403


async def test_custom_path_and_secret_parameter() -> None:
    recorder = Recorder()
    app = receiver_app(recorder, path="/hooks/sms", secret=SECRET, secret_param="token")
    async with asgi_client(app) as client:
        assert (await client.post("/devsms/callback", json=REPORT)).status_code == 404
        assert (await client.post("/hooks/sms?secret=" + SECRET, json=REPORT)).status_code == 403
        assert (await client.post("/hooks/sms?token=" + SECRET, json=REPORT)).status_code == 200
    assert len(recorder.reports) == 1


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", "not valid JSON"),
        (b"<html>oops</html>", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({k: v for k, v in REPORT.items() if k != "sms_id"}).encode(), "sms_id"),
        (json.dumps({**REPORT, "sms_id": "abc"}).encode(), "not a delivery report"),
        (json.dumps({**REPORT, "sent_at": "yesterday"}).encode(), "not a delivery report"),
        (b"\xff\xfe garbage", "not valid JSON"),
    ],
)
async def test_malformed_bodies_are_422(body: bytes, detail: str) -> None:
    recorder = Recorder()
    async with asgi_client(receiver_app(recorder)) as client:
        response = await client.post(
            "/devsms/callback", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 422
    assert detail in response.json()["detail"]
    assert recorder.reports == []


async def test_a_form_encoded_report_is_accepted_with_empty_fields_as_null() -> None:
    recorder = Recorder()
    form = {k: ("" if v is None else str(v)) for k, v in REPORT.items()}
    async with asgi_client(receiver_app(recorder)) as client:
        response = await client.post("/devsms/callback", data=form)
    assert response.status_code == 200
    [report] = recorder.reports
    assert report.sms_id == 123
    assert report.failed_at is None
    assert report.status is SmsStatus.DELIVERED


async def test_a_broken_form_is_422() -> None:
    recorder = Recorder()
    async with asgi_client(receiver_app(recorder)) as client:
        response = await client.post(
            "/devsms/callback",
            content=b"sms_id",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 422
    assert recorder.reports == []


async def test_an_oversized_body_is_413_declared_or_streamed() -> None:
    recorder = Recorder()
    big = b"{" + b" " * (70 * 1024) + b"}"

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 4096):
            yield big[i : i + 4096]

    async with asgi_client(receiver_app(recorder)) as client:
        declared = await client.post("/devsms/callback", content=big)
        streamed = await client.post("/devsms/callback", content=chunks())
    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert recorder.reports == []


async def test_only_post_is_routed() -> None:
    async with asgi_client(receiver_app(Recorder())) as client:
        assert (await client.get("/devsms/callback")).status_code == 405


async def test_a_failing_handler_is_logged_without_the_phone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handler(report: DeliveryReport) -> None:
        raise RuntimeError("database is down")

    caplog.set_level(logging.ERROR, logger="devsms_async.contrib.fastapi")
    async with asgi_client(receiver_app(handler)) as client:
        response = await client.post("/devsms/callback", json=REPORT)
    assert response.status_code == 200
    [entry] = [r for r in caplog.records if r.name == "devsms_async.contrib.fastapi"]
    assert "sms_id=123" in entry.getMessage()
    assert entry.exc_info is not None
    assert "database is down" in str(entry.exc_info[1])
    assert "998901234567" not in caplog.text


async def test_timezone_none_gives_naive_datetimes() -> None:
    recorder = Recorder()
    async with asgi_client(receiver_app(recorder, timezone=None)) as client:
        await client.post("/devsms/callback", json=REPORT)
    assert recorder.reports[0].sent_at is not None
    assert recorder.reports[0].sent_at.tzinfo is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"handler": "not callable"}, "handler"),
        ({"path": "devsms/callback"}, "path"),
        ({"path": None}, "path"),
        ({"secret": ""}, "secret"),
        ({"secret": 12345}, "secret"),
        ({"secret_param": ""}, "secret_param"),
    ],
)
def test_bad_router_options_are_rejected(kwargs: dict[str, Any], field: str) -> None:
    options: dict[str, Any] = {"handler": Recorder(), **kwargs}
    handler = options.pop("handler")
    with pytest.raises(ValidationError) as info:
        callback_router(handler, **options)
    assert info.value.field == field


# -- lifespan and dependency ---------------------------------------------------------------


def balance_app(lifespan: Any) -> FastAPI:
    app = FastAPI(lifespan=lifespan)

    @app.get("/balance")
    async def balance(sms: DevSMSDep) -> dict[str, int]:
        return {"balance": (await sms.get_balance()).balance}

    return app


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Start ``app``'s lifespan as a server would (with lifespan state), yield a client
    whose requests carry that state, and shut the lifespan down on exit.

    An exception raised by the app's lifespan is re-raised here, unwrapped.
    """
    state: dict[str, Any] = {}
    to_app, from_test = anyio.create_memory_object_stream[dict[str, Any]](2)
    started, stopped = anyio.Event(), anyio.Event()
    errors: list[Exception] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"].startswith("lifespan.startup."):
            started.set()
        elif message["type"].startswith("lifespan.shutdown."):
            stopped.set()

    async def lifespan() -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}
        try:
            await app(scope, from_test.receive, send)
        except Exception as exc:
            errors.append(exc)
        finally:
            started.set()
            stopped.set()

    async def with_state(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await app({**scope, "state": dict(state)}, receive, send)

    async with anyio.create_task_group() as tg, to_app, from_test:
        tg.start_soon(lifespan)
        await to_app.send({"type": "lifespan.startup"})
        await started.wait()
        if not errors:
            transport = httpx.ASGITransport(app=with_state)
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                    yield client
            finally:
                await to_app.send({"type": "lifespan.shutdown"})
                await stopped.wait()
    if errors:  # raised out here, not as an ExceptionGroup of the task group
        raise errors[0]


async def test_the_lifespan_opens_one_client_and_closes_it() -> None:
    transport, seen = balance_transport()
    app = balance_app(DevSMSLifespan(token=TOKEN, transport=transport))
    async with running(app) as client:
        sms = app.state.devsms
        assert isinstance(sms, AsyncDevSMS)
        assert not sms.is_closed
        assert (await client.get("/balance")).json() == {"balance": 1000}
        assert (await client.get("/balance")).json() == {"balance": 1000}
        assert app.state.devsms is sms
    assert sms.is_closed
    assert not hasattr(app.state, "devsms")
    assert len(seen) == 2
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"


async def test_a_factory_gives_each_start_a_fresh_client() -> None:
    transport, _ = balance_transport()
    made: list[AsyncDevSMS] = []

    def factory() -> AsyncDevSMS:
        made.append(AsyncDevSMS(TOKEN, transport=transport))
        return made[-1]

    app = balance_app(DevSMSLifespan(factory))
    for _ in range(2):
        async with running(app) as client:
            assert (await client.get("/balance")).status_code == 200
    assert len(made) == 2
    assert made[0] is not made[1]
    assert all(sms.is_closed for sms in made)


async def test_the_users_lifespan_runs_inside_with_the_client_open() -> None:
    transport, _ = balance_transport()
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        sms = app.state.devsms
        events.append(f"startup open={not sms.is_closed}")
        yield {"db": "connection"}
        events.append(f"shutdown open={not sms.is_closed}")

    app = balance_app(DevSMSLifespan(token=TOKEN, transport=transport, lifespan=lifespan))

    @app.get("/db")
    async def db(request: Request) -> dict[str, Any]:
        return {"db": request.state.db, "has_devsms": request.state.devsms is app.state.devsms}

    async with running(app) as client:
        assert (await client.get("/db")).json() == {"db": "connection", "has_devsms": True}
        assert (await client.get("/balance")).status_code == 200
    assert events == ["startup open=True", "shutdown open=True"]


async def test_a_users_lifespan_without_state_is_fine() -> None:
    transport, _ = balance_transport()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = balance_app(DevSMSLifespan(token=TOKEN, transport=transport, lifespan=lifespan))
    async with running(app) as client:
        assert (await client.get("/balance")).json() == {"balance": 1000}


async def test_a_mounted_sub_app_gets_the_client_from_the_lifespan_state() -> None:
    transport, _ = balance_transport()
    app = FastAPI(lifespan=DevSMSLifespan(token=TOKEN, transport=transport))
    app.mount("/sub", balance_app(None))
    async with running(app) as client:
        assert (await client.get("/sub/balance")).json() == {"balance": 1000}


async def test_without_the_lifespan_the_dependency_says_what_is_missing() -> None:
    app = balance_app(None)
    async with running(app) as client:
        with pytest.raises(UsageError, match="DevSMSLifespan"):
            await client.get("/balance")


async def test_get_devsms_and_the_annotation_give_the_same_client() -> None:
    transport, _ = balance_transport()
    app = FastAPI(lifespan=DevSMSLifespan(token=TOKEN, transport=transport))

    @app.get("/same")
    async def same(
        b: DevSMSDep,
        a: AsyncDevSMS = Depends(get_devsms),  # noqa: B008 - FastAPI's idiom
    ) -> dict[str, bool]:
        return {"same": a is b and a is app.state.devsms}

    async with running(app) as client:
        assert (await client.get("/same")).json() == {"same": True}


async def test_a_missing_token_fails_at_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEVSMS_TOKEN", raising=False)
    app = balance_app(DevSMSLifespan())
    with pytest.raises(ValidationError, match="DEVSMS_TOKEN"):
        async with running(app):
            pass


async def test_the_token_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSMS_TOKEN", TOKEN)
    transport, seen = balance_transport()
    async with running(balance_app(DevSMSLifespan(transport=transport))) as client:
        await client.get("/balance")
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"


async def test_a_factory_must_return_a_client() -> None:
    app = balance_app(DevSMSLifespan(lambda: "nope"))  # type: ignore[arg-type,return-value]
    with pytest.raises(UsageError, match="not an AsyncDevSMS"):
        async with running(app):
            pass


def test_lifespan_arguments_are_checked_when_built() -> None:
    with pytest.raises(ValidationError):
        DevSMSLifespan(lambda: AsyncDevSMS(TOKEN), token=TOKEN)
    with pytest.raises(ValidationError):
        DevSMSLifespan("not callable")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        DevSMSLifespan(lifespan="nope")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="tokn: is not an option of DevSMSLifespan"):
        DevSMSLifespan(tokn=TOKEN)  # type: ignore[call-arg]


# -- end to end: the sandbox served on 127.0.0.1 -> a FastAPI app served by uvicorn -------


@contextlib.asynccontextmanager
async def uvicorn_serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port) in this event loop; yield
    its base URL. The lifespan runs as in production."""
    import uvicorn

    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="on", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(5):
            while not server.started:
                await anyio.sleep(0.005)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True


def callback_app(
    sandbox_server: Any, on_report: Callable[[DeliveryReport], Any], **router_options: Any
) -> FastAPI:
    app = FastAPI(lifespan=DevSMSLifespan(sandbox_server.client))
    app.include_router(callback_router(on_report, secret=SECRET, **router_options))

    @app.post("/notify")
    async def notify(request: Request, sms: DevSMSDep) -> dict[str, int]:
        callback_url = f"{request.base_url}devsms/callback?secret={SECRET}"
        sent = await sms.send_sms("998901234567", "Buyurtmangiz tayyor", callback_url=callback_url)
        return {"sms_id": sent.sms_id}

    return app


async def test_real_callbacks_from_the_sandbox_reach_a_uvicorn_app() -> None:
    from devsms_async.testing import CallbackOutcome, Sandbox, serve_sandbox

    reports_tx, reports_rx = anyio.create_memory_object_stream[DeliveryReport](10)

    async def on_report(report: DeliveryReport) -> None:
        await reports_tx.send(report)

    sandbox = Sandbox()
    async with (
        reports_tx,
        reports_rx,
        serve_sandbox(sandbox) as sandbox_server,
        uvicorn_serving(callback_app(sandbox_server, on_report)) as app_url,
        httpx.AsyncClient(base_url=app_url) as client,
    ):
        response = await client.post("/notify")
        assert response.status_code == 200
        sms_id = response.json()["sms_id"]
        with anyio.fail_after(5):
            first = await reports_rx.receive()  # POSTed by the server after the send
        await sandbox.advance()  # delivered: POSTed to uvicorn, awaited here
        with anyio.fail_after(5):
            second = await reports_rx.receive()

    assert (first.sms_id, first.status) == (sms_id, SmsStatus.SENT)
    assert (second.sms_id, second.status) == (sms_id, SmsStatus.DELIVERED)
    assert second.phone == "998901234567"
    assert second.delivered_at is not None
    assert [(a.status, a.outcome, a.status_code) for a in sandbox.callbacks] == [
        (SmsStatus.SENT, CallbackOutcome.DELIVERED, 200),
        (SmsStatus.DELIVERED, CallbackOutcome.DELIVERED, 200),
    ]


async def test_the_receiver_answers_before_the_handler_runs_and_refuses_forgeries() -> None:
    from devsms_async.testing import CallbackOutcome, Sandbox, serve_sandbox

    release = anyio.Event()
    handled: list[SmsStatus] = []

    async def slow_handler(report: DeliveryReport) -> None:
        await release.wait()
        handled.append(report.status)

    # A 2-second callback timeout: were the answer held until the handler finished,
    # the delivery below would time out instead of being answered.
    sandbox = Sandbox(callback_timeout=2.0)
    async with (
        serve_sandbox(sandbox) as sandbox_server,
        uvicorn_serving(callback_app(sandbox_server, slow_handler)) as app_url,
        httpx.AsyncClient(base_url=app_url) as client,
    ):
        async with sandbox_server.client() as sms:
            good = await sms.send_sms(
                "998901234567", "a", callback_url=f"{app_url}/devsms/callback?secret={SECRET}"
            )
            forged = await sms.send_sms(
                "998901234567", "b", callback_url=f"{app_url}/devsms/callback?secret=guess"
            )
        await sandbox.advance()
        by_sms = {a.sms_id: a for a in sandbox.callbacks if a.status is SmsStatus.DELIVERED}
        assert by_sms[good.sms_id].outcome is CallbackOutcome.DELIVERED
        assert by_sms[good.sms_id].status_code == 200
        assert by_sms[forged.sms_id].outcome is CallbackOutcome.HTTP_ERROR
        assert by_sms[forged.sms_id].status_code == 403
        assert handled == []  # answered while the handler is still waiting

        malformed = await client.post(f"/devsms/callback?secret={SECRET}", content=b'{"sms_id": 1}')
        assert malformed.status_code == 422
        release.set()
        with anyio.fail_after(5):
            while SmsStatus.DELIVERED not in handled:
                await anyio.sleep(0.01)
    assert handled.count(SmsStatus.DELIVERED) == 1


# -- the example app in docs/ ---------------------------------------------------------------


def load_example() -> Any:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "docs" / "examples" / "fastapi_app.py"
    spec = importlib.util.spec_from_file_location("fastapi_app_example", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_example_app_follows_reports_and_polls_when_one_is_lost() -> None:
    from devsms_async.testing import Sandbox

    example = load_example()
    sandbox = Sandbox()
    app = example.create_app(
        sandbox.client, public_url="http://app.example", callback_secret=SECRET
    )
    # The sandbox POSTs its reports straight into the app, in-process.
    sandbox.callback_transport = httpx.ASGITransport(app=app)
    async with running(app) as client:
        sent = (await client.post("/orders/42/notify", params={"phone": PHONE})).json()
        sms_id = sent["sms_id"]
        assert sent["status"] == "sent"
        message = sandbox.get_message(sms_id)
        assert message.text == "Buyurtmangiz #42 yo'lda. Rahmat!"
        assert message.callback_url == f"http://app.example/devsms/callback?secret={SECRET}"

        await sandbox.advance()  # delivered, and both reports POSTed into the app
        seen = (await client.get(f"/sms/{sms_id}")).json()
        assert seen == {"sms_id": sms_id, "order_id": 42, "status": "delivered", "via": "callback"}

        # A report that never arrives: the receiver is down when the status changes.
        second = (await client.post("/orders/43/notify", params={"phone": PHONE})).json()
        sandbox.callback_transport = httpx.MockTransport(lambda request: httpx.Response(503))
        await sandbox.advance()
        stale = (await client.get(f"/sms/{second['sms_id']}")).json()
        assert stale["status"] == "sent"
        polled = (await client.get(f"/sms/{second['sms_id']}", params={"wait": 5})).json()
        assert (polled["status"], polled["via"]) == ("delivered", "poll")
        assert (await client.get("/sms/999")).status_code == 404


def test_the_fastapi_docs_examples_run_as_written() -> None:
    """Every ```python block of docs/fastapi.md runs; the printed lines are the ones the
    page shows."""
    import contextlib
    import io
    import re
    from pathlib import Path

    doc = Path(__file__).parents[2] / "docs" / "fastapi.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) == 5
    printed = []
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(doc), "exec"), {"__name__": "__main__"})
        printed.append(out.getvalue())
    assert printed[:3] == ["", "", ""]
    assert printed[3] == "delivered True\n"
    assert printed[4] == "[(True, 'sent'), (True, 'delivered')]\n"
