"""A faithful fake DevSMS service for your tests, demos and hand-testing.

One implementation of the whole API (the same paths, JSON shapes, errors, prices and
status life cycle as the spec), used two ways:

- in-process, as an ``httpx`` transport:

    ```python
    sandbox = Sandbox()
    async with sandbox.client() as sms:  # AsyncDevSMS over SandboxTransport
        sent = await sms.send_sms("998901234567", "Salom!")
    await sandbox.advance()  # sent -> delivered, callbacks POSTed
    ```

- over real HTTP on 127.0.0.1 (``serve_sandbox``, ``serve``, and one command:
  ``devsms sandbox serve`` = ``python -m devsms_async.testing``), with a web inbox of
  every SMS at ``/`` (``serve_sandbox(inbox=True)``; the command serves it by default).

The pytest fixtures ``devsms_sandbox``, ``devsms_client`` and ``devsms_clock`` come from
``devsms_async.testing.pytest_plugin``. See the testing guide (``docs/testing.md``).
"""

from __future__ import annotations

from ._callbacks import CALLBACK_TIMEOUT, CallbackAttempt, CallbackOutcome
from ._inprocess import SandboxTransport
from ._sandbox import (
    DEFAULT_BLOCKED_SERVICE_NAMES,
    DEFAULT_TOKEN,
    RecordedRequest,
    Sandbox,
)
from ._server import SandboxServer, serve, serve_sandbox
from ._state import FAIL_SUFFIX, QUEUE_SUFFIX, ManualClock, SandboxMessage

__all__ = [
    "CALLBACK_TIMEOUT",
    "DEFAULT_BLOCKED_SERVICE_NAMES",
    "DEFAULT_TOKEN",
    "FAIL_SUFFIX",
    "QUEUE_SUFFIX",
    "CallbackAttempt",
    "CallbackOutcome",
    "ManualClock",
    "RecordedRequest",
    "Sandbox",
    "SandboxMessage",
    "SandboxServer",
    "SandboxTransport",
    "serve",
    "serve_sandbox",
]
