"""Canned responses on the relay: who may change what, checked; personal ones stay private."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from relay_harness import CUSTOMER, Harness, relay_on_loopback

from core import queries

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 64).decode()


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[Harness]:
    async with relay_on_loopback(tmp_path) as harness:
        yield harness


async def test_shared_responses_are_for_admins_personal_ones_for_their_owner(
        relay: Harness) -> None:
    async with relay.agent() as bo, relay.agent(token=relay.admin_token) as ada:
        await bo.until("caught_up")
        await ada.until("caught_up")
        folder = (await ada.command("save_canned_folder", name="Billing"))["result"]
        assert (await bo.command("save_canned_folder", name="Mine"))["code"] == "forbidden"
        refused = await bo.command("save_canned", title="Hi", body="Hello")
        assert refused["code"] == "forbidden"
        shared = (await ada.command("save_canned", title="Refund", folder_id=folder["id"],
                                    body="Hi {{contact.first_name}}, refunded."))["result"]
        assert shared["owner_agent_id"] is None and shared["folder_id"] == folder["id"]
        mine = (await bo.command("save_canned", title="Sign-off", body="Cheers, {{agent.name}}",
                                 personal=True))["result"]
        event = await ada.until("event")
        while event["kind"] != "canned.updated" or event["payload"]["response_id"] != mine["id"]:
            event = await ada.until("event")
        assert "Cheers" not in str(event)  # a personal response's words stay out of the log
        bo_sees = (await bo.command("list_canned"))["result"]
        ada_sees = (await ada.command("list_canned"))["result"]
        assert {r["title"] for r in bo_sees["responses"]} == {"Refund", "Sign-off"}
        assert {r["title"] for r in ada_sees["responses"]} == {"Refund"}
        assert [f["name"] for f in bo_sees["folders"]] == ["Billing"]
        # Nobody but the owner changes a personal response, not even an admin.
        assert (await ada.command("delete_canned", response_id=mine["id"]))["code"] == \
            "forbidden"
        assert (await bo.command("delete_canned", response_id=shared["id"]))["code"] == \
            "forbidden"
        assert (await bo.command("save_canned", response_id=shared["id"], title="x",
                                 body="y"))["code"] == "forbidden"
        edited = await bo.command("save_canned", response_id=mine["id"], title="Bye",
                                  body="Bye", personal=True)
        assert edited["result"]["title"] == "Bye"
        # A folder holding responses is not deleted (nothing is lost); an empty one is.
        assert (await ada.command("delete_canned_folder",
                                  folder_id=folder["id"]))["code"] == "refused"
        assert (await ada.command("delete_canned", response_id=shared["id"]))["result"] == \
            {"deleted": shared["id"]}
        assert (await ada.command("delete_canned_folder", folder_id=folder["id"]))["result"]
        assert (await bo.command("delete_canned", response_id=mine["id"]))["result"]
        assert (await bo.command("list_canned"))["result"] == {"folders": [], "responses": []}


@pytest.mark.parametrize(("args", "words"), [
    ({"title": "", "body": "x"}, "needs a title"),
    ({"title": "t" * 101, "body": "x"}, "at most 100"),
    ({"title": "ok", "body": "x" * 1601}, "1,600"),
    ({"title": "ok", "body": "  "}, "some text"),
    ({"title": "ok", "body": "x", "folder_id": 999}, "does not exist"),
    ({"title": "ok", "body": "x", "media": [{"sha256": "0" * 64}]}, "sha256"),
])
async def test_bad_responses_are_refused_in_words_and_change_nothing(
        relay: Harness, args: dict[str, object], words: str) -> None:
    async with relay.agent(token=relay.admin_token) as ada:
        await ada.until("caught_up")
        answer = await ada.command("save_canned", **args)
        assert answer["type"] == "error" and words in answer["message"]
        assert (await ada.command("list_canned"))["result"]["responses"] == []
        wrong_type = await ada.command("save_canned", title=5, body="x")
        assert wrong_type["code"] == "bad_args"


async def test_attachments_are_kept_by_reference_and_checked_like_a_reply(
        relay: Harness) -> None:
    async with relay.agent(token=relay.admin_token) as ada:
        await ada.until("caught_up")
        upload = (await ada.command("upload_media", content_type="image/png", data=PNG,
                                    filename="map.png"))["result"]
        saved = (await ada.command("save_canned", title="Map", body="Here is the map",
                                   media=[upload]))["result"]
        assert [m["sha256"] for m in saved["media"]] == [upload["sha256"]]
        word = dict(upload, content_type="application/msword")
        refused = await ada.command("save_canned", title="Doc", body="x", media=[word])
        assert "does not accept" in refused["message"]
        long_name = await ada.command("save_canned", title="Doc", body="x",
                                      media=[dict(upload, filename="x" * 256)])
        assert "at most 255" in long_name["message"]


async def test_the_relay_refuses_a_reply_with_an_unfilled_placeholder(relay: Harness) -> None:
    await relay.text("hello", from_=CUSTOMER)
    ticket = (await relay.relay.store.read(queries.list_tickets)).items[0].ticket
    async with relay.agent() as bo:
        await bo.until("caught_up")
        refused = await bo.command("reply", ticket_id=ticket.id, body="Hi {{contact.name}}")
        assert refused["code"] == "refused" and "Fill in {{contact.name}}" in refused["message"]
        # Braces that are not one of ours go out as written.
        sent = await bo.command("reply", ticket_id=ticket.id, body="Use {{your code}} here")
        assert sent["type"] == "result"
