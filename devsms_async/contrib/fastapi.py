"""FastAPI / Starlette integration (extra: ``pip install 'devsms-async[fastapi]'``).

* ``DevSMSLifespan`` opens one ``AsyncDevSMS`` when the app
  starts and closes it on shutdown; it wraps your own lifespan if you have one.
* ``get_devsms`` (or the annotation ``DevSMSDep``) hands that client to a
  handler.
* ``callback_router`` receives the delivery reports DevSMS POSTs to your
  ``callback_url``: it checks an optional secret carried in the URL, parses the
  report, answers ``200`` at once and runs your handler in the background (the service
  waits 5 seconds and never retries).

```python
from fastapi import FastAPI
from devsms_async import DeliveryReport
from devsms_async.contrib.fastapi import DevSMSDep, DevSMSLifespan, callback_router

async def on_report(report: DeliveryReport) -> None:
    print(report.sms_id, report.status)

app = FastAPI(lifespan=DevSMSLifespan())  # token from DEVSMS_TOKEN
app.include_router(callback_router(on_report, secret=CALLBACK_SECRET))

@app.post("/notify")
async def notify(sms: DevSMSDep) -> dict[str, int]:
    result = await sms.send_sms("998901234567", "Salom!")
    return {"sms_id": result.sms_id}
```
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import hmac
import inspect
import logging
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, cast

from fastapi import APIRouter, Depends
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response

from .._base import BaseClient
from .._client import AsyncDevSMS
from .._converter import TASHKENT
from .._transport import DEFAULT_LIMITS, DEFAULT_TIMEOUT
from .._validation import named_options, reject_unknown_options
from ..callbacks import MAX_CALLBACK_BYTES, parse_callback
from ..errors import UsageError, ValidationError
from ..models import DeliveryReport

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .._transport import (
        AsyncBaseTransport,
        AsyncClient,
        HTTPBackend,
        Limits,
        TimeoutTypes,
    )
    from .._validation import NoMoreOptions, PhoneCheck
    from ..ratelimit import RateLimit, SyncRateLimit

__all__ = [
    "STATE_KEY",
    "DevSMSDep",
    "DevSMSLifespan",
    "ReportHandler",
    "callback_router",
    "get_devsms",
]

STATE_KEY = "devsms"
"""Name of the client in the lifespan state (``request.state.devsms``) and on
``app.state``."""

ReportHandler = Callable[[DeliveryReport], "Awaitable[None] | None"]
"""A delivery-report handler: a plain function (run in the thread pool) or an async
one (run on the event loop)."""

Lifespan = Callable[[Any], contextlib.AbstractAsyncContextManager[Any]]

logger = logging.getLogger("devsms_async.contrib.fastapi")


class DevSMSLifespan:
    """A FastAPI/Starlette ``lifespan`` that owns one ``AsyncDevSMS`` for the app.

    The keyword arguments after ``lifespan`` are ``AsyncDevSMS``'s options (``token``,
    ``sender``, ``callback_url``, ...), with the same defaults; a misspelt one fails the
    type check, and at run time raises ``ValidationError`` naming this class and the
    closest option. Or pass ``client``, a zero-argument factory returning a
    fresh ``AsyncDevSMS`` (a client can be entered once, and an app may start more
    than once, e.g. once per test). ``lifespan`` is your own lifespan, run inside
    ours: the client is open for its whole life and ``app.state.devsms`` is set
    before it starts.

    The client is published as the lifespan state ``devsms`` (``request.state.devsms``,
    which also reaches mounted sub-apps) and as ``app.state.devsms``; the state your
    own lifespan yields is passed on alongside it:

    ```python
    app = FastAPI(lifespan=DevSMSLifespan(sender="4546", lifespan=my_lifespan))
    ```
    """

    def __init__(
        self,
        client: Callable[[], AsyncDevSMS] | None = None,
        *,
        lifespan: Lifespan | None = None,
        # AsyncDevSMS's options, spelled out so that type checkers see them: a TypedDict
        # for **kwargs would hide the defaults, and a ParamSpec cannot add the
        # keyword-only lifespan=. tests/client/test_lifespan_options.py checks that they
        # agree with BaseClient.__init__, where they are declared and checked.
        token: str | None = None,
        base_url: str | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        retry_deadline: float = 60.0,
        http_client: AsyncClient | None = None,
        transport: AsyncBaseTransport | None = None,
        http_backend: HTTPBackend = "httpx",
        limits: Limits = DEFAULT_LIMITS,
        sender: str | None = None,
        callback_url: str | None = None,
        timezone: _dt.tzinfo | None = TASHKENT,
        allow_insecure_http: bool = False,
        log_sensitive: bool = False,
        default_region: str | None = "UZ",
        rate_limit: RateLimit | SyncRateLimit | None = None,
        phone_check: PhoneCheck = "valid",
        **unknown: Unpack[NoMoreOptions],
    ) -> None:
        reject_unknown_options("DevSMSLifespan", unknown, DevSMSLifespan.__init__)
        values = locals()
        # Only the options given: AsyncDevSMS applies its own defaults (and reads
        # DEVSMS_TOKEN / DEVSMS_BASE_URL) when the app starts.
        own_defaults = named_options(DevSMSLifespan.__init__)
        options = {
            name: values[name]
            for name in named_options(BaseClient.__init__)
            if values[name] is not own_defaults[name]
        }
        if client is not None and options:
            raise ValidationError(
                "client", "give a client factory or AsyncDevSMS options, not both"
            )
        if client is not None and not callable(client):
            raise ValidationError("client", "must be a callable returning an AsyncDevSMS")
        if lifespan is not None and not callable(lifespan):
            raise ValidationError("lifespan", "must be a lifespan callable (app -> context)")
        self._factory = client if client is not None else functools.partial(AsyncDevSMS, **options)
        self._lifespan = lifespan

    def __repr__(self) -> str:
        return f"<DevSMSLifespan lifespan={self._lifespan!r}>"

    def __call__(self, app: Any) -> contextlib.AbstractAsyncContextManager[dict[str, Any]]:
        return self._run(app)

    @contextlib.asynccontextmanager
    async def _run(self, app: Any) -> AsyncIterator[dict[str, Any]]:
        sms = self._factory()
        if not isinstance(sms, AsyncDevSMS):
            raise UsageError(
                f"the client factory returned {type(sms).__name__}, not an AsyncDevSMS"
            )
        async with sms:
            app.state.devsms = sms
            try:
                if self._lifespan is None:
                    yield {STATE_KEY: sms}
                else:
                    async with self._lifespan(app) as inner_state:
                        state = dict(inner_state) if inner_state is not None else {}
                        state[STATE_KEY] = sms
                        yield state
            finally:
                # A closed client must not be served to a request after shutdown.
                if getattr(app.state, STATE_KEY, None) is sms:
                    delattr(app.state, STATE_KEY)


def get_devsms(connection: HTTPConnection) -> AsyncDevSMS:
    """FastAPI dependency: the app's ``AsyncDevSMS`` (opened by ``DevSMSLifespan``).

    Looks in the lifespan state first (``request.state.devsms``), then in
    ``app.state.devsms``; raises ``UsageError`` (a 500) when neither holds one.
    """
    sms = getattr(connection.state, STATE_KEY, None)
    if sms is None:
        sms = getattr(connection.app.state, STATE_KEY, None)
    if not isinstance(sms, AsyncDevSMS):
        raise UsageError(
            "no AsyncDevSMS on this app: create it with FastAPI(lifespan=DevSMSLifespan(...))"
        )
    return sms


DevSMSDep = Annotated[AsyncDevSMS, Depends(get_devsms)]
"""Annotate a handler parameter with it to receive the app's client:

