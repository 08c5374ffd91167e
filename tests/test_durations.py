"""The duration parser behind "log time": what agents type, and clear refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.durations import BadDuration, format_clock, format_duration, parse_duration


@pytest.mark.parametrize(("typed", "seconds"), [
    ("1h30m", 5400), ("45m", 2700), ("1:30", 5400), ("90", 5400), ("1.5h", 5400),
    (" 2h ", 7200), ("1h 5m", 3900), ("30s", 30), ("0:05", 300), ("1H30M", 5400),
])
def test_what_agents_type(typed: str, seconds: int) -> None:
    assert parse_duration(typed) == seconds


@pytest.mark.parametrize(("typed", "says"), [
    ("", "No duration given"), ("soon", "is not a duration"), ("1:75", "is not a duration"),
    ("0m", "more than zero"), ("1h1h", "names a unit twice"), ("1001h", "at most 1000 hours"),
    ("-5m", "is not a duration"), ("m", "is not a duration"), ("²", "is not a duration"),
    ("٣m", "is not a duration"),
])
def test_refusals_say_what_to_type(typed: str, says: str) -> None:
    with pytest.raises(BadDuration) as refused:
        parse_duration(typed)
    assert says in str(refused.value)


@given(st.integers(min_value=0, max_value=999), st.integers(min_value=0, max_value=59))
def test_hours_and_minutes_in_every_spelling_agree(hours: int, minutes: int) -> None:
    seconds = hours * 3600 + minutes * 60
    if seconds == 0:
        with pytest.raises(BadDuration):
            parse_duration(f"{hours}:{minutes:02d}")
        return
    assert parse_duration(f"{hours}h{minutes}m") == seconds
    assert parse_duration(f"{hours}:{minutes:02d}") == seconds
    assert parse_duration(str(hours * 60 + minutes)) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.text(max_size=20))
def test_any_text_is_a_duration_or_a_clear_refusal(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except BadDuration as refused:
        assert str(refused).endswith(('(minutes).', 'zero.', 'hours.'))
    else:
        assert 0 < seconds <= 1000 * 3600


def test_the_running_clock() -> None:
    assert format_clock(307) == "0:05:07" and format_clock(43200) == "12:00:00"


def test_a_measured_span_of_seconds_reads_under_a_minute_not_zero() -> None:
    from core.durations import span_in_words

    assert [span_in_words(ms) for ms in (0, 5_000, 59_999, 60_000, 7_800_000)] == [
        "0m", "under 1m", "under 1m", "1m", "2h 10m"]
