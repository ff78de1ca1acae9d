"""``devsms sandbox serve``: hands its arguments to the sandbox's own serve command, so
both ways to serve it (this and ``python -m devsms_async.testing``) are one code path."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

PROG = "devsms sandbox serve"


def serve_forever(args: Sequence[str], *, verbose: int = 0) -> int:
    from ..testing._command import main

    if any(arg in ("-h", "--help") for arg in args):
        print_help()
        return 0
    # `devsms -v sandbox serve` means the request log too.
    return main([*(["-v"] * verbose), *args], prog=PROG)


def print_help() -> None:
    """The serve command's options (its argparse parser, so none is missed) in the
    look of the other commands' help."""
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    from ..testing._command import build_parser

    parser = build_parser(PROG)
    out = Console(highlight=False)
    out.print(f"\n [bold]Usage:[/] {PROG} [OPTIONS]\n")
    out.print(f" {escape(parser.description or '')}\n")
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(style="bold green", no_wrap=True)
    table.add_column(overflow="fold")
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue
        name = action.metavar if isinstance(action.metavar, str) else action.dest
        metavar = f"<{name.lower()}>" if action.nargs != 0 else ""
        help_text = action.help or ""
        if isinstance(action, argparse._HelpAction):
            help_text = "Show this message and exit."
        shown = escape(help_text[:1].upper() + help_text[1:])
        table.add_row(", ".join(action.option_strings), metavar, shown)
    out.print(
        Panel(table, title="Options", title_align="left", border_style="dim", box=box.ROUNDED)
    )
