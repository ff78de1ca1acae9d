"""The sandbox's in-memory service: one account, its messages and the clock.

Everything here is synchronous and free of I/O, so a request is handled atomically
whichever event loop (or none) drives it. Callbacks are only *queued* here (the
outbox); ``_callbacks`` delivers them.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, Literal

import attrs

from .._converter import TASHKENT
from .._redact import phone_repr, text_repr
from ..models import SmsStatus, SmsType

__all__ = [
    "DEFAULT_START",
    "FAIL_SUFFIX",
    "QUEUE_SUFFIX",
    "Clock",
    "ManualClock",
    "SandboxMessage",
    "ServiceState",
    "format_time",
]

Clock = Callable[[], _dt.datetime]
Account = Literal["local", "foreign"]
MoneyShape = Literal["live", "documented"]
MoneyOut = Callable[[Decimal], Any]


def live_money(value: Decimal) -> str:
    """Money as the live service writes it: a decimal string, ``"200.00"``."""
    return f"{value:.2f}"


def documented_money(value: Decimal) -> int | float:
    """Money as the documentation shows it: a JSON number, ``200``."""
    integral = value.to_integral_value()
    return int(integral) if value == integral else float(value)


MONEY_SHAPES: dict[str, MoneyOut] = {"live": live_money, "documented": documented_money}

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_START = _dt.datetime(2026, 3, 9, 10, 30, 0, tzinfo=TASHKENT)
"""Where a ``ManualClock`` starts by default: the date of the spec's examples."""

FAIL_SUFFIX = "0000"
"""Numbers ending in these digits are not delivered: ``sent`` -> ``failed``."""
QUEUE_SUFFIX = "1111"
"""Numbers ending in these digits wait in the queue: the send answers ``pending``."""

# request_id / eskiz_message_id are uuid5 of the sms_id: stable across runs, so a test
# may print or snapshot them.
_ID_NAMESPACE = uuid.UUID("6f1c2d3e-5a4b-4c8d-9e0f-0d5a5b5a4d50")
_RANK = {SmsStatus.PENDING: 0, SmsStatus.SENT: 1, SmsStatus.DELIVERED: 2, SmsStatus.FAILED: 2}


def wall_clock() -> _dt.datetime:
    """The real time in Tashkent (the default clock)."""
    return _dt.datetime.now(TASHKENT)


class ManualClock:
    """A clock that moves only when told, for deterministic timestamps.

    Pass it as ``Sandbox(clock=ManualClock())`` and call ``advance`` to let time
    pass; naive datetimes are taken as Tashkent time.
    """

    def __init__(self, start: _dt.datetime = DEFAULT_START) -> None:
        self._now = to_tashkent(start)

    def __call__(self) -> _dt.datetime:
        return self._now

    def advance(self, seconds: float | _dt.timedelta = 1.0) -> _dt.datetime:
        """Move the clock forward (never back) and return the new time."""
        delta = seconds if isinstance(seconds, _dt.timedelta) else _dt.timedelta(seconds=seconds)
        if delta < _dt.timedelta(0):
            raise ValueError("a ManualClock only moves forward")
        self._now += delta
        return self._now

    def set(self, when: _dt.datetime) -> None:
        """Jump to ``when`` (any direction: e.g. to the next day for statistics)."""
        self._now = to_tashkent(when)

    def __repr__(self) -> str:
        return f"ManualClock({format_time(self._now)!r})"


def to_tashkent(when: _dt.datetime) -> _dt.datetime:
    if not isinstance(when, _dt.datetime):
        raise TypeError(f"a clock must give datetime objects, not {type(when).__name__}")
    if when.tzinfo is None:
        return when.replace(tzinfo=TASHKENT)
    return when.astimezone(TASHKENT)


def format_time(when: _dt.datetime | None) -> str | None:
    """``YYYY-MM-DD HH:MM:SS`` in Tashkent local time, as the service writes it."""
    return None if when is None else when.astimezone(TASHKENT).strftime(TIME_FORMAT)


def _time_repr(when: _dt.datetime | None) -> str:
    return repr(format_time(when))


