"""No module of the package reaches into another module's ``_private`` names.

A name with one leading underscore (not a dunder) belongs to the module that defines it.
Another module may not import it (``from ._state import _time_repr``) nor read it off an
object (``sandbox._state``, ``_render._escape``). The rule, as the checker applies it:

- importing a private *module* is fine (``from . import _app``, ``from ._base import
  BaseClient``): module privacy is the package's, name privacy the module's;
- ``self._x``, ``cls._x`` and ``super()._x`` are fine: a class's private members are
  its own and its subclasses' (``AsyncDevSMS`` uses ``BaseClient``'s helpers);
- ``obj._x`` is fine when ``obj`` is, by its annotation or by the call that made it, an
  instance of a class defined in the same module (``server._wake`` in ``_server.py``);
- there is no package boundary: the modules of a sub-package (``testing/``, ``cli/``,
  ``verify/``) share public names of their private modules, never ``_private`` ones.
  The sandbox's package-internal API is such a set of public names (``_sandbox.handler``).

``ALLOWED`` lists the few private names of *other libraries* the package uses, each with
its reason.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from support import ROOT

PACKAGE = ROOT / "devsms_async"

ALLOWED: dict[tuple[str, str], str] = {
    ("devsms_async._transport", "_h11_state"): (
        "httpcore's HTTP/1.1 connection: only its h11 state knows whether bytes followed "
        "the answer (a desynchronised keep-alive connection must not be pooled)"
    ),
    ("devsms_async._transport", "_request_count"): (
        "httpcore's HTTP/1.1 connection: whether it carried earlier requests"
    ),
    ("devsms_async.cli._serve", "_actions"): "argparse lists a parser's options nowhere else",
    ("devsms_async.cli._serve", "_HelpAction"): "argparse's class of the --help option",
}
"""(module, name): why that module may use another library's private name."""

PUBLIC_UNDERSCORED = frozenset({"_replace", "_asdict", "_fields", "_make"})
"""Documented public API with a leading underscore: ``NamedTuple``'s methods."""


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str, package: Path) -> bool:
    base = package.parent.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute name of what ``from X import ...`` imports from."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    if not is_package:
        parts.pop()
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, node.module] if node.module else parts)


def _type_name(annotation: ast.expr | None) -> set[str]:
    """Class names an annotation may mean (``C``, ``"C"``, ``C | None``)."""
    if annotation is None:
        return set()
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return set()
    if isinstance(annotation, ast.BinOp):
        return _type_name(annotation.left) | _type_name(annotation.right)
    if isinstance(annotation, ast.Name):
        return {annotation.id}
    return set()


class _Checker(ast.NodeVisitor):
    """One walk over a module: the names bound to instances of its own classes, scope by
    scope (annotated arguments and variables, ``x = C(...)``, ``with C(...) as x``), and
    every private name it uses of another module."""

    def __init__(self, module: str, is_package: bool, classes: set[str]) -> None:
        self.module = module
        self.is_package = is_package
        self.classes = classes
        self.scopes: list[set[str]] = [set()]
        self.found: list[tuple[int, str]] = []

    def _bind(self, target: ast.expr | None, made_here: bool) -> None:
        if made_here and isinstance(target, ast.Name):
            self.scopes[-1].add(target.id)

    def _makes_own(self, value: ast.expr | None) -> bool:
        return (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id in self.classes
        )

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        args = node.args
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        own = {a.arg for a in every if a is not None and _type_name(a.annotation) & self.classes}
        self.scopes.append(own)
        self.generic_visit(node)
        self.scopes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._bind(target, self._makes_own(node.value))
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        own = bool(_type_name(node.annotation) & self.classes) or self._makes_own(node.value)
        self._bind(node.target, own)
        self.generic_visit(node)

    def visit_withitem(self, node: ast.withitem) -> None:
        self._bind(node.optional_vars, self._makes_own(node.context_expr))
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        source = _resolve(node, self.module, self.is_package)
        for alias in node.names:
            if is_private(alias.name) and not _is_module(f"{source}.{alias.name}", PACKAGE):
                text = f"{alias.name} (from {source} import {alias.name})"
                self.found.append((node.lineno, text))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if is_private(node.attr) and not self._own(node.value):
            self.found.append((node.lineno, f"{node.attr} ({ast.unparse(node)})"))
        self.generic_visit(node)

    def _own(self, owner: ast.expr) -> bool:
        """Whether ``owner._x`` is this module's own business."""
        if isinstance(owner, ast.Name):
            return (
                owner.id in ("self", "cls")
                or owner.id in self.classes
                or any(owner.id in scope for scope in self.scopes)
            )
        return (
            isinstance(owner, ast.Call)
            and isinstance(owner.func, ast.Name)
            and owner.func.id == "super"
        )


def violations(source: str, module: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """``(line, text)`` for every use of another module's private name in ``source``."""
    tree = ast.parse(source)
    classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    checker = _Checker(module, is_package, classes)
    checker.visit(tree)
    return sorted(checker.found)


@functools.cache
def package_sites(package: Path = PACKAGE) -> tuple[tuple[str, str, int, str], ...]:
    """``(module, path, line, text)`` for every use of another module's private name."""
    sites = []
    for path in sorted(package.rglob("*.py")):
        module = module_name(path, package)
        source = path.read_text(encoding="utf-8")
        for line, text in violations(source, module, is_package=path.name == "__init__.py"):
            sites.append((module, str(path.relative_to(package.parent)), line, text))
    return tuple(sites)


def _name(text: str) -> str:
    return text.split(" ", 1)[0]


def test_no_module_reaches_into_another_modules_private_names() -> None:
    found = [
        f"{path}:{line} {text}"
        for module, path, line, text in package_sites()
        if _name(text) not in PUBLIC_UNDERSCORED and (module, _name(text)) not in ALLOWED
    ]
    assert not found, (
        "these use another module's _private name; give the name a public spelling in its "
        "module (a private module's public name is still package-internal), or, for "
        "another library's, add it to ALLOWED with the reason:\n  " + "\n  ".join(found)
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f(sandbox):\n    return sandbox._state\n", ["_state (sandbox._state)"]),
        ("def f(self):\n    return self.sandbox._handle\n", ["_handle (self.sandbox._handle)"]),
        ("from ._state import _time_repr\n", ["_time_repr (from devsms_async.testing._state"]),
        ("from ..cli import _render\n_render._escape('x')\n", ["_escape (_render._escape)"]),
        ("from . import _app\nfrom ._base import BaseClient\n", []),
        ("class C:\n    def f(self):\n        return self._x, super()._y, C._z\n", []),
        ("class C:\n    _x = 1\n\ndef f(c: C | None, d: 'C'):\n    return c._x, d._x\n", []),
        ("class C:\n    _x = 1\n\ndef f():\n    c = C()\n    return c._x\n", []),
        ("class C:\n    _x = 1\n\ndef f(c: object):\n    return c._x\n", ["_x (c._x)"]),
    ],
)
def test_the_checker_sees_a_reach_and_passes_what_the_rule_allows(
    source: str, expected: list[str]
) -> None:
    found = [text for _, text in violations(source, "devsms_async.testing._planted")]
    assert len(found) == len(expected)
    for text, start in zip(found, expected, strict=True):
        assert text.startswith(start)


def test_every_allowance_is_still_needed() -> None:
    used = {(module, _name(text)) for module, _, _, text in package_sites()}
    assert set(ALLOWED) <= used, f"no longer needed: {sorted(set(ALLOWED) - used)}"
