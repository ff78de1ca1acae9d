"""What hostile input cannot break, each against a real server: text and tokens HTTP
cannot carry, secrets echoed back in escaped forms, endless answers, bytes after an
answer, and the unknown-outcome error pickled with no secret in it.

Every scenario runs through the public API (``AsyncDevSMS(base_url=...)``) against
``faultserver.FaultServer`` on 127.0.0.1, on httpx+asyncio, httpx+trio and
aiohttp+asyncio (the ``flavour`` fixture); the fixture fails a test that leaves a
connection open.
"""

from __future__ import annotations

import gc
import json
import logging
import pickle
import tracemalloc
import urllib.parse
from typing import Any

import anyio
import attrs
import httpx
import pytest

from devsms_async import (
    APIConnectionError,
    AsyncDevSMS,
    AuthenticationError,
    DevSMSError,
    MalformedResponseError,
    OtpTemplate,
    SendOutcomeUnknownError,
    ServerError,
    ValidationError,
)
from devsms_async._classify import MAX_BODY_BYTES, MAX_ERROR_BODY_BYTES, fingerprint
from devsms_async.bulk import BulkOutcome
from support import TOKEN
from support.faultserver import (
    Endless,
    FaultServer,
    Reply,
    Reset,
    Trailing,
)

PHONE = "998901234567"
MASKED = "99890***4567"
TEXT = "Buyurtmangiz #1042 yo'lda"
OTP = "583920"
SAFE = httpx.Timeout(10.0)


@attrs.frozen
class Flavour:
    loop: str
    http_backend: str

    def run(self, scenario: Any, *args: Any) -> Any:
        return anyio.run(scenario, *args, backend=self.loop)


FLAVOURS = [Flavour("asyncio", "httpx"), Flavour("trio", "httpx"), Flavour("asyncio", "aiohttp")]


@pytest.fixture(params=FLAVOURS, ids=lambda f: f"{f.http_backend}-{f.loop}")
def flavour(request: pytest.FixtureRequest) -> Flavour:
    return request.param  # type: ignore[no-any-return]


def client(
    flavour: Flavour, server: FaultServer, token: str = TOKEN, **options: Any
) -> AsyncDevSMS:
    options.setdefault("timeout", SAFE)
    return AsyncDevSMS(
        token,
        base_url=server.base_url,
        http_backend=flavour.http_backend,  # type: ignore[arg-type]
        **options,
    )


def everything_printed(error: BaseException) -> str:
    """What an error shows: str, repr, its attributes, and the same for its causes."""
    parts = []
    visited: set[int] = set()
    seen: BaseException | None = error
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        parts += [str(seen), repr(seen), repr(vars(seen))]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


# -- text UTF-8 cannot carry -----------------------------------------------------------

LONE = "\ud800"


async def _bad_text_calls(sms: AsyncDevSMS) -> list[tuple[str, ValidationError]]:
    calls: list[tuple[str, Any]] = [
        ("message", sms.send_sms(PHONE, TEXT + LONE)),
        ("sender", sms.send_sms(PHONE, TEXT, sender="Shop" + LONE)),
        ("callback_url", sms.send_sms(PHONE, TEXT, callback_url="https://x.uz/cb" + LONE)),
        ("request_id", sms.get_status(request_id="req-" + LONE)),
        ("request_id", sms.wait_for_status(request_id="req-" + LONE)),
        (
            "service_name",
            sms.send_otp(
                PHONE, template=OtpTemplate.LOGIN, service_name="Tech" + LONE, otp_code=OTP
            ),
        ),
        (
            "callback_url",
            sms.send_otp(
                PHONE,
                template=OtpTemplate.LOGIN,
                service_name="TechShop",
                otp_code=OTP,
                callback_url="https://x.uz/" + LONE,
            ),
        ),
    ]
    errors = []
    for field, call in calls:
        with pytest.raises(ValidationError) as info:
            await call
        errors.append((field, info.value))
    return errors


def test_text_utf8_cannot_carry_is_refused_before_any_request(
    flavour: Flavour, fault_server: FaultServer
) -> None:
    async def scenario() -> list[tuple[str, ValidationError]]:
        async with client(flavour, fault_server) as sms:
            return await _bad_text_calls(sms)

    for field, error in flavour.run(scenario):
        assert error.field == field
        assert "lone surrogate" in str(error)
        # Nothing secret, and no UnicodeEncodeError (which holds the text) on the chain.
        assert error.__cause__ is None
        assert error.__context__ is None
        printed = everything_printed(error)
        for secret in (PHONE, TEXT, OTP, "Tech", "Shop", "x.uz", "req-"):
            assert secret not in printed, (field, printed)
    assert fault_server.count() == 0


