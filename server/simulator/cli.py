"""``smsdesk sim``: run the Twilio simulator, or ask a running one to deliver a customer's text.

    smsdesk sim [--host 127.0.0.1] [--port 8090] [--seed-demo] [--sms-url URL]
    smsdesk sim text --from +447400900123 --to +18885550100 [--media FILE]... \\
        [--sim http://127.0.0.1:8090] "Hello"

``register(subparsers)`` adds the command to the ``smsdesk`` parser; each
sub-command sets ``run`` (a ``Callable[[argparse.Namespace], int]``) as its default.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import mimetypes
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from server import cli_checks as check

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
        help="create the demo account, a US toll-free MMS number and a UK SMS-only number",
    )
    sim.add_argument(
        "--sms-url", type=check.http_url, default=None,
        help="with --seed-demo: the webhook URL for inbound texts on the demo numbers",
    )
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
        "--sim", type=check.http_url, default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
        help="the running simulator (%(default)s)",
    )
    text.add_argument("body", nargs="?", default="", help="the message text")
    text.set_defaults(run=_text)
    return sim


def _serve(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_serve_async(args))
    except KeyboardInterrupt:
        return 0


async def _serve_async(args: argparse.Namespace) -> int:
    from server.simulator.runner import Simulator, seed_demo

    sim = Simulator()
    try:
        await sim.start(host=args.host, port=args.port)
    except OSError as exc:
        print(f"smsdesk sim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"Twilio simulator listening on {sim.url}  (Ctrl+C to stop)")
    if args.seed_demo:
        account = seed_demo(sim, sms_url=args.sms_url or "")
        print(f"  Account SID  {account.sid}")
        print(f"  Auth token   {account.auth_token}")
        for number in sim.state.account_numbers(account.sid):
            kind = "MMS" if number.mms else "SMS only"
            print(f"  Number       {number.phone_number}  {number.sid}  ({kind})")
        print(f"  SDK base URL {sim.url}  (in place of https://api.twilio.com)")
    sys.stdout.flush()
    await sim.wait()
    await sim.stop()
    return 0


def _text(args: argparse.Namespace) -> int:
    media = []
    for name in args.media:
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            print(f"smsdesk sim text: {exc}", file=sys.stderr)
            return 2
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        media.append({"content_type": content_type, "data_base64": base64.b64encode(data).decode()})
    payload = {"from": args.from_, "to": args.to, "body": args.body, "media": media}
    request = urllib.request.Request(
        args.sim.rstrip("/") + "/_sim/text",
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
        print(f"smsdesk sim text: no simulator at {args.sim}: {exc}", file=sys.stderr)
        return 1
    status = result.get("webhook_status")
    shown = "no SmsUrl or no answer" if status is None else f"HTTP {status}"
    print(f"{result['sid']} delivered to the webhook: {shown}")
    return 0 if status is None or 200 <= status < 300 else 1
