"""Remappable key bindings: find every binding with an id, check a user keymap against them.

Textual already does the remapping itself (``App.set_keymap`` swaps the key of any
``Binding`` whose ``id`` is in the map, on every screen). What it does not do is
tell anyone about mistakes: a misspelt id or a key name that no terminal sends is
silently ignored and the agent is left wondering why ``r`` still replies. This
module checks the keymap first and reports such mistakes in words.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Mapping
from typing import Any

from textual.app import App
from textual.binding import Binding, InvalidBinding
from textual.keys import KEY_NAME_REPLACEMENTS, KEY_TO_UNICODE_NAME, Keys, _character_to_key

MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
_NAMED_KEYS = frozenset(
    key.value.rpartition("+")[2] for key in Keys if not key.value.startswith("<")
) | frozenset(KEY_NAME_REPLACEMENTS.values()) | frozenset(KEY_TO_UNICODE_NAME)


# Symbols and pictographs (emoji) and unassigned or private code points: never a key press.
_NOT_KEYS = frozenset({"So", "Co", "Cn", "Cs"})


def binding_catalog(*classes: type) -> dict[str, Binding]:
    """Every ``Binding`` with an id in the ``BINDINGS`` of these classes and their bases.

    Subclasses come first in an MRO, so when a subclass redefines an id its version
    (the one Textual uses) is the one kept.
    """
    catalog: dict[str, Binding] = {}
    for cls in classes:
        for klass in cls.__mro__:
            for binding in vars(klass).get("BINDINGS", ()):
                if isinstance(binding, Binding) and binding.id and binding.id not in catalog:
                    catalog[binding.id] = binding
    return catalog


def scope_of(binding_id: str) -> str:
    """The part of an id before the first dot: which part of the inbox it belongs to."""
    return binding_id.partition(".")[0] if "." in binding_id else "other"


def is_key_name(key: str) -> bool:
    """Whether a single key (``ctrl+r``, ``question_mark``, ``?``, ``f5``) can ever be pressed."""
    *modifiers, base = key.split("+")
    if any(modifier not in MODIFIERS for modifier in modifiers):
        return False
    if len(base) == 1:
        return base.isprintable() and not base.isspace()
    if base in _NAMED_KEYS:
        return True
    # Textual names punctuation after its Unicode name ("colon", "full_stop"), and
    # only that exact spelling arrives as a key press ("latin_small_letter_a" never does).
    try:
        char = unicodedata.lookup(base.replace("_", " "))
    except KeyError:
        return False
    # Unicode names every emoji too ("banana" is 🍌), but no keyboard has those as keys.
    return _character_to_key(char) == base and unicodedata.category(char) not in _NOT_KEYS


def split_keys(keys: str) -> list[str]:
    """Textual's own reading of a key list: comma separated, single characters by name."""
    return [binding.key for binding in Binding.make_bindings([Binding(keys, "noop")])]


def _check_keys(binding_id: str, keys: Any) -> str | None:
    """Say what is wrong with one keymap value, or None when Textual can use it."""
    if not isinstance(keys, str):
        return f"keymap: {binding_id!r} must be a string of keys such as \"j,down\""
    if not keys.strip():
        return f"keymap: {binding_id!r} has no keys; remove the line to keep the default"
    try:
        parsed = split_keys(keys)
    except InvalidBinding:
        return (
            f"keymap: {binding_id!r} = {keys!r} has an empty key between commas "
            "(to bind the comma key itself, write \"comma\")"
        )
    unknown = [key for key in parsed if not is_key_name(key)]
    if unknown:
        return (
            f"keymap: {binding_id!r} = {keys!r}: {', '.join(map(repr, unknown))} is not a key "
            "name Textual knows (examples: \"r\", \"ctrl+r\", \"f5\", \"question_mark\", "
            "\"enter\", \"pagedown\")"
        )
    return None


def _unknown_id(binding_id: str, known: Mapping[str, Binding]) -> str:
    """Explain an unknown id, suggesting the nearest real ones."""
    close = difflib.get_close_matches(binding_id, list(known), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    return f"keymap: {binding_id!r} is not a binding id of the inbox, ignored{hint}"


def _clashes(valid: Mapping[str, str], known: Mapping[str, Binding]) -> list[str]:
    """Warn when a remapped key lands on another binding of the same scope.

    Textual resolves such a clash by dropping the other binding's use of the key,
    which is rarely what the agent meant. Scopes stand in for "the same widget"
    because ids are named after where their bindings live.
    """
    owners: dict[tuple[str, str], list[str]] = {}
    for binding_id, binding in known.items():
        keys = valid.get(binding_id, binding.key)
        for key in split_keys(keys):
            owners.setdefault((scope_of(binding_id), key), []).append(binding_id)
    warnings = []
    for (scope, key), ids in owners.items():
        if len(ids) > 1 and any(binding_id in valid for binding_id in ids):
            warnings.append(
                f"keymap: key {key!r} is bound to {' and '.join(ids)} in {scope!r}; "
                "only one of them will work"
            )
    return warnings


def apply_keymap(app: App[Any], overrides: Mapping[str, Any], known: Mapping[str, Binding]
                 ) -> list[str]:
    """Install the valid part of a user keymap on ``app``; return what was wrong, in words.

    Invalid entries are left out so those bindings keep their default keys rather
    than becoming unreachable. Calling it again replaces the previous keymap.
    """
    warnings: list[str] = []
    valid: dict[str, str] = {}
    for binding_id, keys in overrides.items():
        if binding_id not in known:
            warnings.append(_unknown_id(binding_id, known))
            continue
        problem = _check_keys(binding_id, keys)
        if problem:
            warnings.append(problem)
            continue
        valid[binding_id] = keys
    warnings += _clashes(valid, known)
    app.set_keymap(valid)
    return warnings


def current_keys(binding_id: str, known: Mapping[str, Binding], keymap: Mapping[str, str]
                 ) -> list[str]:
    """The keys that trigger a binding now: the keymap's if it has the id, else the default."""
    keys = keymap.get(binding_id) or known[binding_id].key
    return split_keys(keys)
