"""Requests and answers as plain data, and request building (part of the sans-IO core).

Nothing here performs I/O or imports an HTTP library: a backend turns a
``WireRequest`` into bytes on a socket and what came back into a
``WireResponse`` (or a ``TransportFailure``), in the style of h11.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

import attrs

from ._endpoints import Endpoint
from ._version import __version__
from .errors import APIConnectionError, ValidationError

__all__ = [
    "JSON_HEADERS",
    "PhaseTimeouts",
    "Timeouts",
    "TransportFailure",
    "WireRequest",
    "WireResponse",
    "build_request",
    "default_headers",
    "encode_json",
    "failure",
]

JSON_HEADERS: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)


class WireRequest(NamedTuple):
    """One request: what a backend puts on the wire besides the client's own headers."""

    method: str
    url: str
    """Absolute, with the query string."""
    headers: tuple[tuple[str, str], ...]
    """Per-request headers (``Content-Type``); ``default_headers`` come on top."""
    body: bytes | None


class WireResponse(NamedTuple):
    """One answer, as far as it was read."""

    status: int
    headers: Mapping[str, str]
    """Case-insensitive lookups by lower-case name (``headers.get("retry-after")``)."""
    body: bytes
    complete: bool
    """``False`` when the body was over the size limit and cut (or not read at all)."""


class TransportFailure(NamedTuple):
    """No answer: the backend's exception, mapped to the SDK's error."""

    error: APIConnectionError
    """Chained (``__cause__``) to the HTTP library's exception."""
    never_sent: bool
    """``True`` only when no byte of the request can have reached the server
    (connection refused, connect timeout, pool timeout)."""


def failure(
    exc: BaseException, error: type[APIConnectionError], what: str, *, never_sent: bool
) -> TransportFailure:
    """``exc`` as a ``TransportFailure``: ``error("what (ReadError: text)")`` chained to it."""
    text = str(exc)
    kind = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    mapped = error(f"{what} ({kind})")
    mapped.__cause__ = exc
    return TransportFailure(mapped, never_sent)


class PhaseTimeouts(Protocol):
    """Anything with the four phase timeouts (an ``httpx.Timeout``, a ``Timeouts``)."""

    @property
    def connect(self) -> float | None: ...
    @property
    def read(self) -> float | None: ...
    @property
    def write(self) -> float | None: ...
    @property
    def pool(self) -> float | None: ...


@attrs.frozen
class Timeouts:
    """One request's time limits in seconds, per phase; ``None``: no limit for it.

    Each backend translates them to its own library's timeout.
    """

    connect: float | None
    read: float | None
    write: float | None
    """aiohttp has no write timeout: its backend ignores this one."""
    pool: float | None
    """The wait for a connection from the pool."""

    @classmethod
    def of(cls, timeout: PhaseTimeouts) -> Timeouts:
        return cls(timeout.connect, timeout.read, timeout.write, timeout.pool)


def default_headers(token: str) -> dict[str, str]:
    """The headers of every request: the token, JSON, and who we are."""
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "User-Agent": f"devsms-async/{__version__}",
    }


def encode_json(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as httpx's ``json=`` writes it; text that UTF-8 cannot
    carry (a lone surrogate) is a ``ValidationError`` naming the field, not its value."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(_unencodable(payload), "contains text UTF-8 cannot carry") from None


def _unencodable(payload: Mapping[str, Any]) -> str:
    """The name of the first field whose text UTF-8 cannot carry."""
    bad = (name for name, value in payload.items() if not _utf8_ok(str(value)))
    return next(bad, "request")


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def build_request(endpoint: Endpoint[Any], params: Mapping[str, Any], base_url: str) -> WireRequest:
    """The request for ``endpoint`` with ``params`` (Python names, already validated)."""
    renames = endpoint.renames
    wire = {renames.get(k, k): v for k, v in params.items()} if renames else params
    url = f"{base_url}/{endpoint.path}"
    if endpoint.params_in == "json":
        return WireRequest(endpoint.method, url, JSON_HEADERS, encode_json(wire))
    if wire:
        try:
            url += "?" + urllib.parse.urlencode(wire)
        except UnicodeEncodeError:
            raise ValidationError(_unencodable(wire), "contains text UTF-8 cannot carry") from None
    return WireRequest(endpoint.method, url, (), None)
