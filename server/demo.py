"""The backend of ``smsdesk demo``: relay + Twilio simulator + mail stand-in + customers
who text in and write back by email.

It runs as a child process of ``smsdesk demo`` so that the inbox (a full-screen
Textual app in the parent) and the servers never share an event loop, and so
that "stop everything" is one process exit. The protocol with the parent is
deliberately tiny:

* the child prints exactly one line on stdout, ``READY <ws url> <admin token>
  <simulator url> <mail stand-in smtp://host:port>`` or ``FAILED <reason>`` (then
  exits non-zero);
* the child stops (simulator, relay, sockets) when its stdin reaches EOF,
  which is also what happens when the parent dies, or on SIGTERM/SIGINT/SIGHUP.

    python -m server.demo --home DIR [--speed 1.0] [--remove-home]

``start_backend`` is the parent's side, used by the CLI and by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from core import auth, email_writes, queries, writes
from core.email_settings import EmailSettings, save_email_settings
from core.mail_compose import subject_for
from core.models import Role, TicketStatus
from core.sms import analyze
from core.store import Store
from server import admin
from server.app import Relay
from server.config import Paths
from server.demo_bot import furnish_bot
from server.demo_history import furnish_history
from server.demo_library import furnish_library
from server.mail_inbound import MailListener
from server.relay import PUBLIC_URL, bound_port, running_relay
from server.simulator.customers import demo_png
from server.simulator.discovery import Running, announce, withdraw
from server.simulator.mail_customers import ANA, DEMO_MAIL_CUSTOMERS, JORDAN, LENA, MAYA, TOM
from server.simulator.mailbox import Mailbox
from server.simulator.runner import (
    DEMO_ACCOUNT_SID,
    DEMO_AUTH_TOKEN,
    DEMO_UK,
    DEMO_US,
    Simulator,
    seed_demo,
)

log = logging.getLogger("smsdesk.demo")

HOST = "127.0.0.1"
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
LOG_NAME = "backend.log"  # the child's stderr, in the demo home: shown when startup fails
UNREACHABLE = "+13125550164"  # replies to this customer end undelivered (Twilio 30003)

# Names the demo desk already knows (a customer's name never comes through SMS).
# Two customers stay unnamed on purpose: new customers show up as bare numbers.
NAMED = {
    "+14155550142": "Maya Patel",
    "+447400900123": "Tom Hughes",
    "+12125550187": "Ana Souza",
    UNREACHABLE: "Jordan Lee",
    "+16175550199": "Priya Raman",
}
CARLOS = "+15125550133"
EMMA = "+447400123456"
# The email addresses the desk knows. Priya, Carlos and Emma have none, so the composer's
# email switch says why it is not offered.
EMAILS = {
    "+14155550142": MAYA.address,
    "+447400900123": TOM.address,
    "+12125550187": ANA.address,
    UNREACHABLE: JORDAN.address,  # a mailbox that does not exist: mail to it bounces
}

# The desk's email: sent through the mail stand-in, replies taken by the relay's listener.
MAIL_DOMAIN = "demo.smsdesk.example"
SUPPORT_ADDRESS = f"support@{MAIL_DOMAIN}"
MAILBOXES = "mailboxes"  # in the demo home: every mail the stand-in took, as .eml files
REPLY_DELAY = 4.0  # seconds a customer takes to answer a mail, at speed 1


@dataclass(frozen=True, slots=True)
class Text:
    """One customer text in the demo's timeline (``at``: seconds after READY, at speed 1)."""

    at: float
    from_: str
    to: str
    body: str
    picture: bool = False


LONG_TEXT = (
    "Hi there, I ordered a desk lamp last week (order #4431) and it came with the wrong plug"
    " for my outlets. I'd rather not send it back if you could mail me the right adapter"
    " instead. Also the assembly guide was missing, is there a PDF I could download? Thanks,"
    " Carlos"
)

