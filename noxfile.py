"""Development tasks: ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck``, ``nox -s docs``,
``nox -s demo`` and ``nox -s bench``. ``nox -l`` lists them."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_external_run = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
# Every Python the classifiers promise, for `nox -s tests_all` on machines that have them.
PYTHONS = nox.project.python_versions(PYPROJECT)


def _install(session: nox.Session, *groups: str, extras: str = "") -> None:
    deps = [dep for group in groups for dep in nox.project.dependency_groups(PYPROJECT, group)]
    session.install("-e", f".{extras}", *deps)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite on the current Python, with branch coverage (CLI subprocesses too)."""
    _install(session, "tests")
    # coverage starts before pytest, so the package that the sandbox's pytest plugin
    # imports at start-up is measured as well.
    env = {"COVERAGE_FILE": os.path.join(session.create_tmp(), ".coverage")}
    session.run("coverage", "erase", env=env)
    session.run("coverage", "run", "-m", "pytest", *session.posargs, env=env)
    session.run("coverage", "combine", "--quiet", env=env)
    session.run("coverage", "report", "--fail-under=95", env=env)


@nox.session(python=PYTHONS)
def tests_all(session: nox.Session) -> None:
    """The test suite on every supported Python that is installed."""
    _install(session, "tests")
    session.run("pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    _install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package (config in pyproject.toml); pyright strict on the
    docs' examples (mypy checks them in tests/docs/test_docs_typing.py)."""
    _install(session, "typing", extras="[cli,fastapi,aiohttp,redis,postgres]")
    session.run("mypy", "devsms_async")
    session.run("mypy", "tests/typing")
    session.run(
        "python", "tests/docs/test_docs_typing.py", os.path.join(session.create_tmp(), "docs")
    )


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation (any warning fails the build) and check the reference."""
    # The reference check imports every public module: fastapi and pytest among them.
    _install(session, "docs", extras="[cli,fastapi]")
    session.install("pytest")
    site = session.create_tmp() + "/site"
    session.run("mkdocs", "build", "--strict", "--site-dir", site, env={"NO_MKDOCS_2_WARNING": "1"})
    # Every public name has an entry; defaults show as values; no reST leaks.
    session.run("python", "tests/docs/test_reference.py", site)


@nox.session
def demo(session: nox.Session) -> None:
    """The guided tour against the built-in sandbox (no token, no network)."""
    session.install("-e", ".[cli]")
    session.run("devsms", "--sandbox", "demo")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against raw httpx/aiohttp on a loopback server; results in docs/performance.md."""
    _install(session, "bench", extras="[aiohttp,postgres]")
    session.run("python", "benchmarks/run.py", *(session.posargs or ["--quick"]))
