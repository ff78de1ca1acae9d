"""A CSV with a huge line is refused in bounded memory: ``devsms bulk`` run as a
subprocess under an address-space cap smaller than the line."""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

import pytest

from support.cli import CLI, env

pytestmark = pytest.mark.skipif(not hasattr(resource, "RLIMIT_AS"), reason="POSIX only")

LINE_BYTES = 400 * 1024 * 1024
CAP_BYTES = 384 * 1024 * 1024
"""Below the line's size: reading the line whole cannot fit."""


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))


def test_a_line_larger_than_memory_is_refused_with_its_line_number(tmp_path: Path) -> None:
    data = tmp_path / "huge.csv"
    with data.open("wb") as f:
        f.write(b"phone,message\n998901234567,")
        f.seek(LINE_BYTES)  # sparse: no disk is written, the reader sees NUL bytes
        f.write(b"x\n998901234568,Salom\n")
    result = subprocess.run(
        [*CLI, "--sandbox", "bulk", str(data), "--yes"],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
        preexec_fn=_capped,
    )
    assert result.returncode == 2, result.stderr
    assert "MemoryError" not in result.stderr
    assert f"{data} line 2 is longer than 1024 KiB" in result.stderr
    assert "nothing was sent" in result.stderr
