"""Which country a number is in, and what an SMS to it costs, before sending it.

Prices are the provider's international table (100 rows, so'm per SMS part, one price
for a local account and one for a foreign account), shipped as
``devsms_async/data/prices.csv`` and read on first use. The country is the row with the
longest matching dialling prefix: ``+1242`` is the Bahamas, any other ``+1`` the United
States; ``+77`` Kazakhstan, any other ``+7`` Russia; ``+35818`` Åland, ``+358`` Finland;
``+441481`` Guernsey, ``+44`` the United Kingdom.

Notes on the table, which is kept as the provider wrote it:

* The United States and Canada share ``+1`` and a price; a ``+1`` number is reported as
  the United States row (as the provider's own send response does). Other ``+1``
  countries not in the table (Jamaica ``+1876``, ...) are also matched to ``+1``.
* The row "Vietnam (VI) +1340" is really the US Virgin Islands (``+1340``, ISO ``VI``);
  Vietnam itself (``+84``, ``VN``) is not in the table and so is not served.
* Uzbekistan (``998``) is not in the table: it costs the account's ``sms_price``
  (``get_balance()`` tells it; 50 so'm in the provider's examples), passed as ``uz_price``.

Every amount here is a ``decimal.Decimal`` of so'm, like the money in the models
(``Balance.sms_price`` can be passed as ``uz_price`` as it is). The numbers are
estimates; the ``total_cost`` the server returns is what is billed.

Numbers are read by the same rule as a send (``normalize_phone``): ``901234567`` is
Uzbek; pass ``default_region=`` and ``phone_check=`` as you pass them to ``AsyncDevSMS``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

import attrs

from ._redact import mask_phone
from ._validation import (
    DEFAULT_REGION,
    UZ_PREFIX,
    PhoneCheck,
    check_message,
    check_phone_check,
    check_region,
    check_sms_type,
    normalize_phone,
)
from .errors import ValidationError
from .models import BulkMessage
from .sms_parts import SmsParts, count_parts, normalize_uzbek

__all__ = [
    "Account",
    "BulkEstimate",
    "BulkItemFailure",
    "CostEstimate",
    "Country",
    "CountryTotal",
    "estimate_bulk",
    "estimate_cost",
    "lookup_country",
    "price_table",
]

Account = Literal["local", "foreign"]
"""Which price list applies: an Uzbek (``"local"``) or a ``"foreign"`` account."""

DEFAULT_UZ_PRICE = Decimal(50)
# Two rows share "+1"; the provider names such numbers "United States" in its answers.
_SHARED_PREFIX_OWNER = {"1": "US"}


@attrs.frozen
class Country:
    """One row of the price table: prices are so'm per SMS part."""

    name: str
    iso: str
    prefix: str
    local_price: Decimal
    foreign_price: Decimal

    def price(self, account: Account = "local") -> Decimal:
        """The price of one SMS part for a ``"local"`` or ``"foreign"`` account."""
        return self.local_price if _check_account(account) == "local" else self.foreign_price


@attrs.frozen
class CostEstimate:
    """What one SMS would cost: ``total = parts.parts * price_per_part`` so'm."""

    country: Country
    account: Account
    parts: SmsParts
    price_per_part: Decimal
    total: Decimal


@attrs.frozen
class CountryTotal:
    """The share of one country in a bulk estimate."""

    country: Country
    messages: int
    parts: int
    cost: Decimal


@attrs.frozen
class BulkItemFailure:
    """An item of a bulk job that could not be estimated: its index and the reason
    (a record in ``BulkEstimate.errors``, not an exception)."""

    index: int
    error: ValidationError


@attrs.frozen
class BulkEstimate:
    """A bulk job's cost: ``by_country`` maps ISO code to totals, in order of first
    appearance; ``messages``/``parts``/``total`` count the items that could be
    estimated, and ``errors`` lists those that could not.
    """

    account: Account
    by_country: Mapping[str, CountryTotal]
    messages: int
    parts: int
    total: Decimal
    errors: tuple[BulkItemFailure, ...]


