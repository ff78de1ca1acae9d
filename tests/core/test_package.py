"""The public surface: sorted __all__, lazy heavy modules, py.typed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import devsms_async


def test_all_is_sorted_and_unique() -> None:
    names = devsms_async.__all__
    assert list(names) == sorted(names)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", devsms_async.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(devsms_async, name) is not None


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        devsms_async.no_such_thing  # noqa: B018


def test_dir_lists_lazy_names() -> None:
    assert {"count_parts", "AsyncDevSMS"} <= set(dir(devsms_async))
    assert "estimate_cost" not in dir(devsms_async)  # deprecated here: see test_front_door


def test_import_is_light() -> None:
    """Importing the package loads no pricing, parts, sandbox, CLI or integrations.

    (rich is not checked: httpx itself imports it for its CLI when it is installed.)
    """
    code = (
        "import sys, devsms_async; "
        "heavy = [m for m in sys.modules if m.startswith(("
        "'devsms_async.pricing', 'devsms_async.sms_parts', 'devsms_async.testing', "
        "'devsms_async.cli', 'devsms_async.contrib', 'typer', 'fastapi', "
        "'aiohttp', 'gsm0338', 'stamina', 'tenacity', 'cattrs'))]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_py_typed_is_shipped() -> None:
    assert (Path(devsms_async.__file__).parent / "py.typed").is_file()


def test_version_is_a_string() -> None:
    assert devsms_async.__version__.count(".") >= 2


def test_docs_error_tree_is_the_one_in_errors_py() -> None:
    import re

    from devsms_async import errors

    assert errors.__doc__ is not None
    doc_tree = errors.__doc__.split("```text\n", 1)[1].split("```", 1)[0].strip()
    page = (Path(__file__).parents[2] / "docs" / "errors.md").read_text(encoding="utf-8")
    page_tree = re.search(r"```text\n(DevSMSError\n.*?)```", page, re.DOTALL)
    assert page_tree is not None
    assert [line.strip() for line in doc_tree.splitlines()] == [
        line.strip() for line in page_tree.group(1).splitlines()
    ]
    named = {re.sub(r"^[│├└─ ]+", "", line).split()[0] for line in doc_tree.splitlines()}
    assert named == set(errors.__all__)
