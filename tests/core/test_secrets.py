"""The token, phone numbers, OTP codes and message texts stay out of reprs, error texts
and logs (every logger, every level), unless the user opts in; plain http is refused.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from typing import Any

import pytest

from devsms_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AsyncDevSMS,
    AuthenticationError,
    BadRequestError,
    BalanceRefusedError,
    DevSMSError,
    InsufficientBalanceError,
    MalformedResponseError,
    NotFoundError,
    OtpTemplate,
    PermissionDeniedError,
    RateLimitError,
    RateLimitUnavailableError,
    SenderNotAllowedError,
    SendOutcomeUnknownError,
    ServerError,
    ServiceNameRejectedError,
    SmsIdMissingError,
    TemplateRequiredError,
    UsageError,
    ValidationError,
    WaitTimeoutError,
    parse_callback,
)
from devsms_async._redact import SNIPPET_CHARS, body_snippet, redact
from devsms_async.bulk import BulkMessage
from devsms_async.testing import Sandbox
from support import TOKEN
from support.faultserver import FaultServer, Reply, Reset, Stall, refused_url

PHONE = "998901234567"
MASKED = "99890***4567"
OTP = "583920"
TEXT = "Parolingiz: Qwerty-7781, hech kimga aytmang"
SECRETS = (TOKEN, PHONE, OTP, TEXT)


def leaks(text: str, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    return [s for s in secrets if s in text]


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler or formatter could print: message, args, extras, exception."""
    parts = [record.getMessage(), repr(record.args), repr(vars(record))]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(repr(record.exc_info[1]))
    return "\n".join(parts)


def echo(status: int, *, code: str = "", **extra: Any) -> Reply:
    """An error answer that repeats secrets back (as a careless PHP might): the token,
    the number and, for an OTP call, its code (another call cannot know that one)."""
    payload = {
        "success": False,
        "error": f"Bearer {TOKEN}: {PHONE} {code} rad etildi",
        "request": {"phone": PHONE, "otp_code": code},
        **extra,
    }
    return Reply.json(status, payload)


async def otp(sms: AsyncDevSMS) -> Any:
    return await sms.send_otp(
        PHONE, template=OtpTemplate.LOGIN, service_name="TechShop", otp_code=OTP
    )


# -- logs --------------------------------------------------------------------------------


async def exercise_everything(server: FaultServer, **options: Any) -> None:
    """Every public method, successes and failures, retries included."""
    async with AsyncDevSMS(TOKEN, base_url=server.base_url, **options) as sms:
        await sms.send_sms(PHONE, TEXT)
        await otp(sms)
        await sms.get_history()
        await sms.get_balance()
        await sms.get_status(sms_id=1)
        [record async for record in sms.iter_history(page_size=1, max_items=2)]
        server.script(Reset())
        with pytest.raises(SendOutcomeUnknownError) as unknown:
            await sms.send_sms(PHONE, TEXT)
        await sms.reconcile(unknown.value)
        server.script(echo(502, code=OTP))
        with pytest.raises(SendOutcomeUnknownError):
            await otp(sms)
        server.script(echo(503), echo(429))  # retried: one INFO line per retry
        await sms.get_balance()
        server.script(echo(401))
        with pytest.raises(AuthenticationError):
            await sms.get_balance()


