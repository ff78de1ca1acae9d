"""``python -m devsms_async.cli``: the same as the ``devsms`` command."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