# Spaced out so that someone trying the inbox sees texts arrive while they work.
TIMELINE: tuple[Text, ...] = (
    Text(2, "+16175550199", DEMO_US, "Hi! Is the blue hoodie back in stock in size M?"),
    Text(5, "+14155550142", DEMO_US, "Here is a photo of the box", picture=True),
    Text(10, CARLOS, DEMO_US, LONG_TEXT),
    Text(20, "+447400900123", DEMO_UK, "Brilliant, cheers! Is there any parking nearby?"),
    # Emma meets the UK number's bot: its menu, its question, then a person (server/demo_bot).
    Text(30, EMMA, DEMO_UK, "Hiya, tracking says my parcel was delivered but it isn't here 😕"),
    Text(35, "+16175550199", DEMO_US, "Amazing, thank you!! 🙏😊"),
    Text(42, EMMA, DEMO_UK, "1"),
    Text(54, EMMA, DEMO_UK, "#4452"),
    Text(60, "+12125550187", DEMO_US, "STOP"),
    Text(120, CARLOS, DEMO_US, "Any update on this? Thanks"),
    Text(180, UNREACHABLE, DEMO_US, "Hello? Did you get my message about the address?"),
)


@dataclass(frozen=True, slots=True)
class Mail:
    """A customer's first mail to the desk (no ticket yet), ``at`` seconds after READY."""

    at: float
    from_: str
    subject: str
    body: str


MAIL_TIMELINE: tuple[Mail, ...] = (
    Mail(45, LENA.address, "Shipping to Germany?",
         "Hello, do you ship to Germany, and how long does it take? I would like to order"
         " the blue hoodie in size S."),
)


@dataclass(frozen=True, slots=True)
class Desk:
    """What the demo set up, for the history and the READY line."""

    relay: Relay
    admin_id: int
    admin_token: str
    helper_id: int  # "Sam Rivera", the colleague whose replies are in the history


# --- the child: serve until stdin closes ------------------------------------------------


async def furnish(paths: Paths, relay: Relay) -> Desk:
    """Account (through the simulator, as a real admin would), groups, agents, contacts."""
    connected = await admin.add_account(paths, name="Demo Shop", sid=DEMO_ACCOUNT_SID,
                                        token=DEMO_AUTH_TOKEN)
    if not connected.repointed:
        raise RuntimeError(f"the demo numbers were not pointed at the relay: {connected.warning}")
    store = relay.store
    billing = await store.write(writes.add_group, "Billing")
    shipping = await store.write(writes.add_group, "Shipping")
    for number in await store.read(queries.numbers):
        group = billing if number.e164 == DEMO_US else shipping
        await store.write(writes.update_number, number.id, default_group_id=group.id)
    token = auth.new_token()
    boss = await store.write(writes.add_agent, name="Demo Admin", role=Role.ADMIN,
                             token_hash=auth.hash_token(token),
                             group_ids=[billing.id, shipping.id])
    sam = await store.write(writes.add_agent, name="Sam Rivera", role=Role.AGENT,
                            token_hash=auth.hash_token(auth.new_token()),
                            group_ids=[billing.id, shipping.id])
    for phone, name in NAMED.items():
        await store.write(_named_contact, phone, name, EMAILS.get(phone))
    await furnish_library(store, boss.id)
    uk = next(n for n in await store.read(queries.numbers) if n.e164 == DEMO_UK)
    await furnish_bot(store, number_id=uk.id, admin_id=boss.id)
    return Desk(relay, boss.id, token, sam.id)


def _named_contact(ctx: writes.WriteContext, phone: str, name: str, email: str | None) -> None:
    writes.update_contact(ctx, writes.contact_for_phone(ctx, phone).id, name=name, email=email)


async def set_up_email(store: Store, *, smtp: tuple[str, int], inbound_port: int) -> None:
    """The desk's email through the mail stand-in (plain SMTP: it is on loopback), replies
    taken by the relay's listener: what an admin sets on the Email tab."""
    host, port = smtp
    settings = EmailSettings(smtp_host=host, smtp_port=port, smtp_security="none",
                             from_address=SUPPORT_ADDRESS, from_name="Demo Shop",
                             reply_domain=MAIL_DOMAIN, inbound_port=inbound_port,
                             inbound_host=HOST)
    await store.write(save_email_settings, settings)


