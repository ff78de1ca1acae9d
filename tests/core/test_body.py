"""The core's body reader: what a backend is told while it feeds an answer's bytes."""

from __future__ import annotations

from devsms_async._body import DONE, HEAD_BYTES, NEED_DATA, TOO_LARGE, BodyReader
from devsms_async._classify import MAX_BODY_BYTES, MAX_ERROR_BODY_BYTES


def test_an_announced_body_is_done_when_its_length_is_in() -> None:
    reader = BodyReader(200, {"content-length": "5"})
    assert reader.next_event() is NEED_DATA
    reader.receive_data(b"ab")
    assert reader.next_event() is NEED_DATA
    reader.receive_data(b"cde")
    assert reader.next_event() is DONE
    assert reader.answer() == (200, {"content-length": "5"}, b"abcde", True)


def test_a_body_without_a_length_is_done_when_the_stream_ends() -> None:
    reader = BodyReader(200, {})
    for chunk in (b"{", b"}"):
        reader.receive_data(chunk)
        assert reader.next_event() is NEED_DATA
    reader.receive_data(b"")
    assert reader.next_event() is DONE
    assert reader.answer().body == b"{}"


def test_an_announced_length_over_the_cap_is_refused_before_reading() -> None:
    announced = MAX_BODY_BYTES + 1
    reader = BodyReader(200, {"content-length": str(announced)})
    assert reader.next_event() is TOO_LARGE
    answer = reader.answer()
    assert answer.body == f"<{announced:,} bytes, not read>".encode()
    assert not answer.complete


def test_a_streamed_body_over_the_cap_keeps_only_its_head() -> None:
    reader = BodyReader(503, {})
    assert reader.limit == MAX_ERROR_BODY_BYTES  # an error answer gets the smaller cap
    chunk = b"x" * 1000
    while reader.next_event() is NEED_DATA:
        reader.receive_data(chunk)
    assert reader.next_event() is TOO_LARGE
    answer = reader.answer()
    assert answer.body == b"x" * HEAD_BYTES
    assert not answer.complete


def test_a_body_exactly_at_the_cap_is_complete() -> None:
    reader = BodyReader(200, {})
    reader.receive_data(b"y" * MAX_BODY_BYTES)
    reader.receive_data(b"")
    assert reader.next_event() is DONE
    assert reader.answer().complete
