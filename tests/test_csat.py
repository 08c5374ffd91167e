"""The rating parser and the survey's decisions, pure: what a customer's text says to a
survey (core.csat). The relay applies them: tests/test_csat_relay.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.csat import (
    DAY_MS,
    Survey,
    SurveyState,
    answer_to,
    check_followup,
    check_text,
    check_window_days,
    history_line,
    rating_and_remark,
    rating_of,
)

WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


@pytest.mark.parametrize(("body", "rating"), [
    ("4", 4), ("4!", 4), (" 5 ", 5), ("five", 5), ("Five!", 5), ("⭐⭐⭐⭐", 4), ("★★★", 3),
    ("4/5", 4), ("4 stars", 4), ("5 - great", 5), ("3 out of 5", 3), ("1 star", 1),
    ("⭐️⭐️", 2), ("★★★☆☆", 3), ("TWO.", 2), ("5 stars!!", 5), ("4: quick and kind", 4),
])
def test_the_forms_a_rating_takes(body: str, rating: int) -> None:
    assert rating_of(body) == rating


@pytest.mark.parametrize("body", [
    "4 items", "I have 2 questions", "1234", "0", "6", "", "   ", "45", "4.5", "-1",
    "2 - can you call me?", "⭐⭐⭐⭐⭐⭐", "five items", "10/10", "4/10", "thanks", "5 4",
    "STOP", "⭐ great", "#4",
])
def test_texts_that_are_not_a_rating(body: str) -> None:
    assert rating_of(body) is None


def test_the_words_after_a_rating_are_its_remark() -> None:
    assert rating_and_remark("5 - great") == (5, "great")
    assert rating_and_remark("4") == (4, "")
    assert rating_and_remark("3 — slow, but  fine") == (3, "slow, but fine")


@given(st.integers(1, 5), st.sampled_from(["", "!", "!!", ".", " stars", "/5", " / 5",
                                           " out of 5"]),
       st.sampled_from(["", " ", "\n", "  "]), st.booleans())
def test_every_rating_in_every_dress_reads_as_itself(n: int, suffix: str, pad: str,
                                                     word: bool) -> None:
    shown = WORDS[n].capitalize() if word else str(n)
    assert rating_of(f"{pad}{shown}{suffix}{pad}") == n


@given(st.integers())
def test_a_number_outside_one_to_five_is_never_a_rating(n: int) -> None:
    if not 1 <= n <= 5:
        assert rating_of(str(n)) is None


@given(st.integers(1, 5), st.text(alphabet=st.characters(categories=["Ll", "Lu"]),
                                  min_size=1, max_size=12))
def test_a_number_followed_by_a_word_is_a_sentence_not_a_rating(n: int, word: str) -> None:
    if word.lower() not in ("star", "stars"):
        assert rating_of(f"{n} {word}") is None
        assert rating_of(f"I have {n} {word}") is None


@given(st.text(max_size=40))
def test_any_text_reads_as_nothing_or_one_to_five(body: str) -> None:
    assert rating_of(body) in (None, 1, 2, 3, 4, 5)


def survey(state: SurveyState = SurveyState.SENT, rating: int | None = None) -> Survey:
    return Survey(id=1, ticket_id=1, number_id=1, agent_id=None, group_id=None,
                  message_id=1, sent_at=0, expires_at=3 * DAY_MS, rating=rating, state=state)


def test_an_open_survey_takes_a_rating_then_the_comment_it_asked_for() -> None:
    answer = answer_to(survey(), "5!", now=1)
    assert answer is not None and (answer.rating, answer.comment) == (5, None)
    assert answer_to(survey(), "when do you open?", now=1) is None
    asked = survey(SurveyState.ASKED_COMMENT, rating=4)
    answer = answer_to(asked, "  Faster, please ", now=1)
    assert answer is not None and (answer.rating, answer.comment) == (None, "Faster, please")
    assert answer_to(asked, "STOP", now=1) is None  # the carrier's word, never a comment
    again = answer_to(asked, "5", now=1)
    assert again is not None and again.rating == 5  # a rating still replaces the rating


def test_a_survey_closed_or_past_its_window_takes_nothing() -> None:
    assert answer_to(survey(), "4", now=3 * DAY_MS) is None
    for state in (SurveyState.DONE, SurveyState.EXPIRED):
        assert answer_to(survey(state, rating=3), "4", now=1) is None
    replaced = answer_to(survey(SurveyState.RATED, rating=3), "5", now=1)
    assert replaced is not None and replaced.rating == 5


def test_the_admins_settings_are_checked() -> None:
    assert check_text("  Rate us 1-5 ") == "Rate us 1-5"
    for bad in ("", "   ", "x" * 1601):
        with pytest.raises(ValueError, match="1 to 1600"):
            check_text(bad)
    assert check_followup("") == ""
    with pytest.raises(ValueError):
        check_followup("x" * 1601)
    assert check_window_days(1) == 1 and check_window_days(30) == 30
    for bad in (0, 31, -3):
        with pytest.raises(ValueError, match="1 to 30 days"):
            check_window_days(bad)


def test_the_history_says_a_rating_and_a_changed_one() -> None:
    assert history_line(4, None) == "rated 4 by SMS"
    assert history_line(5, 3) == "rating 3 → 5"
