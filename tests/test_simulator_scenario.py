"""The simulator set up from files: TOML scenarios, ``--state`` persistence, rehearsals."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from server.simulator.codec import DecodeError, build, encode
from server.simulator.runner import DEMO_ACCOUNT_SID, Simulator, seed_demo, seed_rehearsals
from server.simulator.scenario import (
    ScenarioError,
    apply_scenario,
    builtin_scenario,
    derived,
    parse_scenario,
)
from server.simulator.snapshot import (
    SnapshotError,
    load_state,
    save_state,
    state_from_data,
    state_to_data,
)
from server.simulator.state import Account, Knobs, Number, State

ROOT = Path(__file__).resolve().parent.parent
API = "2010-04-01"

SCENARIO = """
[knobs]
delivery_delay = 0.01
fail_to = { "+13125550164" = 30003 }

[[account]]
friendly_name = "Trial shop"
note = "trial warnings"
type = "Trial"
balance = "3.00"
verified_caller_ids = ["+14155550142"]

  [[account.number]]
  phone_number = "+18885550111"
  mms = false

  [[account.number]]
  phone_number = "+18885550112"
  status = "inactive"

[[account]]
sid = "AC0123456789abcdef0123456789abcdef"
auth_token = "secret"
friendly_name = "Blocked"
status = "suspended"
geo_blocked = ["GB", "FR"]
"""


# --- scenario files -------------------------------------------------------------------


def test_a_scenario_sets_every_kind_of_field() -> None:
    state = State()
    added = apply_scenario(parse_scenario(SCENARIO), state)
    trial, blocked = (staged.account for staged in added)
    assert (trial.type, trial.balance, trial.verified) == ("Trial", "3.00", {"+14155550142"})
    assert trial.sid == derived("AC", "Trial shop") and len(trial.sid) == 34
    assert added[0].note == "trial warnings"
    numbers = {n.phone_number: n for n in state.account_numbers(trial.sid)}
    assert numbers["+18885550111"].mms is False and numbers["+18885550111"].sms is True
    assert numbers["+18885550112"].status == "inactive"
    assert (blocked.sid, blocked.auth_token, blocked.status) == (
        "AC0123456789abcdef0123456789abcdef", "secret", "suspended")
    assert blocked.geo_blocked == {"GB", "FR"}
    assert state.knobs.fail_to == {"+13125550164": 30003}
    assert state.knobs.delivery_delay == 0.01


def test_a_scenario_gives_the_same_credentials_on_every_start_and_only_adds() -> None:
    first, second = State(), State()
    apply_scenario(parse_scenario(SCENARIO), first)
    apply_scenario(parse_scenario(SCENARIO), second)
    assert {a.sid: a.auth_token for a in first.accounts.values()} == {
        a.sid: a.auth_token for a in second.accounts.values()}
    trial = next(a for a in first.accounts.values() if a.type == "Trial")
    trial.balance = "0.10"  # changed while running (or reloaded from --state)
    assert apply_scenario(parse_scenario(SCENARIO), first) == []
    assert trial.balance == "0.10" and len(first.numbers) == 2


@pytest.mark.parametrize(("text", "words"), [
    ("[[account]]\nfriendly_name = 'x'\nmms = true\n", ["account[0]", "unknown key 'mms'"]),
    ("[[account]]\ntype = 'Premium'\n", ["account[0].type", "'Premium'", "Trial"]),
    ("[[account]]\nstatus = 'frozen'\n", ["account[0].status", "suspended"]),
    ("[[account]]\nbalance = 5\n", ["account[0].balance", "string"]),
    ("[[account]]\nsid = 'AC123'\n", ["account[0].sid", "32"]),
    ("[[account]]\ngeo_blocked = ['uk']\n", ["account[0].geo_blocked", "'uk'"]),
    ("[[account]]\nverified_caller_ids = ['0415']\n", ["verified_caller_ids", "'0415'"]),
    ("[[account]]\n[[account.number]]\nphone_number = '+1'\n",
     ["account[0].number[0].phone_number", "E.164"]),
    ("[[account]]\n[[account.number]]\nmms = false\n",
     ["account[0].number[0]", "'phone_number' is required"]),
    ("[[account]]\n[[account.number]]\nphone_number = '+18885550111'\nmms = 'yes'\n",
     ["account[0].number[0].mms", "true or false"]),
    ("[[account]]\n[[account.number]]\nphone_number = '+18885550111'\n"
     "[[account]]\nfriendly_name = 'b'\n[[account.number]]\nphone_number = '+18885550111'\n",
     ["number", "+18885550111"]),
    ("[[account]]\n[[account]]\n", ["account", "two have the sid"]),
    ("[knobs]\nfail_to = { '+44' = 30003 }\n", ["knobs.fail_to"]),
    ("[knobs]\nqueue_ful = true\n", ["knobs", "unknown key 'queue_ful'"]),
    ("[accounts]\n", ["unknown table 'accounts'"]),
    ("[[account]]\nfriendly_name = \n", ["line 2"]),
])
def test_a_bad_scenario_names_the_key_or_the_line(text: str, words: list[str]) -> None:
    with pytest.raises(ScenarioError) as refused:
        parse_scenario(text, "rehearse.toml")
    message = str(refused.value)
    assert message.startswith("rehearse.toml: ")
    for word in words:
        assert word in message, message


def test_new_dataclass_fields_are_read_without_code_for_them() -> None:
    """What makes a field the admin helper adds to Account settable and saved at once."""

    @dataclasses.dataclass
    class Grown(Account):
        verified_caller_ids: list[str] = dataclasses.field(default_factory=list)
        spend_limit: float | None = None

    table = {"sid": "AC" + "1" * 32, "auth_token": "t", "friendly_name": "g",
             "verified_caller_ids": ["+14155550142"], "spend_limit": 2}
    grown = build(Grown, table, "account[0]")
    assert (grown.verified_caller_ids, grown.spend_limit) == (["+14155550142"], 2.0)
    again = build(Grown, json.loads(json.dumps(encode(grown))), "saved")
    assert again == grown
    with pytest.raises(DecodeError, match=r"account\[0\]\.spend_limit"):
        build(Grown, {**table, "spend_limit": "lots"}, "account[0]")


# --- --state ----------------------------------------------------------------------------

phones = st.from_regex(r"\+1[2-9]\d{9}", fullmatch=True)


@given(
    st.lists(st.tuples(phones, st.text(max_size=40), st.binary(max_size=64)), max_size=4),
    st.dictionaries(phones, st.integers(30001, 30010), max_size=3),
    st.sets(st.tuples(phones, phones), max_size=3),
)
def test_the_state_file_round_trips_everything(texts: list[tuple[str, str, bytes]],
                                               fail_to: dict[str, int],
                                               opt_outs: set[tuple[str, str]]) -> None:
    state = State()
    apply_scenario(builtin_scenario("rehearsals"), state)
    account = state.add_account(type="Trial", balance="1.00")
    account.verified.add("+14155550142")
    account.geo_blocked.add("GB")
    state.add_number(account.sid, "+18885550199", mms=False, a2p_registered=True)
    for customer, body, picture in texts:
        media = [("image/png", picture)] if picture else []
        state.receive(customer, "+18885550199", body, media)
    state.knobs = Knobs(fail_to=fail_to, queue_full=True, delivery_delay=0.5)
    state.opt_outs = opt_outs
    data = json.loads(json.dumps(state_to_data(state)))
    again = state_from_data(data)
    assert state_to_data(again) == data
    assert again.accounts == state.accounts and again.numbers == state.numbers
    assert again.messages == state.messages
    assert again.cdn.keys() == state.cdn.keys()  # inbound media still served after a restart
    assert again.opt_outs == state.opt_outs and again.knobs == state.knobs


def test_the_state_file_is_private_and_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "sim-state.json"
    state = State()
    seed_rehearsals_into(state)
    save_state(state, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds auth tokens
    assert [p.name for p in tmp_path.iterdir()] == ["sim-state.json"]  # no temporary left
    loaded = load_state(path)
    assert loaded is not None and loaded.accounts == state.accounts
    assert load_state(tmp_path / "missing.json") is None


def seed_rehearsals_into(state: State) -> None:
    apply_scenario(builtin_scenario("rehearsals"), state)


@pytest.mark.parametrize(("content", "words"), [
    ("{not json", ["line 1", "not JSON"]),
    ('{"format": 1, "accounts": [{"sid": 5}]}', ["accounts[0]"]),
    ('{"accounts": []}', ["not a simulator state file"]),
])
def test_a_damaged_state_file_is_refused_in_words(tmp_path: Path, content: str,
                                                   words: list[str]) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(SnapshotError) as refused:
        load_state(path)
    for word in words:
        assert word in str(refused.value)


def _smsdesk(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "server.cli", *argv], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _listening(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    first = process.stdout.readline()
    assert "listening on " in first, first + (process.stderr.read() if process.stderr else "")
    return first.split("listening on ")[1].split()[0]


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Ctrl+C, then all it printed (read through the same buffer ``_listening`` used)."""
    assert process.stdout is not None and process.stderr is not None
    process.send_signal(signal.SIGINT)
    out, err = process.stdout.read(), process.stderr.read()
    assert process.wait(15) == 0, err
    return out, err


