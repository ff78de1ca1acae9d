"""Every DevSMS endpoint, declared once as data.

Adding an endpoint means one ``Endpoint`` constant here plus one thin typed method on
``AsyncDevSMS``; building, sending, retrying, checking and structuring are generic.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

import attrs

from .models import Balance, HistoryPage, SendResult, SmsRecord

ModelT = TypeVar("ModelT")


@attrs.frozen
class Endpoint(Generic[ModelT]):
    """How to call one endpoint and what comes back."""

    name: str
    method: Literal["GET", "POST"]
    path: str
    """Relative to the base URL, e.g. ``send_sms.php``."""
    params_in: Literal["json", "query"]
    model: type[ModelT]
    """The attrs class the ``data`` object is structured into."""
    retry_safe: bool
    """Reads may be repeated freely; a send may not (there is no idempotency key)."""


SEND_SMS = Endpoint("send_sms", "POST", "send_sms.php", "json", SendResult, retry_safe=False)
GET_HISTORY = Endpoint(
    "get_history", "GET", "get_history.php", "query", HistoryPage, retry_safe=True
)
GET_BALANCE = Endpoint("get_balance", "GET", "get_balance.php", "query", Balance, retry_safe=True)
GET_STATUS = Endpoint("get_status", "GET", "get_status.php", "query", SmsRecord, retry_safe=True)

ALL_ENDPOINTS: tuple[Endpoint[Any], ...] = (SEND_SMS, GET_HISTORY, GET_BALANCE, GET_STATUS)