def test_bulk_one_bad_text_among_30_is_that_items_failure(
    flavour: Flavour, fault_server: FaultServer
) -> None:
    messages = [(PHONE, f"xabar {i}" + (LONE if i == 7 else "")) for i in range(30)]

    async def scenario() -> list[Any]:
        async with client(flavour, fault_server) as sms:
            return await sms.send_bulk(messages)

    results = flavour.run(scenario)
    assert [r.index for r in results] == list(range(30))
    bad = results[7]
    assert bad.outcome is BulkOutcome.FAILED  # it never left: not UNKNOWN
    assert isinstance(bad.error, ValidationError)
    assert bad.error.field == "message"
    assert [r.outcome for r in results if r.index != 7] == [BulkOutcome.SENT] * 29
    assert sorted(s["message"] for s in fault_server.sends) == sorted(
        m for i, (_, m) in enumerate(messages) if i != 7
    )


# -- tokens HTTP cannot carry ------------------------------------------------------------

BAD_TOKENS = {
    "zero-width space": "abc\u200bdef-SECRET",
    "o umlaut": "abcödef-SECRET",
    "non-breaking space": "abc\u00a0def-SECRET",
    "crlf": "abc\r\ndef-SECRET",
    "space": "abc def-SECRET",
    "nul": "abc\x00def-SECRET",
    "del": "abc\x7fdef-SECRET",
    "lone surrogate": "abc\ud800def-SECRET",
}


