"""Placeholders: spaces tolerated, filled from values, missing ones reported in place."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.placeholders import fill, first_name, placeholders_in, refusal_for, unfilled, values_for

VALUES = {"contact.name": "Ada Lovelace", "contact.first_name": "Ada", "agent.name": "Bo",
          "ticket.id": "42", "business.number": "+18885550100", "ticket.order_no": "A-7"}
KNOWN = sorted(VALUES)
# Text that cannot form a placeholder: no braces at all.
plain = st.text(st.characters(blacklist_characters="{}", blacklist_categories=("Cs",)),
                max_size=30)


def test_spaces_inside_the_braces_are_tolerated() -> None:
    assert fill("Hi {{ contact.first_name }}, #{{ticket.id}}", VALUES).text == "Hi Ada, #42"


def test_missing_values_and_unknown_names_are_left_and_reported_where_they_stand() -> None:
    filled = fill("Hi {{contact.name}}, {{contact.nmae}} {{ticket.order_no}}",
                  {"ticket.order_no": "A-7"})
    assert filled.text == "Hi {{contact.name}}, {{contact.nmae}} A-7"
    assert [(p.name, filled.text[p.start:p.end]) for p in filled.missing] == [
        ("contact.name", "{{contact.name}}"), ("contact.nmae", "{{contact.nmae}}")]


def test_literal_braces_that_are_not_placeholders_are_left_alone() -> None:
    for text in ("{{", "{{ }}", "a {{b c}} d", "{{1x}}", "{ {x} }", "}}{{"):
        assert fill(text, VALUES).text == text
        assert fill(text, VALUES).missing == ()
    assert unfilled("{{x.y}} and {{like this}}") == []


def test_first_name_is_the_first_word() -> None:
    assert first_name("  Ada   Lovelace ") == "Ada"
    assert first_name("") == ""
    assert values_for(contact_name="Ada Lovelace", agent_name="Bo", ticket_id=7,
                      business_number="+1888", custom_fields={"order_no": "A-7", "vip": True,
                                                              "items": ["a", "b"]}) == {
        "contact.name": "Ada Lovelace", "contact.first_name": "Ada", "agent.name": "Bo",
        "ticket.id": "7", "business.number": "+1888", "ticket.order_no": "A-7",
        "ticket.vip": "yes", "ticket.items": "a, b"}


def test_the_refusal_names_each_unfilled_placeholder_once() -> None:
    assert refusal_for("Hi {{contact.name}} {{ contact.name }}") == (
        "Fill in {{contact.name}} first: the customer would get the placeholder as written.")
    assert refusal_for("Hi Ada, {{see you}}") is None


@given(st.lists(st.tuples(plain, st.sampled_from(KNOWN), st.sampled_from(["", " ", "  "])),
                max_size=5), plain)
def test_filling_every_known_name_leaves_no_placeholder(
        parts: list[tuple[str, str, str]], tail: str) -> None:
    text = "".join(f"{before}{{{{{pad}{name}{pad}}}}}" for before, name, pad in parts) + tail
    filled = fill(text, VALUES)
    assert filled.complete and not unfilled(filled.text)
    assert filled.text == "".join(before + VALUES[name] for before, name, _ in parts) + tail


@given(st.lists(st.tuples(plain, st.sampled_from(KNOWN)), max_size=5), plain,
       st.sets(st.sampled_from(KNOWN)))
def test_missing_positions_point_at_the_placeholders_in_the_filled_text(
        parts: list[tuple[str, str]], tail: str, given_names: set[str]) -> None:
    text = "".join(f"{before}{{{{{name}}}}}" for before, name in parts) + tail
    filled = fill(text, {name: VALUES[name] for name in given_names})
    assert [p.name for p in filled.missing] == [n for _, n in parts if n not in given_names]
    for found in filled.missing:
        assert filled.text[found.start:found.end] == "{{" + found.name + "}}"
    assert [p.name for p in unfilled(filled.text)] == [p.name for p in filled.missing]


@given(plain)
def test_text_without_braces_is_unchanged(text: str) -> None:
    assert fill(text, VALUES).text == text and placeholders_in(text) == []
