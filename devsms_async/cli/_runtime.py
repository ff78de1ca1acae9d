"""What every command shares: global options, the client, logging, errors -> exit codes."""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import attrs

from ..errors import (
    APIConnectionError,
    AuthenticationError,
    DevSMSError,
    NotFoundError,
    PermissionDeniedError,
    SendOutcomeUnknownError,
    UsageError,
    ValidationError,
)

if TYPE_CHECKING:
    from .._client import AsyncDevSMS
    from ..testing import Sandbox

T = TypeVar("T")

EXIT_OK = 0
EXIT_ERROR = 1
"""The API refused, the network failed, an answer was unusable; a bulk row failed; a
waited-for SMS failed."""
EXIT_USAGE = 2
"""Bad options or arguments, invalid input data, no token."""
EXIT_UNKNOWN = 3
"""A send may or may not have happened: check it before sending again."""
EXIT_WAIT_TIMEOUT = 4
"""``--wait`` gave up before the SMS reached a final status."""
EXIT_INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT), as shells report it."""


class CLIError(Exception):
    """An error the CLI reports as one line on stderr, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


@attrs.define
class Globals:
    """The options given before the command (``devsms [GLOBALS] COMMAND ...``)."""

    token: str | None = attrs.field(default=None, repr=False)
    base_url: str | None = None
    allow_insecure_http: bool = False
    sandbox: bool = False
    timeout: float | None = None
    retries: int = 2
    verbose: int = 0
    from_env: frozenset[str] = frozenset()
    """The options that came from their environment variable (``base_url``, ``token``),
    so that an error about one names the variable, not the flag."""
    # The in-process sandbox of this run (``--sandbox``), made on first use.
    _sandbox: Sandbox | None = attrs.field(default=None, init=False, repr=False)

    def get_sandbox(self) -> Sandbox:
        """The in-process sandbox of this run; callers check ``self.sandbox`` first."""
        if self._sandbox is None:
            from ..testing import Sandbox

            self._sandbox = Sandbox()
        return self._sandbox

    def client(self, **options: Any) -> AsyncDevSMS:
        """A new, not yet entered ``AsyncDevSMS`` for these options."""
        from .._client import AsyncDevSMS

        if self.timeout is not None:
            options.setdefault("timeout", self.timeout)
        options.setdefault("max_retries", self.retries)
        if self.allow_insecure_http:
            options["allow_insecure_http"] = True
        if self.sandbox:
            return self.get_sandbox().client(**options)
        if self.base_url is not None:
            options["base_url"] = self.base_url
        return AsyncDevSMS(self.token, **options)


ENV_VARS = {"base_url": "DEVSMS_BASE_URL", "token": "DEVSMS_TOKEN"}


def flag_of(field: str, opts: Globals | None = None) -> str:
    """How the user gave ``field``: ``--base-url``, or ``DEVSMS_BASE_URL`` when the
    value came from the environment."""
    if opts is not None and field in opts.from_env:
        return ENV_VARS[field]
    return FLAGS.get(field, field)


def check_globals(opts: Globals) -> None:
    if opts.sandbox and opts.base_url is not None:
        raise CLIError("--sandbox and --base-url exclude each other")
    token = opts.token
    if token is not None and token.strip().lower().startswith("bearer "):
        # Copied from the API docs' header example: the CLI sends "Bearer " itself.
        raise CLIError(
            f"{flag_of('token', opts)}: drop the 'Bearer ' in front: give the token alone "
            "(the CLI sends the 'Authorization: Bearer ...' header itself)"
        )
    # Recent typer refuses NaN for `min=0.001`; click's FloatRange (older typer) lets
    # it through.
    if opts.timeout is not None and not opts.timeout > 0:
        raise CLIError(f"--timeout must be > 0 seconds, got {opts.timeout}")


