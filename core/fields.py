"""Custom ticket fields: what an admin defines, and what a ticket's values may be.

The checks are pure so each rule is tested alone (with hypothesis); the relay
runs them inside the write's transaction against the definitions it reads
there, so an inbox never decides what is valid. A refusal names the field by
its label, in an agent's words, and carries its key so a form can show it
beside that field.

Values live in the ticket's ``custom_fields`` JSON by the field's key (a
stable slug): relabelling or retiring a field keeps them. Empty values are
not stored: setting a field to "" or null clears it.
"""

from __future__ import annotations

import datetime
import json
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from core.db import Conn

KINDS = ("text", "paragraph", "number", "decimal", "dropdown", "checkbox", "date")
KIND_LABELS = {"text": "Text (one line)", "paragraph": "Paragraph", "number": "Number",
               "decimal": "Decimal", "dropdown": "Dropdown", "checkbox": "Checkbox",
               "date": "Date"}
MAX_TEXT = 255
MAX_PARAGRAPH = 10_000
MAX_LABEL = 80
MAX_CHOICES = 200
MAX_CHOICE = 100
MAX_FIELDS = 200
# Integers beyond this are typos (and JavaScript, spreadsheets and SQLite all keep them).
MAX_NUMBER = 10**15
MAX_DECIMAL_DIGITS = 30
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One admin-defined ticket field."""

    id: int
    key: str
    label: str
    kind: str
    choices: tuple[str, ...] = ()
    required_to_resolve: bool = False
    position: int = 0
    retired_at: int | None = None

    @property
    def retired(self) -> bool:
        return self.retired_at is not None


class FieldProblem(ValueError):
    """A value or definition refused; ``key`` names the field it is about."""

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(message)
        self.key = key


# --- values ---------------------------------------------------------------------------


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value is False


def checked_value(field: FieldDef, value: Any) -> Any:
    """The value to store for ``field`` (None: clear it), or FieldProblem in words."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    checker = _CHECKERS[field.kind]
    return checker(field, value)


def _refuse(field: FieldDef, says: str) -> FieldProblem:
    return FieldProblem(field.key, f"{field.label} {says}")


def _text(field: FieldDef, value: Any) -> str:
    if not isinstance(value, str):
        raise _refuse(field, "must be text")
    value = value.strip()
    if "\n" in value or "\r" in value:
        raise _refuse(field, "must be one line (use a paragraph field for more)")
    if len(value) > MAX_TEXT:
        raise _refuse(field, f"can be at most {MAX_TEXT} characters ({len(value)} now)")
    return value


def _paragraph(field: FieldDef, value: Any) -> str:
    if not isinstance(value, str):
        raise _refuse(field, "must be text")
    value = value.strip()
    if len(value) > MAX_PARAGRAPH:
        raise _refuse(field, f"can be at most {MAX_PARAGRAPH:,} characters ({len(value):,} now)")
    return value


def _number(field: FieldDef, value: Any) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d{1,19}\s*", value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _refuse(field, "must be a whole number, like 42")
    if abs(value) > MAX_NUMBER:
        raise _refuse(field, "is too large a number")
    return value


