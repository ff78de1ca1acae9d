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
import types
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .models import HistoryPage, SmsStatus

if TYPE_CHECKING:
    import cattrs

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


def _structure_optional_str(value: Any, _: type) -> str | None:
    if value is None or type(value) is str:
        return value
    return _structure_str(value, str)


# A dict lookup, not ``SmsStatus(value)``: the enum call costs ~10x more per record.
_STATUSES: dict[str, SmsStatus] = {status.value: status for status in SmsStatus}


def _structure_status(value: Any, _: type) -> SmsStatus:
    if type(value) is str:
        status = _STATUSES.get(value)
        if status is not None:
            return status
    elif not isinstance(value, str):
        raise TypeError(f"expected a status string, got {type(value).__name__}")
    return _STATUSES.get(value.lower(), SmsStatus.UNKNOWN)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


Hook = Callable[[Any, Any], Any]


def _make_datetime_hooks(tz: _dt.tzinfo | None) -> tuple[Hook, Hook]:
    """The hooks for ``datetime`` and ``datetime | None`` in zone ``tz``.

    The aware datetime is built with the positional constructor: ``.replace(tzinfo=)``
    costs ~0.5 µs on CPython 3.11, more than parsing the string.
    """
    fromisoformat = _dt.datetime.fromisoformat
    datetime = _dt.datetime

    def structure_datetime(value: Any, _: Any) -> _dt.datetime:
        if not isinstance(value, str):
            raise TypeError(f"expected a 'YYYY-MM-DD HH:MM:SS' string, got {type(value).__name__}")
        parsed = fromisoformat(value)
        if parsed.tzinfo is None and tz is not None:
            return datetime(
                parsed.year,
                parsed.month,
                parsed.day,
                parsed.hour,
                parsed.minute,
                parsed.second,
                parsed.microsecond,
                tz,
            )
        return parsed

    def structure_optional_datetime(value: Any, _: Any) -> _dt.datetime | None:
        return None if value is None else structure_datetime(value, datetime)

    return structure_datetime, structure_optional_datetime


def _optional_arg(tp: Any) -> Any:
    """``X`` for ``X | None`` (either spelling), else ``None``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if len(args) == 2 and type(None) in args:
            return args[0] if args[1] is type(None) else args[1]
    return None


@functools.lru_cache(maxsize=8)
def get_converter(tz: _dt.tzinfo | None = TASHKENT) -> cattrs.Converter:
    """The converter for one time zone (``None``: naive datetimes), built once.

    cattrs is imported here, on the first answer, not by ``import devsms_async``: it
    costs ~8 ms of import time, a fifth of ``import httpx``.
    """
    import cattrs
    from cattrs.gen import make_dict_structure_fn, override

    converter = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(SmsStatus, _structure_status)
    structure_datetime, structure_optional_datetime = _make_datetime_hooks(tz)
    converter.register_structure_hook(_dt.datetime, structure_datetime)

    # cattrs' own ``X | None`` hook looks up the hook of ``X`` on every call; these are
    # resolved once, when the model's structure function is generated.
    def optional_hook(tp: Any) -> Hook:
        inner_type = _optional_arg(tp)
        if inner_type is str:
            return _structure_optional_str
        if inner_type is _dt.datetime:
            return structure_optional_datetime
        inner = converter.get_structure_hook(inner_type)

        def structure_optional(value: Any, _: Any) -> Any:
            return None if value is None else inner(value, inner_type)

        return structure_optional

    converter.register_structure_hook_factory(
        lambda tp: _optional_arg(tp) is not None, optional_hook
    )

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