def test_sim_keeps_its_state_across_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "sim.json"
    scenario = tmp_path / "shop.toml"
    scenario.write_text(SCENARIO)
    first = _smsdesk("sim", "--port", "0", "--state", str(state_file), "--scenario",
                     str(scenario))
    try:
        url = _listening(first)
        trial = derived("AC", "Trial shop")
        sent = requests.post(f"{url}/_sim/text", json={"from": "+14155550142",
                             "to": "+18885550111", "body": "kept?"}, timeout=10).json()
    finally:
        out, _ = _stop(first)
    assert "Trial shop: trial warnings" in out and "+18885550112  (inactive)" in out
    saved = json.loads(state_file.read_text())
    assert any(m["sid"] == sent["sid"] for m in saved["messages"])

    second = _smsdesk("sim", "--port", "0", "--state", str(state_file), "--scenario",
                      str(scenario))
    try:
        url = _listening(second)
        everything = requests.get(f"{url}/_sim/state", timeout=10).json()
        token = derived("", trial)
        account = requests.get(f"{url}/{API}/Accounts/{trial}.json", auth=(trial, token),
                               timeout=10).json()
    finally:
        out, _ = _stop(second)
    assert "reloaded" in out and "Trial shop" not in out  # nothing new to add
    assert [m["body"] for m in everything["messages"]] == ["kept?"]
    assert account["type"] == "Trial"