@pytest.mark.parametrize("token", list(BAD_TOKENS.values()), ids=list(BAD_TOKENS))
def test_token_http_cannot_carry_is_refused_at_construction(
    flavour: Flavour,
    fault_server: FaultServer,
    token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> list[ValidationError]:
        errors = []
        with pytest.raises(ValidationError) as info:
            client(flavour, fault_server, token=token)
        errors.append(info.value)
        if "\x00" not in token and "\ud800" not in token:  # os.environ cannot hold these
            monkeypatch.setenv("DEVSMS_TOKEN", token)
            with pytest.raises(ValidationError) as info:
                AsyncDevSMS(base_url=fault_server.base_url)
            errors.append(info.value)
        # With a client of the user's own, too.
        async with httpx.AsyncClient() as own:
            with pytest.raises(ValidationError) as info:
                AsyncDevSMS(token, base_url=fault_server.base_url, http_client=own)
        errors.append(info.value)
        return errors

    for error in flavour.run(scenario):
        assert error.field == "token"
        assert "HTTP header" in str(error)
        assert error.__cause__ is None
        assert error.__context__ is None
        printed = everything_printed(error)
        for part in ("abc", "def", "SECRET"):
            assert part not in printed
    assert fault_server.count() == 0


def test_tokens_of_visible_ascii_are_taken_as_they_are(
    flavour: Flavour, fault_server: FaultServer
) -> None:
    # Sanctum-style ("1|...") and base64 tokens; surrounding whitespace is dropped.
    tokens = ["1|aB/cD+eF=gH~iJ.kL_mN-oP!", " padded-token\r\n"]

    # The fault server's sandbox takes one token; the server answers these two itself.
    counts = ("total", "today", "month")
    stats = {f"{p}_{k}": 0 for p in counts for k in ("sms", "spent")}
    balance = {"balance": 1000, "sms_price": 50, "statistics": stats}
    fault_server.script(*[Reply.json(200, {"success": True, "data": balance})] * len(tokens))

    async def scenario() -> None:
        for token in tokens:
            async with client(flavour, fault_server, token=token) as sms:
                await sms.get_balance()

    flavour.run(scenario)
    seen = [r.headers["authorization"] for r in fault_server.requests]
    assert seen == [f"Bearer {t.strip()}" for t in tokens]


# -- redaction of escaped secrets ------------------------------------------------------

ODD_TOKEN = "7|aB/cD+eF=gH~iJ.kL_mN-oP"


def forms_of(secret: str) -> list[str]:
    """Written out independently of the SDK: raw, PHP json_encode, URL-encoded."""
    php = json.dumps(secret)[1:-1].replace("/", "\\/")
    quoted = urllib.parse.quote(secret, safe="")
    return [secret, php, quoted, quoted.lower(), urllib.parse.quote_plus(secret)]


def leaked(text: str, secrets: tuple[str, ...] = (ODD_TOKEN, PHONE, OTP)) -> list[str]:
    return [form for secret in secrets for form in forms_of(secret) if form in text]


def php_echo(status: int) -> Reply:
    """An answer that repeats every secret back in every form a PHP service might."""
    payload = {
        "success": False,
        "error": f"Token {ODD_TOKEN} / {PHONE} / {OTP} rad etildi",
        "token": ODD_TOKEN,
        "phone": PHONE,
        "otp_code": OTP,
        "url": "https://devsms.uz/api/send_sms.php?"
        + urllib.parse.urlencode({"token": ODD_TOKEN, "phone": PHONE, "otp_code": OTP}),
    }
    body = json.dumps(payload).replace("/", "\\/")  # PHP's json_encode escapes '/'
    return Reply(status, body.encode(), (("Content-Type", "application/json"),))


def html_echo(status: int) -> Reply:
    token_php = json.dumps(ODD_TOKEN)[1:-1].replace("/", "\\/")
    quoted = urllib.parse.quote(ODD_TOKEN, safe="")
    page = (
        f"<b>Notice</b>: token {token_php} otp {OTP} phone {PHONE} in <b>send.php</b>"
        f" <a href='?t={quoted}'>retry</a> <a href='?t={quoted.lower()}'>again</a>"
    )
    return Reply(status, page.encode(), (("Content-Type", "text/html"),))


def test_redaction_covers_escaped_and_url_encoded_secrets(
    flavour: Flavour, fault_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> list[BaseException]:
        errors: list[BaseException] = []
        async with client(flavour, fault_server, token=ODD_TOKEN, max_retries=0) as sms:

            async def otp() -> Any:
                return await sms.send_otp(
                    PHONE, template=OtpTemplate.LOGIN, service_name="TechShop", otp_code=OTP
                )

            for fault, expected in [
                (php_echo(502), SendOutcomeUnknownError),
                (html_echo(200), SendOutcomeUnknownError),
                # "Token ... rad etildi" is a token refusal (the refusal table).
                (php_echo(400), AuthenticationError),
                (php_echo(200), AuthenticationError),
            ]:
                fault_server.script(fault)
                with pytest.raises(expected) as info:
                    await otp()
                errors.append(info.value)
            for fault, expected_read in [
                (php_echo(503), ServerError),
                (html_echo(200), MalformedResponseError),
                (php_echo(401), DevSMSError),
            ]:
                fault_server.script(fault)
                with pytest.raises(expected_read) as read_info:
                    await sms.get_balance()
                errors.append(read_info.value)
            # The token as a value that does not fit the model: the converter's text.
            fault_server.script(Reply.json(200, {"success": True, "data": {"balance": ODD_TOKEN}}))
            with pytest.raises(MalformedResponseError) as bad:
                await sms.get_balance()
            errors.append(bad.value)
        return errors

    errors = flavour.run(scenario)
    for n, error in enumerate(errors):
        # A read cannot know an OTP code it never sent: only the sends' codes are secret.
        secrets = (ODD_TOKEN, PHONE, OTP) if n < 4 else (ODD_TOKEN, PHONE)
        printed = everything_printed(error)
        for attribute in ("body_snippet", "error"):
            printed += "\n" + str(getattr(error, attribute, ""))
            printed += "\n" + str(getattr(error.__cause__, attribute, ""))
        printed += "\n" + repr(pickle.loads(pickle.dumps(error)))
        assert leaked(printed, secrets) == [], printed
    # The snippets still show what the server said, with the secrets cut out.
    assert "rad etildi" in str(errors[2])
    assert "***" in errors[2].body_snippet  # type: ignore[attr-defined]
    for record in caplog.records:
        text = record.getMessage() + repr(vars(record))
        assert leaked(text, (ODD_TOKEN, PHONE)) == [], text


# -- huge answers are streamed and stopped at the cap ----------------------------------


def test_endless_chunked_answer_is_cut_at_the_cap(
    flavour: Flavour, fault_server: FaultServer
) -> None:
    # 64 MiB if nobody stops it; the cap is 4 MiB.
    limit = 16 * MAX_BODY_BYTES
    fault_server.script(Endless(limit=limit), Endless(limit=limit), Endless(502, limit=limit))

    async def scenario() -> tuple[BaseException, BaseException, BaseException]:
        async with client(flavour, fault_server, max_retries=0) as sms:
            with pytest.raises(SendOutcomeUnknownError) as sent:
                await sms.send_sms(PHONE, TEXT)
            with pytest.raises(MalformedResponseError) as read:
                await sms.get_balance()
            with pytest.raises(ServerError) as error_page:
                await sms.get_balance()
            balance = await sms.get_balance()  # the pool is fine afterwards
            assert balance.balance > 0
        gc.collect()  # inside the loop: an unfinalised body generator would warn here
        return sent.value, read.value, error_page.value

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        sent, read, error_page = flavour.run(scenario)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert isinstance(sent.__cause__, MalformedResponseError)
    assert f"larger than {MAX_BODY_BYTES} bytes" in str(sent.__cause__)
    assert f"larger than {MAX_BODY_BYTES} bytes" in str(read)
    assert len(read.body_snippet) <= 201  # type: ignore[attr-defined]
    assert read.body_snippet.startswith('{"success": true, "data": {"pad": "xxx')  # type: ignore[attr-defined]
    assert error_page.status_code == 502  # type: ignore[attr-defined]
    # The client hung up on every stream long before its end...
    assert len(fault_server.streams) == 3
    for report in fault_server.streams:
        assert not report.finished
        assert report.written < limit // 2
    # ...the error page even sooner (64 KiB cap; what the kernel buffers comes on top).
    assert fault_server.streams[2].written < fault_server.streams[0].written
    # ...and held one cap's worth at most (plus one read, plus the test's own objects).
    assert peak < MAX_BODY_BYTES + 4 * 1024 * 1024, peak


def test_answer_just_under_the_cap_is_read_whole(
    flavour: Flavour, fault_server: FaultServer
) -> None:
    pad = "x" * (MAX_BODY_BYTES - 200)
    body = json.dumps({"success": True, "data": {"balance": 7, "pad": pad}}).encode()
    assert len(body) <= MAX_BODY_BYTES
    chunked = Reply(
        200,
        b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:1000], body[1000:])) + b"0\r\n\r\n",
        (("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")),
    )
    fault_server.script(chunked)

    async def scenario() -> Any:
        async with client(flavour, fault_server) as sms:
            with pytest.raises(MalformedResponseError) as info:
                await sms.get_balance()  # read whole: it fails on the model, not the size
            return info.value

    error = flavour.run(scenario)
    assert "larger than" not in str(error)
    assert "does not fit Balance" in str(error)
    assert MAX_ERROR_BODY_BYTES < MAX_BODY_BYTES


