"""The ``smsdesk`` command.

Each subcommand imports its own modules when it runs, so ``smsdesk --help``
stays instant and the relay never loads the TUI (or the other way round).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version


def _version() -> str:
    try:
        return version("smsdesk")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def _demo(_: argparse.Namespace) -> int:
    """Until the relay and the inbox land, say plainly what the demo will be."""
    print(
        "smsdesk demo\n"
        "\n"
        "The demo inbox is not built yet. What exists today is the shared core:\n"
        "  - the SQLite store (group commit, full-text search, event log for resume)\n"
        "  - SMS/MMS rules: Twilio-exact segment counting, smart encoding, send preflight\n"
        "  - the Twilio error catalog\n"
        "Run `make test` to exercise them, `make bench` to measure the store.\n"
        "\n"
        "Coming next: `smsdesk relay` (Twilio webhooks + agents' websocket), a Twilio\n"
        "simulator, and `smsdesk inbox`, the full-screen inbox this command will open."
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsdesk",
        description="A self-hosted, keyboard-driven helpdesk for SMS and MMS through Twilio.",
    )
    parser.add_argument("--version", action="version", version=f"smsdesk {_version()}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    demo = commands.add_parser("demo", help="start the demo inbox (relay + Twilio simulator)")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