def run(opts: Globals, fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``fn`` on a fresh asyncio loop; Ctrl-C becomes a ``CLIError`` (exit 130)."""
    import anyio

    try:
        return anyio.run(fn, backend="asyncio")
    except KeyboardInterrupt:
        raise CLIError("interrupted", EXIT_INTERRUPTED) from None


# -- logging -----------------------------------------------------------------------------


def configure_logging(verbose: int) -> None:
    """Keep stdout/stderr clean: by default nothing but our own output.

    ``-v`` shows one DEBUG line per request (phone numbers masked) and the SDK's INFO
    line for every retry.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    if verbose:
        root.setLevel(logging.WARNING)
        logging.getLogger("devsms_async").setLevel(logging.DEBUG)
    else:
        root.setLevel(logging.ERROR)


# -- errors --------------------------------------------------------------------------------


def one_line(text: str) -> str:
    return " ".join(str(text).split())


# The SDK's errors name its Python arguments; on the command line they are these flags.
FLAGS = {
    "base_url": "--base-url",
    "token": "--token",
    "callback_url": "--callback-url",
    "sender": "--sender",
    "timeout": "--timeout",
    "max_retries": "--retries",
}
PYTHON_SPELLINGS = {"allow_insecure_http=True": "--allow-insecure-http"}


def as_flags(exc: ValidationError, opts: Globals | None = None) -> str:
    """``base_url: ... pass allow_insecure_http=True`` as the CLI says it:
    ``--base-url: ... pass --allow-insecure-http`` (``DEVSMS_BASE_URL: ...`` when the
    value came from there)."""
    reason = exc.reason
    for python, flag in PYTHON_SPELLINGS.items():
        reason = reason.replace(python, flag)
    return f"{flag_of(exc.field, opts)}: {reason}"


DEFAULT_BASE_URL = "https://devsms.uz/api"


def _host(opts: Globals | None) -> str:
    from urllib.parse import urlsplit

    url = (opts.base_url if opts is not None else None) or DEFAULT_BASE_URL
    try:
        parts = urlsplit(url)
        return parts.netloc.rpartition("@")[2] or url
    except ValueError:
        return url


def _api_path_hint(opts: Globals | None) -> str:
    """A 404 from a base URL that does not end in ``/api``: the usual mistake."""
    from urllib.parse import urlsplit

    if opts is None or opts.base_url is None or opts.sandbox:
        return ""
    try:
        path = urlsplit(opts.base_url).path.rstrip("/")
    except ValueError:
        return ""
    if path.endswith("/api"):
        return ""
    where = flag_of("base_url", opts)
    return (
        f"; {where} is {opts.base_url!r}: the API root usually ends in /api (e.g. "
        f"{opts.base_url.rstrip('/')}/api)"
    )


def describe_error(exc: BaseException, opts: Globals | None = None) -> tuple[str, int]:
    """The one-line message and the exit code for an error a command raised."""
    if isinstance(exc, CLIError):
        return one_line(str(exc)), exc.code
    from .._journal import JournalError
    from .._polling import WaitTimeoutError

    if isinstance(exc, JournalError):
        # Raised mid-run (opening errors are reported before anything is sent): sends
        # in flight may have gone out without their record.
        return (
            one_line(f"{exc}; sends in flight may have gone out: re-run with --reconcile"),
            EXIT_UNKNOWN,
        )
    if isinstance(exc, WaitTimeoutError):
        return one_line(str(exc)), EXIT_WAIT_TIMEOUT
    if isinstance(exc, ValidationError):
        if exc.field == "token" and "no API token" in exc.reason:
            return "no API token: pass --token or set DEVSMS_TOKEN (or try --sandbox)", EXIT_USAGE
        return one_line(as_flags(exc, opts)), EXIT_USAGE
    if isinstance(exc, SendOutcomeUnknownError):
        from .._unknown import advice

        # The library's advice names a Python call (`await sms.reconcile(error)`); at
        # the terminal the way to look is a command.
        text = str(exc).replace(
            advice(asynchronous=True), "it was NOT retried, to avoid a duplicate SMS"
        )
        return (
            one_line(
                f"{text} (started {exc.started_at:%Y-%m-%d %H:%M:%S} UTC; look for it with "
                "`devsms history` before sending again)"
            ),
            EXIT_UNKNOWN,
        )
    if isinstance(exc, AuthenticationError):
        return one_line(f"{exc} (check {flag_of('token', opts)})"), EXIT_ERROR
    if isinstance(exc, PermissionDeniedError):
        return one_line(f"{exc} (this token may not do that)"), EXIT_ERROR
    if isinstance(exc, NotFoundError):
        return one_line(f"{exc}{_api_path_hint(opts)}"), EXIT_ERROR
    if isinstance(exc, APIConnectionError):
        from .._transport import exception_never_sent

        host = _host(opts)
        cause = exc.__cause__
        if cause is not None and exception_never_sent(cause):
            # A refused connection or a connect timeout: no byte of a request left.
            return (
                one_line(
                    f"could not connect to {host}: {exc}; nothing was sent (is the service "
                    f"reachable? see {flag_of('base_url', opts)})"
                ),
                EXIT_ERROR,
            )
        return one_line(f"{exc} talking to {host} (is the service reachable?)"), EXIT_ERROR
    if isinstance(exc, UsageError):
        return one_line(str(exc)), EXIT_USAGE
    if isinstance(exc, DevSMSError):
        return one_line(str(exc)), EXIT_ERROR
    if isinstance(exc, OSError):
        name = f": {exc.filename}" if exc.filename else ""
        return one_line(f"{exc.strerror or exc}{name}"), EXIT_USAGE
    return one_line(f"unexpected {type(exc).__name__}: {exc} (run with -v for a traceback)"), 1


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    raise CLIError(message, code)
