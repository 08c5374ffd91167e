"""Admins define the custom ticket fields: create, change, reorder, retire.

Every change emits ``field.updated`` carrying the whole list in order (at most
a couple of hundred short rows), so each inbox replaces what it knows and its
details pane and fields form follow at once, without a reload.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from core import records
from core.fields import (
    MAX_FIELDS,
    FieldDef,
    FieldProblem,
    checked_choices,
    checked_kind,
    checked_label,
    definitions,
    key_for,
)
from core.writes import FieldRefused, NotFound, WriteContext


def _field(ctx: WriteContext, field_id: int) -> FieldDef:
    for field in definitions(ctx.conn):
        if field.id == field_id:
            return field
    raise NotFound(f"ticket field {field_id} does not exist")


def _announce(ctx: WriteContext) -> list[FieldDef]:
    fields = definitions(ctx.conn)
    ctx.emit("field.updated", None, {"fields": records.to_wire(fields)})
    return fields


def _refused(problem: FieldProblem) -> FieldRefused:
    return FieldRefused(str(problem), problem.key)


def create_field(ctx: WriteContext, *, label: str, kind: str, choices: Iterable[str] = (),
                 required_to_resolve: bool = False) -> FieldDef:
    """A new field, last in the order; its key is a slug of the label, never changed after."""
    try:
        label, kind = checked_label(label), checked_kind(kind)
        choices = checked_choices(kind, choices)
    except FieldProblem as problem:
        raise _refused(problem) from None
    existing = definitions(ctx.conn)
    if len(existing) >= MAX_FIELDS:
        raise FieldRefused(f"a desk can have at most {MAX_FIELDS} ticket fields", "label")
    if any(field.label.casefold() == label.casefold() for field in existing):
        raise FieldRefused(f"there is already a field called {label}", "label")
    position = max((field.position for field in existing), default=0) + 1
    field_id = ctx.conn.execute(
        "INSERT INTO ticket_fields(key, label, kind, choices, required_to_resolve, position,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (key_for(label, (field.key for field in existing)), label, kind,
         json.dumps(list(choices)), int(required_to_resolve), position, ctx.now)).fetchone()[0]
    _announce(ctx)
    return _field(ctx, field_id)


def update_field(ctx: WriteContext, field_id: int, *, label: str | None = None,
                 choices: Iterable[str] | None = None, required_to_resolve: bool | None = None,
                 retired: bool | None = None) -> FieldDef:
    """Change a field; its kind and key stay (tickets keep their values by key).

    A dropdown's choices may change freely: values no longer among them stay on their
    tickets (shown, and the form says so) until an agent picks another.
    """
    field = _field(ctx, field_id)
    values: dict[str, Any] = {}
    try:
        if label is not None:
            values["label"] = checked_label(label)
        if choices is not None:
            values["choices"] = json.dumps(list(checked_choices(field.kind, choices)))
    except FieldProblem as problem:
        raise _refused(problem) from None
    if "label" in values and any(other.id != field_id and other.label.casefold()
                                 == values["label"].casefold()
                                 for other in definitions(ctx.conn)):
        raise FieldRefused(f"there is already a field called {values['label']}", "label")
    if required_to_resolve is not None:
        values["required_to_resolve"] = int(required_to_resolve)
    if retired is not None and retired != field.retired:
        values["retired_at"] = ctx.now if retired else None
    if values:
        assignments = ", ".join(f"{column} = ?" for column in values)  # names from above
        ctx.conn.execute(f"UPDATE ticket_fields SET {assignments} WHERE id = ?",
                         (*values.values(), field_id))
        _announce(ctx)
    return _field(ctx, field_id)


def move_field(ctx: WriteContext, field_id: int, *, to: int) -> list[FieldDef]:
    """Put a field at 0-based place ``to`` in the order (clamped); positions renumbered."""
    fields = definitions(ctx.conn)
    moving = _field(ctx, field_id)
    others = [field for field in fields if field.id != field_id]
    others.insert(max(0, min(to, len(others))), moving)
    ctx.conn.executemany("UPDATE ticket_fields SET position = ? WHERE id = ?",
                         [(place + 1, field.id) for place, field in enumerate(others)])
    return _announce(ctx)
