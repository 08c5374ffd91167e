"""What a contact's name, email and note may be: checked on the relay, refused in words.

Email addresses are checked for syntax only (``email-validator`` with
``check_deliverability=False``): the relay never looks anything up on the
network to accept an edit.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from email_validator import EmailNotValidError, validate_email

MAX_NAME = 200
MAX_EMAIL = 254  # RFC 5321's limit on a forward path
MAX_NOTE = 4000


class InvalidContact(ValueError):
    """A value a contact cannot have; the message says which and why."""


def checked_contact_changes(
    *, name: str | None = None, email: str | None = None, note: str | None = None
) -> dict[str, Any]:
    """The columns to write for the values given (None leaves one as it is)."""
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = checked_name(name)
    if email is not None:
        changes["email"] = checked_email(email)
    if note is not None:
        changes["note"] = checked_note(note)
    return changes


def checked_name(name: str) -> str:
    """A name on one line, trimmed; empty clears it (the list then shows the phone)."""
    name = name.strip()
    if len(name) > MAX_NAME:
        raise InvalidContact(f"a name is at most {MAX_NAME} characters (this one has {len(name)})")
    if _has_control(name):
        raise InvalidContact("a name is one line of text, without control characters")
    return name


def checked_email(email: str) -> str:
    """An address whose syntax is valid, normalized (domain lower-cased); empty clears it."""
    email = email.strip()
    if not email:
        return ""
    if len(email) > MAX_EMAIL:
        raise InvalidContact(f"an email address is at most {MAX_EMAIL} characters")
    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise InvalidContact(f"{email!r} is not a valid email address: {error}") from None


def checked_note(note: str) -> str:
    """A note of several lines, trimmed at its ends."""
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise InvalidContact(f"a note is at most {MAX_NOTE} characters (this one has {len(note)})")
    if _has_control(note.replace("\n", "").replace("\t", "")):
        raise InvalidContact("a note may not hold control characters")
    return note


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf") and ch != "\u200d" for ch in text)
