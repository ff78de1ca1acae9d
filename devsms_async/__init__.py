"""devsms-async: the asyncio-native SDK for the DevSMS.uz SMS API.

    async with AsyncDevSMS("token") as sms:
        result = await sms.send_sms("998901234567", "Salom!")

    with DevSMS("token") as sms:                   # the same, synchronously
        result = sms.send_sms("998901234567", "Salom!")

The top level holds the clients, the models of the four endpoints, the errors and the
part counter. Bulk sending and its journals are in ``devsms_async.bulk``, cost estimates
in ``devsms_async.pricing``, ``reconcile``'s results in ``devsms_async.reconcile`` and the
history iterators in ``devsms_async.pagination``. Part counting (``count_parts``, ...)
is imported on first use, so ``import devsms_async`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._client import AsyncDevSMS
from ._sync_client import DevSMS
from ._validation import normalize_phone
from ._version import __version__
from .callbacks import parse_callback
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BalanceCheckError,
    BalanceRefusedError,
    DevSMSError,
    InsufficientBalanceError,
    MalformedResponseError,
    NotFoundError,
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
)
from .models import (
    Balance,
    DeliveryReport,
    HistoryPage,
    OtpTemplate,
    SendResult,
    SmsRecord,
    SmsStatus,
    SmsType,
    Statistics,
)

if TYPE_CHECKING:
    from .sms_parts import SmsParts, count_parts, normalize_uzbek

if TYPE_CHECKING:
    # Deprecated here (each warns at run time): type checkers still see them, for one
    # release, under their old meaning.
    from . import pagination as _pagination
    from . import pricing as _pricing
    from .bulk import AnyBulkResult as AnyBulkResult
    from .bulk import BulkCallbackError as BulkCallbackError
    from .bulk import BulkFailed as BulkFailed
    from .bulk import BulkMessage as BulkMessage
    from .bulk import BulkOutcome as BulkOutcome
    from .bulk import BulkResult as BulkResult
    from .bulk import BulkSent as BulkSent
    from .bulk import BulkSkipped as BulkSkipped
    from .bulk import BulkStream as BulkStream
    from .bulk import BulkUnknown as BulkUnknown
    from .bulk import CsvRow as CsvRow
    from .bulk import FileJournal as FileJournal
    from .bulk import Journal as Journal
    from .bulk import JournalEntry as JournalEntry
    from .bulk import JournalError as JournalError
    from .bulk import read_csv as read_csv
    from .pricing import BulkEstimate as BulkEstimate
    from .pricing import CostEstimate as CostEstimate
    from .pricing import Country as Country
    from .pricing import CountryTotal as CountryTotal
    from .pricing import estimate_bulk as estimate_bulk
    from .pricing import estimate_cost as estimate_cost
    from .pricing import lookup_country as lookup_country
    from .pricing import price_table as price_table
    from .reconcile import AnyReconcileResult as AnyReconcileResult
    from .reconcile import ReconcileFound as ReconcileFound
    from .reconcile import ReconcileNotFound as ReconcileNotFound
    from .reconcile import ReconcileResult as ReconcileResult

    BulkItemError = _pricing.BulkItemFailure
    HistoryIterator = _pagination.AsyncHistoryIterator
    SyncHistoryIterator = _pagination.HistoryIterator

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncDevSMS",
    "AuthenticationError",
    "BadRequestError",
    "Balance",
    "BalanceCheckError",
    "BalanceRefusedError",
    "DeliveryReport",
    "DevSMS",
    "DevSMSError",
    "HistoryPage",
    "InsufficientBalanceError",
    "MalformedResponseError",
    "NotFoundError",
    "OtpTemplate",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimitUnavailableError",
    "SendOutcomeUnknownError",
    "SendResult",
    "SenderNotAllowedError",
    "ServerError",
    "ServiceNameRejectedError",
    "SmsIdMissingError",
    "SmsParts",
    "SmsRecord",
    "SmsStatus",
    "SmsType",
    "Statistics",
    "TemplateRequiredError",
    "UsageError",
    "ValidationError",
    "WaitTimeoutError",
    "__version__",
    "count_parts",
    "normalize_phone",
    "normalize_uzbek",
    "parse_callback",
]

_LAZY = {
    "SmsParts": "sms_parts",
    "count_parts": "sms_parts",
    "normalize_uzbek": "sms_parts",
}
"""Public names imported on first use: ``{name: module}``."""

_MOVED = {
    "AnyBulkResult": "bulk",
    "AnyReconcileResult": "reconcile",
    "BulkCallbackError": "bulk",
    "BulkEstimate": "pricing",
    "BulkFailed": "bulk",
    "BulkItemError": "pricing.BulkItemFailure",
    "BulkMessage": "bulk",
    "BulkOutcome": "bulk",
    "BulkResult": "bulk",
    "BulkSent": "bulk",
    "BulkSkipped": "bulk",
    "BulkStream": "bulk",
    "BulkUnknown": "bulk",
    "CostEstimate": "pricing",
    "Country": "pricing",
    "CountryTotal": "pricing",
    "CsvRow": "bulk",
    "FileJournal": "bulk",
    "HistoryIterator": "pagination.AsyncHistoryIterator",
    "Journal": "bulk",
    "JournalEntry": "bulk",
    "JournalError": "bulk",
    "ReconcileFound": "reconcile",
    "ReconcileNotFound": "reconcile",
    "ReconcileResult": "reconcile",
    "SyncHistoryIterator": "pagination.HistoryIterator",
    "estimate_bulk": "pricing",
    "estimate_cost": "pricing",
    "lookup_country": "pricing",
    "price_table": "pricing",
    "read_csv": "bulk",
}
"""Deprecated names of this module: ``{old name: "module" or "module.new name"}``.
Each access warns (``DeprecationWarning``) and returns the object of the new home."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value
        return value
    moved = _MOVED.get(name)
    if moved is not None:
        from ._deprecated import warn_moved

        module, _, new = moved.partition(".")
        warn_moved(f"{__name__}.{name}", f"{__name__}.{module}.{new or name}")
        # Not cached in globals(): every access warns, and dir() stays the public list.
        return getattr(importlib.import_module(f".{module}", __name__), new or name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
