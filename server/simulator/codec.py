"""The simulator's dataclasses to plain data (JSON/TOML values) and back, driven by their fields.

Nothing here names a field: a field added to ``Account`` or ``Number`` is
saved by ``--state`` and settable from a scenario file as soon as it exists,
as long as its type is built from str, int, float, bool, bytes, datetime,
lists, sets, tuples, dicts, ``X | None`` and other dataclasses.

Errors name the key that is wrong (``account[2].number[0].mms``), because a
person wrote the scenario file and has to find the line.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import types
import typing
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")


class DecodeError(ValueError):
    """A value does not fit its field; the message starts with the key's path."""


def encode(value: Any) -> Any:
    """Plain data for JSON: dataclasses become tables of their fields, sets sorted lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, set | frozenset):
        return sorted((encode(item) for item in value), key=repr)
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {str(key): encode(item) for key, item in value.items()}
    return value


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """The resolved type of each field a dataclass takes in its constructor."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def required_fields(cls: type) -> set[str]:
    missing = dataclasses.MISSING
    return {f.name for f in dataclasses.fields(cls)
            if f.init and f.default is missing and f.default_factory is missing}


def build(cls: type[T], table: Any, where: str) -> T:
    """An instance of dataclass ``cls`` from a table of its fields; unknown keys are refused."""
    if not isinstance(table, dict):
        raise DecodeError(f"{where}: expected a table, got {_shown(table)}")
    types_ = field_types(cls)
    unknown = sorted(set(table) - set(types_))
    if unknown:
        raise DecodeError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(types_)})")
    missing = sorted(required_fields(cls) - set(table))
    if missing:
        raise DecodeError(f"{where}: {missing[0]!r} is required")
    values = {key: decode(value, types_[key], f"{where}.{key}") for key, value in table.items()}
    return cls(**values)


def decode(value: Any, hint: Any, where: str) -> Any:
    """``value`` (from JSON or TOML) as type ``hint``, or DecodeError naming ``where``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        return _decode_union(value, args, where)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, where)
    if origin in (list, set, frozenset, tuple):
        if not isinstance(value, list):
            raise DecodeError(f"{where}: expected a list, got {_shown(value)}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise DecodeError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(decode(v, a, f"{where}[{i}]")
                         for i, (v, a) in enumerate(zip(value, args, strict=True)))
        item = args[0] if args else Any
        items = [decode(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return origin(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise DecodeError(f"{where}: expected a table, got {_shown(value)}")
        key_type, item_type = args or (Any, Any)
        return {decode(k, key_type, f"{where}.{k}"): decode(v, item_type, f"{where}.{k}")
                for k, v in value.items()}
    return _decode_scalar(value, hint, where)


def _decode_union(value: Any, args: tuple[Any, ...], where: str) -> Any:
    if value is None and type(None) in args:
        return None
    errors = []
    for option in (a for a in args if a is not type(None)):
        try:
            return decode(value, option, where)
        except DecodeError as error:
            errors.append(error)
    raise errors[0] if errors else DecodeError(f"{where}: unexpected {_shown(value)}")


def _decode_scalar(value: Any, hint: Any, where: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise DecodeError(f"{where}: expected true or false, got {_shown(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():  # JSON dict keys
            return int(value)
        raise DecodeError(f"{where}: expected a whole number, got {_shown(value)}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise DecodeError(f"{where}: expected a number, got {_shown(value)}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise DecodeError(f"{where}: expected a string (in quotes), got {_shown(value)}")
    if hint is datetime:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(str(value))
        except ValueError:
            raise DecodeError(f"{where}: expected an ISO date-time, got {_shown(value)}") from None
    if hint is bytes:
        if isinstance(value, dict) and isinstance(value.get("base64"), str):
            return base64.b64decode(value["base64"])
        raise DecodeError(f"{where}: expected {{base64 = \"...\"}}, got {_shown(value)}")
    raise DecodeError(f"{where}: cannot read a {getattr(hint, '__name__', hint)} field")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
