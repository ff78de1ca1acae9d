"""What many tests share that is not a fixture: the repository's paths, the test token, a
balance answer, a history record and the spec's JSON examples. Fixtures live in
tests/conftest.py (and a folder's own conftest.py); the servers the tests start and the
helpers of one topic live beside this module (faultserver, redis_server, postgres_server,
served, cli, browser)."""

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
# A get_balance answer as the service writes it: 1,000 so'm at 50 a message, nothing sent.
BALANCE_ANSWER = {
    "success": True,
    "data": {
        "balance": 1000,
        "sms_price": 50,
        "statistics": {
            "total_sms": 0,
            "total_spent": 0,
            "today_sms": 0,
            "today_spent": 0,
            "month_sms": 0,
            "month_spent": 0,
        },
    },
}


def history_record(**fields: Any) -> dict[str, Any]:
    """One record of get_history as the spec's example writes it, with `fields` changed."""
    return {
        "id": 1,
        "phone_number": "998901234567",
        "message": "Salom!",
        "status": "delivered",
        "parts_count": 1,
        "total_cost": 50,
        "from_number": "4546",
        "eskiz_request_id": "uuid-here",
        "eskiz_message_id": "msg-id",
        "sent_at": "2026-03-09 10:30:00",
        "delivered_at": "2026-03-09 10:30:05",
        "failed_at": None,
        "created_at": "2026-03-09 10:29:58",
        **fields,
    }


def spec_json_examples() -> list[Any]:
    """Every ```json block of the English spec, decoded exactly as written."""
    text = (SPEC_DIR / "devsms-api.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    return [json.loads(block) for block in blocks]
