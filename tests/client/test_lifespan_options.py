"""``DevSMSLifespan`` takes ``AsyncDevSMS``'s options as explicit keyword arguments:
the same names, kinds and defaults as ``BaseClient.__init__`` (where they are declared),
every one reaching the client, and a misspelt one refused naming the class."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest

from devsms_async import AsyncDevSMS, ValidationError
from devsms_async._base import BaseClient
from devsms_async.contrib.fastapi import DevSMSLifespan
from devsms_async.testing import Sandbox
from support import TOKEN

OWN = ("self", "client", "lifespan", "unknown")
"""DevSMSLifespan's own parameters; the rest are the client's options."""

# The two options generic in the face's httpx types are the async ones here.
FACE_TYPES = {"HTTPClientT": "AsyncClient", "TransportT": "AsyncBaseTransport"}


def options(function: Any, skip: tuple[str, ...]) -> list[inspect.Parameter]:
    return [p for p in inspect.signature(function).parameters.values() if p.name not in skip]


def test_the_lifespan_declares_exactly_the_clients_options() -> None:
    declared = options(BaseClient.__init__, ("self", "unknown"))
    listed = options(DevSMSLifespan.__init__, OWN)
    assert [p.name for p in listed] == [p.name for p in declared]
    for mine, theirs in zip(listed, declared, strict=True):
        assert mine.kind is inspect.Parameter.KEYWORD_ONLY, mine.name
        assert mine.default == theirs.default, mine.name
        annotation = str(theirs.annotation)
        for generic, concrete in FACE_TYPES.items():
            annotation = re.sub(rf"\b{generic}\b", concrete, annotation)
        assert str(mine.annotation) == annotation, mine.name


@pytest.mark.parametrize(
    ("option", "suggestion"),
    [("sendr", "sender"), ("timeuot", "timeout"), ("phonecheck", "phone_check")],
)
def test_a_misspelt_option_is_refused_naming_the_class(option: str, suggestion: str) -> None:
    with pytest.raises(ValidationError) as info:
        DevSMSLifespan(**{option: "x"})
    assert info.value.field == option
    assert str(info.value) == (
        f"{option}: is not an option of DevSMSLifespan; did you mean {suggestion!r}?"
    )


def test_an_option_nothing_like_any_lists_them() -> None:
    with pytest.raises(
        ValidationError, match=r"options: client, lifespan, token, base_url, .*, phone_check$"
    ):
        DevSMSLifespan(zzz=1)  # type: ignore[call-arg]


def test_every_option_given_reaches_the_client_and_only_those() -> None:
    sandbox = Sandbox()
    transport = sandbox.transport()
    lifespan = DevSMSLifespan(
        token=TOKEN,
        transport=transport,
        sender="MyShop",
        max_retries=0,
        default_region="KZ",
        phone_check="possible",
        timezone=None,
    )
    sms = lifespan._factory()
    assert isinstance(sms, AsyncDevSMS)
    assert (sms.default_region, sms.phone_check) == ("KZ", "possible")
    assert sms._sender == "MyShop"
    assert sms._policy.max_retries == 0
    assert sms._tz is None
    assert sms._transport is transport
    # Options left out are the client's own defaults (not copies of them).
    plain = DevSMSLifespan(token=TOKEN)._factory()
    assert (plain.default_region, plain.phone_check, plain._sender) == ("UZ", "valid", None)


def test_a_factory_and_options_exclude_each_other() -> None:
    with pytest.raises(ValidationError, match="not both"):
        DevSMSLifespan(lambda: AsyncDevSMS(TOKEN), phone_check="possible")
