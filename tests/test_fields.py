"""Custom ticket field values: each kind's rule, refused in words naming the field."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.fields import (
    MAX_NUMBER,
    MAX_PARAGRAPH,
    MAX_TEXT,
    FieldDef,
    FieldProblem,
    checked_choices,
    checked_value,
    key_for,
    merged_values,
    missing_to_resolve,
    resolve_refusal,
)


def field(kind: str, *, label: str = "Order number", key: str = "order_number",
          choices: tuple[str, ...] = (), required: bool = False,
          retired: bool = False) -> FieldDef:
    return FieldDef(id=1, key=key, label=label, kind=kind, choices=choices,
                    required_to_resolve=required, retired_at=5 if retired else None)


def refusal(kind: str, value: object, **extra: object) -> str:
    with pytest.raises(FieldProblem) as caught:
        checked_value(field(kind, **extra), value)  # type: ignore[arg-type]
    assert caught.value.key == "order_number"
    return str(caught.value)


@given(st.text(max_size=MAX_TEXT).filter(lambda t: "\n" not in t and "\r" not in t))
def test_one_line_text_up_to_255_is_kept_stripped(text: str) -> None:
    assert checked_value(field("text"), text) == (text.strip() or None)


@given(st.text(min_size=1).map(lambda t: t + "\nmore"))
def test_text_is_one_line(text: str) -> None:
    assert "one line" in refusal("text", "x" + text)


def test_text_and_paragraph_lengths() -> None:
    assert "at most 255" in refusal("text", "x" * (MAX_TEXT + 1))
    long = "line\n" * 100
    assert checked_value(field("paragraph"), long) == long.strip()
    assert "10,000" in refusal("paragraph", "x" * (MAX_PARAGRAPH + 1))


@given(st.integers(min_value=-MAX_NUMBER, max_value=MAX_NUMBER))
def test_whole_numbers_as_numbers_or_digits(n: int) -> None:
    assert checked_value(field("number"), n) == n
    assert checked_value(field("number"), str(n)) == n


@given(st.one_of(st.floats(allow_nan=True), st.booleans(),
                 st.text().filter(lambda t: not t.strip().lstrip("+-").isdigit() and t.strip())))
def test_a_number_field_refuses_what_is_not_a_whole_number(value: object) -> None:
    assert "Order number must be a whole number" in refusal("number", value)


def test_a_number_out_of_range_is_refused() -> None:
    assert "too large" in refusal("number", MAX_NUMBER + 1)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2,
                   min_value=Decimal("-1e12"), max_value=Decimal("1e12")))
def test_decimals_are_exact_strings(number: Decimal) -> None:
    text = f"{number:f}"
    stored = checked_value(field("decimal"), text)
    assert isinstance(stored, str) and Decimal(stored) == number


@pytest.mark.parametrize("value", ["1e5", "NaN", "Infinity", "12,50", "1.2.3", 12.5, True])
def test_decimals_refused(value: object) -> None:
    assert "Order number" in refusal("decimal", value)


@given(st.dates(min_value=datetime.date(1, 1, 1)))
def test_real_dates_written_iso(day: datetime.date) -> None:
    text = day.isoformat()
    assert checked_value(field("date"), text) == text


@pytest.mark.parametrize("value", ["2026-02-30", "2026-13-01"])
def test_dates_that_do_not_exist(value: str) -> None:
    assert "not a real date" in refusal("date", value)


@pytest.mark.parametrize("value", ["20261201", "1/12/2026", "2026-1-1", 20261201])
def test_dates_written_otherwise(value: object) -> None:
    assert "YYYY-MM-DD" in refusal("date", value)


@given(st.lists(st.text(min_size=1, max_size=20).filter(str.strip), min_size=1, max_size=8,
                unique_by=lambda t: " ".join(t.split())), st.data())
def test_a_dropdown_takes_only_its_choices(choices: list[str], data: st.DataObject) -> None:
    kept = checked_choices("dropdown", choices)
    pick = data.draw(st.sampled_from(kept))
    assert checked_value(field("dropdown", choices=kept), pick) == pick
    outside = data.draw(st.text(min_size=1).filter(lambda t: t.strip() and t not in kept))
    assert "must be one of its choices" in refusal("dropdown", outside, choices=kept)


def test_checkbox_is_a_bool_and_unticked_is_empty() -> None:
    assert checked_value(field("checkbox"), True) is True
    assert checked_value(field("checkbox"), False) is None
    assert "ticked" in refusal("checkbox", "yes")
    assert "ticked" in refusal("checkbox", 1)


def test_merging_sets_clears_and_keeps_the_rest() -> None:
    fields = [field("text"), field("dropdown", label="Reason", key="reason", choices=("a",)),
              field("text", label="Old", key="old", retired=True)]
    current = {"order_number": "A1", "reason": "gone", "old": "kept"}
    merged = merged_values(fields, current, {"order_number": "B2"})
    assert merged == {"order_number": "B2", "reason": "gone", "old": "kept"}
    assert merged_values(fields, current, {"order_number": ""}) == {"reason": "gone",
                                                                    "old": "kept"}
    with pytest.raises(FieldProblem, match="Old is retired"):
        merged_values(fields, current, {"old": "x"})
    with pytest.raises(FieldProblem, match="no ticket field 'nope'"):
        merged_values(fields, current, {"nope": "x"})


def test_resolving_names_every_empty_required_field_but_not_retired_ones() -> None:
    fields = [field("text", required=True),
              field("dropdown", label="Reason", key="reason", choices=("a",), required=True),
              field("text", label="Old", key="old", required=True, retired=True),
              field("checkbox", label="Checked", key="checked")]
    missing = missing_to_resolve(fields, {"order_number": "A1"})
    assert [f.key for f in missing] == ["reason"]
    missing = missing_to_resolve(fields, {})
    problem = resolve_refusal(12, "resolved", missing)
    assert str(problem) == "Can't resolve #12: fill in Order number and Reason first"
    assert problem.key == "order_number"
    assert str(resolve_refusal(3, "closed", missing[:1])).startswith("Can't close #3")


@given(st.text(max_size=60), st.sets(st.text(max_size=8), max_size=5))
def test_keys_are_new_slugs(label: str, taken: set[str]) -> None:
    key = key_for(label, taken)
    assert key not in taken and key.replace("_", "").isalnum() and key.isascii()
    assert not key[0].isdigit()
