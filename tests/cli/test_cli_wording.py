"""What ``devsms`` says when something is off, run as a user runs it (a subprocess):
errors name where a bad value came from and how to fix it, a costly single send asks
first, and help and progress look the same everywhere and fit 80 columns."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from support.cli import PHONE, Served, devsms, numbered, one_error_line, write_csv


def test_a_bad_base_url_from_the_environment_names_the_variable() -> None:
    result = devsms("balance", DEVSMS_TOKEN="t0ken-value", DEVSMS_BASE_URL="htp://x")
    line = one_error_line(result)
    assert result.returncode == 2
    assert line.startswith("error: DEVSMS_BASE_URL: ")
    assert "--base-url" not in line
    flag = devsms("--token", "t0ken-value", "--base-url", "htp://x", "balance")
    assert one_error_line(flag).startswith("error: --base-url: ")


@pytest.mark.parametrize("where", ["flag", "env"])
def test_a_token_copied_with_bearer_says_to_drop_it(where: str) -> None:
    if where == "flag":
        result = devsms("--sandbox", "--token", "Bearer abc123", "balance")
    else:
        result = devsms("--sandbox", "balance", DEVSMS_TOKEN="Bearer abc123")
    line = one_error_line(result)
    assert result.returncode == 2
    assert "drop the 'Bearer ' in front" in line
    assert ("--token" if where == "flag" else "DEVSMS_TOKEN") in line
    assert "abc123" not in line


def test_a_base_url_without_api_gets_a_hint_on_404(served: Served) -> None:
    root = served.base_url.removesuffix("/api")
    result = devsms("--base-url", root, "--token", served.sandbox.token, "balance")
    line = one_error_line(result)
    assert result.returncode == 1
    assert "404" in line
    assert f"the API root usually ends in /api (e.g. {root}/api)" in line
    # With /api, a 404 (an unknown SMS) gets no such hint.
    status = devsms(*served.args("status", "999"))
    assert "/api" not in one_error_line(status)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_host_is_named_and_a_send_says_nothing_was_sent() -> None:
    port = _closed_port()
    base = f"http://127.0.0.1:{port}/api"
    result = devsms("--base-url", base, "--token", "t0ken-value", "send", PHONE, "Salom")
    line = one_error_line(result)
    assert result.returncode == 1
    assert f"could not connect to 127.0.0.1:{port}" in line
    assert "nothing was sent" in line


def test_a_costly_single_send_asks_first_and_yes_skips(served: Served) -> None:
    abroad = "+79161234567"  # Russia: over 10 000 so'm a part
    refused = devsms(*served.args("send", abroad, "Privet"))
    line = one_error_line(refused)
    assert refused.returncode == 2
    assert "not sending without confirmation" in line
    assert "--yes" in line
    assert "Nothing was sent" in line
    assert served.sent() == []
    sent = devsms(*served.args("send", abroad, "Privet", "--yes"))
    assert sent.returncode == 0, sent.stderr
    assert len(served.sent()) == 1
    cheap = devsms(*served.args("send", PHONE, "Salom"))  # 50 so'm: no question
    assert cheap.returncode == 0, cheap.stderr


def test_the_progress_bar_fits_80_columns_and_labels_its_times(
    served: Served, tmp_path: Path
) -> None:
    data = write_csv(tmp_path / "job.csv", numbered(300))
    result = devsms(*served.args("bulk", str(data), "--yes"), COLUMNS="80")
    assert result.returncode == 0, result.stderr
    bar = [line for line in result.stderr.splitlines() if "300/300" in line]
    assert bar, result.stderr
    for line in bar:
        assert len(line.rstrip()) <= 80, line
        assert "elapsed " in line
        assert " left " in line
        assert "300 sent" in line


def test_help_looks_the_same_everywhere() -> None:
    serve = devsms("sandbox", "serve", "--help")
    assert serve.returncode == 0
    assert "Usage: devsms sandbox serve [OPTIONS]" in serve.stdout
    assert "╭─ Options" in serve.stdout
    assert "--advance-every" in serve.stdout
    assert "usage:" not in serve.stdout  # not argparse's own look
    for command in ("bulk", "send", "otp", "status", "estimate"):
        usage = [line for line in devsms(command, "--help").stdout.splitlines() if "Usage:" in line]
        assert usage
        assert "{" not in usage[0], usage
    assert "[default: 0]" not in devsms("history", "--help").stdout


def test_a_mistyped_choice_is_said_plainly_with_the_nearest_one() -> None:
    result = devsms("--sandbox", "otp", PHONE, "-c", "1234", "-n", "Shop", "--template", "lgoin")
    line = one_error_line(result)
    assert result.returncode == 2
    assert "Value error" not in line
    assert "'lgoin' is not one of confirm, reset, register, login" in line
    assert "did you mean 'login'?" in line
