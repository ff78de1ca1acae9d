"""The top level of the package: what it exports, the names that moved to their public
modules (still importable there for one release, with a DeprecationWarning naming the new
home), the models' place at the bottom of the imports, and stamina being optional.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import devsms_async
import devsms_async.bulk
import devsms_async.pagination
import devsms_async.pricing
import devsms_async.reconcile
from support import TOKEN, spec_json_examples

PACKAGE = Path(devsms_async.__file__).parent

MOVED = [
    *[
        (name, "devsms_async.bulk", name)
        for name in (
            "AnyBulkResult",
            "BulkCallbackError",
            "BulkFailed",
            "BulkMessage",
            "BulkOutcome",
            "BulkResult",
            "BulkSent",
            "BulkSkipped",
            "BulkStream",
            "BulkUnknown",
            "CsvRow",
            "FileJournal",
            "Journal",
            "JournalEntry",
            "JournalError",
            "read_csv",
        )
    ],
    *[
        (name, "devsms_async.pricing", name)
        for name in (
            "BulkEstimate",
            "CostEstimate",
            "Country",
            "CountryTotal",
            "estimate_bulk",
            "estimate_cost",
            "lookup_country",
            "price_table",
        )
    ],
    *[
        (name, "devsms_async.reconcile", name)
        for name in ("AnyReconcileResult", "ReconcileFound", "ReconcileNotFound", "ReconcileResult")
    ],
    ("BulkItemError", "devsms_async.pricing", "BulkItemFailure"),
    ("HistoryIterator", "devsms_async.pagination", "AsyncHistoryIterator"),
    ("SyncHistoryIterator", "devsms_async.pagination", "HistoryIterator"),
]
"""(old top-level name, its public module, its name there)."""


def test_all_is_sorted_and_holds_the_clients_models_errors_and_parts() -> None:
    names = devsms_async.__all__
    assert list(names) == sorted(names)
    assert len(names) <= 40  # 71 before bulk, journal, reconcile and pricing moved out
    assert {"AsyncDevSMS", "DevSMS", "SmsStatus", "DevSMSError", "count_parts"} <= set(names)


@pytest.mark.parametrize(("old", "home", "new"), MOVED, ids=[m[0] for m in MOVED])
def test_a_moved_name_still_works_and_warns_naming_its_new_home(
    old: str, home: str, new: str
) -> None:
    target = getattr(sys.modules[home], new)
    assert old not in devsms_async.__all__
    assert old not in dir(devsms_async)
    assert new in sys.modules[home].__all__
    with pytest.warns(DeprecationWarning, match=re.escape(f"{home}.{new}")) as caught:
        assert getattr(devsms_async, old) is target
    assert caught[0].filename == __file__  # it points at the caller's line


def test_every_access_of_a_moved_name_warns() -> None:
    for _ in range(2):
        with pytest.warns(DeprecationWarning, match=r"devsms_async\.bulk\.FileJournal"):
            from devsms_async import FileJournal  # noqa: F401
    assert "FileJournal" not in vars(devsms_async)


def test_history_iterator_keeps_its_old_meaning_for_one_release() -> None:
    from devsms_async.pagination import AsyncHistoryIterator, HistoryIterator

    with pytest.warns(DeprecationWarning, match="AsyncHistoryIterator"):
        assert devsms_async.HistoryIterator is AsyncHistoryIterator  # the async one
    with pytest.warns(DeprecationWarning, match=r"pagination\.HistoryIterator"):
        assert devsms_async.SyncHistoryIterator is HistoryIterator
    assert hasattr(AsyncHistoryIterator, "__anext__")
    assert hasattr(HistoryIterator, "__next__")


def test_the_pricing_record_of_a_failed_item_has_its_new_name() -> None:
    from devsms_async.pricing import BulkItemFailure, estimate_bulk

    estimate = estimate_bulk([("not a phone", "x")])
    assert [type(e) for e in estimate.errors] == [BulkItemFailure]
    assert not issubclass(BulkItemFailure, BaseException)
    with pytest.warns(DeprecationWarning, match=r"devsms_async\.pricing\.BulkItemFailure"):
        assert devsms_async.pricing.BulkItemError is BulkItemFailure
    with pytest.raises(AttributeError, match="no_such_thing"):
        devsms_async.pricing.no_such_thing  # noqa: B018


def test_the_new_names_import_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _, home, new in MOVED:
            assert getattr(sys.modules[home], new) is not None


# -- arrows point down ---------------------------------------------------------------------

WRITES_FILES = {"os", "io", "pathlib", "fcntl", "msvcrt", "shutil", "tempfile", "sqlite3"}


def package_imports(module: str) -> set[str]:
    """The package's modules that ``module`` imports (anywhere in its body)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found |= {alias.name for alias in node.names}
    return found


def library_imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_models_import_nothing_that_writes_files() -> None:
    seen, todo = set(), ["models"]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(package_imports(module))
    assert "_journal" not in seen
    assert {m: library_imports(m) & WRITES_FILES for m in sorted(seen)} == {
        m: set() for m in sorted(seen)
    }


# -- stamina is optional -------------------------------------------------------------------

BLOCK_STAMINA = """
import sys

class NoStamina:
    def find_spec(self, name, path=None, target=None):
        if name == "stamina" or name.startswith("stamina."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoStamina())
"""


def test_the_sdk_imports_and_retries_without_stamina() -> None:
    balance = next(e for e in spec_json_examples() if "statistics" in e.get("data", {}))
    script = (
        BLOCK_STAMINA
        + f"""
import httpx
import devsms_async
from devsms_async import DevSMS

answers = [
    httpx.Response(503, headers={{"Retry-After": "0"}}),
    httpx.Response(200, json={balance!r}),
]
seen = []

def handler(request):
    seen.append(request)
    return answers.pop(0)

with DevSMS({TOKEN!r}, transport=httpx.MockTransport(handler)) as sms:
    print(type(sms.get_balance().balance).__name__, len(seen), "stamina" in sys.modules)
"""
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Decimal", "2", "False"]


def test_the_pytest_fixtures_work_without_stamina(tmp_path: Path) -> None:
    (tmp_path / "test_uses_the_sandbox.py").write_text(
        "def test_sends(devsms_sandbox):\n"
        "    with devsms_sandbox.sync_client() as sms:\n"
        "        assert sms.send_sms('998901234567', 'Salom').sms_id\n",
        encoding="utf-8",
    )
    script = (
        BLOCK_STAMINA
        + "import pytest\n"
        + f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', {str(tmp_path)!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_stamina_is_not_a_runtime_dependency() -> None:
    text = (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    runtime = re.search(r"^dependencies = \[\n(.*?)^\]", text, re.MULTILINE | re.DOTALL)
    tests = re.search(r"^tests = \[\n(.*?)^\]", text, re.MULTILINE | re.DOTALL)
    assert runtime is not None
    assert tests is not None
    assert '"stamina' not in runtime.group(1)
    assert '"stamina>=' in tests.group(1)
