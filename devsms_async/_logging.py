"""The SDK's log lines for attempts and retries, on the ``devsms_async`` logger.

A send's number is masked and its text left out unless ``log_sensitive`` asks for them.
"""

from __future__ import annotations

import logging

from ._classify import Call, Decision
from ._redact import mask_phone
from ._wire import TransportFailure, WireRequest, WireResponse
from .errors import APIConnectionError, APIError

__all__ = ["describe", "log_attempt", "log_retry", "logger"]

logger = logging.getLogger("devsms_async")

_LOGGED_TEXT_CHARS = 160

Outcome = WireResponse | TransportFailure


def describe(outcome: Outcome | BaseException, decision: Decision | None) -> str:
    """``status=200``, ``status=- error=ReadError outcome=unknown``...: one attempt."""
    text = f"status={outcome.status}" if isinstance(outcome, WireResponse) else "status=-"
    if decision is None:  # a cancellation or a bug: the exception itself
        return f"{text} error={type(outcome).__name__}"
    error = decision.error
    if error is None:
        return text
    if decision.action == "unknown" and error.__cause__ is not None:
        error = error.__cause__  # type: ignore[assignment]
    if isinstance(error, APIConnectionError) and error.__cause__ is not None:
        return f"{text} error={type(error.__cause__).__name__}" + _unknown_mark(decision)
    return f"{text} error={type(error).__name__}" + _unknown_mark(decision)


def _unknown_mark(decision: Decision) -> str:
    return " outcome=unknown" if decision.action == "unknown" else ""


def log_attempt(
    request: WireRequest,
    call: Call,
    outcome: Outcome | BaseException,
    decision: Decision | None,
    duration: float,
    attempt: int,
    log_sensitive: bool,
) -> None:
    """One DEBUG line per attempt (the caller checks ``isEnabledFor`` first)."""
    extra = ""
    if call.phone:
        if log_sensitive:
            text = call.text
            if len(text) > _LOGGED_TEXT_CHARS:
                text = text[:_LOGGED_TEXT_CHARS] + "…"
            extra = f" to={call.phone} text={text!r}"
        else:
            extra = f" to={mask_phone(call.phone)}"
    logger.debug(
        "%s %s %s duration_ms=%.1f attempt=%d%s",
        request.method,
        call.endpoint.path,
        describe(outcome, decision),
        duration * 1000,
        attempt,
        extra,
    )


def log_retry(call: Call, decision: Decision, attempt: int) -> None:
    """One INFO line per retry: below WARNING, so an unconfigured ``logging`` (whose
    last-resort handler prints warnings) stays silent."""
    error = decision.error
    reason = type(error).__name__ if error is not None else "?"
    cause = error.__cause__ if error is not None else None
    if isinstance(error, APIError):
        reason += f" HTTP {error.status_code}"
    elif cause is not None:
        reason += f" ({type(cause).__name__})"
    logger.info(
        "retrying %s (attempt %d failed: %s) in %.2f s",
        call.endpoint.name,
        attempt,
        reason,
        decision.wait,
        extra={
            "devsms_endpoint": call.endpoint.name,
            "devsms_attempt": attempt,
            "devsms_wait": decision.wait,
            "devsms_reason": reason,
        },
    )
