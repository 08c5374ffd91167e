"""Agent tokens: random, shown once, stored only as a hash.

Tokens carry 256 bits of randomness, so a fast hash is enough: there is no
password to guess, only a hash to keep a stolen database from being a list of
working tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "sd_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, token_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), token_hash)
