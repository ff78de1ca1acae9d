"""Running a docs page's examples: what the docs tests share."""

from __future__ import annotations

import ast
import contextlib
import io
import re
from pathlib import Path


def run_doc_examples(path: Path) -> int:
    """Run every complete ```python block of a docs page (one with a ``__main__`` guard)
    and check that it prints what the page says: the ``# `` comment lines right after a
    ``print(...)`` line (or another such comment). Other blocks are excerpts: they must
    at least compile. Returns the number of blocks run."""
    text = path.read_text(encoding="utf-8")
    ran = 0
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL):
        if 'if __name__ == "__main__":' not in block:
            compile(block, str(path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            continue
        expected: list[str] = []
        after_print = False
        for line in block.splitlines():
            stripped = line.strip()
            if after_print and stripped.startswith("# "):
                expected.append(stripped[2:])
                continue
            after_print = stripped.startswith("print(")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(path), "exec"), {"__name__": "__main__"})
        assert out.getvalue().splitlines() == expected, block
        ran += 1
    return ran
