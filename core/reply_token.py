"""The Reply-To address that routes a customer's email answer back to its ticket.

`support+t123.k7q2m4x9abcd3efg@support.example.com`: the ticket id rides in the
sub-address with an HMAC of it under the relay's secret, so a sender cannot
guess the address of a ticket that is not theirs and thread into it. The MAC is
lower-case base32 because mail servers are allowed to (and some do) change the
case of a local part on the way; the check ignores case for the same reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from email.utils import parseaddr

# 16 base32 characters = 80 bits: far beyond guessing by sending mail, short enough to read.
MAC_LENGTH = 16
_TOKEN = re.compile(
    r"(?P<base>[^+@\s\"]+)\+t(?P<ticket>[1-9][0-9]{0,17})\.(?P<mac>[a-z2-7]{"
    + str(MAC_LENGTH)
    + "})"
)


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def mac_of(ticket_id: int, secret: str | bytes) -> str:
    """The ticket's MAC: HMAC-SHA256 over a labelled id, base32, lower case, truncated."""
    digest = hmac.new(_key(secret), f"smsdesk-reply-to:{ticket_id}".encode(), hashlib.sha256)
    return base64.b32encode(digest.digest()).decode().lower()[:MAC_LENGTH]


def reply_address(ticket_id: int, *, secret: str | bytes, local_part: str, domain: str) -> str:
    """The address a reply to this ticket's email should go to."""
    if ticket_id < 1:
        raise ValueError(f"ticket ids are positive, not {ticket_id}")
    return f"{local_part}+t{ticket_id}.{mac_of(ticket_id, secret)}@{domain}"


def ticket_of_reply_address(
    address: str, *, secret: str | bytes, domain: str, local_part: str | None = None
) -> int | None:
    """The ticket a reply address names, or None when it is not one of ours.

    Forged or truncated MACs, another domain, another local part (when one is
    given) and anything that does not parse are all None: a caller falls back to
    the other threading rules. `address` may carry a display name.
    """
    _, bare = parseaddr(address)
    local, at, host = (bare or address).strip().rpartition("@")
    if not at or host.lower().rstrip(".") != domain.lower().rstrip("."):
        return None
    found = _TOKEN.fullmatch(local.lower())
    if found is None:
        return None
    if local_part is not None and found["base"] != local_part.lower():
        return None
    ticket_id = int(found["ticket"])
    if not hmac.compare_digest(found["mac"], mac_of(ticket_id, secret)):
        return None
    return ticket_id
