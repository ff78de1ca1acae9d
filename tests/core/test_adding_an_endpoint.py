"""Adding an endpoint takes exactly the places docs/design.md names ("Adding an
endpoint"), and leaving any one out fails with a message that names it.

A throwaway fifth endpoint, ``get_templates.php`` (a read whose model renames a wire
key), is added to a copy of the package in a temporary folder; a subprocess imports
the copy, checks that every descriptor is complete and calls the new method on both
faces against the sandbox. Nothing else is edited: the converter, the engines, the
backends and the property tests' data shapes follow from the descriptor and the model.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from support import ROOT, TESTS

PACKAGE = ROOT / "devsms_async"
DESIGN = ROOT / "docs" / "design.md"


def _insert_before(anchor: str, text: str) -> Callable[[str], str]:
    def edit(source: str) -> str:
        assert source.count(anchor) == 1, f"anchor {anchor!r} is not unique"
        return source.replace(anchor, text + anchor)

    return edit


def _append(text: str) -> Callable[[str], str]:
    return lambda source: source + "\n" + textwrap.dedent(text)


def _after_future_import(text: str) -> Callable[[str], str]:
    anchor = "from __future__ import annotations\n"
    return lambda source: source.replace(anchor, anchor + textwrap.dedent(text), 1)


# The places, in docs/design.md's order: (file, edits).
PLACES: dict[str, tuple[str, list[Callable[[str], str]]]] = {
    "descriptor": (
        "_endpoints.py",
        [
            _append(
                """
                from .models import TemplateList

                GET_TEMPLATES: Endpoint[TemplateList] = Endpoint(
                    "get_templates", "GET", "get_templates.php", "query", TemplateList, "read"
                )
                ALL_ENDPOINTS = (*ALL_ENDPOINTS, GET_TEMPLATES)
                """
            )
        ],
    ),
    "model": (
        "models.py",
        [
            _append(
                '''
                @attrs.frozen(kw_only=True)
                class TemplateList:
                    """The templates approved for the account."""

                    items: list[str] = attrs.field(metadata={"wire": "templates"})
                    count: int
                '''
            )
        ],
    ),
    "async method": (
        "_client.py",
        [
            _after_future_import(
                """
                from ._endpoints import GET_TEMPLATES
                from .models import TemplateList
                """
            ),
            _insert_before(
                "    async def get_balance(",
                '''    async def get_templates(
        self, *, timeout: TimeoutTypes | None = None
    ) -> TemplateList:
        """The templates approved for the account."""
        return await self._call(GET_TEMPLATES, {}, self._read(GET_TEMPLATES), timeout)

''',
            ),
        ],
    ),
    "sync method": (
        "_sync_client.py",
        [
            _after_future_import(
                """
                from ._endpoints import GET_TEMPLATES
                from .models import TemplateList
                """
            ),
            _insert_before(
                "    def get_balance(",
                '''    def get_templates(
        self, *, timeout: TimeoutTypes | None = None
    ) -> TemplateList:
        """The templates approved for the account."""
        return self._call(GET_TEMPLATES, {}, self._read(GET_TEMPLATES), timeout)

''',
            ),
        ],
    ),
    "sandbox route": (
        "testing/_app.py",
        [
            _append(
                """
                def _get_templates(
                    state: ServiceState, query: Mapping[str, str], body: bytes
                ) -> Reply:
                    data = {"templates": ["Your code: %s"], "count": "1"}
                    return json_reply(200, {"success": True, "data": data})


                ROUTES["/api/get_templates.php"] = ("GET", _get_templates)
                """
            )
        ],
    ),
}

# What the subprocess says when a place is missing.
MISSING = {
    "descriptor": "cannot import name 'GET_TEMPLATES'",
    "model": "cannot import name 'TemplateList'",
    "async method": "AsyncDevSMS has no method get_templates",
    "sync method": "DevSMS has no method get_templates",
    "sandbox route": "the sandbox has no route for get_templates.php",
}

CHECK = r"""
import asyncio
import inspect
import sys

import attrs

import devsms_async
from devsms_async import AsyncDevSMS, DevSMS, _endpoints
from devsms_async.testing import Sandbox, _app

assert devsms_async.__file__.startswith(sys.argv[1]), devsms_async.__file__

