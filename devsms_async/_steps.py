"""One flow for both faces: a generator of steps, and a sync and an async driver.

A flow that needs I/O in the middle (a store call, a send) is written once as a
generator. It yields each call as a ``Step`` (a callable taking no arguments, usually a
``functools.partial``), and receives the call's result back from ``yield`` (or its
exception, raised at the ``yield``). ``run`` makes the calls plainly; ``drive`` awaits
them. The flow itself never awaits, so the sync and the async face cannot drift apart:
they differ only in the driver.

```python
def _check(self, phone: str) -> Steps[bool]:
    found = yield functools.partial(self._store.get, phone)
    return found is not None
```
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeAlias, TypeVar, cast

__all__ = ["Step", "Steps", "drive", "run"]

T = TypeVar("T")

Step: TypeAlias = Callable[[], Any]
"""One call of a flow: returns the value (sync face) or an awaitable of it (async face)."""
Steps: TypeAlias = Generator[Step, Any, T]
"""A flow: yields ``Step`` s, receives their results, returns a ``T``."""


def _resume(steps: Steps[T], value: object, error: BaseException | None) -> tuple[bool, Any]:
    """Hand the last step's result (or error) to the flow: ``(True, result)`` when the
    flow returned, else ``(False, next step)``."""
    try:
        step = steps.send(value) if error is None else steps.throw(error)
    except StopIteration as done:
        return True, done.value
    return False, step


def _call(step: Step) -> tuple[object, BaseException | None]:
    try:
        return step(), None
    except BaseException as exc:  # the flow decides; what it does not catch rises
        return None, exc


async def _await(step: Step) -> tuple[object, BaseException | None]:
    try:
        return await step(), None
    except BaseException as exc:  # cancellation too: the flow's finally blocks run
        return None, exc


def run(steps: Steps[T]) -> T:
    """Run a flow, calling each step."""
    done, item = _resume(steps, None, None)
    while not done:
        done, item = _resume(steps, *_call(item))
    return cast(T, item)


async def drive(steps: Steps[T]) -> T:
    """Run a flow, awaiting each step."""
    done, item = _resume(steps, None, None)
    while not done:
        done, item = _resume(steps, *(await _await(item)))
    return cast(T, item)
