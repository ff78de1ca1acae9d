"""The layers of docs/design.md, checked.

- The core imports no I/O library, and only core modules.
- Only the backends import an HTTP library, each only its own; the other modules that
  reach httpx's types through the httpx backend are listed, each with its reason.
- Feature modules import no client internals.
- Only the core builds requests and judges answers.
- Every endpoint descriptor has its method on both faces, a sandbox route and a model.
"""

from __future__ import annotations

import ast
import inspect
import shutil
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
    "_body",
    "_classify",
    "_response",
    "_converter",
    "_validation",
    "_redact",
    "_otp",
    "_unknown",
    "_fingerprint",
    "_refusals",
    "_confirm",
    "models",
    "errors",
]
"""The sans-IO core: plain data in, plain data out."""
ALSO_PURE = {
    "_version": "the version string",
    "_journal": "models names the bulk journal's JournalEntry",
}
"""Not core, but the core may import them: they load no I/O library either (the
subprocess test below proves it)."""
FEATURES = ["_paging", "_polling", "_reconcile", "_bulk", "_journal"]
"""Features take narrow callables; they never see a client."""

HTTP_LIBRARIES = {"aiohttp", "h11", "httpcore", "httpx", "requests", "urllib3", "yarl"}
IO_LIBRARIES = HTTP_LIBRARIES | {"anyio", "asyncio", "socket", "sniffio", "ssl", "trio"}
BACKENDS = {
    "_transport.py": {"httpx", "httpcore"},
    "_aiohttp.py": {"aiohttp", "yarl"},
}
"""The backends, and the HTTP libraries each one may import."""
HTTP_SERVERS = {
    "testing/_server.py": {"h11"},  # the sandbox's HTTP/1.1 server: it serves, not a client
}
"""Outside the backends, only these modules import an HTTP library."""
HTTPX_TYPES_FROM_THE_BACKEND = {
    "_base.py": "face: the shared options take httpx's Timeout, Limits and transports",
    "_client.py": "face: opens its backend, takes an httpx.AsyncClient or transport",
    "_sync_client.py": "face: opens its backend, takes an httpx.Client or transport",
    "cli/_runtime.py": "glue: tells whether a failed request can have left",
    "contrib/fastapi.py": "glue: its options are the client's (httpx Timeout and Limits)",
    "testing/_inprocess.py": "the sandbox in process: SandboxTransport is an httpx transport",
    "testing/_sandbox.py": "the sandbox: hands out its httpx transport",
    "testing/_callbacks.py": "the sandbox: posts delivery reports with an httpx client",
    "testing/_inbox.py": "the sandbox: is_loopback, for the inbox's listen address",
    "testing/_hosts.py": "the sandbox: is_loopback, for its allowed hosts",
    "testing/_command.py": "the sandbox's command: is_loopback, for its listen address",
}
"""Modules outside the backends that import the httpx backend (``_transport``) for
httpx's types or its helpers; none imports ``_aiohttp`` (the httpx backend opens it)."""
CLIENT_INTERNALS = {"_client", "_sync_client", "_base", "_engine", "_transport", "_aiohttp"}


def imports(path: Path, package: Path = PACKAGE) -> set[str]:
    """Every module the file at ``path`` imports, anywhere in its body (TYPE_CHECKING and
    function bodies included), as absolute dotted names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = ["devsms_async", *path.relative_to(package).parent.parts]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if not node.level:
                found.add(node.module or "")
                continue
            base = ".".join(here[: len(here) - node.level + 1])
            if node.module:
                found.add(f"{base}.{node.module}")
            else:
                found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def libraries(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names} - {"devsms_async"}


def own_modules(names: set[str]) -> set[str]:
    """``devsms_async._wire`` -> ``_wire``; ``devsms_async.testing._app`` -> ``testing``."""
    return {name.split(".")[1] for name in names if name.startswith("devsms_async.")}


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    return {p.relative_to(package).as_posix(): p for p in sorted(package.rglob("*.py"))}


def http_imports_outside_the_backends(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Each module importing an HTTP library it may not: a backend another backend's
    library, any other module (but the listed servers) any at all."""
    allowed = {**BACKENDS, **HTTP_SERVERS}
    found = {}
    for name, path in modules(package).items():
        wrong = libraries(imports(path, package)) & HTTP_LIBRARIES - allowed.get(name, set())
        if wrong:
            found[name] = wrong
    return found


