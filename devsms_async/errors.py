"""Every error the SDK raises.

All of them derive from ``DevSMSError``, so one ``except DevSMSError`` catches
everything the SDK can raise:

```text
DevSMSError
├── ValidationError               bad input, raised before any request (also a ValueError)
│   └── BalanceCheckError         send_bulk(check_balance=True): the job costs too much
├── InsufficientBalanceError      not enough money: BalanceCheckError or BalanceRefusedError
├── UsageError                    the client is used wrongly (not entered, closed, twice)
├── RateLimitUnavailableError     the shared rate limit (Redis) cannot be reached; not sent
├── APIError                      the server answered and said no
│   ├── BadRequestError           400, or success: false with a text not in the refusal table
│   │   ├── BalanceRefusedError   the server: not enough balance ("Balans yetarli emas")
│   │   ├── TemplateRequiredError free text refused by template moderation
│   │   └── SenderNotAllowedError the sender (from) may not send this (4546: test numbers)
│   ├── AuthenticationError       401, or a refusal of the token at any status
│   ├── PermissionDeniedError     403
│   ├── NotFoundError             404
│   ├── RateLimitError            429
│   ├── ServerError               5xx
│   └── ServiceNameRejectedError  universal OTP refused by moderation; the money is gone
├── APIConnectionError            no usable answer: connection refused, reset, ...
│   └── APITimeoutError           connect, read, write or pool timeout
├── MalformedResponseError        the answer is not the JSON the spec promises
├── SendOutcomeUnknownError       a send may or may not have happened; reconcile it
├── SmsIdMissingError             SendResult.require_sms_id(): the answer had no sms_id
├── WaitTimeoutError              wait_for_status gave up (also a TimeoutError)
├── StoreUnavailableError         a shared store (Redis) could not be reached; failed closed
├── JournalError                  a bulk journal is unusable: corrupt, locked, disk full, DB down
└── VerificationError             devsms_async.verify refused to send a code; nothing was sent
    ├── CountryNotAllowedError    fraud guard: the number's country is not in allowed_countries
    ├── NumberTypeNotAllowedError fraud guard: premium-rate, fixed line, ... (allowed_number_types)
    ├── ServiceNameBlockedError   moderation rejected service_name before; no more sends with it
    └── VerifyLimitError          a verification limit was hit; retry_after seconds
        ├── ResendTooSoonError    a new code before resend_after
        ├── PhoneLimitError       too many codes to this phone in the window
        ├── KeyLimitError         too many codes for this caller key (an IP, a chat id)
        ├── ServiceLimitError     too many codes for the whole service in the window
        └── SpendLimitError       the hourly spend cap would be exceeded
```

``BalanceCheckError`` and ``BalanceRefusedError`` are both ``InsufficientBalanceError``:
one ``except InsufficientBalanceError`` catches the SDK's pre-check and the server's
refusal alike. Which server texts become which error: ``docs/errors.md``.

Error texts never contain the token, phone numbers or OTP codes: phone numbers are
masked (``99890***4567``) and response bodies are cut to a short, redacted snippet.
"""

from __future__ import annotations

import datetime as _dt
import hmac
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import SmsRecord

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BalanceCheckError",
    "BalanceRefusedError",
    "DevSMSError",
    "InsufficientBalanceError",
    "JournalError",
    "MalformedResponseError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimitUnavailableError",
    "SendOutcomeUnknownError",
    "ServerError",
    "SenderNotAllowedError",
    "ServiceNameRejectedError",
    "SmsIdMissingError",
    "TemplateRequiredError",
    "UsageError",
    "ValidationError",
    "WaitTimeoutError",
    # -- phone verification (devsms_async.verify) --
    "CountryNotAllowedError",
    "KeyLimitError",
    "NumberTypeNotAllowedError",
    "PhoneLimitError",
    "ResendTooSoonError",
    "ServiceLimitError",
    "ServiceNameBlockedError",
    "SpendLimitError",
    "StoreUnavailableError",
    "VerificationError",
    "VerifyLimitError",
]