@attrs.frozen(kw_only=True)
class SandboxMessage:
    """One SMS as the sandbox stores it (a snapshot: a status change makes a new one).

    ``country``/``country_code`` are set for every number (``Uzbekistan``/``uz`` too),
    although the send answer reports them for international numbers only. ``blocked``
    marks a universal OTP whose service name moderation refused: stored ``failed``,
    charged, never sent.
    """

    sms_id: int
    request_id: str
    phone: str = attrs.field(repr=phone_repr)
    text: str = attrs.field(repr=text_repr)
    sender: str
    type: SmsType
    status: SmsStatus
    parts_count: int
    total_cost: Decimal
    country: str
    country_code: str
    callback_url: str | None = attrs.field(default=None, repr=False)
    eskiz_message_id: str | None = None
    blocked: bool = False
    created_at: _dt.datetime = attrs.field(repr=_time_repr)
    sent_at: _dt.datetime | None = attrs.field(default=None, repr=_time_repr)
    delivered_at: _dt.datetime | None = attrs.field(default=None, repr=_time_repr)
    failed_at: _dt.datetime | None = attrs.field(default=None, repr=_time_repr)
    updated_at: _dt.datetime = attrs.field(repr=_time_repr)

    @property
    def is_international(self) -> bool:
        return self.country_code != "uz"

    def to_api(
        self, *, with_updated_at: bool = False, money: MoneyOut = live_money
    ) -> dict[str, Any]:
        """The record as ``get_history`` (and, with ``updated_at``, ``get_status``) show it;
        ``money`` writes ``total_cost`` (the live service's ``"50.00"`` by default)."""
        record: dict[str, Any] = {
            "id": self.sms_id,
            "phone_number": self.phone,
            "message": self.text,
            "status": self.status.value,
            "parts_count": self.parts_count,
            "total_cost": money(self.total_cost),
            "from_number": self.sender,
            "eskiz_request_id": self.request_id,
            "eskiz_message_id": self.eskiz_message_id,
            "sent_at": format_time(self.sent_at),
            "delivered_at": format_time(self.delivered_at),
            "failed_at": format_time(self.failed_at),
            "created_at": format_time(self.created_at),
        }
        if with_updated_at:
            record["updated_at"] = format_time(self.updated_at)
        return record

    def callback_payload(self) -> dict[str, Any]:
        """The body POSTed to ``callback_url``; ``timestamp`` is the time of this change
        (the spec's example shows it equal to ``delivered_at``)."""
        return {
            "sms_id": self.sms_id,
            "request_id": self.request_id,
            "phone": self.phone,
            "status": self.status.value,
            "sent_at": format_time(self.sent_at),
            "delivered_at": format_time(self.delivered_at),
            "failed_at": format_time(self.failed_at),
            "timestamp": format_time(self.updated_at),
        }


@attrs.frozen
class CallbackJob:
    """A status change waiting to be POSTed."""

    url: str
    payload: dict[str, Any]
    sms_id: int
    status: SmsStatus


@attrs.define
class LiveRules:
    """How the sandbox differs from the documentation, as the live service does
    (``docs/live-service.md``). The defaults answer like the live service where that
    costs a test nothing; the stricter rules are opt-in."""

    money: MoneyShape = "live"
    """``"live"``: money as decimal strings (``"50.00"``); ``"documented"``: JSON numbers."""
    refusal_status: int | None = None
    """``None``: each refusal with its documented 4xx status; ``200``: every refusal with
    HTTP 200 and ``success: false``, as the live service also answers."""
    templates: list[str] | None = None
    """Free-text moderation: ``None`` delivers any text; a list delivers only texts that
    match one of these templates (``{}`` or ``{name}`` stands for any text) and refuses
    others with the live moderation text."""
    registered_numbers: set[str] | None = None
    """The test-sender rule: ``None`` lets ``4546`` send anywhere; a set lets it deliver
    only to these numbers (as on a live account without an approved sender name)."""

    def money_out(self) -> MoneyOut:
        return MONEY_SHAPES[self.money]


