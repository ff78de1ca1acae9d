"""One behaviour suite for both faces: ``AsyncDevSMS`` (httpx on asyncio and trio,
aiohttp) and ``DevSMS`` (httpx), in-process over ``SandboxTransport`` and over real
HTTP against the served sandbox on 127.0.0.1.

Every test is written once, synchronously: an async client is driven through an anyio
blocking portal (its own event loop in a thread), so ``sms.send_sms(...)`` reads the
same for every face. Endpoints, errors, redaction, send safety and the lifecycle.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from devsms_async import (
    AsyncDevSMS,
    AuthenticationError,
    BadRequestError,
    DevSMS,
    MalformedResponseError,
    OtpTemplate,
    SendOutcomeUnknownError,
    ServerError,
    ServiceNameRejectedError,
    SmsStatus,
    UsageError,
    ValidationError,
)
from devsms_async.testing import Sandbox, serve_sandbox

PHONE = "998901234567"
MASKED = "99890***4567"
TEXT = "Salom! Buyurtmangiz tayyor"


@attrs.frozen
class Face:
    face: str  # "async" | "sync"
    backend: str  # "httpx" | "aiohttp"
    loop: str  # the portal's event loop: "asyncio" | "trio"
    wire: str  # "inprocess" | "http"

    def __str__(self) -> str:
        return f"{self.face}-{self.backend}-{self.loop}-{self.wire}"


FACES = [
    Face("async", "httpx", "asyncio", "inprocess"),
    Face("async", "httpx", "trio", "inprocess"),
    Face("sync", "httpx", "asyncio", "inprocess"),
    Face("async", "httpx", "asyncio", "http"),
    Face("async", "httpx", "trio", "http"),
    Face("async", "aiohttp", "asyncio", "http"),
    Face("sync", "httpx", "asyncio", "http"),
]


class AsyncView:
    """An entered ``AsyncDevSMS`` whose coroutine methods are called through a portal;
    the history iterators come back as lists."""

    def __init__(self, portal: BlockingPortal, sms: AsyncDevSMS) -> None:
        self._portal = portal
        self.sms = sms

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.sms, name)
        if name in ("iter_history", "iter_history_pages"):

            def collect(*args: Any, **kwargs: Any) -> list[Any]:
                async def walk() -> list[Any]:
                    return [item async for item in attr(*args, **kwargs)]

                return self._portal.call(walk)

            return collect
        if inspect.iscoroutinefunction(attr):
            return lambda *a, **kw: self._portal.call(functools.partial(attr, *a, **kw))
        return attr


@attrs.define
class World:
    """A sandbox, its portal, and a way to open a client of the face under test."""

    face: Face
    sandbox: Sandbox
    portal: BlockingPortal
    base_url: str | None

    def new(self, **options: Any) -> AsyncDevSMS | DevSMS:
        token = options.pop("token", self.sandbox.token)
        if self.base_url is not None:
            options.setdefault("base_url", self.base_url)
        else:
            options.setdefault("transport", self.sandbox.transport())
        if self.face.face == "sync":
            return DevSMS(token, **options)
        return AsyncDevSMS(token, http_backend=self.face.backend, **options)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def client(self, **options: Any) -> Iterator[Any]:
        sms = self.new(**options)
        if isinstance(sms, DevSMS):
            with sms:
                yield sms
        else:
            with self.portal.wrap_async_context_manager(sms) as entered:
                yield AsyncView(self.portal, entered)

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run an async sandbox operation (``advance``, ``set_status``) in the portal."""
        return self.portal.call(fn, *args)


@pytest.fixture(params=FACES, ids=str)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    face: Face = request.param
    sandbox = Sandbox()
    with start_blocking_portal(face.loop) as portal:
        if face.wire == "inprocess":
            yield World(face, sandbox, portal, None)
            return
        with portal.wrap_async_context_manager(serve_sandbox(sandbox)) as server:
            yield World(face, sandbox, portal, server.base_url)


# -- every endpoint --------------------------------------------------------------------


