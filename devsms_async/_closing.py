"""The context-manager methods of everything that is closed by ``close()`` or ``aclose()``.

```python
class Pool(Closing):
    def close(self) -> None: ...

with Pool() as pool:  # pool.close() on the way out, whatever happened
    ...
```

A class whose entry does work (opening a pool) keeps its own ``__enter__``/``__aenter__``
and takes only the exit from here. Exits never swallow an exception.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["AsyncClosing", "Closing"]

_Self = TypeVar("_Self")


class Closing:
    """``with obj:`` returns ``obj`` and calls ``obj.close()`` on exit."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClosing:
    """``async with obj:`` returns ``obj`` and awaits ``obj.aclose()`` on exit."""

    __slots__ = ()

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self: _Self) -> _Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
