"""docs/ratelimit.md runs: every complete example prints what the page says, on the
sandbox and a real redis-server (tests/support/redis_server.py) given as REDIS_URL."""

from __future__ import annotations

import pytest

from support import ROOT as REPO
from support.docs import run_doc_examples


def test_the_rate_limit_page_examples_print_what_they_say(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert run_doc_examples(REPO / "docs" / "ratelimit.md") == 4