# -- keep-alive desynchronised by bytes after the answer ---------------------------------


async def sms_id_or_unknown(sms: AsyncDevSMS, text: str) -> Any:
    """The send's ``sms_id``, or the ``SendOutcomeUnknownError`` it raised."""
    try:
        return (await sms.send_sms(PHONE, text)).sms_id
    except SendOutcomeUnknownError as exc:
        return exc


@pytest.mark.parametrize("separate", [False, True], ids=["same-write", "second-write"])
def test_bytes_after_the_answer_never_reach_the_next_send(
    flavour: Flavour, fault_server: FaultServer, separate: bool
) -> None:
    fault_server.script(*[Trailing(separate=separate)] * 4)

    async def scenario() -> list[Any]:
        outcomes: list[Any] = []
        async with client(flavour, fault_server) as sms:
            for i in range(4):
                outcomes.append(await sms_id_or_unknown(sms, f"xabar {i}"))
                # The extra bytes are on their way before the next send (deterministic).
                with anyio.fail_after(5):
                    while fault_server.trailers_sent <= i:
                        await anyio.sleep(0.001)
        return outcomes

    outcomes = flavour.run(scenario)
    assert 999 not in outcomes
    # Every answer came on a fresh connection, so each one is proven and its own.
    assert outcomes == [1, 2, 3, 4]
    assert fault_server.connections == 4
    assert [r["message"] for r in fault_server.api.records] == [f"xabar {i}" for i in range(4)]


