"""Keep secrets out of reprs, logs and error texts."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable, Sized

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


def secret_forms(secret: str) -> set[str]:
    """The ways a server may write ``secret`` back: as is, JSON-escaped (Python's and
    PHP's ``json_encode``, which writes ``/`` as ``\\/`` and non-ASCII as ``\\uXXXX``)
    and URL-encoded (``%2F``, ``+`` for a space)."""
    forms = {secret}
    for ascii_only in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        forms |= {escaped, escaped.replace("/", "\\/")}
    for safe in ("", "/"):
        forms |= {urllib.parse.quote(secret, safe=safe), urllib.parse.quote_plus(secret, safe=safe)}
    return {form for form in forms if form}


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every form of every secret (see ``secret_forms``) replaced by
    ``***``, and phone-like digit runs masked.

    Hex escapes are matched in either case (``%2f``, ``\\u00F6``). A form cut off by
    the end of ``text`` (a snippet window) leaves its start there; that is masked too.
    """
    forms = sorted({f for s in secrets if s for f in secret_forms(s)}, key=len, reverse=True)
    if forms:
        pattern = re.compile("|".join(map(re.escape, forms)), re.IGNORECASE)
        text = pattern.sub("***", text)
        for form in forms:
            for size in range(min(len(form) - 1, len(text)), _MIN_SECRET_PREFIX - 1, -1):
                if text[-size:].lower() == form[:size].lower():
                    text = text[:-size] + "***"
                    break
    return _LONG_DIGITS.sub(lambda m: mask_phone(m.group()), text)


def body_snippet(body: bytes, *, secrets: Iterable[str] = ()) -> str:
    """A short, printable start of a response body with every secret redacted.

    Only the first bytes are decoded, so a huge body costs nothing here.
    """
    text = redact(body[: SNIPPET_CHARS * 4].decode("utf-8", "replace"), secrets)
    text = " ".join(text.split())
    if len(text) > SNIPPET_CHARS:
        text = text[:SNIPPET_CHARS] + "…"
    return text
