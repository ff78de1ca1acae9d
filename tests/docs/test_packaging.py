"""What the package index shows and what the sdist holds.

The README is the PyPI page: it leads with ``pip install``, keeps the two set-up
commands that ``.ci/run`` runs, and uses only absolute links (a relative one breaks
there). The sdist is built with hatchling, as ``pip`` would, and must hold what
``nox -s tests lint typecheck docs bench`` need.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

from hatchling.builders.sdist import SdistBuilder

ROOT = Path(__file__).resolve().parents[2]
REPO = "https://github.com/devsms-async/devsms-async"
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def project_urls() -> dict[str, str]:
    section = PYPROJECT.split("[project.urls]\n", 1)[1].split("\n\n", 1)[0]
    return dict(re.findall(r'^(\w+) = "(.+)"$', section, re.MULTILINE))


def test_project_urls() -> None:
    urls = project_urls()
    assert urls == {
        "Documentation": f"{REPO}/tree/main/docs",
        "Changelog": f"{REPO}/blob/main/CHANGELOG.md",
        "Source": REPO,
        "Issues": f"{REPO}/issues",
    }


def test_readme_leads_with_pip_install() -> None:
    first_block = re.search(r"```(\w+)\n(.*?)```", README, re.DOTALL)
    assert first_block is not None
    assert first_block[2].startswith("pip install devsms-async ")


def test_readme_keeps_the_two_set_up_commands_near_the_top() -> None:
    top = "\n".join(README.splitlines()[:25])
    demo = (
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[cli]' && "
        ".venv/bin/devsms --sandbox demo"
    )
    tests = "python3 -m venv .venv && .venv/bin/pip install -q nox && .venv/bin/nox -s tests"
    assert f"\n{demo}\n" in top
    assert f"\n{tests}\n" in top
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ".venv/bin/nox -s tests\n" in ci  # CI runs what the README promises
    assert ".venv/bin/devsms --sandbox demo" in ci


def test_readme_links_are_absolute() -> None:
    targets = re.findall(r"\]\(([^)\s]+)\)", README)
    assert targets, "the README has no links"
    relative = [t for t in targets if not t.startswith(("https://", "http://"))]
    assert relative == []
    assert f"{REPO}/blob/main/CHANGELOG.md" in targets


def test_the_sdist_holds_what_the_nox_sessions_need(tmp_path: Path) -> None:
    builder = SdistBuilder(str(ROOT))
    (archive,) = builder.build(directory=str(tmp_path), versions=["standard"])
    with tarfile.open(archive) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    needed = {
        "pyproject.toml",
        "noxfile.py",
        "mkdocs.yml",
        "README.md",
        "CHANGELOG.md",
        "LICENSE",
        "benchmarks/run.py",
        "benchmarks/server.py",
        "benchmarks/_common.py",
        "scripts/gen_prices.py",
        "devsms_async/py.typed",
        "devsms_async/data/prices.csv",
        "tests/conftest.py",
        "tests/spec/devsms-api.md",
        "docs/reference.md",
    }
    assert needed <= names, sorted(needed - names)
    assert {path.relative_to(ROOT).as_posix() for path in (ROOT / "benchmarks").glob("*.py")} <= (
        names
    )
    junk = [n for n in names if n.startswith((".venv", ".nox")) or "__pycache__" in n]
    assert junk == []
    assert not [n for n in names if n.endswith(".tmp")]
