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

How a fork is noticed: ``os.register_at_fork`` bumps a process generation in every
child that ``os.fork()`` makes (``multiprocessing``'s fork start method, Celery's
billiard and gunicorn all fork that way), and a guard compares its generation with it:
a global read, where ``os.getpid()`` is a system call on every check. Where Python has
no ``register_at_fork`` (not POSIX) the guard compares PIDs instead. A fork made by C
code that runs no at-fork hooks is not seen; every fork of the servers and pools named
above runs them.
"""

from __future__ import annotations

import os
import threading

__all__ = ["ForkGuard", "abandon"]


_generation = 0
"""How many forks lie between the first process and this one (0 in the first)."""


def _after_fork_in_child() -> None:
    global _generation
    _generation += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
    _USE_PID = False
else:  # pragma: no cover - no os.fork() there either
    _USE_PID = True


class ForkGuard:
    """Remembers the process that built a resource: ``forked()`` is ``True`` when the
    current process is another one (a fork of it); ``renew()`` after rebuilding."""

    __slots__ = ("generation", "pid")

    def __init__(self) -> None:
        self.renew()

    def forked(self) -> bool:
        if _USE_PID:  # pragma: no cover
            return os.getpid() != self.pid
        return _generation != self.generation

    def renew(self) -> None:
        self.generation = _generation
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
