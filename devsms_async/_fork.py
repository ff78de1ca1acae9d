"""Fork safety for anything that pools sockets or other shared handles.

After ``os.fork()`` (Celery prefork, ``gunicorn --preload``, ``multiprocessing`` with the
``fork`` start method) the child holds copies of its parent's file descriptors: a
pooled keep-alive socket is then *one* connection read and written by two processes,
and each may read the other's answer. The rule here: a process never uses a pooled
handle that another process opened.

```python
from devsms_async._fork import ForkGuard, abandon

class Pool:
    def __init__(self) -> None:
        self._guard = ForkGuard()
        self._conns = make_connections()

    def get(self):
        if self._guard.forked():  # first use in a forked child
            abandon(self._conns)  # the parent's: never used, never closed here
            self._conns = make_connections()
            self._guard.renew()
        ...
```

A PID check rather than ``os.register_at_fork``: it also covers a fork made by C code
(which runs no Python at-fork hooks), needs no global registry of live objects, and
``os.getpid()`` costs well under a microsecond, next to a request's ~100 µs.
"""

from __future__ import annotations

import os
import threading

__all__ = ["ForkGuard", "abandon"]


class ForkGuard:
    """Remembers the process that built a resource: ``forked()`` is ``True`` when the
    current process is another one (a fork of it); ``renew()`` after rebuilding."""

    __slots__ = ("pid",)

    def __init__(self) -> None:
        self.pid = os.getpid()

    def forked(self) -> bool:
        return os.getpid() != self.pid

    def renew(self) -> None:
        self.pid = os.getpid()

    def __repr__(self) -> str:
        return f"<ForkGuard pid={self.pid}>"


_abandoned: list[object] = []
_abandoned_lock = threading.Lock()


def abandon(resource: object) -> None:
    """Keep a pool inherited from the parent alive and untouched in this process.

    Closing it could write to sockets the parent still uses (a TLS ``close_notify``, an
    HTTP/2 ``GOAWAY``, ``shutdown()`` on a shared descriptor, an asyncio transport
    flushing on the parent's copied loop), and so could its finalizers if it were
    garbage-collected. Kept here it is never read, written or closed; the process's
    copies of the descriptors go when it exits (at most one pool per object and fork).
    """
    with _abandoned_lock:
        _abandoned.append(resource)