async def _text_in(sim: Simulator, store: Store, text: Text) -> int | None:
    """A customer's text through the simulator's signed webhook; the ticket it landed in."""
    media = [("image/png", demo_png())] if text.picture else []
    result = await sim.text(text.from_, text.to, text.body, media)
    if result.status != 200:
        log.warning("the relay answered %s to %s: %s", result.status, text.body, result.body)
        return None
    message = await store.read(queries.message_by_sid, result.sid)
    return message.ticket_id if message is not None else None


async def _reply(desk: Desk, ticket_id: int, body: str) -> None:
    """Queue a reply as the outbox expects it; the outbox sends it through the simulator."""
    cost = analyze(body)
    await desk.relay.store.write(writes.queue_outbound, ticket_id=ticket_id,
                                 agent_id=desk.helper_id, body=body, segments=cost.segments,
                                 encoding=cost.encoding)
    desk.relay.on_queued()


async def _email(desk: Desk, ticket_id: int, body: str) -> None:
    """Queue an email reply as the composer's email switch does; the mail outbox sends it
    through the mail stand-in."""
    store = desk.relay.store
    ticket = await store.read(queries.ticket, ticket_id)
    subject = subject_for(ticket_id, ticket.subject if ticket is not None else "")
    await store.write(email_writes.queue_email_reply, ticket_id=ticket_id,
                      agent_id=desk.helper_id, body=body, subject=subject,
                      reply_domain=MAIL_DOMAIN)


async def history(sim: Simulator, desk: Desk) -> None:
    """A few conversations already under way, so the inbox does not open empty."""
    store = desk.relay.store
    maya = await _text_in(sim, store, Text(0, "+14155550142", DEMO_US,
                                           "Hi, my order #4417 arrived damaged. Can I get a"
                                           " replacement?"))
    if maya is not None:
        await _reply(desk, maya, "So sorry to hear that, Maya! Could you send us a photo of"
                                 " the box?")
        await store.write(writes.update_ticket, maya, agent_id=desk.helper_id,
                          status=TicketStatus.PENDING, unread=False, tags=["damaged"])
        # Switched to email: Maya answers it, with the photo attached, a few seconds in.
        await _email(desk, maya, "Hi Maya,\n\nthe photo did not come through by text."
                                 " Could you attach it to a reply to this email instead?\n\n"
                                 "Thanks,\nSam Rivera\nDemo Shop")
    tom = await _text_in(sim, store, Text(0, "+447400900123", DEMO_UK,
                                          "Hello, what are your opening hours on Saturday?"))
    if tom is not None:
        # The bot answered first (greeting, opening hours, menu); Sam takes over from it.
        await _reply(desk, tom, "Hi Tom, Sam here: yes, Saturdays 10am to 4pm. See you!")
    await _text_in(sim, store, Text(0, "+12125550187", DEMO_US, "Do you ship to Canada?"))
    jordan = await _text_in(sim, store, Text(0, UNREACHABLE, DEMO_US,
                                             "Can I change the delivery address on order"
                                             " #4420?"))
    if jordan is not None:
        await store.write(writes.add_note, ticket_id=jordan, agent_id=None,
                          body="Demo: replies to this customer end undelivered with Twilio"
                               " error 30003 (unreachable handset), to show how a failed"
                               " delivery looks. His email address does not exist either:"
                               " email to him bounces.")
        await _email(desk, jordan, "Hi Jordan,\n\nwe could not reach you by text. Which"
                                   " address should order #4420 go to?\n\nSam Rivera\n"
                                   "Demo Shop")


async def play(sim: Simulator, store: Store, speed: float,
               timeline: Sequence[Text] = TIMELINE) -> None:
    """Customers text in on schedule; a failed text is logged, never fatal."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for text in timeline:
        await asyncio.sleep(max(0.0, start + text.at / speed - loop.time()))
        try:
            await _text_in(sim, store, text)
        except Exception:
            log.exception("customer text %r failed", text.body)


async def play_mail(mailbox: Mailbox, speed: float,
                    timeline: Sequence[Mail] = MAIL_TIMELINE) -> None:
    """Customers write to the desk on schedule; a failed mail is logged, never fatal."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for mail in timeline:
        await asyncio.sleep(max(0.0, start + mail.at / speed - loop.time()))
        sent = await mailbox.write(mail.from_, SUPPORT_ADDRESS, mail.subject, mail.body)
        if not sent.delivered:
            log.warning("the relay refused %r: %s", mail.subject, sent.error)


