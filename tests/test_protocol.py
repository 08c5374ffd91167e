"""The websocket protocol's sans-I/O core: every message in, every message out."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import protocol
from core.protocol import Command, Hello, ProtocolError, parse_client_message


def test_hello_carries_token_and_resume_point() -> None:
    message = parse_client_message(
        json.dumps({"type": "hello", "version": 1, "token": "sd_x", "last_seq": 41})
    )
    assert message == Hello(token="sd_x", last_seq=41)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"type": "hello", "version": 2, "token": "t"}, "bad_version"),
        ({"type": "hello", "version": 1}, "bad_message"),
        ({"type": "hello", "version": 1, "token": "t", "last_seq": -1}, "bad_message"),
        ({"type": "hello", "version": 1, "token": "t", "last_seq": True}, "bad_message"),
        ({"type": "nope"}, "unknown_type"),
        ([1, 2], "bad_message"),
        ({"type": "command", "name": "reply", "args": {}}, "bad_message"),
        ({"type": "command", "id": "x" * 65, "name": "reply"}, "bad_message"),
        ({"type": "command", "id": "c1", "name": "drop_tables"}, "unknown_command"),
        ({"type": "command", "id": "c1", "name": "reply", "args": {"ticket_id": 1}}, "bad_args"),
        ({"type": "command", "id": "c1", "name": "reply",
          "args": {"ticket_id": "1", "body": "hi"}}, "bad_args"),
        ({"type": "command", "id": "c1", "name": "reply",
          "args": {"ticket_id": True, "body": "hi"}}, "bad_args"),
        ({"type": "command", "id": "c1", "name": "add_note",
          "args": {"ticket_id": 1, "body": "x", "secret": 1}}, "bad_args"),
        ({"type": "command", "id": "c1", "name": "set_ticket",
          "args": {"ticket_id": 1, "tags": ["ok", 3]}}, "bad_args"),
        ({"type": "command", "id": "c1", "name": "list_tickets", "args": []}, "bad_args"),
    ],
)
def test_bad_messages_are_refused_with_a_code(payload: object, code: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        parse_client_message(json.dumps(payload))
    assert refused.value.code == code


def test_command_errors_name_the_command_id() -> None:
    with pytest.raises(ProtocolError) as refused:
        parse_client_message(json.dumps({"type": "command", "id": "c7", "name": "nope"}))
    reply = json.loads(protocol.error_from(refused.value))
    assert reply == {"type": "error", "id": "c7", "code": "unknown_command",
                     "message": "unknown command 'nope'"}


def test_a_valid_command() -> None:
    message = parse_client_message(json.dumps({
        "type": "command", "id": "r-1", "name": "reply",
        "args": {"ticket_id": 12, "body": "On its way!", "media": [{"sha256": "ab"}]},
    }))
    assert message == Command(id="r-1", name="reply",
                              args={"ticket_id": 12, "body": "On its way!",
                                    "media": [{"sha256": "ab"}]})


def test_oversize_and_non_json_are_refused() -> None:
    with pytest.raises(ProtocolError) as refused:
        parse_client_message("x" * (protocol.MAX_MESSAGE_BYTES + 1))
    assert refused.value.code == "too_large"
    with pytest.raises(ProtocolError) as refused:
        parse_client_message("{nope")
    assert refused.value.code == "bad_json"


def test_admin_only_commands_are_marked() -> None:
    assert protocol.COMMANDS["list_accounts"].admin_only
    assert not protocol.COMMANDS["reply"].admin_only


def test_relay_messages_round_trip_as_json() -> None:
    assert json.loads(protocol.welcome({"id": 1, "name": "Ana"}, 10)) == {
        "type": "welcome", "version": 1, "agent": {"id": 1, "name": "Ana"}, "latest_seq": 10}
    assert json.loads(protocol.event(11, "note.created", 3, {"note": {"id": 5}}, 1700)) == {
        "type": "event", "seq": 11, "kind": "note.created", "ticket_id": 3,
        "payload": {"note": {"id": 5}}, "at": 1700}
    assert json.loads(protocol.caught_up(11)) == {"type": "caught_up", "seq": 11}
    one, two = protocol.event(1, "a", None, {}, 0), protocol.event(2, "b", 4, {"x": 1}, 0)
    assert json.loads(protocol.events([one, two])) == {
        "type": "events", "items": [json.loads(one), json.loads(two)]}
    assert json.loads(protocol.result("c1", [1, 2])) == {"type": "result", "id": "c1",
                                                         "result": [1, 2]}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.binary(), json_values.map(json.dumps),
                 st.fixed_dictionaries({"type": st.sampled_from(["hello", "command"]),
                                        "id": json_values, "name": st.sampled_from(
                                            [*protocol.COMMANDS, "x"]),
                                        "args": json_values}).map(json.dumps)))
def test_anything_a_client_sends_parses_or_is_refused_cleanly(text: str | bytes) -> None:
    try:
        message = parse_client_message(text)
    except ProtocolError as refused:
        assert refused.code in {"too_large", "bad_json", "bad_message", "unknown_type",
                                "bad_version", "unknown_command", "bad_args"}
    else:
        assert isinstance(message, (Hello, Command))
