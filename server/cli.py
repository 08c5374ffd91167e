"""The ``smsdesk`` command.

Each subcommand imports its own modules when it runs, so ``smsdesk --help``
stays instant and the relay never loads the TUI (or the other way round).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from server import cli_checks as check
from server.cli_checks import OneLineParser, fail


def _version() -> str:
    try:
        return version("smsdesk")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def _demo(args: argparse.Namespace) -> int:
    """Relay + simulator in a child process on a throwaway home, the inbox in this one.

    The child stops when its stdin closes, so even if this process is killed
    nothing keeps running; the ``finally`` covers every normal way out.
    """
    import shutil
    import tempfile
    from pathlib import Path

    from server.demo import DemoError, start_backend

    given = Path(args.home).expanduser() if args.home else None
    if given is not None and given.exists() and not given.is_dir():
        return fail("smsdesk demo", f"--home {given} is a file; the demo needs a directory", 2)
    if given is not None and given.exists() and any(given.iterdir()):
        return fail("smsdesk demo", f"{given} is not empty; the demo needs a fresh directory", 2)
    home = given or Path(tempfile.mkdtemp(prefix="smsdesk-demo-"))
    backend = None
    try:
        print("Starting the demo relay and Twilio simulator...", flush=True)
        backend = start_backend(home, speed=args.speed, remove_home=given is None)
        if args.no_inbox:
            print(f"The demo is running (data in {home}); Ctrl+C stops it.\n"
                  f"  Relay websocket  {backend.url}\n"
                  f"  Admin token      {backend.token}\n"
                  f"  Simulator        {backend.sim_url}\n"
                  f"  Mail stand-in    {backend.mail_url}  (mail the desk sent:"
                  f" {backend.mailboxes})\n"
                  f"Open the inbox from another terminal:\n"
                  f"  smsdesk inbox --relay {backend.url} --token {backend.token}\n"
                  f"Text in as a customer, from any terminal (it finds this demo by itself):\n"
                  f"  {backend.how_to_text}\n"
                  f"  (or name this demo's simulator: --sim {backend.sim_url})", flush=True)
            backend.process.wait()
            print("smsdesk demo: the backend stopped", file=sys.stderr)
            return 1
        from tui.app import run_inbox

        # The user's own settings (keymap, theme, send review) apply; relay and token are
        # the demo's.
        return run_inbox(backend.url, backend.token, welcome=(
            "Customers text in over the next minutes. Text it yourself from another"
            f" terminal:\n{backend.how_to_text}"))
    except DemoError as error:
        print(f"smsdesk demo: could not start: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if backend is not None:
            backend.stop()
        if given is None:
            shutil.rmtree(home, ignore_errors=True)


def _inbox(args: argparse.Namespace) -> int:
    """The full-screen inbox; what is not given here comes from the config file."""
    from pathlib import Path

    from tui.app import run_inbox

    config = Path(args.config).expanduser() if args.config else None
    return run_inbox(args.relay, args.token, config_path=config)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def sender_rate(text: str) -> tuple[Any, float]:
    """``--rate SENDER=PER_SECOND``: a sender type and how many sends a second it may make."""
    from core.models import SenderType

    kind, _, value = text.partition("=")
    try:
        sender = SenderType(kind)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: SENDER is one of {', '.join(t.value for t in SenderType)}") from None
    return sender, check.positive_number(value)


def _relay(args: argparse.Namespace) -> int:
    from server.config import data_paths
    from server.relay import serve_forever

    paths = data_paths(args.database)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C is how a relay is stopped
        _run(serve_forever(paths, public_url=args.public_url, host=args.host,
                           port=args.port, rates=dict(args.rate or []),
                           mail_port=args.mail_port, mail_host=args.mail_host,
                           lmtp=args.lmtp))
    return 0


def _admin(action: Callable[..., Any]) -> Callable[[argparse.Namespace], int]:
    """Run an admin action; an AdminError or a refused write is one line on stderr."""

    def run(args: argparse.Namespace) -> int:
        from core.writes import StoreError
        from server.admin import AdminError

        try:
            action(args)
        except (AdminError, StoreError) as error:
            return fail("smsdesk", str(error))
        return 0

    return run


def _account_add(args: argparse.Namespace) -> None:
    from server import admin
    from server.config import data_paths

    done = _run(admin.add_account(data_paths(args.database), name=args.name, sid=args.sid,
                                  token=args.token))
    print(f"connected {done.account_name}: {len(done.numbers)} SMS-capable number(s)")
    for number in done.numbers:
        print(f"  {number}" + ("  webhooks -> this relay" if done.repointed else ""))
    if done.warning:
        print(f"note: {done.warning}")


def _account_list(args: argparse.Namespace) -> None:
    from server import admin
    from server.config import data_paths

    lines = _run(admin.list_accounts(data_paths(args.database)))
    print("\n".join(lines) or "no accounts connected")


def _agent_add(args: argparse.Namespace) -> None:
    from core.models import Role
    from server import admin
    from server.config import data_paths

    token = _run(admin.add_agent(data_paths(args.database), name=args.name,
                                 role=Role(args.role), groups=args.group or []))
    print(f"agent {args.name} added ({args.role}); their token, shown only now:")
    print(token)


def _agent_list(args: argparse.Namespace) -> None:
    from server import admin
    from server.config import data_paths

    print("\n".join(_run(admin.list_agents(data_paths(args.database)))) or "no agents yet")


def _group_add(args: argparse.Namespace) -> None:
    from server import admin
    from server.config import data_paths

    _run(admin.add_group(data_paths(args.database), args.name))
    print(f"group {args.name} added")


def _database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", type=check.database_url, metavar="URL",
                        help="a PostgreSQL database several relays share, e.g."
                        " postgresql://smsdesk@db.example/smsdesk (default: $SMSDESK_DATABASE,"
                        " else the SQLite file in the data directory)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="smsdesk",
        description="A self-hosted, keyboard-driven helpdesk for SMS and MMS through Twilio.",
    )
    parser.add_argument("--version", action="version", version=f"smsdesk {_version()}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    demo = commands.add_parser("demo", help="start the demo inbox (relay + Twilio simulator)")
    demo.add_argument("--no-inbox", action="store_true",
                      help="only start the relay and simulator; print how to connect")
    demo.add_argument("--speed", type=check.positive_number, default=1.0,
                      help="customers text in this many times faster (%(default)s)")
    demo.add_argument("--home", help="an empty data directory to use (default: a fresh"
                      " temporary one, removed on exit)")
    demo.set_defaults(run=_demo)

    inbox = commands.add_parser("inbox", help="open the full-screen inbox")
    inbox.add_argument("--relay", type=check.websocket_url, help="the relay's websocket, e.g. ws://127.0.0.1:8080/ws"
                       " (default: from the config file)")
    inbox.add_argument("--token", help="your agent token (default: from the config file)")
    inbox.add_argument("--config", help="the config file (default: config.toml in the"
                       " platform's config directory, or $SMSDESK_CONFIG)")
    inbox.set_defaults(run=_inbox)

    relay = commands.add_parser("relay", help="serve Twilio webhooks and the agents' websocket")
    relay.add_argument("--host", default="127.0.0.1")
    relay.add_argument("--port", type=check.port_number, default=8080)
    relay.add_argument("--public-url", type=check.http_url,
                       help="the URL Twilio reaches this relay at (remembered)")
    relay.add_argument("--rate", action="append", type=sender_rate, metavar="SENDER=PER_SECOND",
                       help="sends per second per sender type, e.g. long_code=1 toll_free=3"
                       " short_code=100 (repeatable)")
    relay.add_argument("--mail-port", type=check.port_number,
                       help="take customers' email replies on this port (default: the"
                       " email settings' inbound port; off when that is 0)")
    relay.add_argument("--mail-host", help="the address mail comes in on (default: the"
                       " email settings' inbound host, 127.0.0.1)")
    relay.add_argument("--lmtp", action="store_true",
                       help="speak LMTP on the mail port (for Postfix's lmtp: transport)"
                       " instead of SMTP")
    _database_option(relay)
    relay.set_defaults(run=_relay)

    account = commands.add_parser("account", help="connect Twilio accounts").add_subparsers(
        title="account commands", metavar="ACTION", required=True)
    add = account.add_parser("add", help="check credentials, import SMS numbers, point webhooks")
    add.add_argument("--name", required=True, type=check.name,
                     help="a display name, changeable later")
    add.add_argument("--sid", required=True, help="Account SID (AC...)")
    add.add_argument("--token", required=True, help="the account's auth token")
    _database_option(add)
    add.set_defaults(run=_admin(_account_add))
    listing = account.add_parser("list", help="connected accounts and numbers")
    _database_option(listing)
    listing.set_defaults(run=_admin(_account_list))

    agent = commands.add_parser("agent", help="people who answer texts").add_subparsers(
        title="agent commands", metavar="ACTION", required=True)
    add = agent.add_parser("add", help="add an agent; prints their token as the last line")
    add.add_argument("name", type=check.name)
    add.add_argument("--role", choices=["admin", "agent"], default="agent")
    add.add_argument("--group", action="append", type=check.name,
                     help="a group they work in (repeatable)")
    _database_option(add)
    add.set_defaults(run=_admin(_agent_add))
    listing = agent.add_parser("list", help="agents, roles and groups")
    _database_option(listing)
    listing.set_defaults(run=_admin(_agent_list))

    from server.simulator.cli import register as register_simulator

    register_simulator(commands)

    from server.migrate import register as register_migrate

    register_migrate(commands)  # smsdesk migrate --to postgresql://… (server/migrate.py)

    from server.cli_report import register as register_report

    register_report(commands)  # smsdesk report --from … --to … (server/cli_report.py)

    group = commands.add_parser("group", help="groups tickets are routed to").add_subparsers(
        title="group commands", metavar="ACTION", required=True)
    add = group.add_parser("add", help="add a group")
    add.add_argument("name", type=check.name)
    _database_option(add)
    add.set_defaults(run=_admin(_group_add))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 0
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if os.environ.get("SMSDESK_DEBUG"):
            raise
        return fail("smsdesk", _said_safely(error, args))


def _said_safely(error: Exception, args: argparse.Namespace) -> str:
    """``_in_words``, with no password of any database URL given (``--database``, another
    sub-command's URL option, ``SMSDESK_DATABASE``)."""
    from core.db import is_postgres_url
    from server.config import without_secrets

    urls = [value for value in (*vars(args).values(), os.environ.get("SMSDESK_DATABASE"))
            if isinstance(value, str) and is_postgres_url(value)]
    said = _in_words(error, urls[0] if urls else None)
    for url in urls:
        said = without_secrets(said, url)
    return said


def _in_words(error: Exception, url: str | None = None) -> str:
    """One line for an error no sub-command caught: what is wrong, not where in the code.

    ``url`` is the PostgreSQL database in use, if any (the caller masks its password).
    """
    import sqlite3

    from core.db import database_errors
    from core.schema import SchemaTooNew
    from core.store import SqliteTooOld
    from server.config import UnusableHome, masked
    from server.relay import RelayStartError

    if isinstance(error, UnusableHome | RelayStartError | SqliteTooOld):
        return str(error)
    if isinstance(error, SchemaTooNew):
        return f"{error}: upgrade smsdesk before using this database"
    if isinstance(error, sqlite3.DatabaseError):
        return (f"the database in the data directory cannot be used ({error}); restore it from a"
                " backup or point SMSDESK_HOME at another directory")
    if isinstance(error, ModuleNotFoundError) and (error.name or "").startswith("psycopg"):
        return ("a postgresql:// database needs the PostgreSQL driver: pip install"
                " 'smsdesk[postgresql]'")
    if isinstance(error, database_errors()):
        where = masked(url) if url else "the PostgreSQL database"
        return f"cannot use {where}: {_first_line(error)}"
    if isinstance(error, OSError) and error.strerror:
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror}{where}"
    return (f"unexpected {type(error).__name__}: {error} (run again with SMSDESK_DEBUG=1 for"
            " the traceback, and please report it)")


def _first_line(error: Exception) -> str:
    """A driver's message in one line: libpq's span several (and start "connection failed")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = "; ".join(lines) or type(error).__name__
    return text.removeprefix("connection failed: ")


if __name__ == "__main__":
    sys.exit(main())