async def serve(paths: Paths, *, speed: float, stop: asyncio.Event, out: IO[str]) -> None:
    """Start everything, say READY on ``out``, play the timeline until ``stop`` is set.

    Raises whatever prevented startup; the caller turns it into ``FAILED``.
    """
    mailbox = Mailbox(DEMO_MAIL_CUSTOMERS, reply_delay=REPLY_DELAY / speed,
                      folder=paths.home / MAILBOXES)
    smtp = await mailbox.start(HOST, 0)
    try:
        await _serve(paths, mailbox, smtp, speed=speed, stop=stop, out=out)
    finally:
        await mailbox.stop()


async def _serve(paths: Paths, mailbox: Mailbox, smtp: tuple[str, int], *, speed: float,
                 stop: asyncio.Event, out: IO[str]) -> None:
    listening: list[MailListener] = []
    sim = Simulator()
    await sim.start(host=HOST, port=0)
    try:
        os.environ["SMSDESK_TWILIO_API_URL"] = sim.url  # the relay's twilio SDK talks to sim
        seed_demo(sim)
        sim.state.knobs.delivery_delay = 0.6 / speed  # long enough to see "sent" go by
        sim.state.knobs.fail_to[UNREACHABLE] = 30003
        # Port 0 avoids racing another program for a "free" port; the relay learns
        # its public URL once bound, before the account points the numbers at it.
        # The mail listener also takes port 0 and says where it landed (on_mail).
        async with running_relay(paths, public_url=None, host=HOST, port=0, mail_port=0,
                                 mail_host=HOST, on_mail=listening.append) as (relay, server):
            try:
                http = f"http://{HOST}:{bound_port(server)}"
                relay.public_url = http
                await relay.store.write(writes.save_setting, PUBLIC_URL, http)
                inbound = listening[0].address
                await set_up_email(relay.store, smtp=smtp, inbound_port=inbound[1])
                mailbox.route(MAIL_DOMAIN, *inbound)  # the reply domain's "MX"
                desk = await furnish(paths, relay)
                # The week before today first: today's conversations stay the newest.
                await furnish_history(relay.store, sam=desk.helper_id, admin=desk.admin_id,
                                      us=DEMO_US, uk=DEMO_UK)
                await history(sim, desk)
                ws = http.replace("http://", "ws://", 1) + "/ws"
                # So that `smsdesk sim text` in any terminal finds this demo by itself.
                found = announce(Running(os.getpid(), sim.url, ws, str(paths.home), DEMO_US))
                try:
                    print(f"READY {ws} {desk.admin_token} {sim.url} smtp://{smtp[0]}:{smtp[1]}",
                          file=out, flush=True)
                    scripts = [asyncio.create_task(play(sim, relay.store, speed),
                                                   name="demo-script"),
                               asyncio.create_task(play_mail(mailbox, speed),
                                                   name="demo-mail-script")]
                    await stop.wait()
                    for script in scripts:
                        script.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await script
                finally:
                    withdraw(found)
            finally:
                await sim.stop()  # first, so no webhook hits a relay that is going away
                await mailbox.stop()  # nor a customer's mail
    finally:
        await sim.stop()


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set ``stop`` when stdin reaches EOF: the parent closed it, or died."""

    def read() -> None:
        # os.read, not sys.stdin: a daemon thread blocked inside a buffered reader
        # holds its lock, and the interpreter aborts on it at exit (SIGTERM case).
        with contextlib.suppress(OSError):
            while os.read(0, 4096):
                pass
        with contextlib.suppress(RuntimeError):  # the loop is already closed: nothing to stop
            loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=read, name="demo-stdin", daemon=True).start()


async def main_async(paths: Paths, speed: float) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # HUP: the terminal closed
        loop.add_signal_handler(sig, stop.set)
    _watch_stdin(loop, stop)
    try:
        await serve(paths, speed=speed, stop=stop, out=sys.stdout)
    except Exception as error:
        log.exception("the demo could not start")
        reason = " ".join(str(error).split()) or type(error).__name__
        print(f"FAILED {type(error).__name__}: {reason}", flush=True)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", required=True, type=Path, help="an empty data directory")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="play the customers' timeline this many times faster")
    parser.add_argument("--remove-home", action="store_true",
                        help="delete --home after a clean stop (in case the parent died)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    code = asyncio.run(main_async(Paths(args.home), max(args.speed, 0.01)))
    if code == 0 and args.remove_home:
        shutil.rmtree(args.home, ignore_errors=True)
    return code


# --- the parent: start the child, wait for READY, stop it ---------------------------------


NEW_CUSTOMER = "+14155550100"  # not in NAMED: their text shows up as a new customer


def text_command(to: str, from_: str = NEW_CUSTOMER, body: str = "Hello!") -> str:
    """``smsdesk sim text ...`` as someone would type it to text the demo's number ``to``."""
    return f'smsdesk sim text --from {from_} --to {to} "{body}"'


