"""A griffe extension for the API reference: defaults shown as values, not names.

``timeout=DEFAULT_TIMEOUT`` tells a reader nothing; the reference shows
``timeout=Timeout(connect=5.0, read=30.0, write=10.0, pool=10.0)`` instead. A default
that names an UPPER_CASE constant of the package is imported at build time and shown
as its ``repr`` (a time zone as ``timezone(timedelta(hours=5), 'Asia/Tashkent')``).
Loaded by mkdocs.yml (``extensions:``).
"""

from __future__ import annotations

import datetime as _dt
import importlib
import re
from typing import Any

import griffe


def shown(value: object) -> str:
    if isinstance(value, _dt.timezone):
        offset = value.utcoffset(None)
        hours = offset.total_seconds() / 3600
        amount = f"hours={hours:g}" if hours.is_integer() else f"seconds={offset.seconds}"
        return f"timezone(timedelta({amount}), {value.tzname(None)!r})"
    if isinstance(value, frozenset):
        return "frozenset({" + ", ".join(map(repr, sorted(value, key=repr))) + "})"
    return repr(value)


def value_of(path: str) -> object:
    module_name, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


class ConstantDefaults(griffe.Extension):
    """Replace ``param=SOME_CONSTANT`` defaults by the constant's value."""

    def on_function(self, *, func: griffe.Function, **kwargs: Any) -> None:
        for parameter in func.parameters:
            default = parameter.default
            path = getattr(default, "canonical_path", None)
            if not isinstance(default, griffe.ExprName) or not isinstance(path, str):
                continue
            if path.startswith("devsms_async.") and re.fullmatch(r"[A-Z][A-Z0-9_]*", default.name):
                try:
                    parameter.default = shown(value_of(path))
                except (ImportError, AttributeError):  # not importable here: keep the name
                    continue
