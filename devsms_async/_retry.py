"""Moved: the retry rules are ``_classify`` (pure), the loops ``_engine``.

Kept so that code importing the old private names keeps working.
"""

from __future__ import annotations

from ._classify import (
    MAX_BODY_BYTES,
    MAX_ERROR_BODY_BYTES,
    RETRYABLE_STATUS,
    RetryPolicy,
    fingerprint,
)

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_ERROR_BODY_BYTES",
    "RETRYABLE_STATUS",
    "RetryPolicy",
    "fingerprint",
]
