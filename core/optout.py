"""Opt-out keywords, as Twilio's default Advanced Opt-Out handles them.

Twilio itself answers STOP/START/HELP on long codes and toll-free numbers and
blocks further messages to an opted-out number with error 21610. The inbox
mirrors that state so an agent sees it before trying to reply.
"""

from __future__ import annotations

from enum import Enum


class Keyword(Enum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
)
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})


def normalized(body: str) -> str:
    """A body as keyword matching sees it: spaces collapsed, upper case, no final . or !"""
    return " ".join(body.upper().strip().rstrip(".!").split())


def keyword_in(body: str) -> Keyword | None:
    """The keyword a message is, if the whole message is one.

    Twilio matches the entire body, trimmed and case-insensitive; "please stop
    texting me" is a message for an agent, not an opt-out.
    """
    word = normalized(body)
    if word in OPT_OUT_WORDS:
        return Keyword.OPT_OUT
    if word in OPT_IN_WORDS:
        return Keyword.OPT_IN
    if word in HELP_WORDS:
        return Keyword.HELP
    return None
