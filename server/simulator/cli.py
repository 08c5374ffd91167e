"""``smsdesk sim``: run the Twilio simulator, or ask a running one to deliver a customer's text.

    smsdesk sim [--host 127.0.0.1] [--port 8090] [--seed-demo] [--sms-url URL]
    smsdesk sim text --from +447400900123 --to +18885550100 [--media FILE]... \\
        [--sim http://127.0.0.1:8090] "Hello"
    smsdesk sim text --from +447400900123 --to +18885550100 --kind gif

``register(subparsers)`` adds the command to the ``smsdesk`` parser; each
sub-command sets ``run`` (a ``Callable[[argparse.Namespace], int]``) as its default.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import mimetypes
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server import cli_checks as check
from server.simulator.content import KINDS

if TYPE_CHECKING:
    from server.simulator.mailbox import Mailbox
    from server.simulator.runner import Simulator
    from server.simulator.scenario import Scenario, Staged

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8090


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``sim`` (and ``sim text``) to an ``ArgumentParser.add_subparsers()`` object."""
    sim = subparsers.add_parser(
        "sim",
        help="run the built-in Twilio simulator (REST API + signed webhooks)",
        description="Serve a Twilio stand-in until Ctrl+C. See docs/simulator.md.",
    )
    sim.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (%(default)s)")
    sim.add_argument("--port", type=check.port_or_any, default=DEFAULT_PORT,
                     help="port (%(default)s; 0: any free port)")
    sim.add_argument(
        "--seed-demo", action="store_true",
        help="create the demo account (a US toll-free MMS number, a UK SMS-only number) and"
        " one account of each kind an admin meets: trial, suspended, closed, no numbers, low"
        " balance, geo-blocked, unregistered 10DLC, an inactive number",
    )
    sim.add_argument(
        "--sms-url", type=check.http_url, default=None,
        help="with --seed-demo: the webhook URL for inbound texts on the demo numbers",
    )
    sim.add_argument("--scenario", metavar="FILE", type=Path,
                     help="accounts, numbers and knobs from a TOML file (docs/simulator.md)")
    sim.add_argument("--state", metavar="FILE", type=Path,
                     help="keep the whole state in FILE: reloaded on start, saved as it"
                     " changes and on exit")
    mail = sim.add_argument_group(
        "mail stand-in", "an SMTP server for the desk's email: it takes what the relay sends"
        " and files it by mailbox; with --seed-demo the demo's customers answer"
        " (docs/simulator.md)")
    mail.add_argument("--mail-port", type=check.port_or_any, default=None,
                      help="also serve the mail stand-in on this port (0: any free port)")
    mail.add_argument("--mail-dir", type=Path, metavar="DIR",
                      help="file every mail taken as DIR/<address>/NNNN.eml")
    mail.add_argument("--mail-route", type=_mail_route, action="append", default=[],
                      metavar="DOMAIN=HOST:PORT",
                      help="deliver customers' mail to DOMAIN to this SMTP server (the"
                      " relay's mail port); repeatable")
    sim.set_defaults(run=_serve)
    actions = sim.add_subparsers(title="actions", metavar="ACTION")
    text = actions.add_parser(
        "text", help="make a simulated customer text one of the simulator's numbers"
    )
    text.add_argument("--from", dest="from_", required=True, help="the customer's number")
    text.add_argument("--to", required=True, help="one of the simulator's numbers")
    text.add_argument(
        "--media", action="append", default=[], metavar="FILE", help="attach a file (repeatable)"
    )
    text.add_argument(
        "--kind", choices=KINDS,
        help="send the simulator's sample of this content type (its body, unless one is given)"
        " instead of --media files",
    )
    text.add_argument(
        "--sim", type=check.http_url,
        help="the running simulator (default: the one running here, found by itself; else"
        f" http://{DEFAULT_HOST}:{DEFAULT_PORT})",
    )
    text.add_argument("--port", dest="sim_port", type=check.port_number,
                      help="the running simulator's port on 127.0.0.1 (instead of --sim)")
    text.add_argument("body", nargs="?", default="", help="the message text")
    text.set_defaults(run=_text)
    return sim


