"""The private cattrs converter: JSON ``data`` objects -> our attrs models.

One converter per time zone (normally exactly one), never cattrs' global one. The
structure functions are generated once per model with ``detailed_validation=False``
(the fast path); any failure still surfaces, and ``_response`` turns it into a
``MalformedResponseError`` naming the problem.

Leniency, on purpose, because the live service is not its documentation:

* money (``Decimal``) is read exactly from a JSON number or a numeric string (``50``,
  ``50.0``, ``"50"``, ``"50.00"``: the live service sends ``"200.00"``); NaN, infinities,
  booleans and other text are refused, naming the field;
* counts and ids (``int``) accept integral strings (``"10"``, ``"10.00"``) and refuse
  fractions;
* unknown extra keys are ignored so new server fields never break old clients;
* an unknown status becomes ``SmsStatus.UNKNOWN`` with the raw text kept in
  ``status_raw``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
import types
import typing
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from .models import SmsStatus

if TYPE_CHECKING:
    import cattrs

T = TypeVar("T")

TASHKENT = _dt.timezone(_dt.timedelta(hours=5), "Asia/Tashkent")
"""Uzbekistan has kept UTC+5 without daylight saving since 1992, so a fixed offset is
exact for every timestamp this service can produce, and needs no tz database."""

WIRE = "wire"
"""The field metadata key naming the JSON key a model field is read from, when it
differs from the field's name (``HistoryPage.items`` is the API's ``history``).

The fact lives on the model's field, not on the endpoint: a model may be nested in
another endpoint's answer (``SmsRecord`` in ``HistoryPage``) or be no endpoint's
answer at all (``DeliveryReport``), and the converter structures by model, so reading
the field's own metadata keeps it free of any per-model table."""


def wire_name(field: attrs.Attribute[Any]) -> str:
    """The JSON key ``field`` is read from."""
    return field.metadata.get(WIRE, field.name)  # type: ignore[no-any-return]


# ASCII only: ``Decimal()`` and ``int()`` also take "١٢" and "1_000", which no JSON
# producer means as a number.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


_MAX_EXPONENT = 18
"""No so'm amount or count is near 10**18; beyond it a value is garbage, not data."""


def to_decimal(value: Any) -> Decimal:
    """``value`` as an exact, finite ``Decimal``; ``TypeError`` saying why not.

    A JSON float is taken by its shortest ``repr`` (``50.1`` -> ``Decimal("50.1")``,
    not the binary expansion ``50.1000000000000014...``).
    """
    kind = type(value)
    number: Decimal | None = None
    if kind is str:
        text = value.strip()
        if _NUMBER.fullmatch(text):
            number = Decimal(text)
    elif kind is int:
        number = Decimal(value)
    elif kind is float:
        if value == value and value not in (float("inf"), float("-inf")):
            number = Decimal(repr(value))
    elif kind is Decimal and value.is_finite():
        number = value
    if number is None:
        raise TypeError(f"expected an amount (a number or a numeric string), got {_short(value)}")
    if number and not -_MAX_EXPONENT <= number.adjusted() <= _MAX_EXPONENT:
        # "1e999999999" is a finite Decimal, but printing it or making it an int
        # would build a billion digits.
        raise TypeError(f"the number is out of range: {_short(value)}")
    return number


def to_int(value: Any) -> int:
    """``value`` as an ``int``: an int, an integral float or an integral numeric string
    (``"10"``, ``"10.00"``); ``TypeError`` for fractions, booleans and the rest."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is str:
        text = value.strip()
        if text.isdigit() and text.isascii() and len(text) <= _MAX_EXPONENT:
            return int(text)
    if kind in (str, float, Decimal):
        try:
            number = to_decimal(value)
        except TypeError:
            pass
        else:
            if number == number.to_integral_value():
                return int(number)
            raise TypeError(f"expected a whole number, got the fraction {_short(value)}")
    raise TypeError(f"expected an integer, got {_short(value)}")


def _named(field: str, convert: Callable[[Any], Any], optional: bool) -> Hook:
    """A structure hook for one field that names it when the value is refused."""

    def hook(value: Any, _: Any) -> Any:
        if optional and value is None:
            return None
        try:
            return convert(value)
        except TypeError as exc:
            raise TypeError(f"field {field!r}: {exc}") from None

    return hook


def _structure_int(value: Any, _: type) -> int:
    return to_int(value)


def _structure_str(value: Any, _: type) -> str:
    if type(value) is str:
        return value
    if type(value) is int:
        # An id that PHP sent as a number is still the same id.
        return str(value)
    raise TypeError(f"expected a string, got {_short(value)}")


def _structure_optional_str(value: Any, _: type) -> str | None:
    if value is None or type(value) is str:
        return value
    return _structure_str(value, str)


# A dict lookup, not ``SmsStatus(value)``: the enum call is the dearer one per record.
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
    text = text if len(text) <= 40 else text[:40] + "…"
    return f"{type(value).__name__} {text}"


Hook = Callable[[Any, Any], Any]


def _make_datetime_hooks(tz: _dt.tzinfo | None) -> tuple[Hook, Hook]:
    """The hooks for ``datetime`` and ``datetime | None`` in zone ``tz``.

    The aware datetime is built with the positional constructor: ``.replace(tzinfo=)``
    costs more than parsing the string (benchmarks/bench_parse.py).
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

    cattrs is imported here, on the first answer, not by ``import devsms_async``: its
    import is a large share of the package's (benchmarks/bench_import.py).
    """
    import cattrs
    from cattrs.gen import make_dict_structure_fn, override

    converter = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(Decimal, lambda value, _: to_decimal(value))
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
        hints = typing.get_type_hints(cls)
        for field in attrs.fields(cls):
            tp = hints[field.name]
            inner = _optional_arg(tp)
            number = inner if inner is not None else tp
            hook = None
            if number is Decimal:
                hook = _named(field.name, to_decimal, inner is not None)
            elif number is int:
                hook = _named(field.name, to_int, inner is not None)
            key = wire_name(field)
            if hook is not None or key != field.name:
                overrides[field.name] = override(
                    rename=key if key != field.name else None, struct_hook=hook
                )
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
