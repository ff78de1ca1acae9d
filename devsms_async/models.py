"""Typed results of the DevSMS API: frozen, slotted attrs classes.

Field names follow the API in snake_case; a field read from another key of the JSON
object names that key in its metadata (``attrs.field(metadata={"wire": "history"})``).
Money is ``decimal.Decimal`` so'm, read
exactly from whatever the server sends (the documentation shows ``50``, the live service
answers ``"50.00"``): compare it with ints freely (``Decimal("50.00") == 50``), never turn
it into a ``float``. Counts and ids are ``int``. Timestamps are ``datetime`` (aware,
Asia/Tashkent by default, see ``AsyncDevSMS(timezone=...)``).
Phone numbers and message texts are masked in ``repr()``: read the attribute itself
when you really want to see it.
"""

from __future__ import annotations

import datetime as _dt
import enum
from decimal import Decimal
from typing import Literal, TypeAlias

import attrs

from ._journal import JournalEntry
from ._redact import phone_repr, text_repr
from .errors import DevSMSError, SendOutcomeUnknownError, SmsIdMissingError

__all__ = [
    "Balance",
    "BulkMessage",
    "BulkOutcome",
    "BulkResult",
    "DeliveryReport",
    "HistoryPage",
    "HistoryStatus",
    "OtpTemplate",
    "SendResult",
    "SendType",
    "SmsRecord",
    "SmsStatus",
    "SmsType",
    "Statistics",
    "TemplateNumber",
]


class SmsStatus(str, enum.Enum):
    """Life cycle of one SMS: ``pending`` -> ``sent`` -> ``delivered`` | ``failed``.

    ``UNKNOWN`` stands for a status string this SDK does not know yet; the record's
    ``status_raw`` keeps what the server sent.
    """

    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        """``True`` for ``delivered`` and ``failed``: no further change will come."""
        return self in (SmsStatus.DELIVERED, SmsStatus.FAILED)

    def __str__(self) -> str:
        return self.value


class SmsType(str, enum.Enum):
    """How the provider routes a message (the API field ``type``)."""

    ESKIZ = "eskiz"
    SIMPLE = "simple"
    UNIVERSAL_OTP = "universal_otp"

    def __str__(self) -> str:
        return self.value


class OtpTemplate(enum.IntEnum):
    """The four Eskiz-approved universal OTP templates (API field ``template_type``)."""

    CONFIRM_OPERATION = 1
    PASSWORD_RESET = 2
    REGISTRATION = 3
    LOGIN = 4


HistoryStatus: TypeAlias = Literal["sent", "delivered", "failed"]
"""The statuses ``get_history``/``iter_history`` filter on, as strings (an ``SmsStatus``
is taken too): a misspelt ``status="delivrd"`` fails the type check."""

SendType: TypeAlias = Literal["eskiz", "simple"]
"""``send_sms``'s ``type`` as a string (an ``SmsType`` is taken too);
``universal_otp`` is ``send_otp``'s."""

TemplateNumber: TypeAlias = Literal[1, 2, 3, 4]
"""``send_otp``'s ``template`` as a plain number (an ``OtpTemplate`` is taken too)."""


@attrs.frozen(kw_only=True)
class SendResult:
    """What ``send_sms`` / ``send_otp`` return (the ``data`` object of the answer).

    A send the server confirmed (``success: true`` and a usable ``sms_id`` or
    ``request_id``) is always returned, even when another field of the answer cannot be
    read: that field is then ``None`` (``status`` is ``UNKNOWN`` with the raw value in
    ``status_raw``) and one warning is logged. So ``sms_id`` or ``request_id`` may be
    ``None``, never both.
    """

    sms_id: int | None
    request_id: str | None
    status: SmsStatus
    status_raw: str | None = attrs.field(metadata={"wire": "status"})
    parts_count: int | None
    total_cost: Decimal | None
    """So'm charged for this message (all parts)."""
    balance: Decimal | None
    """Account balance after the charge, so'm."""
    type: str | None
    """``eskiz``, ``simple`` or ``universal_otp``, as the server reported it."""
    country: str | None = None
    """International sends only: the country the provider detected."""
    country_code: str | None = None
    """International sends only: ISO 3166 code in lower case (``us``)."""

    def require_sms_id(self) -> int:
        """``sms_id`` as an ``int``, for code that stores or passes it on.

        The SMS was sent either way; a live answer may lack the id (the send is proven
        by its ``request_id`` alone). Then ``SmsIdMissingError`` is raised, carrying the
        ``request_id`` that ``get_status(request_id=...)`` takes.
        """
        if self.sms_id is None:
            raise SmsIdMissingError(
                "the send was confirmed but its answer carried no sms_id; the SMS was "
                "sent: find it with get_status(request_id=error.request_id)",
                request_id=self.request_id,
            )
        return self.sms_id


