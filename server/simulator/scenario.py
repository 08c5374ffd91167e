"""``smsdesk sim --scenario FILE``: accounts, numbers and knobs from a TOML file.

    [knobs]                                   # optional: any field of Knobs
    fail_to = { "+13125550164" = 30003 }

    [[account]]
    friendly_name = "Trial shop"              # also what its SID is derived from
    note = "the trial warnings"               # optional: printed at start, nothing else
    type = "Trial"
    verified_caller_ids = ["+14155550142"]

      [[account.number]]
      phone_number = "+18885550111"
      mms = false

Every other key is a field of ``Account`` or ``Number`` in state.py, read by
``codec`` from the field's type: a new field is settable here without code.
``sid`` and ``auth_token`` may be left out: they are derived from the
friendly name, so a restart (or a second machine) gives the same credentials.
A scenario only adds: an account whose SID the simulator already has, or a
number it already has, is left as it is (so it combines with ``--state``).
Errors name the file and the key, or the line for TOML syntax.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.simulator.codec import DecodeError, build, field_types
from server.simulator.state import E164_RE, Account, Knobs, Number, State, pretty

ACCOUNT_STATUSES = ("active", "suspended", "closed")
ACCOUNT_TYPES = ("Full", "Trial")
ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-f]{32}$")
# Older names a scenario may use, for a field state.py calls otherwise.
ALIASES = {"verified_caller_ids": "verified"}
BUILTIN = Path(__file__).with_name("scenarios")


class ScenarioError(Exception):
    """The scenario file is unusable; the message names the file and the key or line."""


@dataclass
class Staged:
    """One account of a scenario, with its numbers and what each is for."""

    account: Account
    note: str = ""
    numbers: list[tuple[Number, str]] = field(default_factory=list)


@dataclass
class Scenario:
    accounts: list[Staged]
    knobs: dict[str, Any]


def derived(prefix: str, seed: str) -> str:
    """A Twilio-shaped SID (or token) that is the same for the same seed on every start."""
    return prefix + hashlib.sha256(f"smsdesk-sim:{prefix}:{seed}".encode()).hexdigest()[:32]


def load_scenario(path: Path) -> Scenario:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise ScenarioError(f"cannot read the scenario {path}: {reason}") from None
    return parse_scenario(text, str(path))


def builtin_scenario(name: str) -> Scenario:
    """A scenario shipped with smsdesk (``scenarios/NAME.toml``), such as ``rehearsals``."""
    return load_scenario(BUILTIN / f"{name}.toml")


def parse_scenario(text: str, source: str = "scenario") -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{source}: not valid TOML: {error}") from None
    try:
        return _scenario(data)
    except DecodeError as error:
        raise ScenarioError(f"{source}: {error}") from None


def _scenario(data: dict[str, Any]) -> Scenario:
    unknown = sorted(set(data) - {"account", "knobs"})
    if unknown:
        raise DecodeError(f"unknown table {unknown[0]!r} (known: account, knobs)")
    knobs = data.get("knobs", {})
    build(Knobs, knobs, "knobs")  # checked now, applied by apply_scenario
    for number in knobs.get("fail_to", {}):
        _check_e164(number, f"knobs.fail_to.{number}")
    accounts = data.get("account", [])
    if not isinstance(accounts, list):
        raise DecodeError("account: write each account as [[account]]")
    staged = [_account(table, f"account[{index}]") for index, table in enumerate(accounts)]
    _check_unique([s.account.sid for s in staged], "account", "sid")
    _check_unique([n.phone_number for s in staged for n, _ in s.numbers], "number",
                  "phone_number")
    return Scenario(staged, knobs)


def _account(table: Any, where: str) -> Staged:
    if not isinstance(table, dict):
        raise DecodeError(f"{where}: expected a table")
    fields = dict(table)
    numbers, note = fields.pop("number", []), _note(fields, where)
    known = field_types(Account)
    for alias, name in ALIASES.items():
        if alias in fields and alias not in known:
            fields[name] = fields.pop(alias)
    fields.setdefault("friendly_name", "Simulated account")
    if not isinstance(fields["friendly_name"], str) or not fields["friendly_name"].strip():
        raise DecodeError(f"{where}.friendly_name: a name cannot be empty")
    fields.setdefault("sid", derived("AC", fields["friendly_name"]))
    if not isinstance(fields["sid"], str) or not ACCOUNT_SID_RE.match(fields["sid"]):
        raise DecodeError(f"{where}.sid: an Account SID is AC and 32 lower-case hex digits")
    fields.setdefault("auth_token", derived("", fields["sid"]))
    account = build(Account, fields, where)
    _check_choice(account.status, ACCOUNT_STATUSES, f"{where}.status")
    _check_choice(account.type, ACCOUNT_TYPES, f"{where}.type")
    for phone in getattr(account, "verified", ()):
        _check_e164(phone, f"{where}.verified_caller_ids")
    for country in account.geo_blocked:
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise DecodeError(f"{where}.geo_blocked: {country!r} is not an ISO country code"
                              " such as \"GB\"")
    if not isinstance(numbers, list):
        raise DecodeError(f"{where}.number: write each number as [[account.number]]")
    staged = Staged(account, note)
    for index, number in enumerate(numbers):
        staged.numbers.append(_number(number, account.sid, f"{where}.number[{index}]"))
    return staged


def _number(table: Any, account_sid: str, where: str) -> tuple[Number, str]:
    if not isinstance(table, dict):
        raise DecodeError(f"{where}: expected a table")
    fields = dict(table)
    note = _note(fields, where)
    if "account_sid" in fields:
        raise DecodeError(f"{where}.account_sid: a number belongs to the account it is under")
    phone = fields.get("phone_number")
    if phone is None:
        raise DecodeError(f"{where}: 'phone_number' is required")
    _check_e164(phone, f"{where}.phone_number")
    fields.update(account_sid=account_sid)
    fields.setdefault("sid", derived("PN", phone))
    fields.setdefault("friendly_name", pretty(phone))
    return build(Number, fields, where), note


def _note(fields: dict[str, Any], where: str) -> str:
    note = fields.pop("note", "")
    if not isinstance(note, str):
        raise DecodeError(f"{where}.note: expected a string (in quotes)")
    return note


def _check_e164(phone: Any, where: str) -> None:
    if not isinstance(phone, str) or not E164_RE.match(phone):
        raise DecodeError(f"{where}: {phone!r} is not an E.164 number such as \"+14155550100\"")


def _check_choice(value: str, choices: tuple[str, ...], where: str) -> None:
    if value not in choices:
        raise DecodeError(f"{where}: {value!r} is not one of {', '.join(choices)}")


def _check_unique(values: list[str], table: str, key: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise DecodeError(f"{table}: two have the {key} {value}")
        seen.add(value)


def apply_scenario(scenario: Scenario, state: State) -> list[Staged]:
    """Add what the state does not have yet; set the knobs. Returns the accounts added."""
    added = []
    for staged in scenario.accounts:
        if staged.account.sid in state.accounts:
            continue
        state.accounts[staged.account.sid] = dataclasses.replace(staged.account)
        numbers = [(n, note) for n, note in staged.numbers
                   if state.number_by_phone(n.phone_number) is None]
        for number, _ in numbers:
            state.numbers[number.sid] = dataclasses.replace(number)
        added.append(Staged(state.accounts[staged.account.sid], staged.note, numbers))
    if scenario.knobs:
        state.knobs = build(Knobs, {**_knob_fields(state.knobs), **scenario.knobs}, "knobs")
    return added


def _knob_fields(knobs: Knobs) -> dict[str, Any]:
    return {f.name: getattr(knobs, f.name) for f in dataclasses.fields(knobs)}
