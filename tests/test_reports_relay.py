"""``get_report`` and the segment price on a relay, both backends: any agent asks for a
report; a request that is not one is refused with bad_args naming its field (never
``internal``); admins set a number's segment price and currency, refused in words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from relay_harness import Harness, relay_on_loopback
from test_bot_commands import _result, database  # noqa: F401

from core import queries

US = "+18885550100"


@pytest.fixture
async def relay(tmp_path: Path, database: str | None) -> AsyncIterator[Harness]:  # noqa: F811
    async with relay_on_loopback(tmp_path, database) as harness:
        yield harness


def ask(**args: Any) -> dict[str, Any]:
    return {"from": "2026-11-01", "to": "2026-11-30", **args}


async def us_id(relay: Harness) -> int:
    return next(n.id for n in await relay.relay.store.read(queries.numbers) if n.e164 == US)


async def test_any_agent_gets_a_report_in_the_wire_shape(relay: Harness) -> None:
    async with relay.agent() as bo:
        await bo.until("caught_up")
        got = _result(await bo.command("get_report", **ask(time_zone="Europe/London")))
        assert (got["from"], got["to"], got["time_zone"]) == ("2026-11-01", "2026-11-30",
                                                              "Europe/London")
        assert len(got["days"]) == 30 and got["days"][0] == {
            "day": "2026-11-01", "created": 0, "resolved": 0, "inbound": 0, "outbound": 0}
        assert got["first_response"] == {"count": 0, "median_ms": None, "p90_ms": None}
        assert len(got["busiest_hours"]) == 7 and {len(r) for r in got["busiest_hours"]} == {24}
        utc = _result(await bo.command("get_report", **ask()))
        assert utc["time_zone"] == "UTC"  # no desk setting: UTC


@pytest.mark.parametrize(("args", "field", "words"), [
    (ask(**{"from": "2026-02-30"}), "from", "YYYY-MM-DD"),
    (ask(to="2026-10-01"), "to", "before it starts"),
    (ask(**{"from": "2025-01-01", "to": "2026-01-10"}), "to", "at most 366 days"),
    (ask(time_zone="Europe/Londn"), "time_zone", "unknown time zone"),
    (ask(channel="fax"), "channel", "sms or email"),
    (ask(number_id=999), "number_id", "no such number"),
    (ask(group_id=999), "group_id", "no such group"),
    (ask(agent_id=-1), "agent_id", "positive whole number"),
])
async def test_a_bad_request_is_refused_naming_its_field(relay: Harness, args: dict[str, Any],
                                                         field: str, words: str) -> None:
    async with relay.agent() as bo:
        await bo.until("caught_up")
        refused = await bo.command("get_report", **args)
        assert (refused["type"], refused["code"], refused["field"]) == ("error", "bad_args",
                                                                        field)
        assert words in refused["message"]


async def test_admins_set_a_segment_price_refused_in_words(relay: Harness) -> None:
    number_id = await us_id(relay)
    async with relay.agent(relay.admin_token) as ada, relay.agent() as bo:
        await ada.until("caught_up")
        await bo.until("caught_up")
        saved = _result(await ada.command("update_number", number_id=number_id,
                                          segment_price=" 0.0079 ", price_currency="eur"))
        number = saved.get("number", saved)
        assert (number["segment_price"], number["price_currency"]) == ("0.0079", "EUR")
        listed = _result(await bo.command("list_numbers"))
        rows = listed["numbers"] if isinstance(listed, dict) else listed
        assert [(n["segment_price"], n["price_currency"]) for n in rows
                if n["id"] == number_id] == [("0.0079", "EUR")]
        for price, words in (("-1", "negative"), ("cheap", "not a price"),
                             ("0.0000001", "decimal places")):
            refused = await ada.command("update_number", number_id=number_id,
                                        segment_price=price)
            assert (refused["code"], refused["field"]) == ("bad_args", "segment_price")
            assert words in refused["message"]
        refused = await ada.command("update_number", number_id=number_id, price_currency="€")
        assert (refused["code"], refused["field"]) == ("bad_args", "price_currency")
        cleared = _result(await ada.command("update_number", number_id=number_id,
                                            segment_price=""))
        assert cleared.get("number", cleared)["segment_price"] is None
        forbidden = await bo.command("update_number", number_id=number_id, segment_price="1")
        assert forbidden["code"] == "forbidden"