@attrs.frozen
class _PriceTable:
    rows: tuple[Country, ...]
    by_prefix: Mapping[str, Country]
    longest_prefix: int


@functools.cache
def _load_table() -> _PriceTable:
    # Imported here: only a price look-up needs them, not `import devsms_async.pricing`.
    import csv
    import io
    from importlib import resources

    data = resources.files("devsms_async") / "data" / "prices.csv"
    rows = tuple(
        Country(
            name=rec["country"],
            iso=rec["iso"],
            prefix=rec["prefix"],
            local_price=Decimal(rec["local"]),
            foreign_price=Decimal(rec["foreign"]),
        )
        for rec in csv.DictReader(io.StringIO(data.read_text(encoding="utf-8")))
    )
    by_prefix: dict[str, Country] = {}
    for row in rows:
        if row.prefix in by_prefix and _SHARED_PREFIX_OWNER.get(row.prefix) != row.iso:
            continue
        by_prefix[row.prefix] = row
    return _PriceTable(rows, MappingProxyType(by_prefix), max(map(len, by_prefix)))


def price_table() -> tuple[Country, ...]:
    """All rows of the provider's price table, in its order (Uzbekistan is not one)."""
    return _load_table().rows


def lookup_country(
    phone: str,
    *,
    uz_price: Decimal | int = DEFAULT_UZ_PRICE,
    default_region: str | None = DEFAULT_REGION,
    phone_check: PhoneCheck = "valid",
) -> Country:
    """The country of ``phone`` and its prices, by longest matching prefix.

    ``phone`` is normalised like a send (``+998 90 123-45-67`` is fine). An Uzbek number
    gives ``Country("Uzbekistan", "UZ", "998", uz_price, uz_price)``. Raises
    ``ValidationError`` for a malformed number or one whose country is not served.
    """
    digits = normalize_phone(
        phone, default_region=check_region(default_region), phone_check=phone_check
    )
    return _lookup(digits, _check_uz_price(uz_price))


def estimate_cost(
    phone: str,
    text: str,
    *,
    account: Account = "local",
    uz_price: Decimal | int = DEFAULT_UZ_PRICE,
    normalize: bool = False,
    default_region: str | None = DEFAULT_REGION,
    phone_check: PhoneCheck = "valid",
) -> CostEstimate:
    """What sending ``text`` to ``phone`` would cost, in so'm.

    ``normalize=True`` counts the text after ``normalize_uzbek``, as
    a send with ``normalize=True`` would send it.
    """
    account = _check_account(account)
    price = _check_uz_price(uz_price)
    digits = normalize_phone(
        phone, default_region=check_region(default_region), phone_check=phone_check
    )
    return _estimate(digits, text, account, price, normalize)


def estimate_bulk(
    messages: Iterable[BulkMessage | tuple[str, str]],
    *,
    account: Account = "local",
    uz_price: Decimal | int = DEFAULT_UZ_PRICE,
    normalize: bool = False,
    default_region: str | None = DEFAULT_REGION,
    phone_check: PhoneCheck = "valid",
) -> BulkEstimate:
    """Total the cost of a bulk job by country, reading ``messages`` once.

    Items are ``BulkMessage`` or ``(phone, message)`` tuples.
    An item that cannot be estimated lands in ``errors`` and the rest are still counted;
    memory grows with the number of countries, not of messages (plus one entry per
    error).
    """
    account = _check_account(account)
    price = _check_uz_price(uz_price)
    region = check_region(default_region)
    check = check_phone_check(phone_check)
    given: object = messages  # a str is iterable too, and its items would all be errors
    if isinstance(given, (str, bytes)):
        raise ValidationError("messages", "must be an iterable of BulkMessage or tuples")
    totals: dict[str, _Running] = {}
    errors: list[BulkItemFailure] = []
    for index, item in enumerate(messages):
        try:
            est = _estimate_item(item, account, price, normalize, region, check)
        except ValidationError as exc:
            errors.append(BulkItemFailure(index, exc))
            continue
        running = totals.get(est.country.iso)
        if running is None:
            running = totals[est.country.iso] = _Running(est.country)
        running.messages += 1
        running.parts += est.parts.parts
        running.cost += est.total
    by_country = {
        iso: CountryTotal(r.country, r.messages, r.parts, r.cost) for iso, r in totals.items()
    }
    return BulkEstimate(
        account=account,
        by_country=MappingProxyType(by_country),
        messages=sum(r.messages for r in totals.values()),
        parts=sum(r.parts for r in totals.values()),
        total=sum((r.cost for r in totals.values()), Decimal(0)),
        errors=tuple(errors),
    )