@attrs.frozen(kw_only=True)
class SmsRecord:
    """One SMS as ``get_history`` and ``get_status`` describe it."""

    id: int
    phone_number: str = attrs.field(repr=phone_repr)
    message: str = attrs.field(repr=text_repr)
    status: SmsStatus
    status_raw: str = attrs.field(metadata={"wire": "status"})
    parts_count: int
    total_cost: Decimal
    """So'm charged (all parts)."""
    from_number: str | None = None
    eskiz_request_id: str | None = None
    eskiz_message_id: str | None = None
    created_at: _dt.datetime | None = None
    sent_at: _dt.datetime | None = None
    delivered_at: _dt.datetime | None = None
    failed_at: _dt.datetime | None = None
    updated_at: _dt.datetime | None = None
    """Only ``get_status`` reports it."""


@attrs.frozen(kw_only=True)
class HistoryPage:
    """One page of ``get_history``: ``items`` newest first (the API's ``history``).

    ``count`` is what the server reported; the spec does not say whether it is the
    page size or the total, so do not rely on it for paging: use ``iter_history``.
    """

    items: list[SmsRecord] = attrs.field(metadata={"wire": "history"})
    count: int
    limit: int
    offset: int


@attrs.frozen(kw_only=True)
class Statistics:
    """Account usage counters from ``get_balance``; ``*_spent`` in so'm."""

    total_sms: int
    total_spent: Decimal
    today_sms: int
    today_spent: Decimal
    month_sms: int
    month_spent: Decimal


@attrs.frozen(kw_only=True)
class Balance:
    """``get_balance``: money left, the price of one Uzbek SMS part, and usage."""

    balance: Decimal
    """So'm left on the account."""
    sms_price: Decimal
    """So'm per part of an SMS to an Uzbek number."""
    statistics: Statistics


@attrs.frozen(kw_only=True)
class DeliveryReport:
    """The body the service POSTs to ``callback_url`` when a status changes."""

    sms_id: int
    request_id: str
    phone: str = attrs.field(repr=phone_repr)
    status: SmsStatus
    status_raw: str = attrs.field(metadata={"wire": "status"})
    sent_at: _dt.datetime | None = None
    delivered_at: _dt.datetime | None = None
    failed_at: _dt.datetime | None = None
    timestamp: _dt.datetime | None = None


@attrs.frozen(kw_only=True)
class BulkMessage:
    """One message of a bulk job; ``send_bulk`` also takes plain ``(phone, message)`` tuples.

    ``sender``/``callback_url`` left as ``None`` fall back to the client's defaults.
    ``key`` is your stable id for the message (a customer or order id, a ``str`` of
    1-200 characters): a journal then knows the message by it instead of by its
    position in the input, and a key twice in one job is a ``ValidationError``.
    """

    phone: str = attrs.field(repr=phone_repr)
    message: str = attrs.field(repr=text_repr)
    sender: str | None = None
    callback_url: str | None = None
    type: SmsType | str = SmsType.ESKIZ
    key: str | None = None


class BulkOutcome(str, enum.Enum):
    """Where one message of a bulk job ended up (``BulkResult.outcome``)."""

    SENT = "sent"
    """The provider accepted it: ``result`` holds the ``SendResult``."""
    FAILED = "failed"
    """Definitely not sent: invalid input, or the server refused it. ``error`` says why."""
    UNKNOWN = "unknown"
    """It may or may not have been sent (``error`` is a ``SendOutcomeUnknownError``):
    look it up in the history before sending it again."""
    NOT_STARTED = "not_started"
    """The job stopped (cancelled, or stopped early) before this message was sent."""
    ALREADY_SENT = "already_sent"
    """Not sent now: the job's journal says an earlier run sent it (``previous``)."""
    CLAIMED_ELSEWHERE = "claimed_elsewhere"
    """Not sent now: another worker of a shared journal holds it (``previous``), sending
    it now or dead while sending it (then it is in doubt until ``reconcile_journal``)."""

    def __str__(self) -> str:
        return self.value


