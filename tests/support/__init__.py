"""What many tests share that is not a fixture: the repository's paths, the test token and
the spec's JSON examples. Fixtures live in tests/conftest.py; servers the tests start live
beside this module (faultserver, redis_server, postgres_server)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
DOCS = ROOT / "docs"
SPEC_DIR = TESTS / "spec"
SHARED_SPEC_DIR = ROOT.parent / "shared" / "spec"
TOKEN = "test-token-SECRET-1234567890"


def spec_json_examples() -> list[Any]:
    """Every ```json block of the English spec, decoded exactly as written."""
    text = (SPEC_DIR / "devsms-api.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    return [json.loads(block) for block in blocks]