class DemoError(Exception):
    """The demo backend did not start; the message says why, with its log's tail."""


@dataclass
class DemoBackend:
    """A running backend child process, as the parent sees it."""

    process: subprocess.Popen[bytes]
    home: Path
    url: str  # the relay's websocket, ws://127.0.0.1:PORT/ws
    token: str  # the demo admin's agent token
    sim_url: str  # the Twilio simulator, for `smsdesk sim text --sim URL`
    mail_url: str = ""  # the mail stand-in, smtp://127.0.0.1:PORT

    @property
    def mailboxes(self) -> Path:
        """Every mail the desk sent, filed by recipient: ``<address>/NNNN.eml``."""
        return self.home / MAILBOXES

    @property
    def how_to_text(self) -> str:
        """A command that makes a customer text the demo; it finds this demo by itself."""
        return text_command(DEMO_US)

    @property
    def http_url(self) -> str:
        return self.url.replace("ws://", "http://", 1).removesuffix("/ws")

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """Close the child's stdin (its signal to stop), then insist; return its exit code."""
        return _stop(self.process, timeout)


def _stop(process: subprocess.Popen[bytes], timeout: float) -> int:
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(2.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:  # only now: a thread may still be reading it until EOF
        process.stdout.close()
    return process.returncode


def log_tail(home: Path, lines: int = 15) -> str:
    try:
        text = (home / LOG_NAME).read_text("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def start_backend(home: Path, *, speed: float = 1.0, timeout: float = READY_TIMEOUT,
                  remove_home: bool = False) -> DemoBackend:
    """Spawn ``python -m server.demo`` on ``home`` and wait for its READY line.

    Never leaves a child behind: on a timeout, a FAILED line, Ctrl+C or any
    other error the child is stopped before this returns or raises.
    """
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    command = [sys.executable, "-m", "server.demo", "--home", str(home), "--speed", str(speed)]
    if remove_home:
        command.append("--remove-home")
    with open(home / LOG_NAME, "wb") as errors:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=errors)
    try:
        line = _first_line(process, timeout)
        word, _, rest = line.partition(" ")
        if word == "READY":
            url, token, sim_url, mail_url = rest.split()
            return DemoBackend(process, home, url, token, sim_url, mail_url)
        if word == "FAILED":
            raise DemoError(rest)
        raise DemoError("the backend exited before it was ready" if not line
                        else f"the backend said {line!r}")
    except BaseException as error:
        _stop(process, STOP_TIMEOUT)
        if isinstance(error, DemoError) and (tail := log_tail(home)):
            raise DemoError(f"{error}\n{tail}") from None
        raise


def _first_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """The child's first stdout line, "" at EOF; a thread so that the wait has a timeout."""
    lines: queue.Queue[bytes] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), name="demo-ready",
                     daemon=True).start()
    try:
        return lines.get(timeout=timeout).decode("utf-8", "replace").strip()
    except queue.Empty:
        raise DemoError(f"the backend was not ready after {timeout:g} s") from None


if __name__ == "__main__":
    sys.exit(main())
