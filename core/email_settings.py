"""The email channel's settings: one dataclass, kept in the relay's settings table.

Every relay on one database must send and receive mail alike, so the settings live in
the database (key ``email``, JSON), not in a relay's config file. Two values are
secrets and are kept under keys of their own so that nothing which writes the rest can
carry them along by mistake: the SMTP password (masked everywhere, like a Twilio auth
token) and the HMAC key that makes reply addresses unforgeable (``email.reply_secret``,
generated once by whichever relay asks first, through ``setting_or_init``, and never
leaving the relay). ``to_wire`` is the only form a client ever sees.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.contact_rules import InvalidContact, checked_email
from core.db import Conn
from core.queries import setting as _setting
from core.settings import setting_or_init
from core.writes import WriteContext, save_setting

SETTINGS_KEY = "email"
PASSWORD_KEY = "email.smtp_password"
REPLY_SECRET_KEY = "email.reply_secret"

SECURITIES = ("starttls", "tls", "none")
MB = 1024 * 1024
# Larger than any mail server takes in one message: a typo, not a limit.
MAX_BYTES_LIMIT = 1024 * MB
MAX_RECIPIENTS_LIMIT = 1000


class InvalidEmailSettings(ValueError):
    """A setting the email channel cannot have; the message says which and why."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """How the relay sends mail (SMTP through the admin's server) and takes replies in."""

    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls | tls (implicit) | none
    smtp_username: str = ""
    smtp_password: str = ""  # secret: never in to_wire, a frame or a log
    from_address: str = ""
    from_name: str = ""
    reply_domain: str = ""  # replies come back to support+t123.<hmac>@reply_domain
    inbound_port: int = 0  # the SMTP/LMTP listener; 0: off
    inbound_host: str = "127.0.0.1"
    max_attachment_bytes: int = 20 * MB
    max_inbound_bytes: int = 25 * MB
    max_recipients: int = 50
    reply_secret: str = ""  # secret: the reply addresses' HMAC key, never leaves the relay
    # The business number a ticket opened by email belongs to (so an agent can switch it
    # to SMS); None: the desk's first number.
    new_ticket_number_id: int | None = None

    @property
    def enabled(self) -> bool:
        """Mail can go out and replies can come back: a server, a sender and a domain."""
        return bool(self.smtp_host and self.from_address and self.reply_domain)

    def __repr__(self) -> str:  # a settings object printed into a log keeps its secrets
        return f"EmailSettings({self.to_wire()!r})"

    def to_wire(self) -> dict[str, Any]:
        """What any client may see: the secrets are left out, the password's presence said."""
        wire = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in _SECRETS}
        wire["smtp_password_set"] = bool(self.smtp_password)
        wire["enabled"] = self.enabled
        return wire


_SECRETS = frozenset({"smtp_password", "reply_secret"})
# What an admin may change from a client (the reply secret is the relay's own).
EDITABLE = tuple(f.name for f in dataclasses.fields(EmailSettings) if f.name != "reply_secret")


# --- reading and writing -------------------------------------------------------------


def email_settings(conn: Conn) -> EmailSettings:
    """The settings as stored; the defaults for what was never set.

    ``reply_secret`` is empty until a relay has initialised it (``reply_secret``).
    """
    stored = _setting(conn, SETTINGS_KEY)
    values: dict[str, Any] = json.loads(stored) if stored else {}
    known = {f.name for f in dataclasses.fields(EmailSettings)} - _SECRETS
    values = {key: value for key, value in values.items() if key in known}
    return EmailSettings(**values, smtp_password=_setting(conn, PASSWORD_KEY) or "",
                         reply_secret=_setting(conn, REPLY_SECRET_KEY) or "")


def save_email_settings(ctx: WriteContext, settings: EmailSettings) -> EmailSettings:
    """Check and store ``settings``; returns them as stored (the reply secret filled in).

    The reply secret is never taken from ``settings``: it is the one already stored, or
    a new one (the first relay to ask makes it). An ``email_settings.updated`` event tells
    the admins, with the wire form only.
    """
    settings = checked_email_settings(settings)
    public = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)
              if f.name not in _SECRETS}
    save_setting(ctx, SETTINGS_KEY, json.dumps(public, sort_keys=True, separators=(",", ":")))
    save_setting(ctx, PASSWORD_KEY, settings.smtp_password)
    settings = dataclasses.replace(settings, reply_secret=reply_secret(ctx))
    ctx.emit("email_settings.updated", None, {"email_settings": settings.to_wire()})
    return settings