@pytest.mark.parametrize(("content", "words"), [
    ("[[account]]\ntype = 'Gold'\n", ["account[0].type", "Gold"]),
    ("[[account]\n", ["line 1"]),
])
def test_sim_refuses_a_bad_scenario_in_one_line_before_listening(
        tmp_path: Path, content: str, words: list[str]) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text(content)
    process = _smsdesk("sim", "--port", "0", "--scenario", str(scenario))
    out, err = process.communicate(timeout=15)
    assert process.returncode == 1 and "listening" not in out
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert all(word in err for word in [str(scenario), *words]), err


# --- --seed-demo: one account of each kind -----------------------------------------------


async def _rest(sim: Simulator, account: Account, path: str, **data: str) -> Any:
    """Twilio's REST API as the account, from a thread (the simulator serves on this loop)."""
    url = f"{sim.url}/{API}/Accounts/{account.sid}{path}"
    method = "POST" if data else "GET"
    return await asyncio.to_thread(requests.request, method, url, data=data or None,
                                   auth=(account.sid, account.auth_token), timeout=10)


async def _send(sim: Simulator, account: Account, from_: str, to: str) -> Any:
    return await _rest(sim, account, "/Messages.json", From=from_, To=to, Body="hi")


def _by_name(sim: Simulator, words: str) -> tuple[Account, list[Number]]:
    account = next(a for a in sim.state.accounts.values() if words in a.friendly_name)
    return account, sim.state.account_numbers(account.sid)


async def test_seed_demo_has_one_account_of_each_kind_that_behaves_as_twilio_would() -> None:
    sim = Simulator()
    await sim.start()
    try:
        seed_demo(sim)
        staged = seed_rehearsals(sim)
        assert all(s.note for s in staged) and len(staged) == 8
        assert DEMO_ACCOUNT_SID in sim.state.accounts

        trial, (trial_number,) = _by_name(sim, "trial")
        assert (await _rest(sim, trial, ".json")).json()["type"] == "Trial"
        refused = await _send(sim, trial, trial_number.phone_number, "+14155550199")
        assert refused.json()["code"] == 21608
        assert (await _send(sim, trial, trial_number.phone_number, "+14155550142")).ok

        suspended, (number,) = _by_name(sim, "suspended")
        assert (await _rest(sim, suspended, ".json")).json()["status"] == "suspended"
        refused = await _send(sim, suspended, number.phone_number, "+14155550142")
        assert refused.json()["code"] == 10001

        closed, numbers = _by_name(sim, "closed")
        assert (await _rest(sim, closed, ".json")).status_code == 401 and numbers == []

        nothing, numbers = _by_name(sim, "no numbers")
        listed = await _rest(sim, nothing, "/IncomingPhoneNumbers.json")
        assert listed.json()["incoming_phone_numbers"] == [] and numbers == []

        low, _ = _by_name(sim, "low balance")
        assert float((await _rest(sim, low, "/Balance.json")).json()["balance"]) < 5

        blocked, (number,) = _by_name(sim, "geo-blocked")
        refused = await _send(sim, blocked, number.phone_number, "+447400900123")
        assert refused.json()["code"] == 21408

        unregistered, (number,) = _by_name(sim, "10DLC")
        sent = await _send(sim, unregistered, number.phone_number, "+14155550142")
        await sim.settle()
        assert sim.state.messages[sent.json()["sid"]].error_code == 30034

        owner, _ = _by_name(sim, "inactive number")
        listed = await _rest(sim, owner, "/IncomingPhoneNumbers.json")
        statuses = sorted(n["status"] for n in listed.json()["incoming_phone_numbers"])
        assert statuses == ["in-use", "inactive"]
    finally:
        await sim.stop()


def test_seed_demo_prints_each_rehearsal_account_and_what_it_rehearses() -> None:
    process = _smsdesk("sim", "--port", "0", "--seed-demo")
    try:
        _listening(process)
    finally:
        out, _ = _stop(process)
    for staged in builtin_scenario("rehearsals").accounts:
        account = staged.account
        assert f"{account.friendly_name}: {staged.note}" in out
        assert f"SID {account.sid}  token {account.auth_token}" in out
    assert "(inactive)" in out
