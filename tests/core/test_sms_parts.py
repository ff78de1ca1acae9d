"""SMS part counting against 3GPP TS 23.038 and the gsm0338 codec.

Expected numbers are worked out by hand from the spec's limits (160/153 septets,
70/67 UTF-16 units), never taken from the code under test.
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devsms_async.errors import ValidationError
from devsms_async.sms_parts import (
    _GSM_BASIC,
    _GSM_CHARS,
    _GSM_EXTENSION,
    SmsParts,
    count_parts,
    normalize_uzbek,
)

gsm0338 = pytest.importorskip("gsm0338")

EXTENSION = "^{}\\[~]|€\f"
APOSTROPHES = "\u02bb\u2018\u2019\u02bc`"
EMOJI = "\U0001f600"  # two UTF-16 code units

# A 100-character SMS as Uzbek users type it, oʻ/gʻ with U+02BB.
UZ_100 = (
    "Hurmatli mijoz! Buyurtmangiz qabul qilindi. "
    "To\u02bblov 15-martgacha. Savollar bo\u02bblsa, qo\u02bbng\u02bbiroq qiling."
)


def _gsm_septets(segment: str) -> int:
    # Independent oracle: the codec writes an extension character as ESC + code.
    return len(segment.encode("gsm03.38"))


def _utf16_units(segment: str) -> int:
    return len(segment.encode("utf-16-le", "surrogatepass")) // 2


def _cost(encoding: str, segment: str) -> int:
    return _gsm_septets(segment) if encoding == "GSM-7" else _utf16_units(segment)


# --- boundaries ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "parts", "units", "per_part", "remaining"),
    [
        ("a" * 160, "GSM-7", 1, 160, 160, 0),
        ("a" * 161, "GSM-7", 2, 161, 153, 145),
        ("a" * 306, "GSM-7", 2, 306, 153, 0),
        ("a" * 307, "GSM-7", 3, 307, 153, 152),
        ("a" * 459, "GSM-7", 3, 459, 153, 0),
        ("a" * 460, "GSM-7", 4, 460, 153, 152),
        ("ж" * 70, "UCS-2", 1, 70, 70, 0),
        ("ж" * 71, "UCS-2", 2, 71, 67, 63),
        ("ж" * 134, "UCS-2", 2, 134, 67, 0),
        ("ж" * 135, "UCS-2", 3, 135, 67, 66),
        ("a" * 80 + "€" * 40, "GSM-7", 1, 160, 160, 0),
        ("€" * 80, "GSM-7", 1, 160, 160, 0),
        ("€" * 81, "GSM-7", 2, 162, 153, 143),  # 76 pairs fit in 153, 5 in the second
        (EMOJI * 35, "UCS-2", 1, 70, 70, 0),
        (EMOJI * 36, "UCS-2", 2, 72, 67, 61),  # 33 emoji fit in 67, 3 (6 units) in the second
        ("Салом", "UCS-2", 1, 5, 70, 65),
        ("Salom!", "GSM-7", 1, 6, 160, 154),
    ],
    ids=lambda v: f"{len(v)}ch" if isinstance(v, str) and len(v) > 12 else None,
)
def test_boundaries(
    text: str, encoding: str, parts: int, units: int, per_part: int, remaining: int
) -> None:
    got = count_parts(text)
    assert (got.encoding, got.parts, got.units, got.per_part, got.remaining) == (
        encoding,
        parts,
        units,
        per_part,
        remaining,
    )
    assert "".join(got.segments) == text
    assert len(got.segments) == parts


def test_empty_text_is_zero_parts() -> None:
    got = count_parts("")
    assert got == SmsParts("GSM-7", 0, 0, 160, 160, (), ())


def test_segments_of_plain_long_text() -> None:
    got = count_parts("a" * 153 + "b" * 153 + "c")
    assert got.segments == ("a" * 153, "b" * 153, "c")


def test_extension_character_at_part_boundary_moves_whole() -> None:
    # 152 septets + ESC would fill part 1, but '€' needs 2: it starts part 2.
    text = "a" * 152 + "€" + "b" * 7  # 161 septets: two parts
    got = count_parts(text)
    assert got.segments == ("a" * 152, "€" + "b" * 7)
    assert got.parts == 2
    assert got.units == 161
    assert got.remaining == 153 - 9


def test_extension_character_just_fitting_stays() -> None:
    text = "a" * 151 + "€" + "b" * 8  # 161 septets; '€' takes septets 152-153
    got = count_parts(text)
    assert got.segments == ("a" * 151 + "€", "b" * 8)


def test_emoji_at_part_boundary_is_not_split() -> None:
    text = "ж" * 66 + EMOJI + "ж" * 3  # 71 units: two parts
    got = count_parts(text)
    assert got.segments == ("ж" * 66, EMOJI + "ж" * 3)
    assert got.units == 71
    assert got.remaining == 67 - 5


@pytest.mark.parametrize("ch", list(EXTENSION))
def test_every_extension_character_costs_two(ch: str) -> None:
    got = count_parts("a" + ch)
    assert (got.encoding, got.units, got.remaining) == ("GSM-7", 3, 157)


def test_extension_table_is_complete() -> None:
    assert set(_GSM_EXTENSION) == set(EXTENSION)


def test_cyrillic_is_ucs2_and_reported() -> None:
    got = count_parts("Салом, дўстим")
    assert got.encoding == "UCS-2"
    assert got.ucs2_characters == ("С", "а", "л", "о", "м", "д", "ў", "с", "т", "и")


def test_ucs2_characters_in_order_of_first_appearance() -> None:
    got = count_parts("Bo\u2019lim: \u02bb x \u2019 \u02bb y " + EMOJI)
    assert got.ucs2_characters == ("\u2019", "\u02bb", EMOJI)
    assert count_parts("plain text").ucs2_characters == ()


# --- Uzbek apostrophes --------------------------------------------------------------


@pytest.mark.parametrize("ch", list(APOSTROPHES))
def test_each_apostrophe_forces_ucs2_and_normalizes(ch: str) -> None:
    word = f"O{ch}zbekiston"
    assert count_parts(word).encoding == "UCS-2"
    assert count_parts(word).ucs2_characters == (ch,)
    assert normalize_uzbek(word) == "O'zbekiston"
    assert count_parts(normalize_uzbek(word)).encoding == "GSM-7"


def test_realistic_uzbek_message_costs_two_parts_then_one() -> None:
    assert len(UZ_100) == 100
    before = count_parts(UZ_100)
    assert (before.encoding, before.parts) == ("UCS-2", 2)  # 100 > 70
    after = count_parts(normalize_uzbek(UZ_100))
    assert (after.encoding, after.parts, after.units) == ("GSM-7", 1, 100)


def test_normalize_uzbek_changes_nothing_else() -> None:
    text = 'Салом ´ ′ ʽ ‛ "q" «x» — Oʻ'
    assert normalize_uzbek(text) == 'Салом ´ ′ ʽ ‛ "q" «x» — O\''
    assert normalize_uzbek("") == ""


def test_non_string_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as exc:
        count_parts(b"bytes")  # type: ignore[arg-type]
    assert exc.value.field == "text"
    with pytest.raises(ValidationError):
        normalize_uzbek(None)  # type: ignore[arg-type]


def test_repr_hides_text() -> None:
    secret = "Parol: 4821, hech kimga bermang"
    assert "4821" not in repr(count_parts(secret))
    assert "С" not in repr(count_parts("Салом"))


# --- the alphabet against the gsm0338 codec ------------------------------------------


def _codec_charset() -> dict[str, int]:
    """Every character the codec can write, with its septet cost, found by decoding all
    one- and two-septet codes (the codec's encoder is built from the same map).
    """
    chars: dict[str, int] = {}
    for code in range(0x80):
        ch = bytes([code]).decode("gsm03.38")
        if ch:  # 0x1B alone decodes to nothing: it is the escape
            chars[ch] = 1
    for code in range(0x80):
        try:
            ch = bytes([0x1B, code]).decode("gsm03.38")
        except UnicodeDecodeError:
            continue
        chars[ch] = 2
    return chars


def test_builtin_alphabet_matches_codec_position_by_position() -> None:
    assert len(_GSM_BASIC) == 128
    for code, ch in enumerate(_GSM_BASIC):
        if code == 0x1B:
            continue
        assert bytes([code]).decode("gsm03.38") == ch, hex(code)
        assert ch.encode("gsm03.38") == bytes([code])
    for ch in _GSM_EXTENSION:
        encoded = ch.encode("gsm03.38")
        assert len(encoded) == 2
        assert encoded[0] == 0x1B


def test_builtin_alphabet_equals_codec_charset_exactly() -> None:
    codec = _codec_charset()
    assert len(codec) == 127 + 10
    assert set(codec) == _GSM_CHARS
    for ch, septets in codec.items():
        assert count_parts(ch).units == septets, repr(ch)
        assert count_parts(ch).encoding == "GSM-7"


def test_escape_is_the_one_deliberate_difference() -> None:
    # The codec writes U+001B as the raw escape 0x1B; on a phone that would swallow the
    # next character, so it is counted as a character that forces UCS-2.
    assert "\x1b".encode("gsm03.38") == b"\x1b"
    assert count_parts("\x1b").encoding == "UCS-2"


def test_no_other_bmp_character_is_gsm7() -> None:
    # Sweep the whole BMP (the codec knows no character above it): GSM-7 exactly when
    # the codec can write it, never for U+001B.
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        try:
            ch.encode("gsm03.38")
            codec_ok = cp != 0x1B
        except UnicodeEncodeError:
            codec_ok = False
        assert (ch in _GSM_CHARS) == codec_ok, hex(cp)


# --- properties ---------------------------------------------------------------------

# Weighted toward the characters that matter at boundaries: GSM basics, extension pairs,
# Uzbek apostrophes, Cyrillic and non-BMP characters.
_interesting = st.sampled_from(["a", " ", "€", "[", "\f", "\u02bb", "ж", EMOJI, "\U0001f1fa"])
_chars = st.one_of(_interesting, _interesting, st.characters(codec="utf-8"))
_texts = st.lists(_chars, max_size=500).map("".join)


@settings(max_examples=300, deadline=None)
@given(_texts)
def test_segments_rebuild_the_text_and_fit(text: str) -> None:
    got = count_parts(text)
    assert "".join(got.segments) == text
    assert len(got.segments) == got.parts
    assert all(got.segments), "no empty part"
    costs = [_cost(got.encoding, s) for s in got.segments]
    assert sum(costs) == got.units
    assert all(c <= got.per_part for c in costs)
    if got.parts:
        assert got.remaining == got.per_part - costs[-1]
    for seg in got.segments:
        units = seg.encode("utf-16-le", "surrogatepass")
        last = int.from_bytes(units[-2:], "little")
        assert not 0xD800 <= last <= 0xDBFF, "a part ends in half a surrogate pair"
    # Greedy: a part is cut only when the next character would not fit.
    for seg, nxt in itertools.pairwise(got.segments):
        assert _cost(got.encoding, seg) + _cost(got.encoding, nxt[0]) > got.per_part


@settings(max_examples=300, deadline=None)
@given(_texts)
def test_encoding_agrees_with_codec(text: str) -> None:
    try:
        text.encode("gsm03.38")
        gsm = "\x1b" not in text
    except UnicodeEncodeError:
        gsm = False
    got = count_parts(text)
    assert got.encoding == ("GSM-7" if gsm else "UCS-2")
    assert (got.ucs2_characters == ()) == gsm
    assert set(got.ucs2_characters) == {ch for ch in text if ch not in _GSM_CHARS}


@settings(max_examples=300, deadline=None)
@given(_texts, _chars)
def test_appending_never_lowers_parts(text: str, ch: str) -> None:
    assert count_parts(text + ch).parts >= count_parts(text).parts


@settings(max_examples=200, deadline=None)
@given(_texts)
def test_normalize_uzbek_only_touches_apostrophes(text: str) -> None:
    out = normalize_uzbek(text)
    assert len(out) == len(text)
    for a, b in zip(text, out, strict=True):
        assert b == ("'" if a in APOSTROPHES else a)
    assert count_parts(out).parts <= count_parts(text).parts


def test_import_is_light() -> None:
    code = (
        "import sys, devsms_async.sms_parts as m; "
        "m.count_parts('x€'); "
        "assert 'gsm0338' not in sys.modules, 'gsm0338 imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
