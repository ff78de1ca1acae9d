"""Every DevSMS endpoint, declared once as data (part of the sans-IO core).

An endpoint says how to call it (method, path, where the parameters go and under which
wire names) and what comes back (the model of its ``data`` object); ``kind`` says
whether calling it twice is harmless (``"read"``) or sends a second, paid SMS
(``"send"``). That one flag is the only place "is this a send?" is encoded: the
classifier (``_classify``) and the response parser read it from here.

Adding an endpoint takes five places, this module first: docs/design.md lists them and
``tests/core/test_adding_an_endpoint.py`` shows that each is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, Literal, TypeVar

import attrs

from .models import Balance, HistoryPage, SendResult, SmsRecord

__all__ = [
    "ALL_ENDPOINTS",
    "GET_BALANCE",
    "GET_HISTORY",
    "GET_STATUS",
    "SEND_SMS",
    "Endpoint",
    "Kind",
]

ModelT = TypeVar("ModelT")
Kind = Literal["send", "read"]


@attrs.frozen
class Endpoint(Generic[ModelT]):
    """How to call one endpoint and what comes back."""

    name: str
    """The method of both clients that calls it (``send_otp`` also uses ``send_sms``)."""
    method: Literal["GET", "POST"]
    path: str
    """Relative to the base URL, e.g. ``send_sms.php``; the sandbox routes the same path."""
    params_in: Literal["json", "query"]
    model: type[ModelT]
    """The attrs class the ``data`` object is structured into."""
    kind: Kind
    """``"read"``: may be repeated freely. ``"send"``: a repeat is a second SMS and a
    second charge (the API has no idempotency key), so it is retried only when the
    request provably never left."""
    renames: Mapping[str, str] = attrs.field(factory=dict)
    """Python parameter name -> wire field name (``sender`` travels as ``from``)."""

    @property
    def is_send(self) -> bool:
        return self.kind == "send"


SEND_SMS: Endpoint[SendResult] = Endpoint(
    "send_sms", "POST", "send_sms.php", "json", SendResult, "send", {"sender": "from"}
)
GET_HISTORY: Endpoint[HistoryPage] = Endpoint(
    "get_history", "GET", "get_history.php", "query", HistoryPage, "read"
)
GET_BALANCE: Endpoint[Balance] = Endpoint(
    "get_balance", "GET", "get_balance.php", "query", Balance, "read"
)
GET_STATUS: Endpoint[SmsRecord] = Endpoint(
    "get_status", "GET", "get_status.php", "query", SmsRecord, "read"
)

ALL_ENDPOINTS: tuple[Endpoint[Any], ...] = (SEND_SMS, GET_HISTORY, GET_BALANCE, GET_STATUS)
