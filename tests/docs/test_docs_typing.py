"""The documentation's Python type-checks: ``mypy --strict`` (and pyright strict, from
``nox -s typecheck``) over every Python block of README.md and docs/*.md, and over
docs/examples/*.py.

Each block becomes one module in a temporary folder and one mypy run checks them all
(the project's mypy configuration, so the same strictness as the package). Errors are
reported at the page and line of the block. A block that is deliberately partial is
marked by an HTML comment on the line before its fence, with the reason::

    <!-- typecheck: skip (a fragment of the example above) -->

Run as a script, ``python tests/docs/test_docs_typing.py DIR`` writes the modules, the
examples and a strict pyright configuration to DIR (``nox -s typecheck`` then runs
pyright on it).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.py"))
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```python[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.DOTALL | re.MULTILINE,
)
SKIP = re.compile(r"<!--\s*typecheck:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->\s*$")


@attrs.frozen
class Block:
    page: Path
    line: int
    """Line of the page where the code starts (the line after the fence)."""
    code: str
    skip_reason: str | None

    @property
    def module(self) -> str:
        stem = re.sub(r"\W", "_", self.page.stem.lower())
        return f"doc_{stem}_{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        start = text.count("\n", 0, match.start()) + 2
        before = text[: match.start()].removesuffix("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        code = textwrap.dedent(match["body"])
        found.append(Block(page, start, code, skip["reason"].strip() if skip else None))
    return found


def all_blocks() -> list[Block]:
    return [block for page in PAGES for block in blocks(page)]


def write_modules(directory: Path) -> dict[str, Block]:
    """One module per block that is not skipped; returns module file name -> block.

    Each starts with a comment naming its page and line (for pyright's messages).
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for block in all_blocks():
        if block.skip_reason is None:
            name = f"{block.module}.py"
            origin = f"# {block.page.relative_to(ROOT).as_posix()}:{block.line}\n"
            (directory / name).write_text(origin + block.code, encoding="utf-8")
            written[name] = block
    return written


def write_pyright_project(directory: Path) -> dict[str, Block]:
    """The blocks, a copy of docs/examples/*.py and a strict pyrightconfig.json."""
    written = write_modules(directory)
    for example in EXAMPLES:
        (directory / example.name).write_text(example.read_text("utf-8"), encoding="utf-8")
    config = {"typeCheckingMode": "strict", "pythonVersion": "3.10", "include": ["."]}
    (directory / "pyrightconfig.json").write_text(json.dumps(config), encoding="utf-8")
    return written


def where(line: str, written: dict[str, Block]) -> str:
    """``doc_cost_12.py:3: error ...`` as ``docs/cost.md:14: error ...``."""
    match = re.match(r"(?:.*[/\\])?(doc_\w+\.py):(\d+)(.*)", line, re.DOTALL)
    if match is None or match[1] not in written:
        return line
    block = written[match[1]]
    page_line = block.line + int(match[2]) - 2  # the first line is the origin comment
    return f"{block.page.relative_to(ROOT)}:{page_line}{match[3]}"


def test_the_pages_have_python_blocks() -> None:
    pages = {block.page.name for block in all_blocks()}
    assert {"README.md", "quickstart.md", "bulk.md", "cost.md", "fastapi.md"} <= pages
    assert EXAMPLES, "docs/examples/ has no .py files"


def test_skipped_blocks_are_few_and_say_why() -> None:
    skipped = [b for b in all_blocks() if b.skip_reason is not None]
    # Four excerpts (bulk.md's two, scale.md's two recipes), and three framework examples
    # (aiogram, Django, Celery: each page's own test runs its block with the framework
    # stubbed).
    assert len(skipped) <= 7, [(b.page.name, b.line) for b in skipped]
    assert all(len(b.skip_reason or "") >= 10 for b in skipped)


def code(line: str) -> str:
    """The line without indentation and comment (an excerpt may shorten comments)."""
    return re.sub(r"(^|\s+)#.*$", "", line).strip()


def test_excerpts_match_the_files_they_come_from() -> None:
    """A block skipped as an ``excerpt of docs/examples/x.py`` is in that file, line by
    line (the file itself is type-checked in full; ``...`` elides)."""
    excerpts = 0
    for block in all_blocks():
        match = re.match(r"excerpt of (\S+\.py)", block.skip_reason or "")
        if match is None:
            continue
        excerpts += 1
        source = {code(line) for line in (ROOT / match[1]).read_text("utf-8").splitlines()}
        missing = [
            line
            for line in block.code.splitlines()
            if code(line) not in source and code(line) not in ("", "...")
        ]
        assert missing == [], f"{block.page.name}:{block.line} is not in {match[1]}"
    assert excerpts >= 1


def test_a_skip_marker_is_found_only_right_before_a_fence(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- typecheck: skip (continues the block above) -->\n"
        "```python\nx.y\n```\n\n"
        "<!-- typecheck: skip (too far from its fence) -->\n\n"
        "```python\nimport os\n```\n"
        "- a list item:\n\n    ```python\n    print(1)\n    ```\n",
        encoding="utf-8",
    )
    found = blocks(page)
    assert [(b.line, b.code, b.skip_reason) for b in found] == [
        (3, "x.y\n", "continues the block above"),
        (9, "import os\n", None),
        (14, "print(1)\n", None),
    ]


def run_mypy(directory: Path) -> list[str]:
    written = write_modules(directory)
    assert len(written) >= 30
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--strict",
            # The cache survives between runs; a cold run checks ~40 files in ~20 s.
            "--cache-dir",
            str(ROOT / ".mypy_cache" / "docs"),
            "--no-error-summary",
            str(directory),
            *map(str, EXAMPLES),
        ],
        capture_output=True,
        text=True,
        cwd=directory,
        check=False,
    )
    errors = [where(line, written) for line in result.stdout.splitlines() if line.strip()]
    assert result.returncode == (1 if errors else 0), result.stderr
    return errors


def run_pyright(directory: Path) -> list[str]:
    """pyright strict over the blocks and the examples (``nox -s typecheck``)."""
    written = write_pyright_project(directory)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyright",
            "--outputjson",
            "--pythonpath",
            sys.executable,
            "--project",
            str(directory),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout)
    errors = []
    for diagnostic in report["generalDiagnostics"]:
        if diagnostic["severity"] == "error":
            name = Path(diagnostic["file"]).name
            line = diagnostic["range"]["start"]["line"] + 1
            shown = f"docs/examples/{name}" if not name.startswith("doc_") else name
            message = " ".join(diagnostic["message"].split())
            errors.append(where(f"{shown}:{line}: error: {message}", written))
    return errors


def test_mypy_strict_accepts_the_docs(tmp_path: Path) -> None:
    wrong = run_mypy(tmp_path / "blocks")
    assert wrong == [], "\n".join(wrong)


if __name__ == "__main__":
    wrong = run_pyright(Path(sys.argv[1]))
    print("\n".join(wrong) or "pyright strict: the docs' examples are clean")
    sys.exit(1 if wrong else 0)