def backend_users(package: Path = PACKAGE) -> set[str]:
    """Modules outside the backends that import one."""
    return {
        name
        for name, path in modules(package).items()
        if name not in BACKENDS and own_modules(imports(path, package)) & {"_transport", "_aiohttp"}
    }


def core_violations(module: str, package: Path = PACKAGE) -> set[str]:
    """What a core module imports that it may not: an I/O library, or a module of the
    package that is neither core nor listed as pure."""
    found = imports(package / f"{module}.py", package)
    return (libraries(found) & IO_LIBRARIES) | (own_modules(found) - {*CORE, *ALSO_PURE})


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_no_io_library_and_only_the_core(module: str) -> None:
    assert core_violations(module) == set()


def test_importing_the_core_loads_no_io_library() -> None:
    """In a fresh interpreter, without the package's ``__init__`` (which loads the
    clients), the core modules load and no I/O library comes with them."""
    assert loaded_by(CORE, IO_LIBRARIES) == []


def test_only_the_backends_import_an_http_library_each_only_its_own() -> None:
    assert http_imports_outside_the_backends() == {}


def test_the_modules_using_the_httpx_backend_are_the_listed_ones() -> None:
    assert backend_users() <= set(HTTPX_TYPES_FROM_THE_BACKEND)
    for name in HTTPX_TYPES_FROM_THE_BACKEND:
        assert (PACKAGE / name).is_file(), name
    assert not any("_aiohttp" in own_modules(imports(PACKAGE / n)) for n in backend_users())


def test_the_aiohttp_backend_loads_no_httpx() -> None:
    assert loaded_by(["_aiohttp"], {"httpx", "httpcore"}) == []


def test_the_layering_checks_catch_a_planted_violation(tmp_path: Path) -> None:
    """The checks above, run on a copy of the package with one wrong import per rule."""
    package = tmp_path / "devsms_async"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    plant = {
        "_wire.py": "import httpx\n",  # the core
        "_body.py": "from ._client import AsyncDevSMS\n",  # the core reaching up
        "_transport.py": "import aiohttp\n",  # a backend, another backend's library
        "_paging.py": "import requests\n",  # a feature
        "cli/_app.py": "from .. import _aiohttp\n",  # glue reaching a backend
    }
    for name, line in plant.items():
        path = package / name
        path.write_text(line + path.read_text(encoding="utf-8"), encoding="utf-8")
    assert core_violations("_wire", package) == {"httpx"}
    assert core_violations("_body", package) == {"_client"}
    assert http_imports_outside_the_backends(package) == {
        "_wire.py": {"httpx"},
        "_transport.py": {"aiohttp"},
        "_paging.py": {"requests"},
    }
    assert backend_users(package) - backend_users() == {"cli/_app.py"}
    assert not backend_users(package) <= set(HTTPX_TYPES_FROM_THE_BACKEND)


def loaded_by(names: list[str], watched: set[str]) -> list[str]:
    """The ``watched`` libraries that importing these package modules loads, in a fresh
    interpreter and without the package's ``__init__``."""
    script = f"""
import importlib, sys, types
before = set(sys.modules)  # what the interpreter (or a coverage run) loaded itself
package = types.ModuleType("devsms_async")
package.__path__ = [{str(PACKAGE)!r}]
sys.modules["devsms_async"] = package
for name in {names!r}:
    importlib.import_module("devsms_async." + name)
new = set(sys.modules) - before
print(",".join(sorted({{m.split(".")[0] for m in new}} & set({sorted(watched)!r}))))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return [name for name in done.stdout.strip().split(",") if name]


@pytest.mark.parametrize("module", FEATURES)
def test_features_import_no_client_internals(module: str) -> None:
    found = imports(PACKAGE / f"{module}.py")
    assert not own_modules(found) & CLIENT_INTERNALS, module
    assert not libraries(found) & IO_LIBRARIES - {"anyio"}


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
    allowed = {f"{m}.py" for m in CORE} | {"_engine.py"}
    for relative, path in modules().items():
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
        relative for relative, path in modules().items() if "SendOutcomeUnknownError" in calls(path)
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
