"""Fork a process that already used a verify store, then use the store in both.

    python tests/verify/verify_fork_worker.py async|sync URL PREFIX

The parent opens the store's pool first (a pooled connection exists), forks, and
both processes hammer the store at once (tasks or threads), each on its own keys,
checking every answer. Each prints one JSON line: role, how many answers were wrong,
the errors, and the Redis CLIENT IDs its connections had.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from typing import Any

from devsms_async.verify import RedisStore, SyncRedisStore

ROUNDS = 60
WORKERS = 8


def _report(role: str, bad: int, errors: list[str], ids: set[int]) -> None:
    line = {"role": role, "bad": bad, "errors": errors[:3], "ids": sorted(ids)}
    print(json.dumps(line), flush=True)


async def _hammer_async(store: RedisStore, role: str) -> tuple[int, list[str], set[int]]:
    bad, errors, ids = 0, [], set()

    async def one(n: int) -> None:
        nonlocal bad
        for i in range(ROUNDS):
            mine = f"{role}:{n}:{i}"
            try:
                await store.set_flag(mine, ttl=60)
                if not await store.has_flag(mine) or await store.has_flag(f"none:{mine}"):
                    bad += 1
                ids.add(int(await store.redis.client_id()))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return

    await asyncio.gather(*(one(n) for n in range(WORKERS)))
    return bad, errors, ids


def run_async(url: str, prefix: str) -> None:
    store = RedisStore(url=url, prefix=prefix)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    def on_loop(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(60)

    parent_id = on_loop(store.redis.client_id())  # a pooled connection now exists
    pid = os.fork()
    if pid == 0:
        bad, errors, ids = asyncio.run(_hammer_async(store, "child"))
        _report("child", bad, errors, ids)
        os._exit(0)
    bad, errors, ids = on_loop(_hammer_async(store, "parent"))
    os.waitpid(pid, 0)
    _report("parent", bad, errors, ids | {parent_id})


def _hammer_sync(store: SyncRedisStore, role: str) -> tuple[int, list[str], set[int]]:
    bad, errors, ids = 0, [], set()
    lock = threading.Lock()

    def one(n: int) -> None:
        nonlocal bad
        for i in range(ROUNDS):
            mine = f"{role}:{n}:{i}"
            try:
                store.set_flag(mine, ttl=60)
                wrong = not store.has_flag(mine) or store.has_flag(f"none:{mine}")
                client = int(store.redis.client_id())
                with lock:
                    bad += wrong
                    ids.add(client)
            except Exception as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                return

    threads = [threading.Thread(target=one, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return bad, errors, ids


def run_sync(url: str, prefix: str) -> None:
    store = SyncRedisStore(url=url, prefix=prefix)
    parent_id = int(store.redis.client_id())
    pid = os.fork()
    role = "child" if pid == 0 else "parent"
    bad, errors, ids = _hammer_sync(store, role)
    if pid == 0:
        _report(role, bad, errors, ids)
        os._exit(0)
    os.waitpid(pid, 0)
    _report(role, bad, errors, ids | {parent_id})


if __name__ == "__main__":
    mode, url, prefix = sys.argv[1:4]
    (run_async if mode == "async" else run_sync)(url, prefix)
