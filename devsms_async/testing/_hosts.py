"""Which ``Host`` headers the sandbox's server answers: its guard against DNS rebinding.

A web page elsewhere can point its own name at 127.0.0.1 and then read the sandbox as
"same origin"; the browser still sends that name in ``Host``. So the server (the fake
API and the inbox alike) answers only a loopback name (``127.0.0.1``, ``localhost``,
``[::1]``, any 127.x address) or the address it was bound to, on the port it is bound
to, plus the hosts the user adds (``--allow-host``, ``serve_sandbox(allowed_hosts=)``).
An IP address in ``Host`` cannot be rebound, which is why the bound address is safe to
answer too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from .._transport import is_loopback
from ..errors import ValidationError

__all__ = ["ANY_HOST", "AllowedHosts", "parse_allowed_host"]

ANY_HOST = "*"
"""``--allow-host '*'``: answer every ``Host`` (turns the guard off)."""
HTTP_DEFAULT_PORT = 80
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - names, not a bind
_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]{0,251}[a-z0-9_.])?")
_SHOWN = re.compile(r"[A-Za-z0-9_.:\[\]-]{1,260}")


def _split(value: str) -> tuple[str, int | None] | None:
    """``(name, port)`` of a ``Host`` value (name lower-case, without brackets or a
    trailing dot; port ``None`` when absent); ``None`` when it is not one."""
    value = value.strip().lower()
    if value.startswith("["):
        inside, bracket, rest = value[1:].partition("]")
        if not bracket:
            return None
        try:
            name = str(ipaddress.IPv6Address(inside))
        except ValueError:
            return None
        port_text = rest[1:] if rest.startswith(":") else None
        if rest and port_text is None:
            return None
    else:
        name, colon, port_text_ = value.partition(":")
        port_text = port_text_ if colon else None
        name = name.removesuffix(".")
        if not _NAME.fullmatch(name):
            return None
    if port_text is None:
        return name, None
    if not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5):
        return None
    port = int(port_text)
    return (name, port) if port <= 65535 else None


def parse_allowed_host(value: object, field: str = "allowed_hosts") -> tuple[str, int | None]:
    """One ``--allow-host`` value: ``NAME``, ``NAME:PORT``, ``[IPV6]:PORT`` or ``*``;
    raises ``ValidationError`` otherwise."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a host name (a string), not {type(value).__name__}")
    if value.strip() == ANY_HOST:
        return ANY_HOST, None
    parsed = _split(value)
    if parsed is None or not value.strip():
        raise ValidationError(
            field,
            "must be a host name or address with an optional port (sandbox, "
            "sandbox:8000, 192.168.1.5, [::1]:8000) or '*' for any",
        )
    return parsed


class AllowedHosts:
    """The ``Host`` check: ``allows(value)``, and ``refusal(value)`` for the answer.

    ``port`` is the bound port (``None``: any port, for an ``Inbox`` used in-process);
    ``bound`` the address the server listens on; ``extra`` what the user added (a name
    without a port means that name on the bound port).
    """

    def __init__(
        self, extra: Iterable[str] = (), *, port: int | None = None, bound: str | None = None
    ) -> None:
        if isinstance(extra, str):
            extra = [extra]  # one name, not its letters
        self.port = port
        self._any = False
        self._extra: list[tuple[str, int | None]] = []
        for value in extra:
            name, extra_port = parse_allowed_host(value)
            if name == ANY_HOST:
                self._any = True
            else:
                self._extra.append((name, extra_port if extra_port is not None else port))
        self._bound = None
        if bound is not None and bound.strip() not in _WILDCARD_BINDS:
            parsed = _split(f"[{bound}]" if ":" in bound else bound)
            if parsed is not None and not is_loopback(parsed[0]):
                self._bound = parsed[0]

    def allows(self, value: str | None) -> bool:
        """Whether a request with this ``Host`` header (``None``: none) is answered."""
        if self._any:
            return True
        if value is None:
            return False
        parsed = _split(value)
        if parsed is None:
            return False
        name, port = parsed
        port = HTTP_DEFAULT_PORT if port is None else port
        if is_loopback(name) or name == self._bound:
            return self.port is None or port == self.port
        return any(
            name == allowed and (allowed_port is None or port == allowed_port)
            for allowed, allowed_port in self._extra
        )

    def names(self) -> list[str]:
        """What is answered, for the refusal (``127.0.0.1:8000``, ...)."""
        if self._any:
            return [ANY_HOST]
        suffix = "" if self.port is None else f":{self.port}"
        shown = [f"127.0.0.1{suffix}", f"localhost{suffix}", f"[::1]{suffix}"]
        if self._bound is not None:
            shown.append(_with_port(self._bound, self.port))
        shown.extend(_with_port(name, port) for name, port in self._extra)
        return shown

    def refusal(self, value: str | None) -> str:
        """The error text for a refused ``Host`` (it never repeats odd bytes)."""
        if value is None:
            got = "a request without a Host header"
        elif _SHOWN.fullmatch(value.strip()):
            got = f"Host {value.strip()!r}"
        else:
            got = "an unexpected Host header"
        return (
            f"the sandbox refused {got}: it answers only requests addressed to "
            f"{', '.join(self.names())} (a guard against DNS rebinding); to reach it "
            "under another name, start it with --allow-host NAME[:PORT] "
            "(serve_sandbox(allowed_hosts=[...]))"
        )


def _with_port(name: str, port: int | None) -> str:
    shown = f"[{name}]" if ":" in name else name
    return shown if port is None else f"{shown}:{port}"
