"""Trial accounts (issue 9, item 12): verified destinations only (21608), and Twilio's
prefix counted in the segments the agent sees and the relay stores."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from desk_harness import US_TOLL_FREE, LiveDesk, live_desk
from test_admin_commands import CUSTOMER, Refused, wire
from test_tui_composer import Host, context, line, put

from core import queries, writes
from core.models import Account, Contact, PhoneNumber, SenderType
from core.preflight import preflight
from core.sms import TRIAL_PREFIX, analyze, as_sent
from tui.widgets.send_review import cost_hint

NUMBER = PhoneNumber(id=1, account_id=1, e164="+18885550100", mms=True,
                     sender_type=SenderType.TOLL_FREE, country="US")
VERIFIED = "+12025550123"
STRANGER = "+12025550199"


def trial(verified: tuple[str, ...] = (VERIFIED,), type: str = "Trial") -> Account:
    return Account(id=1, name="Acme", sid="AC" + "1" * 32, auth_token="", type=type,
                   verified_caller_ids=verified)


def codes(account: Account, to: str) -> tuple[int | None, ...]:
    return preflight(number=NUMBER, account=account, contact=Contact(id=1, phone=to), to=to,
                     body="Hello").codes


def test_a_trial_account_may_text_only_its_verified_numbers() -> None:
    assert 21608 in codes(trial(), STRANGER)
    assert 21608 not in codes(trial(), VERIFIED)
    assert 21608 not in codes(trial(type="Full"), STRANGER)
    assert 21608 not in codes(trial(verified=()), STRANGER)  # never fetched: not assumed


def test_the_refusal_says_why_in_an_agents_words() -> None:
    [refusal] = [r for r in preflight(number=NUMBER, account=trial(),
                                      contact=Contact(id=1, phone=STRANGER), to=STRANGER,
                                      body="Hi").refusals if r.code == 21608]
    assert "Trial account" in refusal.reason and "Verified Caller IDs" in refusal.reason


def test_the_trial_prefix_counts_in_the_segments() -> None:
    body = "x" * 140  # one segment on its own
    assert analyze(body).segments == 1
    assert analyze(as_sent(body, trial=True)).segments == 2
    assert as_sent(body, trial=False) == body and as_sent("", trial=True) == ""
    assert as_sent(body, trial=True).startswith(TRIAL_PREFIX)


async def test_the_composer_counts_the_prefix_for_a_trial_account() -> None:
    ctx = context()
    ctx = dataclasses.replace(ctx, account=dataclasses.replace(ctx.account, type="Trial"))
    app = Host(ctx)
    async with app.run_test() as pilot:
        await put(app, pilot, "x" * 140)
        assert line(app, "composer-count").endswith("2 segments")
    app = Host(context())
    async with app.run_test() as pilot:
        await put(app, pilot, "x" * 140)
        assert line(app, "composer-count").endswith("1 segment")


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as live:
        yield live


async def test_the_relay_rechecks_and_stores_what_twilio_bills(desk: LiveDesk) -> None:
    await desk.text("Hello", from_=CUSTOMER)
    store = desk.relay.store
    [account] = await store.read(queries.accounts)
    await store.write(writes.update_account, account.id, type="Trial",
                      verified_caller_ids=["+12025550100"])
    async with wire(desk) as ws:
        [item] = (await ws.call("list_tickets"))["items"]
        [number] = [n for n in await ws.call("list_numbers") if n["e164"] == US_TOLL_FREE]
        assert number["account"]["verified_caller_ids"] == ["+12025550100"]
        with pytest.raises(Refused, match="Trial account"):
            await ws.call("reply", ticket_id=item["ticket"]["id"], body="x" * 140)
        await store.write(writes.update_account, account.id,
                          verified_caller_ids=["+12025550100", CUSTOMER])
        sent = await ws.call("reply", ticket_id=item["ticket"]["id"], body="x" * 140)
    assert sent["segments"] == 2


def test_the_send_review_bills_the_prefix_too() -> None:
    assert cost_hint("x" * 140).startswith("Billed as 1 SMS segment ")
    assert cost_hint("x" * 140, trial=True).startswith("Billed as 2 SMS segments")
