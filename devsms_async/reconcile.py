"""What ``reconcile`` (``AsyncDevSMS.reconcile``, ``DevSMS.reconcile``) finds: whether a
send whose outcome is unknown reached the provider after all, looked up in the history.

```python
from devsms_async.reconcile import ReconcileFound

result = await sms.reconcile(error)
if isinstance(result, ReconcileFound):
    print(result.record.status)
```

A bulk job's journal is settled by ``reconcile_journal``, whose result is
``devsms_async.bulk.JournalReconcileResult``. See docs/errors.md.
"""

from __future__ import annotations

from ._reconcile import AnyReconcileResult, ReconcileFound, ReconcileNotFound, ReconcileResult

__all__ = ["AnyReconcileResult", "ReconcileFound", "ReconcileNotFound", "ReconcileResult"]
