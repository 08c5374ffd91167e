"""The webhook form reader must read exactly what the standard library reads."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.webhooks import Malformed, parse_form

FORM_ALPHABET = st.sampled_from(list("ab=&+%20%41%e2%82%ac%zz é\n"))


def stdlib_reading(body: bytes) -> dict[str, str] | None:
    """parse_qsl's answer, or None where it (or the one-value-per-name rule) refuses."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError):
        return None
    names = [name for name, _ in pairs]
    return None if len(set(names)) != len(names) else dict(pairs)


@given(st.lists(FORM_ALPHABET, max_size=30).map("".join))
def test_any_body_reads_as_parse_qsl_reads_it(text: str) -> None:
    body = text.encode()
    expected = stdlib_reading(body)
    if expected is None:
        with pytest.raises(Malformed):
            parse_form(body)
    else:
        assert parse_form(body) == expected


@given(st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=40), max_size=8))
def test_an_encoded_form_reads_back_as_it_was(fields: dict[str, str]) -> None:
    assert parse_form(urlencode(fields).encode()) == fields


def test_bytes_that_are_not_utf8_are_malformed() -> None:
    with pytest.raises(Malformed):
        parse_form(b"Body=\xff")