def test_send_sms_reaches_the_service_with_wire_names(world: World) -> None:
    with world.client(sender="MyShop") as sms:
        sent = sms.send_sms("+998 90 123-45-67", TEXT)
    assert sent.status is SmsStatus.SENT
    [stored] = world.sandbox.messages
    assert (stored.sms_id, stored.phone, stored.text) == (sent.sms_id, PHONE, TEXT)
    request = world.sandbox.requests[-1]
    assert request.json == {"phone": PHONE, "message": TEXT, "from": "MyShop", "type": "eskiz"}
    assert request.headers["authorization"] == f"Bearer {world.sandbox.token}"
    assert request.headers["content-type"] == "application/json"


def test_send_otp_renders_the_template(world: World) -> None:
    with world.client() as sms:
        sent = sms.send_otp(
            PHONE, template=OtpTemplate.LOGIN, service_name="Shop", otp_code="123456"
        )
    stored = world.sandbox.get_message(sent.sms_id)
    assert stored.text.endswith("Shop xizmatiga kirish uchun tasdiqlash kodi: 123456")


def test_balance_history_status(world: World) -> None:
    with world.client() as sms:
        sent = [sms.send_sms(PHONE, f"{TEXT} #{n}") for n in range(5)]
        balance = sms.get_balance()
        page = sms.get_history(limit=2)
        by_id = sms.get_status(sms_id=sent[0].sms_id)
        by_request = sms.get_status(request_id=sent[1].request_id)
        walked = list(sms.iter_history(page_size=2))
        pages = list(sms.iter_history_pages(page_size=2))
    assert balance.balance == world.sandbox.balance
    assert balance.statistics.total_sms == 5
    assert [r.id for r in page.items] == [sent[4].sms_id, sent[3].sms_id]
    assert (by_id.id, by_id.message) == (sent[0].sms_id, f"{TEXT} #0")
    assert by_request.id == sent[1].sms_id
    assert [r.id for r in walked] == [s.sms_id for s in reversed(sent)]
    assert [len(p.items) for p in pages] == [2, 2, 1]


def test_wait_for_status(world: World) -> None:
    with world.client() as sms:
        sent = sms.send_sms(PHONE, TEXT)
        world.run(world.sandbox.set_status, sent.sms_id, SmsStatus.DELIVERED)
        record = sms.wait_for_status(sent.sms_id, timeout=5, poll_initial=0.01)
        reached = sms.wait_for_status(sent.sms_id, until={SmsStatus.SENT}, timeout=5)
    assert record.status is SmsStatus.DELIVERED
    assert reached.status is SmsStatus.DELIVERED  # final ends the wait too


# -- errors ------------------------------------------------------------------------------


def test_a_wrong_token_is_an_authentication_error(world: World) -> None:
    with world.client(token="wrong-token-123") as sms, pytest.raises(AuthenticationError):
        sms.get_balance()


def test_bad_input_is_refused_before_any_request(world: World) -> None:
    with world.client() as sms:
        for call in (
            lambda: sms.send_sms("12", TEXT),
            lambda: sms.send_sms(PHONE, "   "),
            lambda: sms.get_history(limit=0),
            lambda: sms.get_status(),
            lambda: sms.send_otp(PHONE, template=9, service_name="Shop", otp_code="1234"),
        ):
            with pytest.raises(ValidationError):
                call()
    assert world.sandbox.requests == []


def test_a_refusal_is_typed_and_a_read_is_retried(world: World) -> None:
    world.sandbox.fail_next(400, error="Noto'g'ri so'rov", path="send_sms.php")
    world.sandbox.fail_next(503, path="get_balance.php")
    with world.client() as sms:
        with pytest.raises(BadRequestError) as refused:
            sms.send_sms(PHONE, TEXT)
        balance = sms.get_balance()
    assert refused.value.status_code == 400
    assert balance.balance == world.sandbox.balance
    assert [r.endpoint for r in world.sandbox.requests] == [
        "send_sms.php",
        "get_balance.php",
        "get_balance.php",
    ]