def _decimal(field: FieldDef, value: Any) -> str:
    """Kept as the agent wrote it (12.50 stays 12.50), never through a float."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _refuse(field, "must be a number written as text, like 12.50")
    text = value.strip()
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)", text):
        raise _refuse(field, "must be a number, like 12.50")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise _refuse(field, "must be a number, like 12.50") from None
    if len(number.as_tuple().digits) > MAX_DECIMAL_DIGITS or abs(number) > MAX_NUMBER:
        raise _refuse(field, f"can have at most {MAX_DECIMAL_DIGITS} digits and be at most "
                             "a thousand billion")
    return text.lstrip("+")


def _dropdown(field: FieldDef, value: Any) -> str:
    if not isinstance(value, str) or value not in field.choices:
        shown = ", ".join(field.choices) or "none yet"
        raise _refuse(field, f"must be one of its choices ({shown})")
    return value


def _checkbox(field: FieldDef, value: Any) -> bool | None:
    if not isinstance(value, bool):
        raise _refuse(field, "must be ticked or not (true or false)")
    return value or None  # unticked is empty: not stored


def _date(field: FieldDef, value: Any) -> str:
    if not isinstance(value, str) or not _DATE.fullmatch(value.strip()):
        raise _refuse(field, "must be a date written YYYY-MM-DD, like 2026-12-01")
    try:
        datetime.date.fromisoformat(value.strip())
    except ValueError:
        raise _refuse(field, f"is not a real date ({value.strip()})") from None
    return value.strip()


_CHECKERS = {"text": _text, "paragraph": _paragraph, "number": _number, "decimal": _decimal,
             "dropdown": _dropdown, "checkbox": _checkbox, "date": _date}


def merged_values(fields: Iterable[FieldDef], current: Mapping[str, Any],
                  changes: Mapping[str, Any]) -> dict[str, Any]:
    """The ticket's values once ``changes`` apply: keys given are set (empty clears them),
    every other value stays, a retired field's and a dropdown's old choice included."""
    by_key = {field.key: field for field in fields}
    values = dict(current)
    for key, value in changes.items():
        field = by_key.get(key)
        if field is None:
            raise FieldProblem(key, f"there is no ticket field {key!r}")
        if field.retired:
            raise FieldProblem(key, f"{field.label} is retired: its value can no longer change")
        stored = checked_value(field, value)
        if stored is None:
            values.pop(key, None)
        else:
            values[key] = stored
    return values


def missing_to_resolve(fields: Iterable[FieldDef], values: Mapping[str, Any]) -> list[FieldDef]:
    """The fields a ticket must have filled in before it is resolved (retired ones never)."""
    return [field for field in fields if field.required_to_resolve and not field.retired
            and is_empty(values.get(field.key))]


def resolve_refusal(ticket_id: int, status: str, missing: list[FieldDef]) -> FieldProblem:
    verb = "close" if status == "closed" else "resolve"
    names = [field.label for field in missing]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return FieldProblem(missing[0].key, f"Can't {verb} #{ticket_id}: fill in {listed} first")


def shown_value(field: FieldDef | None, value: Any) -> str:
    """A stored value as an agent reads it."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool) or (field is not None and field.kind == "checkbox"):
        return "yes" if value else "no"
    text = str(value)
    return text if "\n" not in text else text.splitlines()[0] + " …"


# --- definitions ----------------------------------------------------------------------


def checked_label(label: Any) -> str:
    if not isinstance(label, str) or not label.strip():
        raise FieldProblem("label", "a field needs a label")
    label = " ".join(label.split())
    if len(label) > MAX_LABEL:
        raise FieldProblem("label", f"a label can be at most {MAX_LABEL} characters")
    return label


def checked_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise FieldProblem("kind", f"a field's kind is one of {', '.join(KINDS)}, not {kind!r}")
    return str(kind)


def checked_choices(kind: str, choices: Iterable[Any]) -> tuple[str, ...]:
    """A dropdown's choices: one or more, each one line, no repeats (in the admin's order)."""
    if kind != "dropdown":
        if list(choices):
            raise FieldProblem("choices", "only a dropdown has choices")
        return ()
    kept: list[str] = []
    for choice in choices:
        text = " ".join(str(choice).split())
        if not text:
            continue
        if len(text) > MAX_CHOICE:
            raise FieldProblem("choices", f"a choice can be at most {MAX_CHOICE} characters")
        if text in kept:
            raise FieldProblem("choices", f"{text!r} is listed twice")
        kept.append(text)
    if not kept:
        raise FieldProblem("choices", "a dropdown needs at least one choice")
    if len(kept) > MAX_CHOICES:
        raise FieldProblem("choices", f"a dropdown can have at most {MAX_CHOICES} choices")
    return tuple(kept)


def key_for(label: str, taken: Iterable[str]) -> str:
    """A stable slug for a new field's values (order_number), unique among ``taken``."""
    base = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:40] or "field"
    if base[0].isdigit():
        base = "f_" + base
    used = set(taken)
    key, n = base, 2
    while key in used:
        key, n = f"{base}_{n}", n + 1
    return key


# --- stored definitions ---------------------------------------------------------------


def field_from_row(row: sqlite3.Row) -> FieldDef:
    return FieldDef(id=row["id"], key=row["key"], label=row["label"], kind=row["kind"],
                    choices=tuple(json.loads(row["choices"])),
                    required_to_resolve=bool(row["required_to_resolve"]),
                    position=row["position"], retired_at=row["retired_at"])


def definitions(conn: Conn) -> list[FieldDef]:
    """Every field, retired ones too, in the admin's order."""
    rows = conn.execute("SELECT * FROM ticket_fields ORDER BY position, id").fetchall()
    return [field_from_row(row) for row in rows]
