"""An outgoing mail server on loopback for the email tests: aiosmtpd, scripted answers.

``MailServer`` records what it took (envelope and bytes, parsed), answers RCPT and DATA
as the test scripts it ("451 ..." once, "550 ..." always), may hold DATA until the test
lets it go (for a relay killed while the server is taking the mail), and may require
STARTTLS with a self-signed certificate and AUTH LOGIN/PLAIN.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER = "desk@example.com"
PASSWORD = "s3cret-Pa55word-never-shown"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    rcpt_answers: list[str] = field(default_factory=list)  # said in turn, then 250
    data_answers: list[str] = field(default_factory=list)
    hold_data: threading.Event | None = None  # DATA waits for it (set: let go)
    data_started: threading.Event = field(default_factory=threading.Event)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        answer = self.rcpt_answers.pop(0) if self.rcpt_answers else "250 2.1.5 Ok"
        if answer.startswith("2"):
            envelope.rcpt_tos.append(address)
        return answer

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_answers:
            return self.data_answers.pop(0)
        # The whole mail is here: the server has it, whether or not the client hears 250.
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                       bytes(envelope.original_content or envelope.content)))
        queued = f"250 2.0.0 Ok: queued as Q{len(self.received)}"
        self.data_started.set()
        if self.hold_data is not None:
            await asyncio.to_thread(self.hold_data.wait)
        return queued


@dataclass
class MailServer:
    handler: Handler
    port: int
    cert: Path | None = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (openssl, no CA)."""
    cert, key = directory / "smtp.crt", directory / "smtp.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


@contextmanager
def mail_server(*, tls_dir: Path | None = None, implicit_tls: bool = False,
                handler: Handler | None = None) -> Iterator[MailServer]:
    """The server on 127.0.0.1; with ``tls_dir``: STARTTLS required (a self-signed
    certificate made there) and AUTH LOGIN/PLAIN as USER/PASSWORD required; with
    ``implicit_tls`` too, TLS from the first byte instead of STARTTLS."""
    handler = handler or Handler()
    port = free_port()
    options: dict[str, Any] = {}
    cert: Path | None = None
    if tls_dir is not None:
        cert, key = self_signed(tls_dir)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                          auth_data: Any) -> AuthResult:
            if not isinstance(auth_data, LoginPassword):
                return AuthResult(success=False, handled=False)
            login, password = auth_data.login.decode(), auth_data.password.decode()
            handler.logins.append((mechanism, login))
            return AuthResult(success=(login, password) == (USER, PASSWORD))

        options = {"auth_required": True, "auth_require_tls": True,
                   "authenticator": authenticator}
        if implicit_tls:
            # aiosmtpd counts only STARTTLS as TLS for AUTH; this connection is TLS throughout.
            options.update(ssl_context=context, auth_require_tls=False)
        else:
            options.update(tls_context=context, require_starttls=True)
    controller = Controller(handler, hostname="127.0.0.1", port=port,
                            server_hostname="mx.test", ident="test ESMTP", **options)
    controller.start()
    try:
        yield MailServer(handler, port, cert)
    finally:
        if handler.hold_data is not None:
            handler.hold_data.set()
        controller.stop()