@attrs.define
class _Running:
    country: Country
    messages: int = 0
    parts: int = 0
    cost: Decimal = Decimal(0)


def _estimate_item(
    item: object,
    account: Account,
    uz_price: Decimal,
    normalize: bool,
    region: str | None,
    check: PhoneCheck,
) -> CostEstimate:
    if isinstance(item, BulkMessage):
        digits = normalize_phone(item.phone, default_region=region, phone_check=check)
        # A type the send would refuse ("simple" abroad, ...) costs nothing.
        check_sms_type(item.type, digits)
        return _estimate(digits, item.message, account, uz_price, normalize)
    if isinstance(item, (tuple, list)) and len(item) == 2:
        phone, text = item
        digits = normalize_phone(phone, default_region=region, phone_check=check)
        return _estimate(digits, text, account, uz_price, normalize)
    raise ValidationError("messages", "an item must be a BulkMessage or a (phone, message) tuple")


def _estimate(
    digits: str, text: object, account: Account, uz_price: Decimal, normalize: bool
) -> CostEstimate:
    message = check_message(text)
    if normalize:
        message = normalize_uzbek(message)
    country = _lookup(digits, uz_price)
    parts = count_parts(message)
    price = country.price(account)
    return CostEstimate(country, account, parts, price, parts.parts * price)


def _lookup(digits: str, uz_price: Decimal) -> Country:
    if digits.startswith(UZ_PREFIX):
        return Country("Uzbekistan", "UZ", UZ_PREFIX, uz_price, uz_price)
    table = _load_table()
    for n in range(min(table.longest_prefix, len(digits)), 0, -1):
        country = table.by_prefix.get(digits[:n])
        if country is not None:
            return country
    raise ValidationError(
        "phone",
        f"{mask_phone(digits)}: its country is not served (no row in DevSMS's international "
        "price table; see devsms_async.pricing.price_table())",
    )


def _check_account(account: object) -> Account:
    if account == "local":
        return "local"
    if account == "foreign":
        return "foreign"
    raise ValidationError("account", f"must be 'local' or 'foreign', got {account!r}")


def _check_uz_price(uz_price: object) -> Decimal:
    # No float: 0.1 so'm as a float is not 0.1, and money here is exact.
    if isinstance(uz_price, int) and not isinstance(uz_price, bool):
        price = Decimal(uz_price)
    elif isinstance(uz_price, Decimal) and uz_price.is_finite():
        price = uz_price
    else:
        raise ValidationError(
            "uz_price", f"must be a Decimal or an int >= 0 (so'm), got {uz_price!r}"
        )
    if price < 0:
        raise ValidationError("uz_price", f"must be >= 0 (so'm), got {uz_price!r}")
    return price


def __getattr__(name: str) -> Any:
    if name == "BulkItemError":
        from ._deprecated import warn_moved

        warn_moved(f"{__name__}.{name}", f"{__name__}.BulkItemFailure")
        return BulkItemFailure
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
