"""The private cattrs converter: JSON ``data`` objects -> our attrs models.

One converter per time zone (normally exactly one), never cattrs' global one. The
structure functions are generated once per model with ``detailed_validation=False``
(the fast path); any failure still surfaces, and ``_response`` turns it into a
``MalformedResponseError`` naming the problem.

Leniency, on purpose: PHP often sends numbers as strings, so ``"50"`` is accepted for an
``int``; unknown extra keys are ignored so new server fields never break old clients;
an unknown status becomes ``SmsStatus.UNKNOWN`` with the raw text kept in ``status_raw``.
"""

from __future__ import annotations

import datetime as _dt
import functools
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from .models import HistoryPage, SmsStatus

T = TypeVar("T")

TASHKENT = _dt.timezone(_dt.timedelta(hours=5), "Asia/Tashkent")
"""Uzbekistan has kept UTC+5 without daylight saving since 1992, so a fixed offset is
exact for every timestamp this service can produce, and needs no tz database."""

# Fields read from another key of the JSON object, per model.
_RENAMES: dict[type, dict[str, str]] = {HistoryPage: {"items": "history"}}


def _structure_int(value: Any, _: type) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit() and text.isascii():
            return int(text)
    elif isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__} {_short(value)}")


def _structure_str(value: Any, _: type) -> str:
    if type(value) is str:
        return value
    if type(value) is int:
        # An id that PHP sent as a number is still the same id.
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__} {_short(value)}")


def _structure_status(value: Any, _: type) -> SmsStatus:
    if not isinstance(value, str):
        raise TypeError(f"expected a status string, got {type(value).__name__}")
    try:
        status = SmsStatus(value.lower())
    except ValueError:
        return SmsStatus.UNKNOWN
    return status


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _make_datetime_hook(tz: _dt.tzinfo | None) -> Any:
    def structure_datetime(value: Any, _: type) -> _dt.datetime:
        if not isinstance(value, str):
            raise TypeError(f"expected a 'YYYY-MM-DD HH:MM:SS' string, got {type(value).__name__}")
        parsed = _dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None and tz is not None:
            return parsed.replace(tzinfo=tz)
        return parsed

    return structure_datetime


@functools.lru_cache(maxsize=8)
def get_converter(tz: _dt.tzinfo | None = TASHKENT) -> cattrs.Converter:
    """The converter for one time zone (``None``: naive datetimes), built once."""
    converter = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(SmsStatus, _structure_status)
    converter.register_structure_hook(_dt.datetime, _make_datetime_hook(tz))

    def model_hook(cls: type[Any]) -> Any:
        overrides: dict[str, Any] = {}
        for field in attrs.fields(cls):
            if field.name == "status_raw":
                overrides["status_raw"] = override(rename="status")
        for name, key in _RENAMES.get(cls, {}).items():
            overrides[name] = override(rename=key)
        return make_dict_structure_fn(
            cls, converter, _cattrs_detailed_validation=False, **overrides
        )

    converter.register_structure_hook_factory(attrs.has, model_hook)
    return converter


def structure(data: Any, cls: type[T], tz: _dt.tzinfo | None = TASHKENT) -> T:
    """Structure ``data`` into ``cls``; raises whatever cattrs or a hook raised."""
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    return get_converter(tz).structure(data, cls)