@attrs.frozen(kw_only=True)
class BulkResult:
    """The final state of one message of ``send_bulk`` / ``stream_bulk``.

    ``index`` is the message's position in the input. ``message`` is the input item
    as a ``BulkMessage`` (``None`` only when the item was not a message at all).
    ``result`` is set for ``SENT``, ``error`` for ``FAILED`` and ``UNKNOWN``, neither
    for ``NOT_STARTED`` and ``ALREADY_SENT``. ``previous`` is the journal entry of an
    earlier run when that entry decided the outcome without a send in this run
    (``ALREADY_SENT``, or ``UNKNOWN`` for a message left in doubt).
    """

    index: int
    message: BulkMessage | None
    result: SendResult | None = None
    error: DevSMSError | None = None
    previous: JournalEntry | None = None

    @property
    def outcome(self) -> BulkOutcome:
        """``SENT``, ``FAILED``, ``UNKNOWN``, ``NOT_STARTED`` or ``ALREADY_SENT``."""
        if self.result is not None:
            return BulkOutcome.SENT
        if isinstance(self.error, SendOutcomeUnknownError):
            return BulkOutcome.UNKNOWN
        if self.error is not None:
            return BulkOutcome.FAILED
        return _skipped(self.previous)

    @property
    def ok(self) -> bool:
        """``True`` only when the message was sent."""
        return self.result is not None


# One class per outcome, so that type checkers narrow on ``ok`` or ``outcome``:
# ``if r.ok: r.result.sms_id`` and ``if r.outcome is BulkOutcome.UNKNOWN:
# await sms.reconcile(r.error)`` type-check as written. The engine makes only these;
# ``BulkResult`` stays their base (and constructible, as in 0.1).


@attrs.frozen(kw_only=True)
class BulkSent(BulkResult):
    """``SENT``: ``result`` is the provider's answer."""

    result: SendResult
    error: None = None

    @property
    def outcome(self) -> Literal[BulkOutcome.SENT]:
        return BulkOutcome.SENT

    @property
    def ok(self) -> Literal[True]:
        return True


@attrs.frozen(kw_only=True)
class BulkFailed(BulkResult):
    """``FAILED``: definitely not sent; ``error`` says why."""

    result: None = None
    error: DevSMSError

    @property
    def outcome(self) -> Literal[BulkOutcome.FAILED]:
        return BulkOutcome.FAILED

    @property
    def ok(self) -> Literal[False]:
        return False


@attrs.frozen(kw_only=True)
class BulkUnknown(BulkResult):
    """``UNKNOWN``: may have been sent; ``error`` is what ``reconcile`` takes."""

    result: None = None
    error: SendOutcomeUnknownError

    @property
    def outcome(self) -> Literal[BulkOutcome.UNKNOWN]:
        return BulkOutcome.UNKNOWN

    @property
    def ok(self) -> Literal[False]:
        return False


@attrs.frozen(kw_only=True)
class BulkSkipped(BulkResult):
    """``NOT_STARTED``, ``ALREADY_SENT`` or ``CLAIMED_ELSEWHERE``: nothing was sent in
    this run."""

    result: None = None
    error: None = None

    @property
    def outcome(
        self,
    ) -> Literal[BulkOutcome.NOT_STARTED, BulkOutcome.ALREADY_SENT, BulkOutcome.CLAIMED_ELSEWHERE]:
        return _skipped(self.previous)

    @property
    def ok(self) -> Literal[False]:
        return False


def _skipped(
    previous: JournalEntry | None,
) -> Literal[BulkOutcome.NOT_STARTED, BulkOutcome.ALREADY_SENT, BulkOutcome.CLAIMED_ELSEWHERE]:
    if previous is not None and previous.state == "sent":
        return BulkOutcome.ALREADY_SENT
    if previous is not None and previous.state == "attempting":
        return BulkOutcome.CLAIMED_ELSEWHERE
    return BulkOutcome.NOT_STARTED


AnyBulkResult: TypeAlias = BulkSent | BulkFailed | BulkUnknown | BulkSkipped
"""What ``send_bulk`` and ``stream_bulk`` produce: one ``BulkResult`` class per outcome."""


def bulk_result(
    index: int,
    message: BulkMessage | None,
    *,
    result: SendResult | None = None,
    error: DevSMSError | None = None,
    previous: JournalEntry | None = None,
) -> AnyBulkResult:
    """The ``BulkResult`` subclass for these fields."""
    if result is not None:
        return BulkSent(index=index, message=message, result=result, previous=previous)
    if isinstance(error, SendOutcomeUnknownError):
        return BulkUnknown(index=index, message=message, error=error, previous=previous)
    if error is not None:
        return BulkFailed(index=index, message=message, error=error, previous=previous)
    return BulkSkipped(index=index, message=message, previous=previous)
