"""``smsdesk sim --mail-port``: the mail stand-in in a real process, filing mail by
mailbox, printing a line per mail, and the demo's customers answering the route."""

from __future__ import annotations

import signal
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from desk_harness import free_port

from server.simulator.mail_customers import JORDAN, MAYA
from server.simulator.mailbox import parse_route

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "support.example.com"
_RUN = """
import argparse, sys
from server.simulator.cli import register
parser = argparse.ArgumentParser(prog="smsdesk")
register(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
sys.exit(args.run(args))
"""


class Collect:
    def __init__(self) -> None:
        self.taken: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.taken.append((envelope.mail_from, list(envelope.rcpt_tos),
                           bytes(envelope.original_content or b"")))
        return "250 2.0.0 stored"


def desk_mail(to: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Acme <support@{DOMAIN}>"
    mail["To"] = to
    mail["Reply-To"] = f"support+t1.abcdefghijklmnop@{DOMAIN}"
    mail["Subject"] = "Re: [#1] Your order"
    mail["Message-ID"] = f"<smsdesk.t1.m2.ab@{DOMAIN}>"
    mail.set_content("Hello,\nit left today.")
    return mail


def test_sim_serves_the_mail_stand_in(tmp_path: Path) -> None:
    listener_port = free_port()
    collect = Collect()
    listener = Controller(collect, hostname="127.0.0.1", port=listener_port)
    listener.start()
    server = subprocess.Popen(
        [sys.executable, "-c", _RUN, "sim", "--port", "0", "--seed-demo", "--mail-port", "0",
         "--mail-dir", str(tmp_path / "mail"),
         "--mail-route", f"{DOMAIN}=127.0.0.1:{listener_port}"],
        cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert server.stdout is not None
        lines = []
        while not lines or not lines[-1].startswith("Mail stand-in listening on smtp://"):
            line = server.stdout.readline()
            assert line, "".join(lines) + server.stderr.read()  # type: ignore[union-attr]
            lines.append(line)
        port = int(lines[-1].split("smtp://127.0.0.1:")[1].split()[0])
        shown = "".join(server.stdout.readline() for _ in range(7))  # dir, route, 5 people
        assert f"{DOMAIN} goes to 127.0.0.1:{listener_port}" in shown
        assert f"{JORDAN.address}: bounces" in shown

        with smtplib.SMTP("127.0.0.1", port, timeout=20) as smtp:
            smtp.send_message(desk_mail(MAYA.address), from_addr=f"support+bounces@{DOMAIN}")
        said = server.stdout.readline()
        assert said.startswith("mail SIM00001 to maya.patel@example.com: Re: [#1] Your order")
        [filed] = (tmp_path / "mail" / MAYA.address).glob("*.eml")
        assert b"it left today." in filed.read_bytes()

        deadline = time.monotonic() + 20  # Maya answers after a human delay (4 s)
        while not collect.taken and time.monotonic() < deadline:
            time.sleep(0.1)
        [(mail_from, rcpt_tos, raw)] = collect.taken
        assert (mail_from, rcpt_tos) == (MAYA.address,
                                         [f"support+t1.abcdefghijklmnop@{DOMAIN}"])
        assert b"In-Reply-To: <smsdesk.t1.m2.ab@support.example.com>" in raw
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=10)
        listener.stop()
    assert server.returncode == 0


@pytest.mark.parametrize("bad", ["example.com", "example.com=host", "=h:25",
                                 "example.com=h:99999"])
def test_a_bad_mail_route_is_refused_in_words(bad: str) -> None:
    with pytest.raises(ValueError, match="is not DOMAIN=HOST:PORT"):
        parse_route(bad)
    assert parse_route("Support.Example.com=127.0.0.1:2525") == (
        "support.example.com", "127.0.0.1", 2525)
