"""Durations as agents type them: "1h30m", "45m", "1:30", "90" (minutes), "1.5h", "1d 2h".

Parsed to whole seconds, or refused with a sentence that says what to type.
"""

from __future__ import annotations

import re

MAX_SECONDS = 1000 * 3600

_UNITS = {"d": 86_400, "h": 3600, "m": 60, "s": 1}  # a day is 24 hours
# ASCII digits only: "²" is a digit to str.isdigit, and not a number to int().
_MINUTES = re.compile(r"\d+", re.ASCII)
_PARTS = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])", re.ASCII)
_UNITS_ONLY = re.compile(r"(?:\d+(?:\.\d+)?\s*[dhms]\s*)+", re.ASCII)
_CLOCK = re.compile(r"(\d+):([0-5]\d)", re.ASCII)
HOW = 'Type a duration like "1h30m", "45m", "1:30" or "90" (minutes).'


class BadDuration(ValueError):
    """What was typed is not a duration; the message says what would be."""


def parse_duration(text: str) -> int:
    """Seconds in ``text``; raises BadDuration with a clear reason."""
    typed = text.strip().lower().replace(" ", "")
    if not typed:
        raise BadDuration(f"No duration given. {HOW}")
    if _MINUTES.fullmatch(typed):
        seconds = int(typed) * 60
    elif (clock := _CLOCK.fullmatch(typed)) is not None:
        seconds = int(clock.group(1)) * 3600 + int(clock.group(2)) * 60
    elif _UNITS_ONLY.fullmatch(typed):
        units = [unit for _, unit in _PARTS.findall(typed)]
        if len(set(units)) != len(units):
            raise BadDuration(f"“{text.strip()}” names a unit twice. {HOW}")
        seconds = round(sum(float(n) * _UNITS[u] for n, u in _PARTS.findall(typed)))
    else:
        raise BadDuration(f"“{text.strip()}” is not a duration. {HOW}")
    if seconds <= 0:
        raise BadDuration("A duration must be more than zero.")
    if seconds > MAX_SECONDS:
        raise BadDuration("A duration must be at most 1000 hours.")
    return seconds


def format_duration(seconds: int) -> str:
    """Short and exact to the minute: "1h30m", "45m", "0m" (under a minute)."""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes = rest // 60
    if hours and minutes:
        return f"{hours}h{minutes:02d}m"
    return f"{hours}h" if hours else f"{minutes}m"


def format_span(seconds: int) -> str:
    """Long spans as an admin types them back: "1d 2h", "4h", "1h 30m", "45m", "0m"."""
    days, rest = divmod(max(0, int(seconds)), 86_400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    return " ".join(parts) or "0m"


def span_in_words(ms: int) -> str:
    """A measured span (a report's median, say) as format_span writes it, but a few seconds
    read "under 1m" rather than "0m", which would say nothing happened."""
    return "under 1m" if 0 < ms < 60_000 else format_span(int(ms) // 1000)


def format_clock(seconds: int) -> str:
    """A running timer: "0:05:07", "12:00:00"."""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
