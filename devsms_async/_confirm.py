"""Does a 2xx answer to a send prove that the SMS was sent? A pure function.

The rule (docs/live-service.md): ``success: true`` plus a usable ``sms_id`` (a positive
integer, or its digits as a string) or ``request_id`` (a non-empty string) proves the
send happened and was charged. Every other field is secondary: one that cannot be read
(a garbage ``balance``, a new ``type``, a missing ``parts_count``) must not turn a
proven send into an "unknown" one, whose usual follow-up — sending again — would
deliver and bill the message twice.

No I/O here and no HTTP library: the caller decodes the body and logs the warning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ._converter import to_decimal, to_int
from .models import SendResult, SmsStatus

__all__ = ["ProvenSend", "has_send_id", "prove_send"]

_STATUSES: dict[str, SmsStatus] = {status.value: status for status in SmsStatus}


@attrs.frozen
class ProvenSend:
    """A send the answer proves: the result, and the secondary fields that were
    missing or unreadable (``None`` in ``result``; ``()`` when all were read)."""

    result: SendResult
    unreadable: tuple[str, ...]


def prove_send(payload: Any) -> ProvenSend | None:
    """The ``SendResult`` a decoded send answer proves, or ``None`` if it proves nothing.

    ``payload`` is the whole decoded JSON body of a 2xx answer. Only the identity
    fields decide; the others are read leniently and left ``None`` when they cannot be.
    """
    if not isinstance(payload, dict) or payload.get("success") is not True:
        return None
    data = payload.get("data")
    if not isinstance(data, dict):
        return None
    sms_id = _sms_id(data.get("sms_id"))
    request_id = _request_id(data.get("request_id"))
    if sms_id is None and request_id is None:
        return None

    unreadable: list[str] = []
    if sms_id is None:
        unreadable.append("sms_id")
    if request_id is None:
        unreadable.append("request_id")

    def read(name: str, convert: Callable[[Any], Any], *, optional: bool = False) -> Any:
        value = data.get(name)
        if value is None:
            if not optional:
                unreadable.append(name)
            return None
        try:
            return convert(value)
        except (TypeError, ValueError, ArithmeticError):
            unreadable.append(name)
            return None

    raw_status = data.get("status")
    status_raw = raw_status if isinstance(raw_status, str) else None
    status = SmsStatus.UNKNOWN
    if status_raw is not None:
        status = _STATUSES.get(status_raw, _STATUSES.get(status_raw.lower(), SmsStatus.UNKNOWN))
    else:
        unreadable.append("status")
    result = SendResult(
        sms_id=sms_id,
        request_id=request_id,
        status=status,
        status_raw=status_raw,
        parts_count=read("parts_count", to_int),
        total_cost=read("total_cost", to_decimal),
        balance=read("balance", to_decimal),
        type=read("type", _text),
        country=read("country", _text, optional=True),
        country_code=read("country_code", _text, optional=True),
    )
    return ProvenSend(result, tuple(unreadable))


def has_send_id(result: SendResult) -> bool:
    """Whether a structured send result carries a usable ``sms_id`` or ``request_id``
    (the model allows either to be ``None``, not both to be unusable)."""
    if result.sms_id is not None and result.sms_id > 0:
        return True
    return bool(result.request_id and result.request_id.strip())


def _sms_id(value: Any) -> int | None:
    if value is None:
        return None
    try:
        number = to_int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _request_id(value: Any) -> str | None:
    if type(value) is int and value > 0:
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")
