"""``python -m devsms_async.testing``: serve a sandbox over HTTP (no CLI extra needed).

The same command as ``devsms sandbox serve`` (see ``_command``)."""

from __future__ import annotations

import sys

from ._command import main

if __name__ == "__main__":
    sys.exit(main())
