"""One SMTP conversation with the admin's mail server, step by step, every reply kept.

The mail outbox needs the steps apart (it commits "handing over" between RCPT and DATA,
so that a crash inside DATA is known to be in doubt), and the admin's "send a test
email" reports what the server said at each step; aiosmtplib's ``send`` does it all at
once and keeps only the last answer. The password goes to the server and nowhere else:
not into a reply kept here (servers answer AUTH with a code and words), not into a log.

The server's certificate is checked against the system's trusted authorities
(``SSL_CERT_FILE`` names others, as for any Python program).
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage

import aiosmtplib
from aiosmtplib import SMTPResponse

from core.email_settings import EmailSettings

# Long enough for a slow server taking 20 MB; short enough that a dead one is noticed.
TIMEOUT_SECONDS = 60.0


class MailRefused(Exception):
    """The server answered with a refusal: ``code`` (4xx: for now, 5xx: for good) and
    its words, as it said them."""

    def __init__(self, code: int, words: str) -> None:
        super().__init__(words)
        self.code = code
        self.words = words

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500


class MailUnreachable(Exception):
    """No answer from the server (no connection, TLS refused, cut off, timed out)."""


def reply_words(response: SMTPResponse | tuple[int, str]) -> str:
    """A reply as the server wrote it: ``250 2.0.0 Ok``; each line of a long one too."""
    code, message = response[0], response[1]
    lines = message.splitlines() or [""]
    return "\n".join(f"{code}{'-' if n < len(lines) - 1 else ' '}{line}".rstrip()
                     for n, line in enumerate(lines))


def as_bytes(message: EmailMessage) -> bytes:
    """The message as it goes over SMTP (CRLF line ends, long headers folded)."""
    return message.as_bytes(policy=email.policy.SMTP)


@dataclass
class SmtpConversation:
    """Speak to ``settings``' server: ``await open()``, ``envelope()``, ``data()``,
    ``close()``. ``said`` is every reply of the server, in order."""

    settings: EmailSettings
    timeout: float = TIMEOUT_SECONDS
    said: list[str] = field(default_factory=list)
    _smtp: aiosmtplib.SMTP | None = None

    async def open(self) -> None:
        """Connect, greet, secure the connection as configured and log in."""
        settings = self.settings
        smtp = aiosmtplib.SMTP(hostname=settings.smtp_host, port=settings.smtp_port,
                               use_tls=settings.smtp_security == "tls", start_tls=False,
                               timeout=self.timeout)
        self._smtp = smtp
        await self._step(smtp.connect())
        await self._step(smtp.ehlo())
        if settings.smtp_security == "starttls":
            if not smtp.supports_extension("starttls"):
                raise MailUnreachable(f"{settings.smtp_host} does not offer STARTTLS: choose"
                                      " 'tls' or 'none' as its connection security")
            await self._step(smtp.starttls())
            await self._step(smtp.ehlo())
        if settings.smtp_username:
            await self._step(smtp.login(settings.smtp_username, settings.smtp_password))

    async def envelope(self, sender: str, recipient: str) -> None:
        """MAIL FROM and RCPT TO: the server says now whether it will take the mail."""
        smtp = self._open_smtp()
        await self._step(smtp.mail(sender))
        await self._step(smtp.rcpt(recipient))

    async def data(self, message: bytes) -> str:
        """DATA: hand the mail over; the server's words when it took it."""
        return await self._step(self._open_smtp().data(message))

    async def close(self) -> None:
        """QUIT politely; a server that is gone already is fine."""
        smtp, self._smtp = self._smtp, None
        if smtp is None or not smtp.is_connected:
            return
        try:
            self.said.append(reply_words(await smtp.quit()))
        except (aiosmtplib.SMTPException, OSError):
            smtp.close()

    def _open_smtp(self) -> aiosmtplib.SMTP:
        if self._smtp is None:
            raise MailUnreachable("not connected to the mail server")
        return self._smtp

    async def _step(self, call: object) -> str:
        """Await one command; keep the reply; a refusal or a broken line raised in words."""
        try:
            response = await call  # type: ignore[misc]
        except aiosmtplib.SMTPResponseException as refused:
            words = reply_words((refused.code, refused.message))
            self.said.append(words)
            raise MailRefused(refused.code, words) from None
        except aiosmtplib.SMTPRecipientsRefused as refused:
            first = refused.recipients[0]
            words = reply_words((first.code, first.message))
            self.said.append(words)
            raise MailRefused(first.code, words) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise MailUnreachable(f"{self.settings.smtp_host}:{self.settings.smtp_port}:"
                                  f" {describe(error)}") from None
        words = reply_words(response)
        self.said.append(words)
        return words


def describe(error: BaseException) -> str:
    """A network error in a line (the class name when the error has no words)."""
    text = str(error).strip()
    return text or type(error).__name__
