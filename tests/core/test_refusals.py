"""The refusal table (devsms_async/_refusals.py): every row, at HTTP 400 and at HTTP 200
with ``success: false``, through respx and through the served sandbox's live switches.
"""

from __future__ import annotations

from typing import Any

import pytest
import respx

from devsms_async import (
    APIError,
    AsyncDevSMS,
    AuthenticationError,
    BadRequestError,
    BalanceCheckError,
    BalanceRefusedError,
    InsufficientBalanceError,
    OtpTemplate,
    SenderNotAllowedError,
    SendOutcomeUnknownError,
    ServerError,
    ServiceNameRejectedError,
    TemplateRequiredError,
    ValidationError,
)
from devsms_async._refusals import REFUSALS, match_refusal
from devsms_async.testing import Sandbox, serve_sandbox
from support import TOKEN

BASE = "https://devsms.uz/api"
UZ = "998901234567"

ROWS: list[tuple[str, type[APIError]]] = [
    ("Balans yetarli emas", BalanceRefusedError),
    ("Mablag' yetarli emas", BalanceRefusedError),
    ("Недостаточно средств на балансе", BalanceRefusedError),
    ("Insufficient balance", BalanceRefusedError),
    ("not enough funds", BalanceRefusedError),
    ("Token topilmadi", AuthenticationError),
    ("Token noto'g'ri", AuthenticationError),
    ("Autentifikatsiya xatosi", AuthenticationError),
    ("Неверный токен", AuthenticationError),
    ("Unauthorized", AuthenticationError),
    ("Этот текст не прошёл модерацию", TemplateRequiredError),
    ("Нет одобренного шаблона для текста", TemplateRequiredError),
    ("Matn moderatsiyadan o'tmadi", TemplateRequiredError),
    ("invalid sender", SenderNotAllowedError),
    ("Sender 4546 is not allowed for this number", SenderNotAllowedError),
    ("Отправитель не найден", SenderNotAllowedError),
    ("Korxona nomi nomaqbul deb topildi: X. SMS yuborilmadi", ServiceNameRejectedError),
]


@pytest.mark.parametrize("status", [400, 200, 403])
@pytest.mark.parametrize(("text", "error_type"), ROWS)
async def test_every_row_at_any_status(
    api: respx.MockRouter, text: str, error_type: type[APIError], status: int
) -> None:
    route = api.post("/send_sms.php").respond(status, json={"success": False, "error": text})
    async with AsyncDevSMS(TOKEN) as sms:
        with pytest.raises(error_type) as info:
            await sms.send_sms(UZ, "Salom!")
    assert type(info.value) is error_type
    assert (info.value.status_code, info.value.error) == (status, text)
    assert route.call_count == 1  # a refusal is final: never retried, never unknown


@pytest.mark.parametrize("key", ["error", "message"])
async def test_the_text_is_read_from_error_or_message(api: respx.MockRouter, key: str) -> None:
    api.post("/send_sms.php").respond(200, json={"success": False, key: "Balans yetarli emas"})
    async with AsyncDevSMS(TOKEN) as sms:
        with pytest.raises(BalanceRefusedError):
            await sms.send_sms(UZ, "Salom!")


async def test_a_token_refusal_at_200_on_a_read_is_authentication(api: respx.MockRouter) -> None:
    api.get("/get_balance.php").respond(200, json={"success": False, "error": "Token noto'g'ri"})
    async with AsyncDevSMS(TOKEN) as sms:
        with pytest.raises(AuthenticationError) as info:
            await sms.get_balance()
    assert info.value.status_code == 200


async def test_send_only_rows_do_not_type_reads(api: respx.MockRouter) -> None:
    api.get("/get_status.php").respond(400, json={"success": False, "error": "invalid sender"})
    async with AsyncDevSMS(TOKEN) as sms:
        with pytest.raises(BadRequestError) as info:
            await sms.get_status(sms_id=1)
    assert type(info.value) is BadRequestError


@pytest.mark.parametrize(
    "text",
    [
        "Xatolik yuz berdi",
        "template_type 1, 2, 3 yoki 4 bo'lishi kerak",  # a field check, not moderation
        "Balans yetarli",  # no "emas": not a refusal of money
        "from noto'g'ri",
    ],
)
async def test_unknown_texts_stay_plain_with_the_text_kept(
    api: respx.MockRouter, text: str
) -> None:
    api.post("/send_sms.php").respond(400, json={"success": False, "error": text})
    async with AsyncDevSMS(TOKEN) as sms:
        with pytest.raises(BadRequestError) as info:
            await sms.send_sms(UZ, "Salom!")
    assert type(info.value) is BadRequestError
    assert info.value.error == text
    assert text in str(info.value)


async def test_5xx_keeps_its_meaning_whatever_the_text(api: respx.MockRouter) -> None:
    api.post("/send_sms.php").respond(500, json={"success": False, "error": "Balans yetarli emas"})
    api.get("/get_balance.php").respond(503, json={"success": False, "error": "Token noto'g'ri"})
    async with AsyncDevSMS(TOKEN, max_retries=0) as sms:
        with pytest.raises(SendOutcomeUnknownError):
            await sms.send_sms(UZ, "Salom!")
        with pytest.raises(ServerError):
            await sms.get_balance()


