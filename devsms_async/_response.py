"""Turn an HTTP answer into a model or a typed error (part of the sans-IO core).

The answer is plain data: status, headers (a mapping with case-insensitive lookups by
lower-case name) and the body bytes, whichever backend read them.

The DevSMS service is PHP behind a proxy: besides its documented
``{"success": false, "error": "..."}`` it may answer an HTML error page, print a PHP
notice before the JSON, or cut the body short. Each case becomes a typed
``DevSMSError`` with the status and a short redacted snippet; no ``KeyError``,
``TypeError`` or ``JSONDecodeError`` escapes.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._confirm import has_send_id, prove_send
from ._converter import structure
from ._endpoints import Endpoint
from ._redact import body_snippet, redact
from ._refusals import match_refusal
from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SenderNotAllowedError,
    ServerError,
    ServiceNameRejectedError,
    TemplateRequiredError,
)

if TYPE_CHECKING:
    from .models import SendResult

logger = logging.getLogger("devsms_async")

T = TypeVar("T")

_STATUS_ERRORS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}
_HINTS: dict[type[APIError], str] = {
    TemplateRequiredError: "the text needs a template approved for your account "
    "(or use send_otp for codes)",
    SenderNotAllowedError: "the sender may not send this; the shared test sender 4546 "
    "delivers only to numbers registered on your account",
}
RETRY_AFTER_CAP = 60.0


def decode_json(body: bytes) -> Any:
    """Decode JSON or raise ``ValueError`` (``JSONDecodeError``, bad UTF-8 and nesting
    too deep for the parser alike)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def parse_response(
    endpoint: Endpoint[T],
    status_code: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tz: _dt.tzinfo | None,
    secrets: tuple[str, ...] = (),
) -> T:
    """Check the answer and structure its ``data`` into ``endpoint.model``."""
    try:
        payload = decode_json(body)
    except ValueError:
        payload = None
        decoded = False
    else:
        decoded = True

    if status_code >= 400 or status_code < 200:
        raise _error_for_status(endpoint, status_code, payload, body, headers, secrets)
    if status_code >= 300:
        # Redirects are not followed: the token must not travel to another host.
        raise MalformedResponseError(
            f"unexpected redirect to {redact(headers.get('location', '?'), secrets)!r}",
            status_code=status_code,
            body_snippet=body_snippet(body, secrets=secrets),
        )

    if not decoded:
        raise MalformedResponseError(
            "the answer is not JSON",
            status_code=status_code,
            body_snippet=body_snippet(body, secrets=secrets),
        )
    if not isinstance(payload, dict):
        raise MalformedResponseError(
            f"expected a JSON object, got a JSON {type(payload).__name__}",
            status_code=status_code,
            body_snippet=body_snippet(body, secrets=secrets),
        )
    success = payload.get("success")
    if success is not True:
        if success is False or "error" in payload:
            raise _api_error(BadRequestError, endpoint, status_code, payload, body, secrets)
        raise MalformedResponseError(
            "the answer has no 'success': true",
            status_code=status_code,
            body_snippet=body_snippet(body, secrets=secrets),
        )
    data = payload.get("data")
    if not isinstance(data, dict):
        what = "missing" if data is None else f"a JSON {type(data).__name__}"
        raise MalformedResponseError(
            f"'data' is {what}, expected an object",
            status_code=status_code,
            body_snippet=body_snippet(body, secrets=secrets),
        )
    # A send's model is SendResult (tests/core/test_core.py checks every descriptor).
    is_send = endpoint.kind == "send"
    try:
        result = structure(data, endpoint.model, tz)
    except Exception as exc:
        if is_send:
            proven = prove_send(payload)
            if proven is not None:
                # The SMS went out and was charged: an "unknown" outcome would invite
                # a second, billed send. Keep what can be read; say what could not.
                logger.warning(
                    "%s %s: the send is confirmed, but these fields were missing or "
                    "unreadable and are None: %s (%s)",
                    endpoint.method,
                    endpoint.path,
                    ", ".join(proven.unreadable) or "-",
                    redact(_describe(exc), secrets),
                )
                return proven.result  # type: ignore[return-value]
        # Raised outside the except: the converter's own error quotes the bad value
        # (a token or a number echoed back), so it is neither chained nor kept.
        reason = redact(_describe(exc), secrets)
    else:
        if is_send and not has_send_id(cast("SendResult", result)):
            # Both ids are optional in the model (either proves the send), not both absent.
            raise MalformedResponseError(
                "the answer proves no send: no usable 'sms_id' or 'request_id'",
                status_code=status_code,
                body_snippet=body_snippet(body, secrets=secrets),
            )
        return result
    raise MalformedResponseError(
        f"'data' does not fit {endpoint.model.__name__}: {reason}",
        status_code=status_code,
        body_snippet=body_snippet(body, secrets=secrets),
    )


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}" if exc.args else "missing field"
    return f"{type(exc).__name__}: {exc}"[:200]


def _error_for_status(
    endpoint: Endpoint[Any],
    status_code: int,
    payload: Any,
    body: bytes,
    headers: Mapping[str, str],
    secrets: tuple[str, ...],
) -> APIError:
    if status_code >= 500:
        cls: type[APIError] = ServerError
    else:
        cls = _STATUS_ERRORS.get(status_code, BadRequestError)
    error = _api_error(cls, endpoint, status_code, payload, body, secrets)
    if isinstance(error, RateLimitError):
        error.retry_after = parse_retry_after(headers.get("retry-after"))
    return error


def _api_error(
    cls: type[APIError],
    endpoint: Endpoint[Any],
    status_code: int,
    payload: Any,
    body: bytes,
    secrets: tuple[str, ...],
) -> APIError:
    server_text = None
    charged = None
    raw: Any = None
    if isinstance(payload, dict):
        raw = payload.get("error")
        if not isinstance(raw, str):
            raw = payload.get("message")
        if isinstance(raw, str):
            # "replace": JSON may carry lone surrogates ("\ud800"), which UTF-8 cannot.
            server_text = body_snippet(raw.encode("utf-8", "replace"), secrets=secrets)
        data = payload.get("data")
        if isinstance(data, dict) and isinstance(data.get("charged"), bool):
            charged = data["charged"]
    snippet = body_snippet(body, secrets=secrets)
    # Matched on the redacted text: the token itself ("test-token-...") must not read
    # as a text about the token. Refusal texts are far shorter than a snippet.
    row = match_refusal(server_text, is_send=endpoint.kind == "send")
    # 429 and 5xx keep their class whatever the text: they decide retries (reads) and
    # "outcome unknown" (sends), which a refusal type would silently switch off.
    if row is not None and not (status_code == 429 or status_code >= 500):
        cls = row.error
    if cls is ServiceNameRejectedError:
        paid = charged is not False
        message = (
            f"the service name was rejected by moderation; the SMS was NOT sent "
            f"{'but the balance WAS charged' if paid else 'and the balance was not charged'} "
            f"(HTTP {status_code}): {server_text}"
        )
    else:
        detail = server_text if server_text is not None else f"body starts: {snippet!r}"
        message = f"{endpoint.method} {endpoint.path} failed with HTTP {status_code}: {detail}"
        hint = _HINTS.get(cls)
        if hint is not None:
            message += f" ({hint})"
    error = cls(
        message,
        status_code=status_code,
        error=server_text,
        method=endpoint.method,
        path=endpoint.path,
        body_snippet=snippet,
    )
    if isinstance(error, ServiceNameRejectedError) and charged is not None:
        error.charged = charged
    return error


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        import email.utils  # only for an HTTP date; it loads `socket`

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)
