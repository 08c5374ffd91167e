"""``smsdesk sim --state FILE``: the whole simulator state as one JSON file, written atomically.

Accounts, numbers, messages (with their media bytes), opt-outs and knobs are
saved field by field through ``codec``, so a field added to a dataclass in
state.py is saved and restored without a change here. The file is replaced
with ``os.replace`` after an fsync: a crash leaves the old state or the new
one, never half of each. It holds auth tokens, so it is mode 0600.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from server.atomic_file import write_atomically
from server.simulator.codec import DecodeError, build, decode, encode
from server.simulator.state import Account, Knobs, Message, Number, State

FORMAT = 1


class SnapshotError(Exception):
    """The state file cannot be read or written; the message names the file and why."""


def state_to_data(state: State) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "accounts": [encode(a) for a in state.accounts.values()],
        "numbers": [encode(n) for n in state.numbers.values()],
        "messages": [encode(m) for m in state.messages.values()],
        "opt_outs": sorted([number, customer] for number, customer in state.opt_outs),
        "knobs": encode(state.knobs),
    }


def state_from_data(data: Any, where: str = "state") -> State:
    """A State from ``state_to_data``'s output; media and the CDN index are rebuilt."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DecodeError(f"{where}: not a simulator state file (format {FORMAT})")
    state = State()
    for index, table in enumerate(data.get("accounts", [])):
        account = build(Account, table, f"{where}.accounts[{index}]")
        state.accounts[account.sid] = account
    for index, table in enumerate(data.get("numbers", [])):
        number = build(Number, table, f"{where}.numbers[{index}]")
        state.numbers[number.sid] = number
    for index, table in enumerate(data.get("messages", [])):
        message = build(Message, table, f"{where}.messages[{index}]")
        state.messages[message.sid] = message
        for media in message.media:
            state.media[media.sid] = media
            if media.data is not None:
                state.cdn[media.cdn_token] = media
    pairs = decode(data.get("opt_outs", []), list[tuple[str, str]], f"{where}.opt_outs")
    state.opt_outs = set(pairs)
    state.knobs = build(Knobs, data.get("knobs", {}), f"{where}.knobs")
    return state


def load_state(path: Path) -> State | None:
    """The state saved in ``path``; None when there is no such file yet (a first start)."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise SnapshotError(f"cannot read the state file {path}: {_reason(error)}") from None
    try:
        return state_from_data(json.loads(text), where=str(path))
    except json.JSONDecodeError as error:
        raise SnapshotError(f"{path}: line {error.lineno}: not JSON ({error.msg})") from None
    except DecodeError as error:
        raise SnapshotError(str(error)) from None


def save_state(state: State, path: Path) -> None:
    """Write the state to ``path`` atomically (temporary file, fsync, rename), mode 0600."""
    write_snapshot(path, snapshot_bytes(state))


def snapshot_bytes(state: State) -> bytes:
    """The state file's content; taken on the event loop, which owns the state."""
    return json.dumps(state_to_data(state), separators=(",", ":")).encode()


def write_snapshot(path: Path, data: bytes) -> None:
    """Blocking file I/O: call it in a thread from the event loop."""
    try:
        write_atomically(path, data)
    except OSError as error:
        raise SnapshotError(f"cannot write the state file {path}: {_reason(error)}") from None


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error)
