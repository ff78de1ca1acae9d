"""How many SMS parts a text costs, per 3GPP TS 23.038 (GSM 03.38).

A text is sent as **GSM-7** when every character is in the GSM default alphabet or its
extension table, and as **UCS-2** otherwise:

========  ==================  ===========  ==========================================
encoding  counted in          one part     per part of a long (concatenated) message
========  ==================  ===========  ==========================================
GSM-7     septets             160          153 (an extension character costs 2 and is
                                           never split from its escape)
UCS-2     UTF-16 code units   70           67 (an emoji costs 2 and is never split)
========  ==================  ===========  ==========================================

One character outside the GSM alphabet switches the whole text to UCS-2. Uzbek Latin is
the usual victim: ``oʻ``/``gʻ`` typed with ``ʻ`` (U+02BB), ``‘``/``’`` (U+2018/U+2019),
``ʼ`` (U+02BC) or a backtick. ``normalize_uzbek`` turns those into ASCII ``'``.

These are estimates made on the client; the ``parts_count`` the server returns is what
is billed.
"""

# The look-alike apostrophes this module is about are exactly what RUF002 flags.
# ruff: noqa: RUF002

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import attrs

from ._redact import text_repr
from .errors import ValidationError

__all__ = [
    "Encoding",
    "SmsParts",
    "count_parts",
    "normalize_uzbek",
]

Encoding = Literal["GSM-7", "UCS-2"]
"""The two encodings of an SMS: ``"GSM-7"`` (160 per part) or ``"UCS-2"`` (70 per part)."""

GSM7_SINGLE = 160
GSM7_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67

# The alphabet is a table written here, used at run time, and not the `gsm0338` codec:
# the codec is an optional extra (core dependencies are fixed), its encoder is a slow
# per-character Python loop with quadratic bytes concatenation, and it maps U+001B to
# 0x1B, which on the air is the escape to the extension table, not a character (see
# below). tests/core/test_sms_parts.py checks this table against the codec, position by
# position, so a typo here cannot go unnoticed.
#
# The 128 characters of the default alphabet, in code order 0x00..0x7F.
_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Extension table: sent as ESC + code, so each costs two septets.
_GSM_EXTENSION = "\f^{}\\[~]|€"
_ESC = "\x1b"

# 0x1B is the escape code; a U+001B in the text would make the phone read the next
# septet as an extension character, so it is not a GSM-7 character here.
_GSM_CHARS = frozenset(_GSM_BASIC.replace(_ESC, "") + _GSM_EXTENSION)
_GSM_WIDE = frozenset(_GSM_EXTENSION)

_UZBEK_APOSTROPHES = str.maketrans(dict.fromkeys("\u02bb\u2018\u2019\u02bc`", "'"))


def _hidden_segments(segments: tuple[str, ...]) -> str:
    return f"<{len(segments)} segments>"


@attrs.frozen
class SmsParts:
    """The cost of one text in SMS parts (see ``count_parts``).

    ``units`` are septets for GSM-7 and UTF-16 code units for UCS-2; ``per_part`` is
    the capacity of one part as it applies to this text (160/153 or 70/67);
    ``remaining`` is what still fits in the last part. ``ucs2_characters`` are the
    distinct characters that forced UCS-2, in order of first appearance (empty for
    GSM-7); ``segments`` is the text cut into the parts, ``"".join(segments) == text``.
    The repr hides the text and those characters.
    """

    encoding: Encoding
    parts: int
    units: int
    per_part: int
    remaining: int
    ucs2_characters: tuple[str, ...] = attrs.field(repr=text_repr)
    segments: tuple[str, ...] = attrs.field(repr=_hidden_segments)


def count_parts(text: str) -> SmsParts:
    """Count the SMS parts ``text`` takes, with its encoding and the cut into parts.

    The empty text takes 0 parts (nothing would be sent); any other text at least 1.

    >>> count_parts("Salom!").parts
    1
    >>> count_parts("Oʻzbekiston").encoding
    'UCS-2'
    """
    if not isinstance(text, str):
        raise ValidationError("text", f"must be a string, not {type(text).__name__}")
    if not text:
        return SmsParts("GSM-7", 0, 0, GSM7_SINGLE, GSM7_SINGLE, (), ())
    # Set and str.count work in C; the per-character loop below runs only when a
    # long text has two-unit characters to place.
    if _GSM_CHARS.issuperset(text):
        wide = sum(text.count(ch) for ch in _GSM_EXTENSION)
        return _layout("GSM-7", text, len(text) + wide, wide, (), GSM7_SINGLE, GSM7_MULTI)
    forcing = set(text).difference(_GSM_CHARS)
    ucs2_characters = tuple(sorted(forcing, key=text.index))
    # Code points above U+FFFF take a surrogate pair; lone surrogates count one unit.
    units = len(text.encode("utf-16-le", "surrogatepass")) // 2
    wide = units - len(text)
    return _layout("UCS-2", text, units, wide, ucs2_characters, UCS2_SINGLE, UCS2_MULTI)


def _layout(
    encoding: Encoding,
    text: str,
    units: int,
    wide: int,
    ucs2_characters: tuple[str, ...],
    single: int,
    multi: int,
) -> SmsParts:
    if units <= single:
        return SmsParts(encoding, 1, units, single, single - units, ucs2_characters, (text,))
    if not wide:
        segments = tuple(text[i : i + multi] for i in range(0, len(text), multi))
        last = len(segments[-1])
    elif encoding == "GSM-7":
        segments, last = _split(text, multi, lambda ch: 2 if ch in _GSM_WIDE else 1)
    else:
        segments, last = _split(text, multi, lambda ch: 2 if ch > "\uffff" else 1)
    return SmsParts(encoding, len(segments), units, multi, multi - last, ucs2_characters, segments)


def _split(text: str, per_part: int, cost: Callable[[str], int]) -> tuple[tuple[str, ...], int]:
    # Greedy: a two-unit character that does not fit whole starts the next part, as
    # phones and SMSCs do; the unit left over is wasted.
    segments: list[str] = []
    start = used = 0
    for i, ch in enumerate(text):
        c = cost(ch)
        if used + c > per_part:
            segments.append(text[start:i])
            start, used = i, 0
        used += c
    segments.append(text[start:])
    return tuple(segments), used


def normalize_uzbek(text: str) -> str:
    """Replace the look-alikes of the Uzbek apostrophe with ASCII ``'``.

    ``ʻ`` (U+02BB), ``‘`` (U+2018), ``’`` (U+2019), ``ʼ`` (U+02BC) and the backtick
    each force UCS-2; ``'`` is GSM-7. Nothing else changes, so ``"Oʻzbekiston"``
    becomes ``"O'zbekiston"`` and Cyrillic stays Cyrillic (and UCS-2).
    """
    if not isinstance(text, str):
        raise ValidationError("text", f"must be a string, not {type(text).__name__}")
    return text.translate(_UZBEK_APOSTROPHES)
