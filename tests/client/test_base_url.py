"""``base_url`` is an API root and nothing else: credentials in it (which httpx would
send as Basic auth instead of the Bearer token, and log), a query or a fragment (which
would swallow the endpoint paths) are refused at construction with a ``ValidationError``
that never repeats the secret, whichever face, backend or source (argument or
``DEVSMS_BASE_URL``) gave the URL."""

from __future__ import annotations

import logging
import pickle
import traceback
import urllib.parse
from typing import Any

import pytest

from devsms_async import AsyncDevSMS, DevSMS, ValidationError

SECRET = "s3cr3t/Pa55 w0rd"
USER = "alice-the-admin"
QUOTED = urllib.parse.quote(SECRET, safe="")

WITH_CREDENTIALS = [
    f"http://{USER}:{QUOTED}@127.0.0.1:8000/api",
    f"https://{USER}:{QUOTED}@devsms.uz/api",
    f"https://{QUOTED}@devsms.uz/api",  # a token pasted as the user name
    f"https://{USER}:@devsms.uz/api",
    "https://@devsms.uz/api",
]
WITH_QUERY_OR_FRAGMENT = [
    f"https://devsms.uz/api?key={QUOTED}",
    f"https://devsms.uz/api#{QUOTED}",
    "https://devsms.uz/api?",
    "https://devsms.uz/api#",
    "http://127.0.0.1:8000/api/?x=1",
]
FACES = [AsyncDevSMS, DevSMS]
BACKENDS = ["httpx", "aiohttp", "auto"]


def forms_of_the_secret() -> list[str]:
    return [SECRET, QUOTED, urllib.parse.quote_plus(SECRET), USER, "s3cr3t"]


def assert_secret_free(error: ValidationError, logged: str) -> None:
    texts = [
        str(error),
        repr(error),
        "".join(traceback.format_exception(error)),
        pickle.dumps(error).decode("latin-1"),
        logged,
    ]
    for text in texts:
        for form in forms_of_the_secret():
            assert form not in text


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("http_backend", BACKENDS)
@pytest.mark.parametrize("url", WITH_CREDENTIALS)
def test_a_base_url_with_credentials_is_refused_without_repeating_them(
    face: Any, http_backend: str, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    if face is DevSMS and http_backend == "aiohttp":
        http_backend = "httpx"  # DevSMS refuses aiohttp itself; the URL is what counts here
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ValidationError) as caught:
        face("token", base_url=url, http_backend=http_backend)
    assert caught.value.field == "base_url"
    assert "user name or password" in caught.value.reason
    assert_secret_free(caught.value, caplog.text)


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("url", WITH_QUERY_OR_FRAGMENT)
def test_a_base_url_with_a_query_or_fragment_is_refused(face: Any, url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        face("token", base_url=url)
    assert caught.value.field == "base_url"
    assert "query" in caught.value.reason
    assert_secret_free(caught.value, "")


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("url", [WITH_CREDENTIALS[0], WITH_QUERY_OR_FRAGMENT[0]])
def test_the_same_url_from_the_environment_is_refused_and_blamed_on_it(
    face: Any, url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DEVSMS_BASE_URL", url)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ValidationError) as caught:
        face("token")
    assert caught.value.field == "base_url"
    assert "DEVSMS_BASE_URL" in caught.value.reason
    assert_secret_free(caught.value, caplog.text)


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",
        "http://127.0.0.1:99999/api",
        "https://devsms.uz/a pi",
        "https://devsms.uz/\x00",
    ],
)
def test_a_malformed_base_url_is_a_validation_error(face: Any, url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        face("token", base_url=url)
    assert caught.value.field == "base_url"


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize(
    "url", ["https://devsms.uz/api", "http://127.0.0.1:8000/api/", "https://[::1]:8443/x"]
)
def test_a_plain_api_root_is_accepted(face: Any, url: str) -> None:
    assert f"base_url={url.rstrip('/')!r}" in repr(face("token", base_url=url))