def test_bytes_after_an_answer_on_a_reused_connection(
    flavour: Flavour, fault_server: FaultServer
) -> None:
    """The answer read on a reused connection that had bytes after it cannot be proven
    to be this send's own (it may be stale, and ours the bytes after it): unknown, or
    (aiohttp, which reads its answer before the tail) the send's own id. Never 999."""
    fault_server.script(None, Trailing())  # type: ignore[arg-type]

    async def scenario() -> list[Any]:
        outcomes: list[Any] = []
        async with client(flavour, fault_server) as sms:
            for i in range(3):
                outcomes.append(await sms_id_or_unknown(sms, f"xabar {i}"))
            unknown = outcomes[1]
            if isinstance(unknown, SendOutcomeUnknownError):
                assert isinstance(unknown.__cause__, APIConnectionError)
                found = await sms.reconcile(unknown)
                assert found.found
                assert found.record is not None
                assert found.record.id == 2
            # A read on a desynchronised reused connection is retried on a new one.
            fault_server.script(None, Trailing(extra=b"PHP Warning: headers already sent"))
            await sms.get_balance()
            await sms.get_balance()
            await sms.get_balance()
        return outcomes

    outcomes = flavour.run(scenario)
    assert 999 not in outcomes
    assert outcomes[0] == 1
    assert outcomes[2] == 3
    if flavour.http_backend == "httpx":
        assert isinstance(outcomes[1], SendOutcomeUnknownError)
    else:
        assert outcomes[1] in (2,) or isinstance(outcomes[1], SendOutcomeUnknownError)
    assert fault_server.count("send_sms.php") == 3  # nothing was replayed


def test_the_h11_state_is_reachable_on_the_installed_httpx() -> None:
    """The desync guard walks httpx's and httpcore's private layout; an upgrade that
    changes it must fail here, not silently drop the guard."""
    from devsms_async._transport import _h11_connection

    async def scenario(server: FaultServer) -> None:
        async with httpx.AsyncClient() as http:
            request = http.build_request("GET", f"{server.base_url}/get_balance.php")
            response = await http.send(request, stream=True)
            try:
                assert _h11_connection(response) is not None
            finally:
                await response.aclose()

    with FaultServer() as server:
        anyio.run(scenario, server)


# -- the unknown-outcome error keeps no secret -------------------------------------------


def test_pickled_unknown_outcome_keeps_no_secret_and_still_reconciles(
    flavour: Flavour, fault_server: FaultServer
) -> None:
    rendered = f"MyService tizimi: TechShop xizmatiga kirish uchun tasdiqlash kodi: {OTP}"
    fault_server.script(Reset(processed=True), Reset(processed=True))

    async def scenario() -> list[tuple[bytes, Any]]:
        out = []
        async with client(flavour, fault_server) as sms:
            with pytest.raises(SendOutcomeUnknownError) as plain:
                await sms.send_sms(PHONE, TEXT)
            with pytest.raises(SendOutcomeUnknownError) as otp:
                await sms.send_otp(
                    PHONE, template=OtpTemplate.LOGIN, service_name="TechShop", otp_code=OTP
                )
            for error in (plain.value, otp.value):
                data = pickle.dumps(error)
                revived = pickle.loads(data)
                # Another process, same token: reconcile needs nothing more.
                found = await sms.reconcile(revived)
                out.append((data, found))
            assert otp.value.matches(PHONE, rendered, TOKEN.encode())
        return out

    (plain_data, plain_found), (otp_data, otp_found) = flavour.run(scenario)
    for data in (plain_data, otp_data):
        for secret in (PHONE, TEXT, OTP, rendered, TOKEN):
            assert secret.encode() not in data
        revived = pickle.loads(data)
        assert revived.phone == MASKED
        assert revived.phone_digest
        assert not any(PHONE in str(v) or OTP in str(v) for v in vars(revived).values())
    assert plain_found.record is not None
    assert plain_found.record.message == TEXT
    assert otp_found.record is not None
    assert otp_found.record.message == rendered


def test_matches_needs_the_same_number_text_and_key() -> None:
    import datetime as _dt

    key = TOKEN.encode()
    error = SendOutcomeUnknownError(
        "lost",
        phone=PHONE,
        fingerprint=fingerprint(TEXT, key),
        started_at=_dt.datetime.now(_dt.timezone.utc),
        key=key,
    )
    assert error.phone == MASKED
    assert error.matches(PHONE, TEXT, key)
    assert error.matches("+998 90 123-45-67", TEXT, key)  # the digits decide
    assert not error.matches("998901234568", TEXT, key)
    assert not error.matches(PHONE, TEXT + ".", key)
    assert not error.matches(PHONE, TEXT, b"another account")
    # Made by hand from a masked number: the masked number must still match.
    by_hand = SendOutcomeUnknownError(
        "lost", phone=MASKED, fingerprint=fingerprint(TEXT, key), started_at=error.started_at
    )
    assert by_hand.phone_digest is None
    assert by_hand.matches(PHONE, TEXT, key)
    assert not by_hand.matches("998911234567", TEXT, key)
