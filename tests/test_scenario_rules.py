"""A scenario's definition, checked before it is stored: any JSON in, a clear refusal or a
well-formed list of actions out, never another exception."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from core.scenarios import BadScenario, check_actions, describe

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                    st.text(max_size=12), st.sampled_from(["open", "high", "status", "vip"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=10)
keys = st.sampled_from(["set", "value", "tags_add", "tags_remove", "field", "note", "canned",
                        "jump"])
actions = st.dictionaries(keys, json_values, max_size=3)


@given(st.lists(st.one_of(actions, json_values), max_size=5))
def test_any_json_is_refused_in_words_or_checked_into_well_formed_actions(raw: Any) -> None:
    try:
        checked = check_actions(raw)
    except BadScenario as error:
        assert str(error)
        return
    assert 1 <= len(checked) <= 20
    for action in checked:
        assert isinstance(describe(action), str)
        if "set" in action:
            assert set(action) == {"set", "value"}
        elif "field" in action:
            assert set(action) == {"field", "value"}
            assert not isinstance(action["value"], dict)
            assert not any(isinstance(v, list | dict) for v in action["value"]) \
                if isinstance(action["value"], list) else True
        else:
            assert len(action) == 1


def test_each_kind_of_action_is_kept_as_written() -> None:
    raw = [{"set": "status", "value": "pending"}, {"set": "group", "value": None},
           {"tags_add": [" vip ", "vip", "b"]}, {"tags_remove": ["spam"]},
           {"field": "order_no", "value": "A-7"}, {"note": "called"}, {"canned": 3}]
    assert check_actions(raw) == (
        {"set": "status", "value": "pending"}, {"set": "group", "value": None},
        {"tags_add": ["vip", "b"]}, {"tags_remove": ["spam"]},
        {"field": "order_no", "value": "A-7"}, {"note": "called"}, {"canned": 3})
    for bad, words in [([{"canned": 1}, {"canned": 2}], "at most one canned"),
                       ([{"set": "status"}], "takes a value"),
                       ([{"note": "x", "canned": 1}], "unexpected"),
                       ([{"set": "agent", "value": True}], "takes an id"),
                       ([{"note": "x"}] * 21, "at most 20"),
                       ([{"field": "k", "value": [{"a": 1}]}], "a custom field's value"),
                       ([{"field": "k", "value": "x" * 501}], "at most 500")]:
        try:
            check_actions(bad)
        except BadScenario as error:
            assert words in str(error), (bad, error)
        else:
            raise AssertionError(f"{bad} was accepted")
