"""One way to serve the sandbox: ``devsms sandbox serve`` hands its arguments to the same
``main`` as ``python -m devsms_async.testing`` (one parser, one first line, one set of
defaults). The processes themselves are run in test_sandbox_main.py and test_cli.py."""

from __future__ import annotations

import re
from typing import Any

import pytest

from devsms_async.cli import _app
from devsms_async.testing import _command


def test_both_entry_points_print_the_same_help(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert _command.main(["--help"]) == 0
    direct = capsys.readouterr().out
    assert _app.run_cli(["sandbox", "serve", "--help"]) == 0
    via_cli = capsys.readouterr().out
    assert direct.startswith("usage: python -m devsms_async.testing ")
    # devsms shows the same options in the look of its other commands' help.
    assert "Usage: devsms sandbox serve [OPTIONS]" in via_cli
    shown = set(re.findall(r"--[a-z0-9-]+", direct))
    assert shown == set(re.findall(r"--[a-z0-9-]+", via_cli))
    for option in ("--show-numbers", "--no-inbox", "--verbose", "--advance-every SECONDS"):
        assert option in direct
    assert "--quiet" not in direct  # deprecated: accepted, not advertised


@pytest.mark.parametrize(
    ("argv", "forwarded"),
    [
        (["sandbox", "serve", "--port", "0"], ["--port", "0"]),
        (["-v", "sandbox", "serve", "--show-numbers"], ["-v", "--show-numbers"]),
        (["-vv", "sandbox", "serve"], ["-v", "-v"]),
        (["sandbox", "serve", "-v", "--token", "T"], ["-v", "--token", "T"]),
    ],
)
def test_devsms_sandbox_serve_delegates_every_argument(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], forwarded: list[str]
) -> None:
    calls: list[tuple[list[str], Any]] = []

    def fake_main(args: list[str], *, prog: str) -> int:
        calls.append((list(args), prog))
        return 0

    monkeypatch.setattr(_command, "main", fake_main)
    assert _app.run_cli(argv) == 0
    assert calls == [(forwarded, "devsms sandbox serve")]


def test_the_defaults_are_one_set() -> None:
    args = _command.build_parser("x").parse_args([])
    assert (args.host, args.port, args.token) == ("127.0.0.1", 8000, "sandbox-token")
    assert (args.balance, args.sms_price, args.advance_every) == (100_000, 50, 2.0)
    assert (args.show_numbers, args.no_inbox, args.verbose) == (False, False, 0)
    assert _command.FIRST_LINE.format(url="U") == "DevSMS sandbox serving at: U"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--port", "65536"], "must be a port from 0 to 65535"),
        (["--port", "x"], "must be a port"),
        (["--balance", "-1"], "so'm >= 0"),
        (["--sms-price", "1.5"], "so'm >= 0"),
        (["--advance-every", "-2"], "seconds >= 0"),
        (["--advance-every", "inf"], "seconds >= 0"),
        (["--token", "a b"], "--token must be non-empty, without spaces"),
        (["--token", ""], "--token must be non-empty, without spaces"),
        (["--colour"], "unrecognized arguments: --colour"),
        (["--latency", "-5"], "milliseconds >= 0"),
        (["--latency", "soon"], "milliseconds >= 0"),
        (["--rate-limit", "0"], "requests >= 1"),
        (["--rate-limit", "2.5"], "requests >= 1"),
    ],
)
def test_bad_arguments_are_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    assert _command.main(argv) == 2
    captured = capsys.readouterr()
    assert words in captured.err
    assert captured.out == ""
    assert "Traceback" not in captured.err
