"""Keyed digests that let a send be recognised later without keeping what it said.

An unknown-outcome error keeps these instead of the number and the text, so whoever
receives it (a task queue, an error tracker, a pickle) learns neither. Both are keyed
with the API token: a 4-digit OTP code has 10,000 values and a masked phone number
hides only three digits, so an unkeyed hash would be brute-forced at once.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["fingerprint", "phone_digest", "phone_text"]


def fingerprint(text: str, key: bytes = b"") -> str:
    """A short, stable id of a message text: an HMAC-SHA-256 prefix (16 hex digits)."""
    return hmac.new(key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:16]


def phone_text(phone: str) -> str:
    """What a number's digest is the fingerprint of: ``phone:`` and its digits only
    (``+998 90`` = ``99890``). The prefix keeps the two kinds apart (a text of digits
    is not a number), and anything holding the keyed ``fingerprint`` function — the
    reconcile search, the bulk engine — can digest a number without the key."""
    return "phone:" + "".join(ch for ch in phone if ch.isdigit())


def phone_digest(phone: str, key: bytes) -> str:
    """The same for a phone number: ``fingerprint(phone_text(phone), key)``."""
    return fingerprint(phone_text(phone), key)