@pytest.mark.parametrize(("charged", "expected"), [(False, False), (True, True), (None, True)])
async def test_service_name_refusal_reads_data_charged(
    api: respx.MockRouter, charged: bool | None, expected: bool
) -> None:
    payload: dict[str, Any] = {"success": False, "error": "Korxona nomi nomaqbul deb topildi"}
    if charged is not None:
        payload["data"] = {"charged": charged}
    api.post("/send_sms.php").respond(400, json=payload)
    async with AsyncDevSMS(TOKEN) as sms:
        with pytest.raises(ServiceNameRejectedError) as info:
            await sms.send_otp(
                UZ, template=OtpTemplate.LOGIN, service_name="TechShop", otp_code="1234"
            )
    assert info.value.charged is expected
    assert ("WAS charged" in str(info.value)) is expected


def test_the_table_matches_case_insensitively_and_in_order() -> None:
    assert REFUSALS[0].name == "service name rejected"
    row = match_refusal("BALANS YETARLI EMAS", is_send=True)
    assert row is not None
    assert row.error is BalanceRefusedError
    assert match_refusal(None, is_send=True) is None
    assert match_refusal("", is_send=True) is None
    assert match_refusal("invalid sender", is_send=False) is None
    for text, error_type in ROWS:
        found = match_refusal(text, is_send=True)
        assert found is not None, text
        assert found.error is error_type


def test_messages_say_what_to_do() -> None:
    assert "approved" in (TemplateRequiredError.__doc__ or "")
    assert "4546" in (SenderNotAllowedError.__doc__ or "")


async def test_one_except_catches_the_pre_check_and_the_server() -> None:
    sandbox = Sandbox(balance=60)
    caught: list[InsufficientBalanceError] = []
    async with sandbox.client() as sms:
        try:
            await sms.send_bulk([(UZ, "Salom!")] * 2, check_balance=True)
        except InsufficientBalanceError as exc:
            caught.append(exc)
        await sms.send_sms(UZ, "Salom!")
        try:
            await sms.send_sms(UZ, "Salom!")
        except InsufficientBalanceError as exc:
            caught.append(exc)
    check, refused = caught
    assert isinstance(check, BalanceCheckError)
    assert isinstance(check, ValidationError)  # as before: raised before any request
    assert (check.needed, check.balance) == (100, 60)
    assert isinstance(refused, BalanceRefusedError)
    assert isinstance(refused, BadRequestError)
    assert (refused.needed, refused.balance) == (None, None)
    assert refused.error == "Balans yetarli emas"


async def test_the_served_sandbox_refuses_at_200_like_the_live_service() -> None:
    sandbox = Sandbox(balance=40, refusals_as_200=True)
    async with serve_sandbox(sandbox) as server:
        async with server.client() as sms:
            with pytest.raises(BalanceRefusedError) as info:
                await sms.send_sms(UZ, "Salom!")
        assert info.value.status_code == 200
        async with AsyncDevSMS("wrong", base_url=server.base_url) as sms:
            with pytest.raises(AuthenticationError) as auth:
                await sms.get_balance()
        assert auth.value.status_code == 200
    assert [r.status for r in sandbox.requests] == [200, 200]


async def test_the_served_sandbox_moderates_free_text() -> None:
    sandbox = Sandbox(templates=["Buyurtmangiz {id} qabul qilindi"])
    async with serve_sandbox(sandbox) as server, server.client() as sms:
        sent = await sms.send_sms(UZ, "Buyurtmangiz 1234 qabul qilindi")
        with pytest.raises(TemplateRequiredError) as info:
            await sms.send_sms(UZ, "Salom, aksiya!")
        sandbox.approve_template("Salom, {}!")
        again = await sms.send_sms(UZ, "Salom, aksiya!")
        otp = await sms.send_otp(
            UZ, template=OtpTemplate.LOGIN, service_name="TechShop", otp_code="1234"
        )
    assert info.value.status_code == 400
    assert "модерац" in (info.value.error or "")
    assert "template" in str(info.value)
    assert [m.sms_id for m in sandbox.messages] == [sent.sms_id, again.sms_id, otp.sms_id]
    assert sandbox.balance == 100_000 - 3 * 50  # the refused text was not charged


async def test_the_served_sandbox_applies_the_test_sender_rule() -> None:
    sandbox = Sandbox(registered_numbers=[UZ])
    async with serve_sandbox(sandbox) as server, server.client() as sms:
        await sms.send_sms(UZ, "Salom!")
        with pytest.raises(SenderNotAllowedError) as info:
            await sms.send_sms("998901234568", "Salom!")
        await sms.send_sms("998901234568", "Salom!", sender="MyShop")
        sandbox.register_number("+998 90 123-45-68")
        await sms.send_sms("998901234568", "Salom!")
    assert info.value.error == "invalid sender"
    assert len(sandbox.messages) == 3
