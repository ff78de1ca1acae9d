"""The examples of docs/verify.md: the FastAPI login flow runs against the sandbox,
the testing examples run as written, and every block type-checks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import devsms_async
from devsms_async.testing import ManualClock, Sandbox
from devsms_async.verify import MemoryStore, Verifier

PAGE = Path(__file__).resolve().parents[2] / "docs" / "verify.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)


def block(marker: str) -> str:
    (found,) = [b for b in BLOCKS if marker in b]
    return found


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Sandbox]:
    sandbox = Sandbox(token="docs-token")

    class SandboxedClient(devsms_async.AsyncDevSMS):
        def __init__(self, token: str | None = None, **options: Any) -> None:
            options.setdefault("transport", sandbox.transport())
            super().__init__(token, **options)

    monkeypatch.setattr(devsms_async, "AsyncDevSMS", SandboxedClient)
    monkeypatch.setenv("DEVSMS_TOKEN", "docs-token")
    monkeypatch.setenv("VERIFY_SECRET", "docs-secret-0123456789abcdef")
    namespace: dict[str, Any] = {"__name__": "docs_verify"}
    exec(compile(block("FastAPI(lifespan"), "verify.md[fastapi]", "exec"), namespace)
    return namespace["app"], sandbox


async def test_the_fastapi_login_flow(app: tuple[Any, Sandbox]) -> None:
    fastapi_app, sandbox = app
    async with fastapi_app.router.lifespan_context(fastapi_app):
        transport = httpx.ASGITransport(app=fastapi_app, client=("203.0.113.5", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            started = await http.post("/login/start", json={"phone": "+998 90 123 45 67"})
            assert started.status_code == 200, started.text
            assert started.json()["sent_to"] == "99890***4567"
            assert "1234567" not in started.text

            again = await http.post("/login/start", json={"phone": "998901234567"})
            assert again.status_code == 429
            assert 1 <= int(again.headers["retry-after"]) <= 60

            code = sandbox.last_otp("998901234567")
            wrong = "000000" if code != "000000" else "111111"
            bad = await http.post("/login/check", json={"phone": "998901234567", "code": wrong})
            assert bad.status_code == 401
            assert "4 attempts left" in bad.text

            ok = await http.post("/login/check", json={"phone": "998901234567", "code": code})
            assert ok.status_code == 200
            assert ok.json()["ok"] is True
            gone = await http.post("/login/check", json={"phone": "998901234567", "code": code})
            assert gone.status_code == 410

            abroad = await http.post("/login/start", json={"phone": "77012345678"})
            assert abroad.status_code == 403
            invalid = await http.post("/login/start", json={"phone": "12"})
            assert invalid.status_code == 422
            typo = await http.post("/login/check", json={"phone": "998901234567", "code": "12"})
            assert typo.status_code == 422

            # The caller's IP is the key: ten numbers an hour, then 429.
            statuses = []
            for n in range(10):
                answer = await http.post("/login/start", json={"phone": f"99890100{n:04d}"})
                statuses.append(answer.status_code)
            assert statuses == [200] * 9 + [429]


async def test_the_testing_examples_run() -> None:
    namespace: dict[str, Any] = {"__name__": "docs_verify_testing"}
    exec(compile(block("def test_login"), "verify.md[testing]", "exec"), namespace)
    for name in ("test_login", "test_expiry"):
        clock = ManualClock()
        sandbox = Sandbox(clock=clock)
        async with sandbox.client() as sms:
            verifier = Verifier(
                sms, MemoryStore(), service_name="Sandbox App", secret_key="k" * 32, clock=clock
            )
            if name == "test_login":
                await namespace[name](verifier, sandbox)
            else:
                await namespace[name](verifier, sandbox, clock)


def test_the_blocks_type_check(tmp_path: Path) -> None:
    """mypy --strict over the blocks (aiogram is not installed: its imports are Any,
    so its decorators are untyped for mypy; the rest of that block is checked)."""
    files = []
    for index, code in enumerate(BLOCKS):
        if "token_typed_by" in code or "code_typed_by_the_user" in code or "..." in code:
            continue
        path = tmp_path / f"block_{index}.py"
        path.write_text(code, encoding="utf-8")
        files.append(str(path))
    assert len(files) >= 3
    config = tmp_path / "mypy.ini"
    config.write_text(
        "[mypy]\nstrict = True\ndisallow_untyped_decorators = False\n"
        "[mypy-aiogram.*]\nignore_missing_imports = True\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), *files],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_the_fastapi_app_answers_503_while_redis_is_down(
    app: tuple[Any, Sandbox], tmp_path: Path
) -> None:
    """The documented handler: a store that cannot be reached is a 503 with Retry-After,
    and nothing is sent (a real redis-server, stopped before the requests)."""
    from devsms_async.verify import RedisStore
    from support.redis_server import running_redis

    fastapi_app, sandbox = app
    async with fastapi_app.router.lifespan_context(fastapi_app):
        with running_redis(tmp_path) as server:
            url = server.url
        documented: Verifier = fastapi_app.state.verifier
        async with RedisStore(url=url + "?socket_connect_timeout=2") as store:
            fastapi_app.state.verifier = Verifier(
                documented._sms, store, service_name="MyShop", secret_key="s" * 32
            )
            transport = httpx.ASGITransport(app=fastapi_app, client=("203.0.113.5", 5000))
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
                started = await http.post("/login/start", json={"phone": "998901234567"})
                assert started.status_code == 503
                assert started.headers["retry-after"] == "60"
                checked = await http.post(
                    "/login/check", json={"phone": "998901234567", "code": "123456"}
                )
                assert checked.status_code == 503
    assert not [r for r in sandbox.requests if r.endpoint == "send_sms.php"]


def test_the_sync_example_runs() -> None:
    namespace: dict[str, Any] = {"__name__": "docs_verify_sync"}
    exec(
        compile(block("SyncVerifier(sms, SyncMemoryStore()"), "verify.md[sync]", "exec"), namespace
    )
    sandbox = Sandbox()
    with sandbox.sync_client() as sms:
        assert namespace["log_in"](sms, b"s" * 32, "203.0.113.9", "000000") is (
            sandbox.last_otp("998901234567") == "000000"
        )
    assert len(sandbox.messages) == 1
