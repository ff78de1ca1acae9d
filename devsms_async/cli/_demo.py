"""``devsms --sandbox demo``: a short guided tour of the SDK against the sandbox.

Every step shows the call, then what came back. Nothing leaves the process.
"""

# The Uzbek apostrophe look-alikes are the point of the last step.
# ruff: noqa: RUF001

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _render

if TYPE_CHECKING:
    from rich.console import Console

    from ..testing import Sandbox

PHONE = "998901234567"
TRAP_TEXT = (
    "Hurmatli mijoz, buyurtmangiz Oʻzbekiston boʻylab 2 kun ichida yetkaziladi. "
    "Savollar boʻlsa, qoʻngʻiroq qiling!"
)


async def tour(sandbox: Sandbox) -> None:
    from ..models import OtpTemplate
    from ..pricing import estimate_cost
    from ..sms_parts import count_parts, normalize_uzbek

    out, _ = _render.consoles()
    out.print(
        "[bold]DevSMS demo[/] against the in-process sandbox: a fake DevSMS.uz with the "
        "real API's answers. Nothing leaves your machine and nothing is charged.",
        soft_wrap=True,
    )
    out.print("[dim]The same code runs against the real service with your token.[/]")

    async with sandbox.client() as sms:
        _step(out, 1, "Balance", "balance = await sms.get_balance()")
        bal = await sms.get_balance()
        _say(
            out,
            f"{_render.money(bal.balance)}; one SMS part to an Uzbek number costs "
            f"{_render.money(bal.sms_price)}.",
        )

        _step(
            out,
            2,
            "Send an SMS",
            f'sent = await sms.send_sms("{PHONE}", "Salom! Buyurtmangiz tayyor.")',
        )
        sent = await sms.send_sms(PHONE, "Salom! Buyurtmangiz tayyor.")
        _say(
            out,
            f"sms_id {sent.sms_id}, status [cyan]{sent.status_raw}[/], {sent.parts_count} part, "
            f"{_render.money(sent.total_cost)}; balance now {_render.money(sent.balance)}.",
        )

        _step(out, 3, "A status change", "record = await sms.get_status(sms_id=sent.sms_id)")
        before = await sms.get_status(sms_id=sent.sms_id)
        _say(out, f"status {_render.styled_status(before.status_raw)}: Eskiz accepted it.")
        out.print("  [dim]# the phone receives it; the sandbox moves it along:[/]")
        out.print("  [dim]await sandbox.advance()[/]")
        await sandbox.advance()
        after = await sms.get_status(sms_id=sent.sms_id)
        _say(
            out,
            f"status {_render.styled_status(after.status_raw)} at "
            f"{_render.when(after.delivered_at)}. With a callback_url the service POSTs each "
            "change to you; `await sms.wait_for_status(sms_id)` polls when no report comes.",
        )

        _step(
            out,
            4,
            "A one-time code (universal OTP)",
            'await sms.send_otp(phone, template=OtpTemplate.LOGIN, service_name="DemoShop", '
            'otp_code="4821")',
        )
        otp = await sms.send_otp(
            PHONE, template=OtpTemplate.LOGIN, service_name="DemoShop", otp_code="4821"
        )
        otp_record = await sms.get_status(sms_id=otp.sms_id)
        _say(
            out,
            f"sms_id {otp.sms_id}, {_render.money(otp.total_cost)}. The text comes from an "
            f"Eskiz-approved template: [italic]{_render.markup_escape(otp_record.message)}[/]",
        )

        _step(out, 5, "A page of history", "page = await sms.get_history(limit=5)")
        page = await sms.get_history(limit=5)
        out.print(_render.history_table(page.items, mask=False, title=None))
        out.print("  [dim]# every page: async for record in sms.iter_history(): ...[/]")

    _step(
        out,
        6,
        "A cost estimate, and the Uzbek apostrophe trap",
        "count_parts(text), estimate_cost(phone, text)",
    )
    out.print(f"  text: [italic]{_render.markup_escape(TRAP_TEXT)}[/]", soft_wrap=True)
    trap = count_parts(TRAP_TEXT)
    culprits = ", ".join(_render.describe_char(ch) for ch in trap.ucs2_characters)
    cost = estimate_cost(PHONE, TRAP_TEXT, uz_price=bal.sms_price)
    _say(
        out,
        f"{trap.units} characters, but [red]{trap.encoding}[/] because of {culprits}: "
        f"[bold]{trap.parts} parts, {_render.money(cost.total)}[/].",
    )
    fixed = normalize_uzbek(TRAP_TEXT)
    fixed_parts = count_parts(fixed)
    fixed_cost = estimate_cost(PHONE, fixed, uz_price=bal.sms_price)
    out.print("  [dim]normalize_uzbek(text)  # or send_sms(..., normalize=True)[/]")
    _say(
        out,
        f"with ' instead: [green]{fixed_parts.encoding}[/], [bold]{fixed_parts.parts} part, "
        f"{_render.money(fixed_cost.total)}[/]. Same words, "
        f"{trap.parts - fixed_parts.parts} part(s) cheaper per message.",
    )

    out.rule()
    out.print(
        'Next: [bold]devsms estimate "Oʻzbekiston"[/], [bold]devsms --sandbox send '
        f"{PHONE} Salom --wait[/], or serve the sandbox for your own code with "
        f"[bold]devsms sandbox serve[/]. Docs: {_render.markup_escape(docs_url())}",
        soft_wrap=True,
    )


DOCS_URL = "https://github.com/devsms-async/devsms-async/tree/main/docs"
"""The Documentation URL of pyproject.toml, for when the package metadata is missing."""


def docs_url() -> str:
    """The Documentation URL of the installed package: a wheel has no docs/ folder."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        urls: list[str] = metadata("devsms-async").get_all("Project-URL") or []
    except PackageNotFoundError:  # pragma: no cover - run from a bare source tree
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "documentation":
            return url.strip()
    return DOCS_URL  # pragma: no cover - metadata without the URL


def _step(out: Console, number: int, title: str, code: str) -> None:
    out.print()
    out.rule(f"[bold]{number}. {title}[/]", align="left")
    out.print(f"  [dim]{_render.markup_escape(code)}[/]", soft_wrap=True)


def _say(out: Console, text: Any) -> None:
    out.print(f"  → {text}", soft_wrap=True)
