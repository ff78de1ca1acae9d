"""An answer's body, read under a size cap (part of the sans-IO core).

In the shape of h11's ``receive_data`` / ``next_event``: a backend feeds the bytes it
reads and asks what to do next (read more, stop, or done), then takes the result as a
``WireResponse``. The cap is the one of ``_classify`` for the answer's status; a body
over it keeps only its head, so memory stays within one read over the limit.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from ._classify import MAX_BODY_BYTES, MAX_ERROR_BODY_BYTES
from ._redact import SNIPPET_CHARS
from ._wire import WireResponse

__all__ = ["HEAD_BYTES", "BodyEvent", "BodyReader", "body_limit"]

HEAD_BYTES = 4 * SNIPPET_CHARS
"""What is kept of an answer over the limit: all that the error's snippet shows."""


class BodyEvent(enum.Enum):
    """What ``BodyReader.next_event`` says."""

    NEED_DATA = "need data"
    """Read more (or feed ``b""`` if the stream has ended)."""
    DONE = "done"
    """The announced length is in, or the stream has ended."""
    TOO_LARGE = "too large"
    """Stop reading and close the connection: the body is (or is announced) over the cap."""


NEED_DATA, DONE, TOO_LARGE = BodyEvent.NEED_DATA, BodyEvent.DONE, BodyEvent.TOO_LARGE


def body_limit(status: int) -> int:
    """How many bytes of an answer with ``status`` are read at most."""
    return MAX_BODY_BYTES if 200 <= status < 300 else MAX_ERROR_BODY_BYTES


class BodyReader:
    """One answer's body as it arrives; ``headers`` give its ``Content-Length``, if any.

    A ``Content-Length`` over the cap is ``TOO_LARGE`` before a byte is read.
    """

    __slots__ = ("_chunks", "_ended", "_size", "expected", "headers", "limit", "status")

    def __init__(self, status: int, headers: Mapping[str, str]) -> None:
        self.status = status
        self.headers = headers
        self.limit = body_limit(status)
        announced = headers.get("content-length") or ""
        self.expected = int(announced) if announced.isdigit() else None
        """The announced length, or ``None`` (chunked, or until the connection closes)."""
        self._chunks: list[bytes] = []
        self._size = 0
        self._ended = False

    def receive_data(self, data: bytes) -> None:
        """Bytes of the body as they arrive; ``b""`` when the stream has ended."""
        if data:
            self._chunks.append(data)
            self._size += len(data)
        else:
            self._ended = True

    def next_event(self) -> BodyEvent:
        if self._size > self.limit or (self.expected or 0) > self.limit:
            return TOO_LARGE
        if self._ended or self._size == self.expected:
            return DONE
        return NEED_DATA

    def answer(self) -> WireResponse:
        """The answer as read: the whole body, or, over the cap, its first ``HEAD_BYTES``
        (a note of the announced size when none was read) with ``complete=False``."""
        if self.next_event() is not TOO_LARGE:
            return WireResponse(self.status, self.headers, b"".join(self._chunks), True)
        if not self._chunks:
            return WireResponse(self.status, self.headers, self._not_read(), False)
        kept = bytearray()
        for chunk in self._chunks:
            kept += chunk[: HEAD_BYTES - len(kept)]
            if len(kept) >= HEAD_BYTES:
                break
        return WireResponse(self.status, self.headers, bytes(kept), False)

    def _not_read(self) -> bytes:
        return f"<{self.expected:,} bytes, not read>".encode()
