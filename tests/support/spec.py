"""The spec's JSON examples by name (tests/spec/devsms-api.md), each the only one of its kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from support import spec_json_examples

EXAMPLES = spec_json_examples()


def example(predicate: Callable[[Any], bool]) -> dict[str, Any]:
    """The one example `predicate` picks (an assertion if it picks none or several)."""
    matches = [e for e in EXAMPLES if predicate(e)]
    assert len(matches) == 1, matches
    return matches[0]  # type: ignore[no-any-return]


SEND_UZ = example(lambda e: e.get("data", {}).get("sms_id") == 123)
SEND_INTL = example(lambda e: e.get("data", {}).get("sms_id") == 124)
OTP_REQUEST = example(lambda e: e.get("type") == "universal_otp")
OTP_RESPONSE = example(lambda e: e.get("data", {}).get("sms_id") == 456)
OTP_BLOCKED = example(lambda e: e.get("success") is False)
HISTORY = example(lambda e: "history" in e.get("data", {}))
BALANCE = example(lambda e: "sms_price" in e.get("data", {}))
STATUS = example(lambda e: "updated_at" in e.get("data", {}))
CALLBACK = example(lambda e: "timestamp" in e)
