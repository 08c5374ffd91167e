"""CSAT over SMS, the pure part: what a customer's text says to a survey.

A survey asks "Reply 1 (poor) to 5 (great)"; people answer "4", "5!", "five", "⭐⭐⭐⭐",
"4/5", "4 stars", "5 - great". Anything else ("4 items", "I have 2 questions", "1234")
is a customer writing back, which reopens the ticket as any text does: a reading that
took a real question for a rating would hide it from the agents, so the forms taken are
few and whole-text only. The store (core.csat_surveys, core.csat_writes) applies these
decisions inside the inbound text's transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from core.optout import keyword_in

DAY_MS = 86_400_000
DEFAULT_TEXT = "How did we do? Reply 1 (poor) to 5 (great)."
MAX_TEXT = 1600  # what one outbound text may hold (core.preflight's limit)
MAX_WINDOW_DAYS = 30

_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_FILLED_STARS = "⭐★🌟"
_EMPTY_STARS = "☆"
# A rating, then how it may be written around: "/5", "out of 5", "stars"; then an
# exclamation or full stop; then, after a dash or colon, a few words of comment.
_NUMBER_FORM = re.compile(
    r"(?P<n>[1-5]|one|two|three|four|five)"
    r"(?:\s*(?:/|out\s+of|of)\s*5|\s*stars?)?"
    r"\s*[!.]*"
    r"(?:\s*[-–—:]\s*(?P<remark>[^?]*[^?\s]))?",
    re.IGNORECASE | re.DOTALL,
)


class SurveyState(Enum):
    """Where a survey stands: waiting for a rating, rated (a second rating may still
    replace it), waiting for the follow-up's comment, finished, or never answered."""

    SENT = "sent"
    RATED = "rated"
    ASKED_COMMENT = "asked_comment"
    DONE = "done"
    EXPIRED = "expired"


# States in which a text from the customer may still be an answer (within the window).
OPEN_STATES = (SurveyState.SENT, SurveyState.RATED, SurveyState.ASKED_COMMENT)


@dataclass(slots=True)
class Survey:
    """One survey sent on one resolution of a ticket."""

    id: int
    ticket_id: int
    number_id: int
    agent_id: int | None
    group_id: int | None
    message_id: int  # the survey text (an outbound entry, purpose 'csat_survey')
    sent_at: int
    expires_at: int
    rating: int | None = None
    rated_at: int | None = None
    comment: str | None = None
    state: SurveyState = SurveyState.SENT


@dataclass(frozen=True, slots=True)
class Answer:
    """A text taken as a rating (``rating`` set) or as the follow-up's comment."""

    survey: Survey
    rating: int | None = None
    comment: str | None = None


def rating_of(body: str) -> int | None:
    """The rating 1..5 a text gives, or None when it is not (only) a rating."""
    read = rating_and_remark(body)
    return None if read is None else read[0]


def rating_and_remark(body: str) -> tuple[int, str] | None:
    """The rating and the words after it ("5 - great": 5, "great"; "4": 4, "").

    A remark asking something ("2 - can you call me?") makes it no rating: a question
    must reach an agent, so the ticket reopens.
    """
    text = " ".join(body.replace("\ufe0f", "").split())
    if not text:
        return None
    stars = _stars(text)
    if stars is not None:
        return stars, ""
    found = _NUMBER_FORM.fullmatch(text)
    if found is None:
        return None
    digit = found["n"].lower()
    return (int(digit) if digit.isdigit() else _WORDS[digit]), found["remark"] or ""


def _stars(text: str) -> int | None:
    """'⭐⭐⭐⭐' or '★★★☆☆': the filled stars, when the text is nothing but stars."""
    compact = text.replace(" ", "")
    if not compact or any(c not in _FILLED_STARS + _EMPTY_STARS for c in compact):
        return None
    filled = sum(c in _FILLED_STARS for c in compact)
    return filled if 1 <= filled <= 5 and len(compact) <= 5 else None


def answer_to(survey: Survey, body: str, now: int) -> Answer | None:
    """What ``body`` is to an open survey: a rating, the awaited comment, or nothing (the
    customer is writing back: the ticket reopens as usual).

    A rating replaces an earlier one while the survey is open; once the follow-up asked
    for a comment, any text but a rating is the comment (STOP, START and HELP are never
    a comment: they are the customer talking to the carrier's rules).
    """
    if survey.state not in OPEN_STATES or now >= survey.expires_at:
        return None
    read = rating_and_remark(body)
    if read is not None:
        rating, remark = read
        return Answer(survey, rating=rating, comment=remark or None)
    if survey.state is SurveyState.ASKED_COMMENT and body.strip() and keyword_in(body) is None:
        return Answer(survey, comment=body.strip())
    return None


def expires_at(sent_at: int, window_days: int) -> int:
    return sent_at + window_days * DAY_MS


def check_text(text: str) -> str:
    """A number's survey text as the admin may set it; ValueError says why not."""
    if not 1 <= len(text.strip()) <= MAX_TEXT:
        raise ValueError(f"the survey text must be 1 to {MAX_TEXT} characters")
    return text.strip()


def check_followup(text: str) -> str:
    """The follow-up question ('' for none)."""
    if len(text.strip()) > MAX_TEXT:
        raise ValueError(f"the follow-up question must be at most {MAX_TEXT} characters")
    return text.strip()


def check_window_days(days: int) -> int:
    if not 1 <= days <= MAX_WINDOW_DAYS:
        raise ValueError(f"the survey window must be 1 to {MAX_WINDOW_DAYS} days")
    return days


def history_line(rating: int, before: int | None) -> str:
    """The activity history's words for a rating: 'rated 4 by SMS', 'rating 3 → 5'."""
    return f"rated {rating} by SMS" if before is None else f"rating {before} → {rating}"
