"""devsms-async: the asyncio-native SDK for the DevSMS.uz SMS API.

    async with AsyncDevSMS("token") as sms:
        result = await sms.send_sms("998901234567", "Salom!")

    with DevSMS("token") as sms:                   # the same, synchronously
        result = sms.send_sms("998901234567", "Salom!")

Part counting and pricing (``count_parts``, ``estimate_cost``, ...) are imported on
first use, so ``import devsms_async`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._client import AsyncDevSMS
from ._journal import FileJournal, Journal, JournalEntry, JournalError
from ._paging import HistoryIterator, SyncHistoryIterator
from ._reconcile import AnyReconcileResult, ReconcileFound, ReconcileNotFound, ReconcileResult
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
    AnyBulkResult,
    Balance,
    BulkFailed,
    BulkMessage,
    BulkOutcome,
    BulkResult,
    BulkSent,
    BulkSkipped,
    BulkUnknown,
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
    from ._bulk import BulkCallbackError, BulkStream
    from ._csvread import CsvRow, read_csv
    from .pricing import (
        BulkEstimate,
        BulkItemError,
        CostEstimate,
        Country,
        CountryTotal,
        estimate_bulk,
        estimate_cost,
        lookup_country,
        price_table,
    )
    from .sms_parts import SmsParts, count_parts, normalize_uzbek

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AnyBulkResult",
    "AnyReconcileResult",
    "AsyncDevSMS",
    "AuthenticationError",
    "BadRequestError",
    "Balance",
    "BalanceCheckError",
    "BalanceRefusedError",
    "BulkCallbackError",
    "BulkEstimate",
    "BulkFailed",
    "BulkItemError",
    "BulkMessage",
    "BulkOutcome",
    "BulkResult",
    "BulkSent",
    "BulkSkipped",
    "BulkStream",
    "BulkUnknown",
    "CostEstimate",
    "Country",
    "CountryTotal",
    "CsvRow",
    "DeliveryReport",
    "DevSMS",
    "DevSMSError",
    "FileJournal",
    "HistoryIterator",
    "HistoryPage",
    "InsufficientBalanceError",
    "Journal",
    "JournalEntry",
    "JournalError",
    "MalformedResponseError",
    "NotFoundError",
    "OtpTemplate",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimitUnavailableError",
    "ReconcileFound",
    "ReconcileNotFound",
    "ReconcileResult",
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
    "SyncHistoryIterator",
    "TemplateRequiredError",
    "UsageError",
    "ValidationError",
    "WaitTimeoutError",
    "__version__",
    "count_parts",
    "estimate_bulk",
    "estimate_cost",
    "lookup_country",
    "normalize_phone",
    "normalize_uzbek",
    "parse_callback",
    "price_table",
    "read_csv",
]

_LAZY = {
    "BulkStream": "_bulk",
    "BulkCallbackError": "_bulk",
    "CsvRow": "_csvread",
    "read_csv": "_csvread",
    "BulkEstimate": "pricing",
    "BulkItemError": "pricing",
    "CountryTotal": "pricing",
    "price_table": "pricing",
    "CostEstimate": "pricing",
    "Country": "pricing",
    "estimate_bulk": "pricing",
    "estimate_cost": "pricing",
    "lookup_country": "pricing",
    "SmsParts": "sms_parts",
    "count_parts": "sms_parts",
    "normalize_uzbek": "sms_parts",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'devsms_async' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