```python
async def handler(sms: DevSMSDep): ...
```
"""


def callback_router(
    handler: ReportHandler,
    *,
    path: str = "/devsms/callback",
    secret: str | None = None,
    secret_param: str = "secret",  # noqa: S107 - the name of a query parameter
    timezone: _dt.tzinfo | None = TASHKENT,
    include_in_schema: bool = True,
) -> APIRouter:
    """An ``APIRouter`` with one ``POST path`` that receives delivery reports.

    For each request, in this order:

    1. ``secret`` set: the query parameter ``secret_param`` must equal it (compared in
       constant time), else ``403``. Put it in the URL you give DevSMS:
       ``callback_url="https://example.uz/devsms/callback?secret=..."``.
    2. A body over 64 KiB is refused with ``413``.
    3. The body (JSON, or a form as a PHP service may send) must be a delivery report,
       else ``422``; the detail names the problem.
    4. ``200 {"ok": true}`` goes back at once, then ``handler(report)`` runs in the
       background: awaited if async, in the thread pool if not. An exception in it is
       logged (logger ``devsms_async.contrib.fastapi``) with the ``sms_id``.

    DevSMS waits 5 seconds for the answer and never retries, so a report can be
    lost: poll ``sms.wait_for_status(...)`` for SMS whose report never came.
    """
    if not callable(handler):
        raise ValidationError("handler", "must be a function taking a DeliveryReport")
    given: tuple[object, object] = (path, secret_param)  # callers may pass anything
    if not isinstance(given[0], str) or not path.startswith("/"):
        raise ValidationError("path", f"must start with '/', got {path!r}")
    if not isinstance(given[1], str) or not secret_param:
        raise ValidationError("secret_param", "must be a non-empty string")
    expected = _check_secret(secret)
    run_handler = _background_runner(handler)

    async def receive_delivery_report(request: Request) -> Response:
        if expected is not None:
            given = request.query_params.get(secret_param, "")
            if not hmac.compare_digest(given.encode("utf-8"), expected):
                return JSONResponse({"detail": "forbidden"}, status_code=403)
        body = await _read_limited(request)
        if body is None:
            return JSONResponse(
                {"detail": f"body larger than {MAX_CALLBACK_BYTES} bytes"}, status_code=413
            )
        try:
            report = parse_callback(_decode(request, body), timezone=timezone)
        except ValidationError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        return JSONResponse({"ok": True}, background=BackgroundTask(run_handler, report))

    router = APIRouter()
    router.add_api_route(
        path,
        receive_delivery_report,
        methods=["POST"],
        include_in_schema=include_in_schema,
        summary="DevSMS delivery report",
        response_model=None,
    )
    return router


def _check_secret(secret: object) -> bytes | None:
    if secret is None:
        return None
    if not isinstance(secret, str) or not secret:
        raise ValidationError("secret", "must be a non-empty string or None")
    return secret.encode("utf-8")


async def _read_limited(request: Request) -> bytes | None:
    """The body, or ``None`` when it exceeds the limit (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_CALLBACK_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_CALLBACK_BYTES:
            return None
    return bytes(body)


def _decode(request: Request, body: bytes) -> bytes | Mapping[str, Any]:
    # The spec says JSON; a PHP sender posting a form is accepted too, with empty
    # fields read as null (a form cannot say null).
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return body
    try:
        fields = urllib.parse.parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body)
        )
    except (UnicodeDecodeError, ValueError):
        raise ValidationError("payload", "is not a valid form body") from None
    return {key: (value if value != "" else None) for key, value in fields}


def _background_runner(handler: ReportHandler) -> Callable[[DeliveryReport], Awaitable[None]]:
    is_async = _is_async_callable(handler)

    async def run(report: DeliveryReport) -> None:
        try:
            if is_async:
                await cast("Awaitable[None]", handler(report))
            else:
                await run_in_threadpool(handler, report)
        except Exception:
            # The 200 is long gone; log it (no phone number), do not crash the server.
            logger.exception(
                "delivery report handler failed (sms_id=%s, status=%s)",
                report.sms_id,
                report.status_raw,
            )

    return run


def _is_async_callable(obj: object) -> bool:
    while isinstance(obj, functools.partial):
        obj = obj.func
    return inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(
        getattr(obj, "__call__", None)  # noqa: B004 - an object with async __call__
    )