class DevSMSError(Exception):
    """Base class of every error raised by devsms-async."""

    def __reduce__(self) -> tuple[Any, ...]:
        # The subclasses take keyword-only arguments, which Exception's own pickling
        # (``cls(*args)``) cannot pass: rebuild from args plus attributes instead, so
        # an error (an unknown outcome to reconcile later) can cross a process.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[DevSMSError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class ValidationError(DevSMSError, ValueError):
    """An argument is invalid; raised before any request is sent.

    ``field`` names the offending argument (``"phone"``, ``"otp_code"``, ...).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class JournalError(DevSMSError):
    """The journal cannot be used: corrupt, locked by another run, for other
    messages, unreachable, or the disk refused a write.

    When a job stopped because its journal failed, ``in_doubt`` holds the indices of
    the messages whose send had started and whose outcome the journal could not record:
    they may have gone out, and the journal may hold them as ``attempting``. Settle them
    with ``reconcile_journal`` on the *same* journal before running the job again;
    never start a new journal for that job. ``path`` is the journal's file or name
    (``None`` when the error is not about one journal). ``__cause__`` is the
    underlying error (an ``OSError`` for a full or read-only disk).

    ``mismatched`` holds the indices of input messages whose content differs from
    their journal entry (the journal belongs to another job, or the input was edited):
    the job stopped at the first one, before any further send.
    """

    def __init__(
        self,
        message: str,
        *,
        in_doubt: tuple[int, ...] = (),
        path: str | None = None,
        mismatched: tuple[int, ...] = (),
    ) -> None:
        super().__init__(message)
        self.in_doubt = in_doubt
        self.path = path
        self.mismatched = mismatched


class InsufficientBalanceError(DevSMSError):
    """Not enough money on the account, whoever noticed it.

    Catch this one class for both cases: ``BalanceCheckError`` (the SDK's own
    pre-check, nothing was sent) and ``BalanceRefusedError`` (the server refused a
    send). ``needed`` and ``balance`` are so'm (``Decimal``), ``None`` when unknown (the
    server's refusal does not say).
    """

    needed: Decimal | None = None
    balance: Decimal | None = None

    def __init__(
        self,
        message: str,
        *,
        needed: Decimal | int | None = None,
        balance: Decimal | int | None = None,
    ) -> None:
        super().__init__(message)
        self.needed = None if needed is None else Decimal(needed)
        self.balance = None if balance is None else Decimal(balance)


class BalanceCheckError(ValidationError, InsufficientBalanceError):
    """``send_bulk(..., check_balance=True)`` refused a job the balance cannot cover.

    Raised before anything is sent. ``needed`` is the estimated cost and ``balance``
    the account's balance, both in so'm.
    """

    def __init__(self, message: str, *, needed: Decimal | int, balance: Decimal | int) -> None:
        ValidationError.__init__(self, "messages", message)
        self.needed = Decimal(needed)
        self.balance = Decimal(balance)


class UsageError(DevSMSError, RuntimeError):
    """The client is used outside its lifecycle (not entered, closed, entered twice)."""


class RateLimitUnavailableError(DevSMSError):
    """The rate limit could not give this send a slot (`RedisRateLimit`: Redis is
    unreachable beyond its `retry_for`), so the send **did not start**: nothing went
    out, it is safe to send again later. In a bulk job the message is `FAILED` with
    this error and no new send starts (see docs/ratelimit.md)."""


class APIError(DevSMSError):
    """The server answered, and the answer is an error.

    Carries the HTTP ``status_code``, the server's own ``error`` text (Uzbek, as sent)
    and the ``method``/``path`` of the request.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error: str | None = None,
        method: str = "",
        path: str = "",
        body_snippet: str = "",
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.method = method
        self.path = path
        self.body_snippet = body_snippet


class BadRequestError(APIError):
    """HTTP 400, or ``success: false`` at another status: the server refused the request.

    The server's own words are in ``error``; texts the SDK recognises get a subclass
    (see the refusal table in ``docs/errors.md``).
    """


class BalanceRefusedError(BadRequestError, InsufficientBalanceError):
    """The server refused a send: the balance does not cover it. Nothing was sent."""


class TemplateRequiredError(BadRequestError):
    """The operator's moderation refused a free-text message: nothing was sent.

    Free text needs a template approved for the account (ask DevSMS/Eskiz to approve it,
    then send exactly that text with only the placeholders filled), or send codes with
    ``send_otp`` (pre-approved templates).
    """


class SenderNotAllowedError(BadRequestError):
    """The sender (``from``) may not send this message: nothing was sent.

    The shared test sender ``4546`` only delivers to numbers registered on your
    account; for other numbers use a sender name approved for your account.
    """


class AuthenticationError(APIError):
    """The token is missing, wrong or revoked: HTTP 401, or a refusal whose text is about
    the token at any status (the live service also says so with HTTP 200)."""


