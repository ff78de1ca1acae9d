"""The layers of docs/design.md, checked: the core imports no I/O library, feature
modules import no client internals, only the core builds requests and judges answers,
and every endpoint descriptor has its method on both faces, a sandbox route and a model.
"""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from devsms_async import AsyncDevSMS, DevSMS
from devsms_async._endpoints import ALL_ENDPOINTS
from devsms_async.testing import _app

PACKAGE = Path(__file__).parents[2] / "devsms_async"

CORE = [
    "_endpoints",
    "_wire",
    "_classify",
    "_response",
    "_converter",
    "_validation",
    "_redact",
    "_otp",
    "_unknown",
    "_fingerprint",
    "models",
    "errors",
]
"""The sans-IO core: plain data in, plain data out."""
OPTIONAL_CORE = ["_refusals", "_confirm"]
"""Pure modules other branches add to the core, checked when present."""
ALSO_PURE = ["_version", "_journal"]
"""Not core, but the core may import them: they load no I/O library either (the
subprocess test below proves it). ``models`` names the bulk journal's ``JournalEntry``."""
FEATURES = ["_paging", "_polling", "_reconcile", "_bulk", "_journal"]
"""Features take narrow callables; they never see a client."""
IO_LIBRARIES = {
    "aiohttp",
    "anyio",
    "asyncio",
    "h11",
    "httpcore",
    "httpx",
    "socket",
    "sniffio",
    "ssl",
    "trio",
    "yarl",
}
CLIENT_INTERNALS = {"_client", "_sync_client", "_base", "_engine", "_transport", "_aiohttp"}


def core_modules() -> list[str]:
    return CORE + [m for m in OPTIONAL_CORE if (PACKAGE / f"{m}.py").exists()]


def imports(module: str) -> set[str]:
    """Every module ``module`` imports, anywhere in its body (TYPE_CHECKING included):
    absolute names as written, relative ones as ``.name``."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.module:
                    found.add("." + node.module)
                else:
                    found |= {"." + alias.name for alias in node.names}
            else:
                found.add(node.module or "")
    return found


@pytest.mark.parametrize("module", core_modules())
def test_the_core_imports_no_io_library(module: str) -> None:
    found = imports(module)
    assert not {name.split(".")[0] for name in found} & IO_LIBRARIES
    for name in found:
        if name.startswith("."):
            assert name[1:].split(".")[0] in [*core_modules(), *ALSO_PURE], (module, name)


def test_importing_the_core_loads_no_io_library() -> None:
    """In a fresh interpreter, without the package's ``__init__`` (which loads the
    clients), the core modules load and no I/O library comes with them."""
    script = f"""
import importlib, sys, types
before = set(sys.modules)  # what the interpreter (or a coverage run) loaded itself
package = types.ModuleType("devsms_async")
package.__path__ = [{str(PACKAGE)!r}]
sys.modules["devsms_async"] = package
for name in {core_modules()!r}:
    importlib.import_module("devsms_async." + name)
from devsms_async._classify import classify  # noqa: F401
new = set(sys.modules) - before
loaded = sorted({{m.split(".")[0] for m in new}} & set({sorted(IO_LIBRARIES)!r}))
print(",".join(loaded))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""


@pytest.mark.parametrize("module", FEATURES)
def test_features_import_no_client_internals(module: str) -> None:
    relative = {name[1:].split(".")[0] for name in imports(module) if name.startswith(".")}
    assert not relative & CLIENT_INTERNALS, module
    assert not {name.split(".")[0] for name in imports(module)} & IO_LIBRARIES - {"anyio"}


def calls(module: Path) -> set[str]:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                names.add(func.id)
            elif isinstance(func, ast.Attribute):
                names.add(func.attr)
    return names


def test_only_the_core_builds_requests_and_judges_answers() -> None:
    allowed = {f"{m}.py" for m in core_modules()} | {"_engine.py"}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in allowed:
            continue
        used = calls(path) & {"build_request", "classify", "parse_response"}
        if relative == "_transport.py":
            # httpx's own Client.build_request, for a user's client: the plain request
            # was built by the core.
            used -= {"build_request"}
        assert not used, (relative, used)


def test_one_place_builds_the_unknown_outcome_error() -> None:
    builders = [
        path.relative_to(PACKAGE).as_posix()
        for path in sorted(PACKAGE.rglob("*.py"))
        if "SendOutcomeUnknownError" in calls(path)
    ]
    assert builders == ["_unknown.py"]


@pytest.mark.parametrize("endpoint", ALL_ENDPOINTS, ids=lambda e: e.name)
def test_every_endpoint_has_both_methods_a_route_and_a_model(endpoint: object) -> None:
    from devsms_async._endpoints import Endpoint

    assert isinstance(endpoint, Endpoint)
    for face in (AsyncDevSMS, DevSMS):
        method = getattr(face, endpoint.name, None)
        assert callable(method), (face.__name__, endpoint.name)
    assert inspect.iscoroutinefunction(getattr(AsyncDevSMS, endpoint.name))
    assert not inspect.iscoroutinefunction(getattr(DevSMS, endpoint.name))
    route = _app.ROUTES.get(f"/api/{endpoint.path}")
    assert route is not None, endpoint.path
    assert route[0] == endpoint.method
    assert attrs.has(endpoint.model)


def test_both_faces_have_the_same_methods_but_bulk() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in vars(cls).items()
            if not name.startswith("_") and callable(member)
        }

    async_methods, sync_methods = public(AsyncDevSMS), public(DevSMS)
    bulk = {"send_bulk", "stream_bulk", "reconcile_journal"}
    assert set(async_methods) - set(sync_methods) == {*bulk, "aclose"}
    assert set(sync_methods) - set(async_methods) == {"close"}
    for name in set(async_methods) & set(sync_methods):
        assert list(async_methods[name].parameters) == list(sync_methods[name].parameters), name
