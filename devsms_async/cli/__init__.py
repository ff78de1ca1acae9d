"""``devsms``: the command-line interface (extra: ``pip install 'devsms-async[cli]'``).

Commands: ``send``, ``otp``, ``status``, ``balance``, ``history``, ``estimate``,
``bulk``, ``demo`` and ``sandbox serve``; ``devsms --help`` lists them and
``docs/cli.md`` describes them.

Exit codes: 0 success; 1 the API refused, the network failed, a bulk row failed or a
waited-for SMS failed; 2 bad usage or input (nothing was sent); 3 a send's outcome is
unknown (check before sending again); 4 ``--wait`` timed out; 130 interrupted.

Nothing here is imported by ``import devsms_async``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``devsms`` with ``argv`` (default: the process's arguments); return the
    exit code. The console script ``devsms`` calls this."""
    try:
        import rich  # noqa: F401
        import typer  # noqa: F401
    except ImportError:
        print(
            "error: the devsms command needs the 'cli' extra: pip install 'devsms-async[cli]'",
            file=sys.stderr,
        )
        return 2
    from ._app import run_cli

    return run_cli(argv)