class ServiceState:
    """The account and its messages. Not thread-safe: drive it from one event loop."""

    def __init__(
        self,
        *,
        token: str,
        balance: Decimal,
        sms_price: Decimal,
        account: Account,
        clock: Clock,
        blocked_service_names: Iterable[str],
        first_sms_id: int,
    ) -> None:
        self.token = token
        self.balance = balance
        self.sms_price = sms_price
        self.live = LiveRules()
        self.account: Account = account
        self.clock = clock
        self.blocked_service_names = set(blocked_service_names)
        self.messages: dict[int, SandboxMessage] = {}
        self.by_request_id: dict[str, int] = {}
        self.outbox: list[CallbackJob] = []
        self.history_order: Literal["newest_first", "oldest_first"] = "newest_first"
        self._next_id = first_sms_id

    def now(self) -> _dt.datetime:
        return to_tashkent(self.clock()).replace(microsecond=0)

    # -- creating ------------------------------------------------------------------

    def store(
        self,
        *,
        phone: str,
        text: str,
        sender: str,
        sms_type: SmsType,
        parts_count: int,
        total_cost: Decimal,
        country: str,
        country_code: str,
        callback_url: str | None,
        blocked: bool = False,
    ) -> SandboxMessage:
        """Charge ``total_cost`` and store a new message.

        A blocked one is stored ``failed``; one to a ``QUEUE_SUFFIX`` number
        ``pending``; any other is handed to Eskiz at once and stored ``sent`` (the
        service answers ``"status": "sent"``), which queues a ``sent`` callback.
        """
        sms_id = self._next_id
        self._next_id += 1
        now = self.now()
        self.balance -= total_cost
        message = SandboxMessage(
            sms_id=sms_id,
            request_id=str(uuid.uuid5(_ID_NAMESPACE, f"request:{sms_id}")),
            phone=phone,
            text=text,
            sender=sender,
            type=sms_type,
            status=SmsStatus.FAILED if blocked else SmsStatus.PENDING,
            parts_count=parts_count,
            total_cost=total_cost,
            country=country,
            country_code=country_code,
            callback_url=callback_url,
            blocked=blocked,
            created_at=now,
            failed_at=now if blocked else None,
            updated_at=now,
        )
        self.messages[sms_id] = message
        self.by_request_id[message.request_id] = sms_id
        if not blocked and not phone.endswith(QUEUE_SUFFIX):
            message = self.transition(sms_id, SmsStatus.SENT)
        return message

    # -- status changes ------------------------------------------------------------

    def transition(self, sms_id: int, status: SmsStatus) -> SandboxMessage:
        """Move one message forward to ``status`` (through ``sent`` if it was pending),
        queueing a callback for each change."""
        message = self.messages[sms_id]
        if status not in _RANK:
            raise ValueError(f"cannot move an SMS to {status.value!r}")
        if _RANK[status] <= _RANK[message.status]:
            raise ValueError(
                f"SMS {sms_id} is {message.status.value}; statuses only move forward "
                "(pending -> sent -> delivered | failed)"
            )
        if message.status is SmsStatus.PENDING and status is not SmsStatus.SENT:
            message = self.transition(sms_id, SmsStatus.SENT)
        now = self.now()
        changes: dict[str, Any] = {"status": status, "updated_at": now}
        if status is SmsStatus.SENT:
            changes["sent_at"] = now
            changes["eskiz_message_id"] = str(uuid.uuid5(_ID_NAMESPACE, f"message:{sms_id}"))
        elif status is SmsStatus.DELIVERED:
            changes["delivered_at"] = now
        else:
            changes["failed_at"] = now
        message = attrs.evolve(message, **changes)
        self.messages[sms_id] = message
        if message.callback_url is not None:
            self.outbox.append(
                CallbackJob(message.callback_url, message.callback_payload(), sms_id, status)
            )
        return message

    def step(self, sms_id: int | None = None) -> list[SandboxMessage]:
        """Move every unfinished message (or just ``sms_id``) one step:
        ``pending -> sent``, ``sent -> delivered`` (``failed`` for ``FAIL_SUFFIX``)."""
        if sms_id is not None:
            targets = [self.messages[sms_id]]
        else:
            targets = [m for m in self.messages.values() if not m.status.is_final]
        moved = []
        for message in targets:
            if message.status.is_final:
                continue
            if message.status is SmsStatus.PENDING:
                target = SmsStatus.SENT
            elif message.phone.endswith(FAIL_SUFFIX):
                target = SmsStatus.FAILED
            else:
                target = SmsStatus.DELIVERED
            moved.append(self.transition(message.sms_id, target))
        return moved

    def take_outbox(self) -> list[CallbackJob]:
        jobs, self.outbox = self.outbox, []
        return jobs

    # -- reading -------------------------------------------------------------------

    def find(self, *, sms_id: int | None = None, request_id: str | None = None) -> SandboxMessage:
        """The message by id or request id; ``KeyError`` when there is none."""
        if sms_id is None:
            sms_id = self.by_request_id[request_id] if request_id is not None else -1
        return self.messages[sms_id]

    def statistics(self) -> dict[str, Any]:
        """Counts and spending (``Decimal``) over every charged message: in total, today
        and this month (by ``created_at``, Tashkent time)."""
        now = self.now()
        stats: dict[str, Any] = {}
        for period in ("total", "today", "month"):
            stats[f"{period}_sms"] = 0
            stats[f"{period}_spent"] = Decimal(0)
        for message in self.messages.values():
            created = message.created_at
            stats["total_sms"] += 1
            stats["total_spent"] += message.total_cost
            if (created.year, created.month) == (now.year, now.month):
                stats["month_sms"] += 1
                stats["month_spent"] += message.total_cost
                if created.day == now.day:
                    stats["today_sms"] += 1
                    stats["today_spent"] += message.total_cost
        return stats
