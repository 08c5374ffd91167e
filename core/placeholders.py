"""Placeholders in canned responses: ``{{contact.name}}`` and friends, filled per ticket.

Pure text work, so the composer (which highlights what is still missing) and the
relay (which refuses to send a reply with an unfilled placeholder) judge a body
the same way. Only *known* names count as placeholders when refusing: a customer
may well write ``{{like this}}`` and that must go out as typed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: ``{{ name }}``: spaces inside the braces are tolerated, the name is dotted words.
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")

FIXED_NAMES = ("contact.name", "contact.first_name", "agent.name", "ticket.id",
               "business.number")
#: A custom field's value is ``{{ticket.<field key>}}``.
_CUSTOM_FIELD = re.compile(r"ticket\.[a-z][a-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One ``{{name}}`` in a text, by its character positions (``text[start:end]``)."""

    name: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Filled:
    """A text with its placeholders filled; ``missing`` are left as written, at these places."""

    text: str
    missing: tuple[Placeholder, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


def is_known(name: str) -> bool:
    """Whether ``name`` is one smsdesk fills (a fixed one, or a ticket's custom field)."""
    return name in FIXED_NAMES or _CUSTOM_FIELD.fullmatch(name) is not None


def placeholders_in(text: str) -> list[Placeholder]:
    """Every ``{{name}}`` in ``text``, in order; ``{{`` not followed by a name is not one."""
    return [Placeholder(m.group(1), m.start(), m.end()) for m in _PLACEHOLDER.finditer(text)]


def fill(text: str, values: Mapping[str, str]) -> Filled:
    """Replace each placeholder that has a non-empty value; keep (and report) the others.

    Unknown names are missing too, so an agent sees a typo like ``{{contact.nmae}}``
    highlighted rather than sent.
    """
    out: list[str] = []
    missing: list[Placeholder] = []
    at = 0
    length = 0
    for found in placeholders_in(text):
        before = text[at:found.start]
        out.append(before)
        length += len(before)
        value = values.get(found.name, "") if is_known(found.name) else ""
        if value:
            out.append(value)
            length += len(value)
        else:
            written = text[found.start:found.end]
            missing.append(Placeholder(found.name, length, length + len(written)))
            out.append(written)
            length += len(written)
        at = found.end
    out.append(text[at:])
    return Filled("".join(out), tuple(missing))


def unfilled(text: str) -> list[Placeholder]:
    """The known placeholders still in ``text``: a reply with any of them must not go out."""
    return [found for found in placeholders_in(text) if is_known(found.name)]


def first_name(name: str) -> str:
    """The first word of a name ("Ada Lovelace" → "Ada"); empty when there is no name."""
    words = name.split()
    return words[0] if words else ""


def values_for(*, contact_name: str, agent_name: str, ticket_id: int, business_number: str,
               custom_fields: Mapping[str, Any]) -> dict[str, str]:
    """What each placeholder stands for on one ticket, answered by one agent."""
    values = {f"ticket.{key}": _as_text(value) for key, value in custom_fields.items()
              if isinstance(key, str)}
    values.update({
        "contact.name": contact_name.strip(),
        "contact.first_name": first_name(contact_name),
        "agent.name": agent_name.strip(),
        "ticket.id": str(ticket_id),
        "business.number": business_number,
    })
    return values


def _as_text(value: Any) -> str:
    """A custom field's value as it reads in a text: lists joined, nothing for None."""
    if value is None or value is False:
        return ""
    if value is True:
        return "yes"
    if isinstance(value, list | tuple):
        return ", ".join(_as_text(item) for item in value if _as_text(item))
    return str(value).strip()


def refusal_for(text: str) -> str | None:
    """In words, why a reply with an unfilled placeholder cannot go; None when it can."""
    left = unfilled(text)
    if not left:
        return None
    names = ", ".join(dict.fromkeys("{{" + found.name + "}}" for found in left))
    return f"Fill in {names} first: the customer would get the placeholder as written."
