"""docs/sync.md's Django example runs under real Django (RequestFactory, the views as
written) against the served sandbox over HTTP and a real redis-server that the test
starts, and stops mid-way to see the 503 answers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.from_thread
import pytest

from devsms_async.testing import Sandbox, serve_sandbox
from support.redis_server import RedisServer, running_redis

django = pytest.importorskip("django")

from django.conf import settings  # noqa: E402 - after the skip
from django.test import RequestFactory  # noqa: E402

PAGE = Path(__file__).resolve().parents[2] / "docs" / "sync.md"
PHONE = "998901234567"
TOKEN = "django-docs-token"


def _block() -> str:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)
    [code] = [b for b in blocks if "def start_login" in b]
    return code


@pytest.fixture
def views(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dict[str, Any], Sandbox, RedisServer]]:
    if not settings.configured:
        settings.configure(ALLOWED_HOSTS=["testserver"], SECRET_KEY="django-test", DEBUG=False)
    sandbox = Sandbox(token=TOKEN)
    with (
        running_redis(tmp_path) as redis,
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_sandbox(sandbox)) as served,
    ):
        monkeypatch.setenv("DEVSMS_TOKEN", TOKEN)
        monkeypatch.setenv("DEVSMS_BASE_URL", served.base_url)
        monkeypatch.setenv("REDIS_URL", redis.url)
        monkeypatch.setenv("VERIFY_SECRET", "django-docs-secret-0123456789abcdef")
        namespace: dict[str, Any] = {"__name__": "myapp.views"}
        exec(compile(_block(), "sync.md[django]", "exec"), namespace)
        try:
            yield namespace, sandbox, redis
        finally:
            namespace["_resources"].close()


def _post(view: Any, data: dict[str, str], ip: str = "203.0.113.7") -> Any:
    return view(RequestFactory().post("/", data, REMOTE_ADDR=ip))


def _json(response: Any) -> Any:
    import json

    return json.loads(response.content)


def _sends(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.endpoint == "send_sms.php")


def test_the_django_login_flow(views: tuple[dict[str, Any], Sandbox, RedisServer]) -> None:
    namespace, sandbox, redis = views
    start, check = namespace["start_login"], namespace["check_login"]

    sent = _post(start, {"phone": "+998 90 123 45 67"})
    assert sent.status_code == 200, sent.content
    assert _json(sent) == {"sent_to": "99890***4567"}
    assert not sent.cookies  # nothing about the code leaves in a cookie

    again = _post(start, {"phone": PHONE})
    assert again.status_code == 429
    assert 1 <= int(again["Retry-After"]) <= 60

    code = sandbox.last_otp(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    bad = _post(check, {"phone": PHONE, "code": wrong})
    assert (bad.status_code, _json(bad)) == (401, {"error": "wrong code, 4 left"})
    ok = _post(check, {"phone": PHONE, "code": code})
    assert (ok.status_code, _json(ok)) == (200, {"ok": True})
    gone = _post(check, {"phone": PHONE, "code": code})
    assert gone.status_code == 410  # single use

    assert _post(start, {"phone": "77012345678"}).status_code == 403  # abroad
    assert _post(start, {"phone": "+998 71 123 45 67"}).status_code == 403  # a fixed line
    assert _post(start, {"phone": "12"}).status_code == 422
    assert _post(check, {"phone": PHONE, "code": "12"}).status_code == 422
    get = namespace["start_login"](RequestFactory().get("/"))
    assert get.status_code == 405  # require_POST
    assert _sends(sandbox) == 1

    # Redis keeps neither the number nor the code in clear.
    import redis as sync_redis

    with sync_redis.Redis.from_url(redis.url) as connection:
        for key in connection.scan_iter():
            assert PHONE.encode() not in key
            if connection.type(key) == b"hash":
                for value in connection.hgetall(key).values():
                    assert code.encode() != value
                    assert PHONE.encode() not in value

    # The caller's address is the key: ten codes an hour, then 429.
    statuses = [
        _post(start, {"phone": f"99890100{n:04d}"}, ip="198.51.100.1").status_code
        for n in range(11)
    ]
    assert statuses == [200] * 10 + [429]


def test_redis_down_answers_503_and_sends_nothing(
    views: tuple[dict[str, Any], Sandbox, RedisServer],
) -> None:
    namespace, sandbox, redis = views
    start, check = namespace["start_login"], namespace["check_login"]
    assert _post(start, {"phone": PHONE}).status_code == 200
    code = sandbox.last_otp(PHONE)
    redis.stop()
    down = _post(check, {"phone": PHONE, "code": code})
    assert down.status_code == 503
    assert down["Retry-After"] == "60"
    assert _post(start, {"phone": "998901000002"}).status_code == 503
    assert _sends(sandbox) == 1