problems = []
for value in vars(_endpoints).values():
    if isinstance(value, _endpoints.Endpoint) and value not in _endpoints.ALL_ENDPOINTS:
        problems.append(f"{value.name}: an Endpoint missing from ALL_ENDPOINTS")
for endpoint in _endpoints.ALL_ENDPOINTS:
    methods = {}
    for face, coroutine in ((AsyncDevSMS, True), (DevSMS, False)):
        method = getattr(face, endpoint.name, None)
        if method is None:
            problems.append(f"{face.__name__} has no method {endpoint.name}")
        elif inspect.iscoroutinefunction(method) != coroutine:
            kind = "a coroutine function" if coroutine else "a plain function"
            problems.append(f"{face.__name__}.{endpoint.name} is not {kind}")
        else:
            methods[face] = list(inspect.signature(method).parameters)
    if len(methods) == 2 and methods[AsyncDevSMS] != methods[DevSMS]:
        problems.append(f"{endpoint.name}: the faces take different parameters")
    route = _app.ROUTES.get(f"/api/{endpoint.path}")
    if route is None:
        problems.append(f"the sandbox has no route for {endpoint.path}")
    elif route[0] != endpoint.method:
        problems.append(f"the sandbox routes {endpoint.path} as {route[0]}")
    if not attrs.has(endpoint.model):
        problems.append(f"{endpoint.name}: its model is not an attrs class")
if problems:
    sys.exit("\n".join(problems))

sandbox = Sandbox()


async def call_async():
    async with sandbox.client() as sms:
        return await sms.get_templates()


print(repr(asyncio.run(call_async())))
with sandbox.sync_client() as sms:
    print(repr(sms.get_templates()))

# The property tests derive their data shapes from the descriptors.
from test_properties import answer_models

print([m.__name__ for m in answer_models()])
"""


def add_endpoint(
    tmp_path: Path, leave_out: str | None, then: Callable[[str], str] = str
) -> subprocess.CompletedProcess[str]:
    """Copy the package, add the endpoint in every place but ``leave_out`` (``then``
    edits each file afterwards), and run CHECK on the copy."""
    copy = tmp_path / "devsms_async"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for place, (name, edits) in PLACES.items():
        if place == leave_out:
            continue
        path = copy / name
        source = path.read_text(encoding="utf-8")
        for edit in edits:
            source = edit(source)
        path.write_text(then(source), encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(TESTS / "core"), str(TESTS)]),
    }
    env.pop("DEVSMS_BASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", CHECK, str(copy)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # not the checkout: "-c" puts the working folder first on sys.path
        timeout=120,
        check=False,
    )


def test_the_places_are_the_ones_design_md_names() -> None:
    section = DESIGN.read_text(encoding="utf-8").split("## Adding an endpoint", 1)[1]
    section = section.split("\n## ", 1)[0]
    listed = re.findall(r"^\d+\. `([^`]+)`", section, re.MULTILINE)
    assert listed == [name for name, _ in PLACES.values()]
    assert f"{len(PLACES)} places" in section.lower().replace("five", "5")


def test_a_new_endpoint_needs_those_places_and_works_on_both_faces(tmp_path: Path) -> None:
    done = add_endpoint(tmp_path, leave_out=None)
    assert done.returncode == 0, done.stderr
    on_async, on_sync, models = done.stdout.splitlines()[-3:]
    assert "TemplateList" in models
    # "templates" on the wire is the model's ``items``; "1" (PHP) is the int 1.
    expected = "TemplateList(items=['Your code: %s'], count=1)"
    assert (on_async, on_sync) == (expected, expected)


@pytest.mark.parametrize("leave_out", list(PLACES))
def test_leaving_out_a_place_fails_naming_it(tmp_path: Path, leave_out: str) -> None:
    done = add_endpoint(tmp_path, leave_out)
    assert done.returncode != 0
    assert MISSING[leave_out] in done.stderr, done.stderr


def test_a_descriptor_left_out_of_all_endpoints_is_named(tmp_path: Path) -> None:
    def forget(source: str) -> str:
        return source.replace("ALL_ENDPOINTS = (*ALL_ENDPOINTS, GET_TEMPLATES)", "")

    done = add_endpoint(tmp_path, leave_out=None, then=forget)
    assert done.returncode != 0
    assert "get_templates: an Endpoint missing from ALL_ENDPOINTS" in done.stderr