def test_an_unreadable_read_is_malformed(world: World) -> None:
    world.sandbox.fail_next(200, body="<html>oops</html>", path="get_balance.php")
    with world.client() as sms, pytest.raises(MalformedResponseError) as info:
        sms.get_balance()
    assert info.value.status_code == 200


def test_service_name_rejection_says_it_was_charged(world: World) -> None:
    with world.client() as sms, pytest.raises(ServiceNameRejectedError) as info:
        sms.send_otp(PHONE, template=1, service_name="casino", otp_code="1234")
    assert info.value.charged


# -- send safety -------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["server-error-after", "hang-up-after"])
def test_a_send_that_may_have_happened_is_unknown_never_replayed(world: World, fault: str) -> None:
    if fault == "server-error-after":
        world.sandbox.fail_next(502, path="send_sms.php", after_processing=True)
    else:
        world.sandbox.disconnect_next(path="send_sms.php", after_processing=True)
    with world.client(max_retries=3) as sms:
        with pytest.raises(SendOutcomeUnknownError) as info:
            sms.send_sms(PHONE, TEXT)
        found = sms.reconcile(info.value)
    assert [r.endpoint for r in world.sandbox.requests].count("send_sms.php") == 1
    assert len(world.sandbox.messages) == 1  # sent once, never replayed
    assert found.found
    assert found.record is not None
    assert found.record.id == world.sandbox.messages[0].sms_id
    error = info.value
    assert error.phone == MASKED  # the error keeps no number in clear
    if fault == "server-error-after":
        assert isinstance(error.__cause__, ServerError)


def test_a_send_refused_at_the_door_is_retried_in_process(world: World) -> None:
    if world.face.wire != "inprocess":
        pytest.skip("a refused connection in-process: the sandbox raises ConnectError")
    world.sandbox.disconnect_next(path="send_sms.php")  # never processed: never sent
    with world.client() as sms:
        sent = sms.send_sms(PHONE, TEXT)
    assert [m.sms_id for m in world.sandbox.messages] == [sent.sms_id]


# -- redaction ---------------------------------------------------------------------------


def test_no_secret_in_reprs_errors_or_logs(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="devsms_async")
    world.sandbox.fail_next(502, path="send_sms.php", after_processing=True)
    sms_obj = world.new()
    assert world.sandbox.token not in repr(sms_obj) + repr(vars(sms_obj))
    with world.client() as sms, pytest.raises(SendOutcomeUnknownError) as info:
        sms.send_otp(PHONE, template=1, service_name="Shop", otp_code="987654")
    texts = [str(info.value), repr(info.value), caplog.text]
    for text in texts:
        assert world.sandbox.token not in text
        assert PHONE not in text
        assert "987654" not in text
    assert MASKED in caplog.text


# -- lifecycle ---------------------------------------------------------------------------


def test_strict_lifecycle(world: World) -> None:
    sms = world.new()
    if isinstance(sms, DevSMS):
        with pytest.raises(UsageError, match="with DevSMS"):
            sms.get_balance()
        with sms, pytest.raises(UsageError, match="entered once"):
            sms.__enter__()
        with pytest.raises(UsageError, match="closed"):
            sms.get_balance()
        assert sms.is_closed
        return
    with pytest.raises(UsageError, match="async with"):
        world.run(sms.get_balance)
    with (
        world.portal.wrap_async_context_manager(sms),
        pytest.raises(UsageError, match="entered once"),
    ):
        world.run(sms.__aenter__)
    with pytest.raises(UsageError, match="closed"):
        world.run(sms.get_balance)
    assert sms.is_closed


def test_the_backend_in_use_is_reported(world: World) -> None:
    with world.client() as sms:
        expected = "custom" if world.face.wire == "inprocess" else world.face.backend
        assert sms.http_backend == expected


def test_the_region_option_is_shared(world: World) -> None:
    with world.client() as sms:
        sent = sms.send_sms("90 123 45 67", TEXT)  # national: Uzbekistan by default
        assert sms.default_region == "UZ"
    assert world.sandbox.get_message(sent.sms_id).phone == PHONE
    with world.client(default_region=None) as sms, pytest.raises(ValidationError):
        sms.send_sms("901234567", TEXT)
