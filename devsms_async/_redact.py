"""Keep secrets out of reprs, logs and error texts."""

from __future__ import annotations

import re
from collections.abc import Sized

SNIPPET_CHARS = 200
_LONG_DIGITS = re.compile(r"\d{7,15}")
_MIN_SECRET_PREFIX = 4


def mask_phone(phone: str) -> str:
    """``998901234567`` -> ``99890***4567``: enough to tell numbers apart in logs."""
    if len(phone) <= 8:
        return "***"
    return f"{phone[:5]}***{phone[-4:]}"


def phone_repr(phone: str) -> str:
    """For ``attrs.field(repr=...)``: the masked number, quoted like a ``repr``."""
    return repr(mask_phone(phone))


def text_repr(text: Sized) -> str:
    """For ``attrs.field(repr=...)``: only the length of a message text."""
    return f"<{len(text)} chars>"


def body_snippet(body: bytes, *, secrets: tuple[str, ...] = ()) -> str:
    """A short, printable start of a response body with phone-like numbers masked.

    Only the first bytes are decoded, so a huge body costs nothing here.
    """
    text = body[: SNIPPET_CHARS * 4].decode("utf-8", "replace")
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    for secret in secrets:
        # A secret cut in two by the window's edge leaves its start at the very end.
        for size in range(len(secret) - 1, _MIN_SECRET_PREFIX - 1, -1):
            if text.endswith(secret[:size]):
                text = text[:-size] + "***"
                break
    text = _LONG_DIGITS.sub(lambda m: mask_phone(m.group()), text)
    text = " ".join(text.split())
    if len(text) > SNIPPET_CHARS:
        text = text[:SNIPPET_CHARS] + "…"
    return text
