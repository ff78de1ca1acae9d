"""The iterators that walk the whole SMS history (``iter_history``,
``iter_history_pages``): ``AsyncHistoryIterator`` from ``AsyncDevSMS``, ``HistoryIterator``
from ``DevSMS``, the same walk each (see docs/history.md).

```python
from devsms_async import AsyncDevSMS, SmsRecord
from devsms_async.pagination import AsyncHistoryIterator

def delivered(sms: AsyncDevSMS) -> AsyncHistoryIterator[SmsRecord]:
    return sms.iter_history(status="delivered")
```
"""

from __future__ import annotations

from ._paging import AsyncHistoryIterator, HistoryIterator

__all__ = ["AsyncHistoryIterator", "HistoryIterator"]
