"""docs/reference.md documents every public name of every public module.

A public module is one whose dotted path has no part starting with ``_``; its public
names are its ``__all__``. Each must reach the reference through a ``::: path``
directive of mkdocstrings: its own (``::: devsms_async.AsyncDevSMS``), its module's
(``::: devsms_async.models``), or, for a re-export, the module that defines it. A
directive renders only what has a docstring, so that is checked too.

Run as a script, ``python tests/docs/test_reference.py SITE_DIR`` checks the built site
(``nox -s docs`` does): every ``module.name`` is an anchor of its ``objects.inv``, and
the reference page shows no default as a constant's name and no reST markup.
"""

from __future__ import annotations

import ast
import functools
import html
import importlib
import itertools
import pkgutil
import re
import sys
import zlib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "devsms_async"
REFERENCE = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
DIRECTIVES = set(re.findall(r"^::: ([\w.]+)\s*$", REFERENCE, re.MULTILINE))
NAMESPACES = {"devsms_async.contrib": "holds the integrations, each its own module"}
"""Public packages with nothing of their own to document."""


def public_modules() -> list[str]:
    names = ["devsms_async"]
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="devsms_async."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


MODULES = public_modules()


def module(name: str) -> ModuleType:
    return importlib.import_module(name)


@functools.cache
def documented_names() -> frozenset[str]:
    """Names bound at the top level of a module of the package with a docstring:
    ``def``/``class NAME`` with one, or ``NAME = ...`` (``NAME: T = ...``) followed by a
    string."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        for node, after in itertools.pairwise([*body, ast.Pass()]):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if ast.get_docstring(node):
                    names.add(node.name)
                continue
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AnnAssign)
                else []
            )
            if (
                isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                names.update(t.id for t in targets if isinstance(t, ast.Name))
    return frozenset(names)


def documented_in_source(name: str) -> bool:
    return name in documented_names()


def covered_by(module_name: str, name: str) -> str | None:
    """The directive that renders ``module_name.name``, if any."""
    if f"{module_name}.{name}" in DIRECTIVES:
        return f"{module_name}.{name}"
    if module_name in DIRECTIVES:
        return module_name
    obj = getattr(module(module_name), name)
    home = getattr(obj, "__module__", None)
    if isinstance(home, str) and home != module_name:
        # A re-export: documented where it comes from, if that module is in the reference
        # and lists it.
        public = next(
            (m for m in MODULES if m in DIRECTIVES and name in getattr(module(m), "__all__", ())),
            None,
        )
        if public is not None and getattr(module(public), name) is obj:
            return public
    return None


def test_the_public_modules_are_found() -> None:
    assert {
        "devsms_async",
        "devsms_async.errors",
        "devsms_async.testing.pytest_plugin",
        "devsms_async.contrib.fastapi",
    } <= set(MODULES)
    assert not [m for m in MODULES if "._" in m]


@pytest.mark.parametrize("name", MODULES)
def test_every_public_module_has_a_section(name: str) -> None:
    if name in NAMESPACES:
        assert not getattr(module(name), "__all__", ()), f"{name} has names now: document them"
        return
    assert name in DIRECTIVES or name == "devsms_async", (
        f"new public module {name}: add a '::: {name}' section to docs/reference.md"
    )
    assert isinstance(getattr(module(name), "__all__", None), list | tuple), (
        f"{name} has no __all__"
    )


CASES = [(m, n) for m in MODULES if m not in NAMESPACES for n in getattr(module(m), "__all__", ())]


@pytest.mark.parametrize(("module_name", "name"), CASES, ids=[f"{m}.{n}" for m, n in CASES])
def test_every_public_name_has_an_entry(module_name: str, name: str) -> None:
    where = covered_by(module_name, name)
    assert where is not None, f"{module_name}.{name} is not in docs/reference.md"
    assert documented_in_source(name), (
        f"{module_name}.{name} has no docstring, so '::: {where}' shows nothing for it"
    )


def test_the_checks_can_fail() -> None:
    assert covered_by("devsms_async", "AsyncDevSMS") == "devsms_async.AsyncDevSMS"
    assert covered_by("devsms_async", "SmsStatus") == "devsms_async.models"
    assert not documented_in_source("NO_SUCH_CONSTANT")
    assert documented_in_source("Sandbox")
    assert documented_in_source("STATE_KEY")
    assert not documented_in_source("DEFAULT_BALANCE")  # a constant without a docstring


def test_no_rest_markup_in_public_docstrings() -> None:
    """Docstrings are Markdown (mkdocstrings): no ``::`` blocks, no ``:class:`` roles."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node) or ""
                if re.search(r"::\s*$|:(class|func|meth|attr|data|mod|exc):`", doc, re.M):
                    offenders.append(f"{path.relative_to(ROOT)}:{getattr(node, 'name', '')}")
    assert offenders == []


def anchors(site: Path) -> set[str]:
    """The object names of a built site's mkdocstrings inventory."""
    data = (site / "objects.inv").read_bytes()
    body = zlib.decompress(data.split(b"\n", 4)[4]).decode("utf-8")
    return {line.split(" ", 1)[0] for line in body.splitlines()}


def test_anchors_reads_an_inventory(tmp_path: Path) -> None:
    header = b"# Sphinx inventory version 2\n# Project: x\n# Version: 0\n# zlib\n"
    body = b"devsms_async.AsyncDevSMS py:class 1 reference/#$ -\n"
    (tmp_path / "objects.inv").write_bytes(header + zlib.compress(body))
    assert anchors(tmp_path) == {"devsms_async.AsyncDevSMS"}


def rough_spots(page_html: str) -> list[str]:
    """What a reader should not see on the built reference page: a default shown as a
    constant's name (``timeout=DEFAULT_TIMEOUT``) or reST markup."""
    text = html.unescape(re.sub(r"<[^>]+>", "", page_html))
    names = re.findall(r"= ([A-Z][A-Z0-9_]{2,})\b(?!\.)", text)
    rest = re.findall(r".*(?:::$|:(?:class|func|meth|attr|data):`).*", text, re.MULTILINE)
    return [f"default shown as a name: {n}" for n in names] + [f"reST: {r}" for r in rest]


def test_rough_spots() -> None:
    page = "<code>timeout: Timeout = <span>DEFAULT_TIMEOUT</span>,</code>\n<p>See :class:`X`.</p>"
    assert rough_spots(page) == [
        "default shown as a name: DEFAULT_TIMEOUT",
        "reST: See :class:`X`.",
    ]
    assert rough_spots("<code>timeout=Timeout(connect=5.0)</code> <p>x == Y</p>") == []


if __name__ == "__main__":
    site = Path(sys.argv[1])
    found = anchors(site)
    missing = [f"{m}.{n} is not in the reference" for m, n in CASES if f"{m}.{n}" not in found]
    wrong = missing + rough_spots((site / "reference" / "index.html").read_text("utf-8"))
    print("\n".join(wrong) or f"the reference has all {len(CASES)} public names")
    sys.exit(1 if wrong else 0)
