"""Parse the delivery reports DevSMS POSTs to your ``callback_url``.

The service sends one JSON object per status change (sent, delivered, failed) with a
5-second timeout and **no retry**: answer fast, do the work in the background, and
poll ``get_status`` (or ``wait_for_status``) for reports that never arrive. No
signature is documented: put a secret of your own in the callback URL if you need to
tell real reports from forged ones (``devsms_async.contrib.fastapi`` does that).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from typing import Any

from ._converter import TASHKENT, structure
from .errors import ValidationError
from .models import DeliveryReport

__all__ = ["parse_callback"]

MAX_CALLBACK_BYTES = 64 * 1024


def parse_callback(
    payload: bytes | bytearray | str | Mapping[str, Any],
    *,
    timezone: _dt.tzinfo | None = TASHKENT,
) -> DeliveryReport:
    """Turn a callback body (raw bytes, text or an already decoded mapping) into a
    ``DeliveryReport``. Anything else raises ``ValidationError`` (field ``payload``).
    """
    data: Any
    if isinstance(payload, bytes | bytearray | str):
        if len(payload) > MAX_CALLBACK_BYTES:
            raise ValidationError("payload", f"is larger than {MAX_CALLBACK_BYTES} bytes")
        try:
            data = json.loads(payload)
        except (ValueError, RecursionError):
            raise ValidationError("payload", "is not valid JSON") from None
    elif isinstance(payload, Mapping):
        data = dict(payload)
    else:
        raise ValidationError(
            "payload", f"must be bytes, str or a mapping, not {type(payload).__name__}"
        )
    if not isinstance(data, dict):
        raise ValidationError("payload", f"must be a JSON object, got {type(data).__name__}")
    try:
        return structure(data, DeliveryReport, timezone)
    except Exception as exc:
        detail = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        raise ValidationError("payload", f"is not a delivery report: {detail[:200]}") from exc