def _mail_route(text: str) -> tuple[str, str, int]:
    from server.simulator.mailbox import parse_route

    try:
        return parse_route(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _serve(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_serve_async(args))
    except KeyboardInterrupt:
        return 0


async def _serve_async(args: argparse.Namespace) -> int:
    from server.simulator.discovery import Running, announce, withdraw
    from server.simulator.runner import Simulator
    from server.simulator.scenario import ScenarioError, load_scenario
    from server.simulator.snapshot import SnapshotError, load_state

    sim = Simulator()
    try:  # everything that can be wrong with the files, before listening
        saved = load_state(args.state) if args.state else None
        scenario = load_scenario(args.scenario) if args.scenario else None
    except (ScenarioError, SnapshotError) as error:
        return check.fail("smsdesk sim", str(error))
    if saved is not None:
        sim.use_state(saved)
    if args.state and (problem := _unwritable(args.state)):
        return check.fail("smsdesk sim", f"cannot write the state file {args.state}: {problem}")
    try:
        await sim.start(host=args.host, port=args.port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return check.fail("smsdesk sim", f"cannot listen on {args.host}:{args.port}: {reason}")
    print(f"Twilio simulator listening on {sim.url}  (Ctrl+C to stop)")
    if saved is not None:
        print(f"  State        {args.state}: {len(saved.accounts)} account(s),"
              f" {len(saved.messages)} message(s) reloaded")
    _seed(sim, args, scenario)
    try:
        mailbox = await _start_mailbox(args)
    except OSError as exc:
        await sim.stop()
        reason = exc.strerror or str(exc)
        return check.fail("smsdesk sim", f"cannot listen for mail on {args.host}:"
                          f"{args.mail_port}: {reason}")
    sys.stdout.flush()
    found = announce(Running(os.getpid(), sim.url))
    try:
        if args.state:
            await _serve_keeping_state(sim, args.state)
        else:
            await sim.wait()
    finally:
        withdraw(found)
        if mailbox is not None:
            await mailbox.stop()
        await sim.stop()
    return 0


async def _start_mailbox(args: argparse.Namespace) -> Mailbox | None:
    """The mail stand-in, when --mail-port asks for it; what it does, printed."""
    if args.mail_port is None:
        return None
    from server.simulator.mail_customers import DEMO_MAIL_CUSTOMERS
    from server.simulator.mailbox import Mailbox, described

    customers = DEMO_MAIL_CUSTOMERS if args.seed_demo else ()
    mailbox = Mailbox(customers, folder=args.mail_dir,
                      on_mail=lambda mail: print(described(mail), flush=True))
    host, port = await mailbox.start(args.host, args.mail_port)
    for domain, to_host, to_port in args.mail_route:
        mailbox.route(domain, to_host, to_port)
    print(f"Mail stand-in listening on smtp://{host}:{port}  (security none, no login)")
    if args.mail_dir:
        print(f"  Mailboxes    {args.mail_dir}/<address>/NNNN.eml")
    for domain, (to_host, to_port) in mailbox.routes.items():
        print(f"  Mail to      {domain} goes to {to_host}:{to_port}")
    for customer in customers:
        does = "bounces (no such mailbox)" if not customer.exists else (
            f"answers {len(customer.replies)} mail(s)")
        print(f"  Customer     {customer.address}: {does}")
    return mailbox


def _unwritable(path: Path) -> str:
    """Why the state file could not be written there, or "" (checked before serving)."""
    if path.is_dir():
        return "it is a directory"
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return f"{folder} is not a directory"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} is not writable"
    return ""


def _seed(sim: Simulator, args: argparse.Namespace, scenario: Scenario | None) -> None:
    """Apply --scenario and --seed-demo (each only adds what is missing), saying what was added."""
    from server.simulator.runner import seed_demo, seed_rehearsals
    from server.simulator.scenario import apply_scenario

    if args.seed_demo:
        account = seed_demo(sim, sms_url=args.sms_url or "")
        print(f"  Account SID  {account.sid}")
        print(f"  Auth token   {account.auth_token}")
        for number in sim.state.account_numbers(account.sid):
            kind = "MMS" if number.mms else "SMS only"
            print(f"  Number       {number.phone_number}  {number.sid}  ({kind})")
        print(f"  SDK base URL {sim.url}  (in place of https://api.twilio.com)")
        _show_staged("Rehearsal accounts (docs/simulator.md: Rehearsing the admin's paths)",
                     seed_rehearsals(sim))
    if scenario is not None:
        _show_staged(f"From {args.scenario}", apply_scenario(scenario, sim.state))


def _show_staged(title: str, staged: list[Staged]) -> None:
    if not staged:
        return
    print(title)
    for each in staged:
        account = each.account
        print(f"  {account.friendly_name}" + (f": {each.note}" if each.note else ""))
        print(f"    SID {account.sid}  token {account.auth_token}")
        for number, note in each.numbers:
            status = "" if number.status == "in-use" else f"  ({number.status})"
            print(f"    number {number.phone_number}{status}" + (f"  {note}" if note else ""))


async def _serve_keeping_state(sim: Simulator, path: Path, every: float = 1.0) -> None:
    """Serve until stopped, writing the state file whenever it changed, and once at the end.

    A write that fails is said once on stderr (not every second) and retried.
    """
    from server.simulator.snapshot import SnapshotError, snapshot_bytes, write_snapshot

    written, said = b"", ""

    async def save() -> None:
        nonlocal written, said
        data = snapshot_bytes(sim.state)  # on the loop, which owns the state
        if data == written:
            return
        try:
            await asyncio.to_thread(write_snapshot, path, data)
        except SnapshotError as error:
            if str(error) != said:
                print(f"smsdesk sim: {error}", file=sys.stderr, flush=True)
            said = str(error)
        else:
            written, said = data, ""

    serving = asyncio.ensure_future(sim.wait())
    try:
        while not serving.done():
            await save()
            await asyncio.wait([serving], timeout=every)
    finally:
        await save()
        await serving


def simulator_url(args: argparse.Namespace) -> str:
    """--sim, else --port on this machine, else the simulator running here, else the default."""
    from server.simulator.discovery import find_running

    if args.sim:
        return str(args.sim)
    if args.sim_port:
        return f"http://{DEFAULT_HOST}:{args.sim_port}"
    running = find_running()
    return running.sim_url if running else f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"


def _text(args: argparse.Namespace) -> int:
    if args.kind and args.media:
        print("smsdesk sim text: --kind sends a sample; leave --media out", file=sys.stderr)
        return 2
    payload: dict[str, Any] = {"from": args.from_, "to": args.to}
    if args.kind:  # the simulator's sample; its own body unless one is typed
        payload["kind"] = args.kind
        if args.body:
            payload["body"] = args.body
    else:
        payload["body"] = args.body
        payload["media"] = media = []
        for name in args.media:
            path = Path(name)
            try:
                data = path.read_bytes()
            except OSError as exc:
                print(f"smsdesk sim text: {exc}", file=sys.stderr)
                return 2
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            media.append({"content_type": content_type,
                          "data_base64": base64.b64encode(data).decode()})
    target = simulator_url(args)
    request = urllib.request.Request(
        target.rstrip("/") + "/_sim/text",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            result = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        print(f"smsdesk sim text: the simulator refused: {detail}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        hint = "" if args.sim or args.sim_port else (
            " (none found running here: start one with `smsdesk demo` or `smsdesk sim`,"
            " or name it with --sim URL)")
        reason = getattr(exc, "reason", exc)
        print(f"smsdesk sim text: no simulator at {target}: {reason}{hint}", file=sys.stderr)
        return 1
    status = result.get("webhook_status")
    shown = "no SmsUrl or no answer" if status is None else f"HTTP {status}"
    print(f"{result['sid']} delivered to the webhook: {shown}")
    return 0 if status is None or 200 <= status < 300 else 1