class PermissionDeniedError(APIError):
    """HTTP 403: the token may not do this."""


class NotFoundError(APIError):
    """HTTP 404: no such SMS (or endpoint)."""


class RateLimitError(APIError):
    """HTTP 429: too many requests; ``retry_after`` is in seconds when the server said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIError):
    """HTTP 5xx: the service failed."""


class ServiceNameRejectedError(APIError):
    """A universal OTP was refused by moderation of ``service_name``.

    The provider charges for it: ``charged`` is ``True`` unless the answer's
    ``data.charged`` said otherwise.
    """

    charged: bool = True


class APIConnectionError(DevSMSError):
    """No usable answer arrived: connection refused, reset, protocol error."""


class APITimeoutError(APIConnectionError):
    """A connect, read, write or pool timeout."""


class MalformedResponseError(DevSMSError):
    """The server's answer is not the JSON the spec describes.

    ``status_code`` is the HTTP status; ``body_snippet`` a short, redacted start of the
    body (an HTML error page, a PHP notice, truncated JSON, ...).
    """

    def __init__(self, message: str, *, status_code: int, body_snippet: str = "") -> None:
        text = f"{message} (HTTP {status_code})"
        if body_snippet:
            text += f"; body starts: {body_snippet!r}"
        super().__init__(text)
        self.status_code = status_code
        self.body_snippet = body_snippet


class SendOutcomeUnknownError(DevSMSError):
    """A send may have reached the server, but no answer proves whether it did.

    The SDK never repeats such a send by itself: the API has no idempotency key, so a
    retry could deliver (and charge) the message twice. Pass this error to
    ``await sms.reconcile(error)`` (``sms.reconcile(error)`` with the sync ``DevSMS``) to
    look it up in the history, or decide yourself. The message says which of the two.

    It keeps no secret, so it may be logged, pickled and sent to a task queue or an
    error tracker: ``phone`` is the *masked* number (``99890***4567``), ``phone_digest``
    and ``fingerprint`` keyed digests (HMAC-SHA-256 with the API token) of the number and
    the message text (for an OTP, the rendered text with its code), ``started_at`` when
    the attempt began (aware, UTC) and ``__cause__`` the underlying error (not pickled).
    ``matches`` tells whether a history record is this send.
    """

    def __init__(
        self,
        message: str,
        *,
        phone: str,
        fingerprint: str,
        started_at: _dt.datetime,
        status_code: int | None = None,
        text: str | None = None,
        key: bytes | None = None,
        phone_digest: str | None = None,
    ) -> None:
        """``phone`` is the full number (it is masked here and only its digest kept when
        ``key``, the token as bytes, is given, or ``phone_digest`` already computed) or an
        already masked one. ``text`` is never kept: with ``key`` and an empty
        ``fingerprint`` it gives the fingerprint."""
        from ._fingerprint import fingerprint as text_fingerprint
        from ._fingerprint import phone_digest as digest_of
        from ._redact import mask_phone

        if not fingerprint and text is not None and key is not None:
            fingerprint = text_fingerprint(text, key)
        super().__init__(message)
        masked = not phone or "*" in phone
        self.phone = phone if masked else mask_phone(phone)
        if phone_digest is None and not masked and key is not None:
            phone_digest = digest_of(phone, key)
        self.phone_digest = phone_digest
        self.fingerprint = fingerprint
        self.started_at = started_at
        self.status_code = status_code

    def matches(self, phone: str, message: str, key: bytes) -> bool:
        """Whether an SMS to ``phone`` with text ``message`` (a history record's
        ``phone_number`` and ``message``) is this send. ``key`` is the API token as
        bytes: the digests are keyed with it, so only the same account can match.

        Without a ``phone_digest`` (an error made by hand from a masked number) the
        masked number must match, a weaker test; the text must match in every case.
        """
        from ._fingerprint import fingerprint, phone_digest
        from ._redact import mask_phone

        digits = "".join(ch for ch in phone if ch.isdigit())
        own: str | None = getattr(self, "phone_digest", None)
        if own is not None:
            same_phone = hmac.compare_digest(phone_digest(digits, key), own)
        elif "*" in self.phone:
            same_phone = mask_phone(digits) == self.phone
        else:  # unpickled from an SDK version that kept the full number
            same_phone = "".join(ch for ch in self.phone if ch.isdigit()) == digits
        return same_phone and hmac.compare_digest(fingerprint(message, key), self.fingerprint)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class SmsIdMissingError(DevSMSError, LookupError):
    """``SendResult.require_sms_id()`` found no ``sms_id`` in a confirmed send's answer.

    The SMS **was sent**: the answer proved it with its ``request_id`` (kept here; it
    may be ``None`` only for a ``SendResult`` built by hand). Look the SMS up with
    ``get_status(request_id=error.request_id)``; never send it again.
    """

    def __init__(self, message: str, *, request_id: str | None) -> None:
        super().__init__(message)
        self.request_id = request_id


class WaitTimeoutError(DevSMSError, TimeoutError):
    """``wait_for_status`` gave up: the awaited status was not reached in time.

    ``last`` is the record of the last poll that answered (``None`` if none did),
    ``polls`` how many polls answered, ``timeout`` the limit in seconds.

    Pickled (a task queue, an error tracker, another process), ``last`` keeps its
    status, times and cost, but its number is masked (``99890***4567``) and its text
    (which may hold an OTP code) is left out: like every error, a pickle carries no
    number or code.
    """

    def __init__(
        self,
        message: str,
        *,
        sms_id: int | None,
        request_id: str | None,
        timeout: float,
        last: SmsRecord | None,
        polls: int,
    ) -> None:
        super().__init__(message)
        self.sms_id = sms_id
        self.request_id = request_id
        self.timeout = timeout
        self.last = last
        self.polls = polls

    def __reduce__(self) -> tuple[Any, ...]:
        rebuild, (cls, args, state) = super().__reduce__()
        last = state.get("last")
        if last is not None:
            state = {**state, "last": _without_secrets(last)}
        return rebuild, (cls, args, state)


def _without_secrets(record: SmsRecord) -> SmsRecord:
    """``record`` with its number masked and its text replaced by its length."""
    import attrs

    from ._redact import mask_phone, text_repr

    return attrs.evolve(
        record, phone_number=mask_phone(record.phone_number), message=text_repr(record.message)
    )


# -- phone verification (devsms_async.verify) ------------------------------------------


class StoreUnavailableError(DevSMSError):
    """The verification store (Redis) could not be reached or answered in time.

    Raised instead of redis-py's own errors (the cause is chained). Verification fails
    closed: no code is approved that could not be checked, and no code is sent that
    could not be recorded. Answer it as a temporary outage (HTTP 503).
    """


class VerificationError(DevSMSError):
    """A ``Verifier`` refused to send a code; nothing was sent."""


class CountryNotAllowedError(VerificationError):
    """The fraud guard refused a number outside ``allowed_countries``.

    ``country`` is the ISO code the price table gives the number (``"KZ"``).
    """

    def __init__(self, message: str, *, country: str) -> None:
        super().__init__(message)
        self.country = country


class NumberTypeNotAllowedError(VerificationError):
    """The fraud guard refused a number of a type not in ``allowed_number_types``
    (premium-rate, toll-free, a fixed line, ...).

    ``number_type`` is the type's name as ``phonenumbers`` gives it, lower case
    (``"premium_rate"``). The error text never contains the number.
    """

    def __init__(self, message: str, *, number_type: str) -> None:
        super().__init__(message)
        self.number_type = number_type


class ServiceNameBlockedError(VerificationError):
    """Moderation rejected ``service_name`` earlier (that send was charged): the verifier
    sends nothing more under that name. Never retry with another name; change the
    name in your configuration after talking to the provider."""

    def __init__(self, message: str, *, service_name: str) -> None:
        super().__init__(message)
        self.service_name = service_name


class VerifyLimitError(VerificationError):
    """A verification limit was hit; try again after ``retry_after`` seconds.

    ``scope`` says which: ``"resend"``, ``"phone"``, ``"key"``, ``"service"`` or
    ``"spend"``.
    """

    scope = ""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ResendTooSoonError(VerifyLimitError):
    """A new code was asked for before ``resend_after`` seconds had passed."""

    scope = "resend"


class PhoneLimitError(VerifyLimitError):
    """Too many codes to this phone in the window (``per_phone``)."""

    scope = "phone"


class KeyLimitError(VerifyLimitError):
    """Too many codes for this caller ``key`` in the window (``per_key``)."""

    scope = "key"


class ServiceLimitError(VerifyLimitError):
    """Too many codes for the whole service in the window (``per_service``)."""

    scope = "service"


class SpendLimitError(VerifyLimitError):
    """The code would take this hour's spending over ``max_spend_per_hour``."""

    scope = "spend"
