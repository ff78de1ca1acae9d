"""The one table that maps a server's refusal text to an error class. Pure: no I/O.

The live DevSMS service says *why* it refused in words (``error`` or ``message``), not
in its HTTP status: ``{"success": false, "error": "Balans yetarli emas"}`` arrives with
400 or with 200 alike. So the text decides the type, at any status.

Matching is conservative: case-insensitive regular expressions on word stems, tried in
order, first match wins. A text no row matches keeps the class its status gives (a
plain ``BadRequestError``/``APIError`` with the text kept in ``error``). The table only
ever picks an error class: it never turns a refusal into a success. ``docs/errors.md``
draws this table; every row has a test (tests/core/test_refusals.py).
"""

from __future__ import annotations

import re

import attrs

from .errors import (
    APIError,
    AuthenticationError,
    BalanceRefusedError,
    SenderNotAllowedError,
    ServiceNameRejectedError,
    TemplateRequiredError,
)

__all__ = ["REFUSALS", "Refusal", "match_refusal"]


@attrs.frozen
class Refusal:
    """One row: texts matching ``pattern`` (any of its stems) become ``error``.

    ``sends_only``: the row applies to answers to a send only (a read cannot be refused
    for moderation, and a read that says so would be mis-typed).
    """

    name: str
    pattern: re.Pattern[str]
    error: type[APIError]
    sends_only: bool = False
    meaning: str = ""


def _stems(*stems: str) -> re.Pattern[str]:
    return re.compile("|".join(stems), re.IGNORECASE)


REFUSALS: tuple[Refusal, ...] = (
    Refusal(
        "service name rejected",
        # "Korxona nomi nomaqbul deb topildi: ... SMS yuborilmadi, lekin to'lov yechildi."
        _stems(r"\bnomaqbul"),
        ServiceNameRejectedError,
        sends_only=True,
        meaning="universal OTP: moderation refused service_name; not sent, charged",
    ),
    Refusal(
        "insufficient balance",
        _stems(
            r"\bbalans\w*\s+yetarli\s+emas",  # Uzbek: "Balans yetarli emas"
            r"\bmablag\S*\s+yetarli\s+emas",  # Uzbek: "Mablag' yetarli emas"
            r"\bнедостаточно\s+(?:средств|баланс)",  # Russian
            r"\b(?:insufficient|not\s+enough)\s+(?:balance|funds|credit)",  # English
        ),
        BalanceRefusedError,
        meaning="the balance does not cover the send; not sent",
    ),
    Refusal(
        "token refused",
        _stems(
            r"\btoken",  # "Token topilmadi", "Token noto'g'ri", "invalid token"
            r"\bтокен",
            r"\bautentifikats",  # Uzbek: "autentifikatsiya"
            r"\bаутентификац",
            r"\bunauthori[sz]",
            r"\bunauthenticated",
        ),
        AuthenticationError,
        meaning="the token is missing, wrong or revoked",
    ),
    Refusal(
        "template moderation",
        _stems(
            r"\bмодерац",  # Russian: "не прошёл модерацию"
            r"\bшаблон",  # Russian: "template"
            r"\bmoderats",  # Uzbek: "moderatsiya"
            r"\bshablon",  # Uzbek: "shablon"
        ),
        TemplateRequiredError,
        sends_only=True,
        meaning="free text refused by the operator's moderation: it needs an approved template",
    ),
    Refusal(
        "sender not allowed",
        _stems(
            r"\binvalid\s+sender",
            r"\bsender\b.*\bnot\s+(?:allowed|permitted|registered|approved)",
            r"\bотправител",  # Russian: "sender"
            r"\bnot\s+(?:a\s+)?registered\s+(?:test\s+)?number",
        ),
        SenderNotAllowedError,
        sends_only=True,
        meaning="the sender (from) may not send this; 4546 reaches registered numbers only",
    ),
)
"""Tried in order; the first row whose pattern occurs in the text wins. The service
name row comes first: its text also says the SMS was not sent, and it is charged."""


def match_refusal(text: str | None, *, is_send: bool) -> Refusal | None:
    """The row of ``REFUSALS`` that ``text`` matches, or ``None``."""
    if not text:
        return None
    for row in REFUSALS:
        if row.sends_only and not is_send:
            continue
        if row.pattern.search(text):
            return row
    return None
