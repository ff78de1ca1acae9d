"""One wording for names that moved or were renamed (kept for one release)."""

from __future__ import annotations

import warnings

__all__ = ["warn_moved"]


def warn_moved(old: str, new: str) -> None:
    """Warn that ``old`` (a dotted name) is deprecated in favour of ``new``.

    ``stacklevel=3`` points at the caller of the module ``__getattr__`` that calls this:
    the user's import or attribute access.
    """
    warnings.warn(
        f"{old} is deprecated and goes in the next release: use {new}",
        DeprecationWarning,
        stacklevel=3,
    )