async def test_nothing_secret_in_any_log_at_any_level(
    fault_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the root: httpx, httpcore, asyncio, ours
    await exercise_everything(fault_server)

    assert {r.name.split(".")[0] for r in caplog.records} >= {"devsms_async", "httpx"}
    for record in caplog.records:
        assert leaks(record_text(record)) == [], record_text(record)


async def test_one_debug_line_per_request(
    fault_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="devsms_async")
    await exercise_everything(fault_server)

    ours = [r for r in caplog.records if r.name == "devsms_async"]
    lines = [r for r in ours if r.levelno == logging.DEBUG]
    assert len(lines) == fault_server.count()  # one per request, retries included
    retries = [r for r in ours if r.levelno != logging.DEBUG]
    assert [r.levelno for r in retries] == [logging.INFO, logging.INFO]  # one per retry
    assert "retrying get_balance (attempt 1 failed: ServerError HTTP 503)" in (
        retries[0].getMessage()
    )
    for record, request in zip(lines, fault_server.requests, strict=True):
        words = record.getMessage().split()
        assert words[:2] == [request.method, request.endpoint]
        fields = dict(w.split("=", 1) for w in words[2:] if "=" in w)
        assert {"status", "duration_ms", "attempt"} <= set(fields)
        float(fields["duration_ms"])
        if request.endpoint == "send_sms.php":
            assert fields["to"] == MASKED
    attempts = [r.getMessage() for r in lines if "get_balance.php" in r.getMessage()]
    assert any("status=503" in a and "attempt=1" in a for a in attempts)
    assert any("status=429" in a and "attempt=2" in a for a in attempts)
    assert any("error=ReadError outcome=unknown" in r.getMessage() for r in lines)


async def test_log_sensitive_shows_number_and_text_but_never_the_token(
    fault_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await exercise_everything(fault_server, log_sensitive=True)

    ours = "\n".join(r.getMessage() for r in caplog.records if r.name == "devsms_async")
    assert f"to={PHONE}" in ours
    assert repr(TEXT) in ours
    assert OTP in ours  # the rendered OTP text, on request
    for record in caplog.records:
        assert TOKEN not in record_text(record)


# -- reprs and error texts ---------------------------------------------------------------


async def test_client_repr() -> None:
    sms = AsyncDevSMS(TOKEN)
    assert leaks(repr(sms) + str(sms)) == []
    async with AsyncDevSMS(TOKEN, base_url="http://127.0.0.1:9/api") as opened:
        assert leaks(repr(opened) + str(opened)) == []


async def test_model_reprs(fault_server: FaultServer) -> None:
    async with AsyncDevSMS(TOKEN, base_url=fault_server.base_url) as sms:
        sent = await sms.send_sms(PHONE, TEXT)
        page = await sms.get_history()
        record = await sms.get_status(sms_id=sent.sms_id)
        balance = await sms.get_balance()
        fault_server.script(Reset(processed=True))
        with pytest.raises(SendOutcomeUnknownError) as info:
            await sms.send_sms(PHONE, TEXT)
        found = await sms.reconcile(info.value)
    report = parse_callback({"sms_id": 1, "request_id": "r", "phone": PHONE, "status": "delivered"})
    models = [sent, page, record, balance, found, report, BulkMessage(phone=PHONE, message=TEXT)]
    for model in models:
        assert leaks(repr(model) + str(model)) == [], repr(model)
    assert record.phone_number == PHONE  # the attribute itself is intact
    assert MASKED in repr(record)


def error_text(error: BaseException) -> str:
    return "\n".join([str(error), repr(error), repr(error.args)])


async def test_every_error_type_keeps_secrets_out(fault_server: FaultServer) -> None:
    errors: dict[type[DevSMSError], DevSMSError] = {}

    def keep(info: pytest.ExceptionInfo[Any]) -> None:
        errors[type(info.value)] = info.value

    with pytest.raises(ValidationError) as info:
        AsyncDevSMS(TOKEN, base_url="http://devsms.uz/api")
    keep(info)
    with pytest.raises(UsageError) as info:
        await AsyncDevSMS(TOKEN).get_balance()
    keep(info)

    statuses = {
        400: BadRequestError,
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        429: RateLimitError,
        500: ServerError,
    }
    async with AsyncDevSMS(TOKEN, base_url=fault_server.base_url, max_retries=0) as sms:
        for status, cls in statuses.items():
            fault_server.script(echo(status))
            with pytest.raises(cls) as info:
                await sms.get_balance()
            keep(info)
        fault_server.script(echo(200, error=f"{TOKEN} {PHONE} {OTP} nomaqbul", code=OTP))
        with pytest.raises(ServiceNameRejectedError) as info:
            await otp(sms)
        keep(info)
        fault_server.script(echo(502, code=OTP))
        with pytest.raises(SendOutcomeUnknownError) as info:
            await otp(sms)
        keep(info)
        # The refusal table's types (tests/core/test_refusals.py), with secrets echoed back.
        for words, refusal in (
            ("Balans yetarli emas", BalanceRefusedError),
            ("модерацию не прошёл", TemplateRequiredError),
            ("invalid sender", SenderNotAllowedError),
        ):
            fault_server.script(echo(200, error=f"{TOKEN} {PHONE} {words}"))
            with pytest.raises(refusal) as info:
                await sms.send_sms(PHONE, TEXT)
            keep(info)
        fault_server.script(Reply(200, f"<p>{TOKEN} {PHONE}</p>".encode()))
        with pytest.raises(MalformedResponseError) as info:
            await sms.get_balance()
        keep(info)
        fault_server.script(Stall())
        with pytest.raises(APITimeoutError) as info:
            await sms.get_balance(timeout=0.1)
        keep(info)
        with pytest.raises(ValidationError) as info:
            await sms.send_otp(PHONE, template=1, service_name="TechShop", otp_code=OTP + "x")
        keep(info)
        # A send proven by its request_id alone: the id is missing, not the SMS.
        data = {"request_id": "req-1", "status": "sent"}
        fault_server.script(Reply(200, json.dumps({"success": True, "data": data}).encode()))
        sent = await sms.send_otp(PHONE, template=1, service_name="TechShop", otp_code=OTP)
        with pytest.raises(SmsIdMissingError) as info:
            sent.require_sms_id()
        keep(info)
    async with AsyncDevSMS(TOKEN, base_url=refused_url(), max_retries=0) as sms:
        with pytest.raises(APIConnectionError) as info:
            await sms.send_sms(PHONE, TEXT)
        keep(info)
    # A shared rate limit that cannot be reached, its password in the URL.
    from devsms_async.ratelimit import RedisRateLimit

    redis_port = refused_url().split(":")[2].split("/")[0]
    limit = RedisRateLimit(f"redis://:{TOKEN}@127.0.0.1:{redis_port}/0", per_second=1, retry_for=0)
    async with AsyncDevSMS(TOKEN, base_url=refused_url(), rate_limit=limit) as sms:
        with pytest.raises(RateLimitUnavailableError) as info:
            await sms.send_sms(PHONE, TEXT)
        keep(info)
    await limit.aclose()
    sandbox = Sandbox(token=TOKEN)
    async with sandbox.client() as sms:
        sent = await sms.send_sms(PHONE, TEXT)  # stays "sent": nothing advances it
        with pytest.raises(WaitTimeoutError) as info:
            await sms.wait_for_status(sent.sms_id, timeout=0.05, poll_initial=0.01)
        keep(info)
        sandbox.balance = 10
        with pytest.raises(InsufficientBalanceError) as info:
            await sms.send_bulk([(PHONE, TEXT)], check_balance=True)
        keep(info)

    # Phone verification refusals (devsms_async.verify); each verifier has its own store.
    from devsms_async.testing import ManualClock
    from devsms_async.verify import Rate, Verifier

    clock = ManualClock()
    verify_sandbox = Sandbox(token=TOKEN, clock=clock)
    other = "998901112233"
    async with verify_sandbox.client() as sms:

        def verifier(**options: Any) -> Verifier:
            options.setdefault("service_name", "TechShop")
            return Verifier(sms, secret_key=TOKEN, clock=clock, **options)

        cases: list[tuple[Verifier, list[tuple[str, str | None]]]] = [
            (verifier(), [(PHONE, None), (PHONE, None)]),
            (verifier(per_phone=Rate(1), resend_after=0), [(PHONE, None), (PHONE, None)]),
            (verifier(per_key=Rate(1)), [(PHONE, TOKEN), (other, TOKEN)]),
            (verifier(per_service=Rate(1)), [(PHONE, None), (other, None)]),
            (verifier(max_spend_per_hour=60), [(PHONE, None), (other, None)]),
            (verifier(), [("77012345678", None)]),
            (verifier(service_name="Scam Club"), [(PHONE, None), (PHONE, None)]),
            (verifier(allowed_countries={"UZ", "GB"}), [("+447911123456", None)]),
            (verifier(allowed_countries={"UZ", "GB"}), [("+449098790000", None)]),
        ]
        for v, starts in cases:
            for phone, key in starts:
                try:
                    await v.start(phone, key=key)
                except DevSMSError as exc:
                    errors.setdefault(type(exc), exc)
        # A Redis store nobody answers (a refused port): StoreUnavailableError.
        from devsms_async.verify import RedisStore, StoreUnavailableError

        down = RedisStore(url=refused_url().replace("http", "redis").removesuffix("/api"))
        with pytest.raises(StoreUnavailableError) as info:
            await Verifier(sms, down, service_name="TechShop", secret_key=TOKEN).check(PHONE, OTP)
        keep(info)
        await down.aclose()

        # A bulk journal that belongs to another job (JournalError).
        import tempfile
        from pathlib import Path

        from devsms_async.bulk import FileJournal

        journal_path = Path(tempfile.mkdtemp()) / "job.journal.jsonl"
        for text in (f"first {TOKEN}", f"second {TOKEN}"):
            with FileJournal(journal_path) as journal:
                try:
                    await sms.send_bulk([(PHONE, text)], journal=journal)
                except DevSMSError as exc:
                    errors.setdefault(type(exc), exc)

    leaf_types = {
        cls
        for cls in _all_subclasses(DevSMSError)
        if cls.__module__ == "devsms_async.errors" and not cls.__subclasses__()
    }
    assert leaf_types <= set(errors), leaf_types - set(errors)
    for error in errors.values():
        text = error_text(error)
        cause = error.__cause__
        while cause is not None:  # the chain a traceback prints
            text += "\n" + str(cause)
            cause = cause.__cause__
        assert leaks(text) == [], text
        if isinstance(error, APIError | MalformedResponseError):
            assert len(error.body_snippet) <= SNIPPET_CHARS + 1


def _all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_all_subclasses(sub)}
    return out


async def test_unknown_outcome_carries_the_number_but_does_not_print_it(
    fault_server: FaultServer,
) -> None:
    fault_server.script(echo(502, code=OTP))
    async with AsyncDevSMS(TOKEN, base_url=fault_server.base_url) as sms:
        with pytest.raises(SendOutcomeUnknownError) as info:
            await otp(sms)
    error = info.value
    assert error.phone == MASKED
    assert error.status_code == 502
    assert leaks(error_text(error)) == []
    # The fingerprint is keyed: a 6-digit code cannot be found by hashing guesses.
    import hashlib

    rendered = f"MyService tizimi: TechShop xizmatiga kirish uchun tasdiqlash kodi: {OTP}"
    assert hashlib.sha256(rendered.encode()).hexdigest()[:16] != error.fingerprint


# -- redaction details -------------------------------------------------------------------


@pytest.mark.parametrize("offset", range(780, 805))
def test_a_token_cut_by_the_snippet_window_shows_nothing(offset: int) -> None:
    body = (" " * offset + TOKEN + " tail").encode()
    snippet = body_snippet(body, secrets=(TOKEN,))
    assert not any(TOKEN[i : i + 4] in snippet for i in range(len(TOKEN) - 3)), snippet


def test_snippets_mask_phone_numbers() -> None:
    snippet = body_snippet(json.dumps({"phone": PHONE, "n": "12025551234"}).encode())
    assert PHONE not in snippet
    assert MASKED in snippet
    assert "12025***1234" in snippet


# -- plain http --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://devsms.uz/api",
        "http://10.0.0.5/api",
        "http://localhost.evil.example/api",
        "http://127.0.0.1.nip.io/api",
        "HTTP://devsms.uz/api",
        "http://sms.example.uz/api",
    ],
)
def test_plain_http_to_a_remote_host_is_refused(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        AsyncDevSMS(TOKEN, base_url=url)
    assert info.value.field == "base_url"
    assert "clear text" in str(info.value)
    opted_in = AsyncDevSMS(TOKEN, base_url=url, allow_insecure_http=True)  # an explicit opt-in
    assert str(urllib.parse.urlsplit(url).hostname) in repr(opted_in)


@pytest.mark.parametrize(
    "url",
    [
        "https://devsms.uz/api",
        "http://127.0.0.1:8000/api",
        "http://127.9.9.9/api",
        "http://localhost:8000/api",
        "http://[::1]:8000/api",
        "http://127.0.0.1:8080/api",
        "http://localhost/api",
        "http://[::1]:9/api",
    ],
)
def test_https_and_loopback_need_no_opt_in(url: str) -> None:
    AsyncDevSMS(TOKEN, base_url=url)


@pytest.mark.parametrize(
    ("secret", "written"),
    [
        ("ab/cd", "ab\\/cd"),  # PHP json_encode
        ("kod ö", "kod \\u00f6"),  # json ensure_ascii
        ("kod ö", "kod \\u00F6"),  # upper-case hex
        ("a+b c/d", "a%2Bb%20c%2Fd"),  # quote
        ("a+b c/d", "a%2bb+c%2fd"),  # quote_plus, lower-case hex
        ('a"b\\c', 'a\\"b\\\\c'),  # JSON escapes of quote and backslash
    ],
)
def test_redact_knows_the_escaped_forms(secret: str, written: str) -> None:
    assert redact(f"x {written} y", [secret]) == "x *** y"
    # Cut by a snippet window: the start left at the end is masked too.
    assert redact(f"x {written[:-1]}", [secret]) == "x ***"
