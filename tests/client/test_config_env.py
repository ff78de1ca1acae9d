"""Configuration from the environment: DEVSMS_BASE_URL, like DEVSMS_TOKEN.

Precedence everywhere: the explicit argument, then the environment variable (empty
counts as unset), then the default ``https://devsms.uz/api``.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from devsms_async import AsyncDevSMS, ValidationError
from devsms_async.contrib.fastapi import DevSMSLifespan
from devsms_async.testing import Sandbox
from support import BALANCE_ANSWER

TOKEN = "env-test-token"


def recording() -> tuple[httpx.MockTransport, list[str]]:
    urls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return httpx.Response(200, json=BALANCE_ANSWER)

    return httpx.MockTransport(handler), urls


async def balance_url(**options: object) -> str:
    transport, urls = recording()
    async with AsyncDevSMS(TOKEN, transport=transport, **options) as sms:  # type: ignore[arg-type]
        await sms.get_balance()
    assert len(urls) == 1
    return urls[0]


async def test_default_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEVSMS_BASE_URL", raising=False)
    assert await balance_url() == "https://devsms.uz/api/get_balance.php"


async def test_the_variable_points_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSMS_BASE_URL", "http://127.0.0.1:8000/api/")
    assert await balance_url() == "http://127.0.0.1:8000/api/get_balance.php"


async def test_the_argument_beats_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSMS_BASE_URL", "http://127.0.0.1:8000/api")
    url = await balance_url(base_url="https://proxy.example.uz/devsms")
    assert url == "https://proxy.example.uz/devsms/get_balance.php"


@pytest.mark.parametrize("value", ["", "   "])
async def test_an_empty_variable_is_unset(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("DEVSMS_BASE_URL", value)
    assert await balance_url() == "https://devsms.uz/api/get_balance.php"


def test_a_bad_variable_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSMS_BASE_URL", "http://devsms.example.uz/api")
    with pytest.raises(ValidationError, match=r"clear text.*\(from DEVSMS_BASE_URL\)") as info:
        AsyncDevSMS(TOKEN)
    assert info.value.field == "base_url"
    monkeypatch.setenv("DEVSMS_BASE_URL", "devsms.uz/api")
    with pytest.raises(ValidationError, match="absolute"):
        AsyncDevSMS(TOKEN)


def test_a_bad_argument_is_not_blamed_on_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSMS_BASE_URL", "http://127.0.0.1:8000/api")
    with pytest.raises(ValidationError) as info:
        AsyncDevSMS(TOKEN, base_url="ftp://devsms.uz")
    assert "DEVSMS_BASE_URL" not in str(info.value)


def test_insecure_http_from_the_variable_can_be_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSMS_BASE_URL", "http://devsms.example.uz/api")
    assert "devsms.example.uz" in repr(AsyncDevSMS(TOKEN, allow_insecure_http=True))


async def test_lifespan_reads_the_variable_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    transport, urls = recording()
    lifespan = DevSMSLifespan(token=TOKEN, transport=transport)  # built before the env is set
    monkeypatch.setenv("DEVSMS_BASE_URL", "http://localhost:9999/api")
    app = FastAPI()
    async with lifespan(app):
        await app.state.devsms.get_balance()
    assert urls == ["http://localhost:9999/api/get_balance.php"]


async def test_lifespan_argument_beats_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    transport, urls = recording()
    monkeypatch.setenv("DEVSMS_BASE_URL", "http://localhost:9999/api")
    app = FastAPI()
    lifespan = DevSMSLifespan(token=TOKEN, transport=transport, base_url="https://x.example/api")
    async with lifespan(app):
        await app.state.devsms.get_balance()
    assert urls == ["https://x.example/api/get_balance.php"]


async def test_the_in_process_sandbox_ignores_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEVSMS_BASE_URL", "https://proxy.example.uz/some/prefix")
    sandbox = Sandbox()
    async with sandbox.client() as sms:
        assert (await sms.get_balance()).balance == sandbox.balance
    assert "devsms.uz/api" in repr(sandbox.client())
