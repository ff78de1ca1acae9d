"""``devsms sandbox serve``: hands its arguments to the sandbox's own serve command, so
both ways to serve it (this and ``python -m devsms_async.testing``) are one code path."""

from __future__ import annotations

from collections.abc import Sequence


def serve_forever(args: Sequence[str], *, verbose: int = 0) -> int:
    from ..testing._command import main

    # `devsms -v sandbox serve` means the request log too.
    return main([*(["-v"] * verbose), *args], prog="devsms sandbox serve")