def reply_secret(ctx: WriteContext) -> str:
    """The reply addresses' HMAC key: the stored one, or a new one stored now.

    Relays starting together agree on one key (``setting_or_init`` keeps the first), so
    a reply address one relay wrote is accepted by all of them.
    """
    return setting_or_init(ctx, REPLY_SECRET_KEY, secrets.token_hex(32))


def settings_with_changes(current: EmailSettings, changes: Mapping[str, Any]) -> EmailSettings:
    """``current`` with the changes a client asked for, checked.

    The password is changed only when given (a form that leaves it blank keeps it, as the
    wire never shows it); an empty string given explicitly with ``smtp_password_clear``
    clears it. Unknown names and the reply secret are refused in words.
    """
    changes = dict(changes)
    clear = bool(changes.pop("smtp_password_clear", False))
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidEmailSettings(f"email settings have no {', '.join(unknown)}", unknown[0])
    if changes.get("smtp_password") in (None, ""):
        changes.pop("smtp_password", None)
        if clear:
            changes["smtp_password"] = ""
    return checked_email_settings(dataclasses.replace(current, **changes))


# --- checking ------------------------------------------------------------------------


def checked_email_settings(settings: EmailSettings) -> EmailSettings:
    """The settings with addresses normalized and text trimmed, or a refusal in words."""
    host = _checked_text(settings.smtp_host, "smtp_host", "the mail server's name")
    if any(ch.isspace() for ch in host):
        raise InvalidEmailSettings(f"{host!r} is not a mail server name (it has spaces)",
                                   "smtp_host")
    if settings.smtp_security not in SECURITIES:
        raise InvalidEmailSettings(
            f"{settings.smtp_security!r} is not a connection security: say one of"
            f" {', '.join(SECURITIES)}", "smtp_security")
    from_address = _checked_address(settings.from_address, "from_address", "the from address")
    domain = _checked_domain(settings.reply_domain)
    return dataclasses.replace(
        settings,
        smtp_host=host,
        smtp_port=_checked_int(settings.smtp_port, "smtp_port", "the mail server's port",
                               1, 65535),
        smtp_username=_checked_text(settings.smtp_username, "smtp_username", "the user name"),
        from_address=from_address,
        from_name=_checked_text(settings.from_name, "from_name", "the sender's name"),
        reply_domain=domain,
        inbound_port=_checked_int(settings.inbound_port, "inbound_port",
                                  "the port mail comes in on (0: off)", 0, 65535),
        inbound_host=_checked_text(settings.inbound_host, "inbound_host",
                                   "the address mail comes in on") or "127.0.0.1",
        max_attachment_bytes=_checked_int(settings.max_attachment_bytes, "max_attachment_bytes",
                                          "the attachment size limit", 1, MAX_BYTES_LIMIT),
        max_inbound_bytes=_checked_int(settings.max_inbound_bytes, "max_inbound_bytes",
                                       "the incoming mail size limit", 1, MAX_BYTES_LIMIT),
        max_recipients=_checked_int(settings.max_recipients, "max_recipients",
                                    "the recipients limit", 1, MAX_RECIPIENTS_LIMIT),
        new_ticket_number_id=_checked_number_id(settings.new_ticket_number_id),
    )


def _checked_text(value: Any, field: str, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidEmailSettings(f"{what} must be text", field)
    value = value.strip()
    if any(ch in value for ch in "\r\n\0"):
        raise InvalidEmailSettings(f"{what} must be one line", field)
    return value


def _checked_int(value: Any, field: str, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEmailSettings(f"{what} must be a whole number", field)
    if not low <= value <= high:
        raise InvalidEmailSettings(f"{what} must be between {low} and {high} (not {value})",
                                   field)
    return value


def _checked_number_id(value: Any) -> int | None:
    if value is None:
        return None
    return _checked_int(value, "new_ticket_number_id", "the number for new tickets", 1, 2**62)


def _checked_address(value: Any, field: str, what: str) -> str:
    """An address checked for syntax as a contact's is (core.contact_rules); empty: unset."""
    text = _checked_text(value, field, what)
    try:
        return checked_email(text)
    except InvalidContact as error:
        raise InvalidEmailSettings(f"{what}: {error}", field) from None


def _checked_domain(value: Any) -> str:
    """The reply domain, checked as the domain of an address (email-validator's rules)."""
    domain = _checked_text(value, "reply_domain", "the reply domain").lower().rstrip(".")
    if not domain:
        return ""
    if "@" in domain:
        raise InvalidEmailSettings(
            f"the reply domain is a domain such as support.example.com, not an address"
            f" ({domain!r})", "reply_domain")
    try:
        return checked_email(f"support@{domain}").rsplit("@", 1)[1]
    except InvalidContact as error:
        raise InvalidEmailSettings(f"{domain!r} is not a valid reply domain: {error}",
                                   "reply_domain") from None
