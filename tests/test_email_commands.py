"""The email commands over the websocket, on both backends: the admin-only settings
(checked in words, secrets never on the wire, every admin told), the email reply's
preflight refusals in an agent's words, and the email upload limit."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mail_server import MailServer, free_port
from relay_harness import Harness, relay_on_loopback
from test_mail_outbound import JO, database, settings_for, texting_ticket  # noqa: F401

from core import queries
from core.email_settings import MB, EmailSettings
from core.mail_preflight import in_mb, mail_preflight
from core.models import Media


@pytest.fixture
async def relay(tmp_path: Path, database: str | None) -> AsyncIterator[Harness]:  # noqa: F811
    async with relay_on_loopback(tmp_path, database=database) as harness:
        yield harness


NOWHERE = MailServer(handler=None, port=free_port())  # type: ignore[arg-type]


async def test_only_admins_see_or_change_email_settings_or_send_a_test(relay: Harness) -> None:
    async with relay.agent() as bo:
        for name, args in (("get_email_settings", {}),
                           ("save_email_settings", {"changes": {"smtp_host": "x"}}),
                           ("send_test_email", {"to": "ops@example.com"})):
            answer = await bo.command(name, **args)
            assert (answer["type"], answer["code"]) == ("error", "forbidden"), answer
    settings = await relay.relay.store.read(queries.setting, "email")
    assert settings is None


async def test_every_agent_learns_whether_the_desk_can_email_but_not_its_server(
        relay: Harness) -> None:
    async with relay.agent() as bo:
        before = await bo.command("get_email_channel")
        assert before["result"] == {"enabled": False, "max_attachment_bytes": 20 * 1024 * 1024}
        async with relay.agent(relay.admin_token) as admin:
            saved = await admin.command("save_email_settings", changes=settings_for(NOWHERE))
            assert saved["type"] == "result", saved
        after = await bo.command("get_email_channel")
        assert after["result"]["enabled"] is True
        assert set(after["result"]) == {"enabled", "max_attachment_bytes"}


async def test_settings_are_checked_in_words_and_every_admin_is_told(relay: Harness) -> None:
    async with relay.agent(relay.admin_token) as admin:
        bad = await admin.command("save_email_settings",
                                  changes={**settings_for(NOWHERE), "smtp_security": "ssl"})
        assert bad["type"] == "error"
        assert bad["field"] == "smtp_security"
        assert "starttls, tls, none" in bad["message"]
        unknown = await admin.command("save_email_settings", changes={"reply_secret": "mine"})
        assert unknown["type"] == "error" and "reply_secret" in unknown["message"]
        wrong_type = await admin.command("save_email_settings", changes={"smtp_port": "25"})
        assert wrong_type["type"] == "error" and "whole number" in wrong_type["message"]
        saved = await admin.command("save_email_settings",
                                    changes={**settings_for(NOWHERE), "smtp_password": "pw-1"})
        assert saved["result"]["enabled"] is True
        assert saved["result"]["smtp_password_set"] is True
        assert "smtp_password" not in saved["result"] and "reply_secret" not in saved["result"]
        event = await admin.until("event")
        while event["kind"] != "email_settings.updated":
            event = await admin.until("event")
        assert event["payload"]["email_settings"] == saved["result"]
        # The password is write-only: a change without it keeps it; clearing is explicit.
        kept = await admin.command("save_email_settings", changes={"from_name": "Acme"})
        assert kept["result"]["smtp_password_set"] is True
        cleared = await admin.command("save_email_settings",
                                      changes={"smtp_password": "", "smtp_password_clear": True})
        assert cleared["result"]["smtp_password_set"] is False
        assert (await admin.command("get_email_settings"))["result"] == cleared["result"]


async def test_an_email_reply_is_refused_in_words_until_it_can_go(relay: Harness) -> None:
    async with relay.agent(relay.admin_token) as admin:
        ticket_id = await texting_ticket(relay, admin, email="")
        answer = await admin.command("reply", ticket_id=ticket_id, channel="email", body="Hi")
        assert answer["type"] == "error"
        assert "email is not set up" in answer["message"]
        assert "no email address" in answer["message"]
        assert "contact view" in answer["message"]
        await admin.command("save_email_settings", changes=settings_for(NOWHERE))
        empty = await admin.command("reply", ticket_id=ticket_id, channel="email", body="  ")
        assert "The email is empty" in empty["message"]
        page = await relay.relay.store.read(queries.thread, ticket_id)
        assert [m.direction for m in page.items if hasattr(m, "direction")] == ["inbound"]
        odd = await admin.command("reply", ticket_id=ticket_id, channel="fax", body="Hi")
        assert (odd["code"], odd["message"]) == (
            "bad_args", "a reply goes by sms or email, not 'fax'")


async def test_email_uploads_take_the_email_limit_and_any_type(relay: Harness) -> None:
    six_mb = base64.b64encode(b"x" * (6 * MB)).decode()
    async with relay.agent(relay.admin_token) as admin:
        await admin.command("save_email_settings",
                            changes={**settings_for(NOWHERE), "max_attachment_bytes": 7 * MB})
        by_mms = await admin.command("upload_media", content_type="image/png", data=six_mb)
        assert by_mms["message"] == "an MMS can carry at most 5 MB of attachments"
        by_mail = await admin.command("upload_media", content_type="application/zip",
                                      data=six_mb, purpose="email", filename="logs.zip")
        assert by_mail["type"] == "result", by_mail
        assert by_mail["result"]["size"] == 6 * MB
        ticket_id = await texting_ticket(relay, admin)
        twice = [by_mail["result"], by_mail["result"]]
        too_big = await admin.command("reply", ticket_id=ticket_id, channel="email",
                                      body="Logs attached", media=twice)
        assert too_big["type"] == "error"
        assert too_big["field"] == "media"
        assert "12 MB" in too_big["message"] and "at most 7 MB" in too_big["message"]
        await admin.command("save_email_settings", changes={"max_attachment_bytes": 5 * MB})
        over = await admin.command("upload_media", content_type="application/zip",
                                   data=six_mb, purpose="email")
        assert over["message"] == "an email can carry at most 5 MB of attachments"


# --- the preflight, alone ---------------------------------------------------------------

READY = EmailSettings(smtp_host="mail.example.com", from_address="help@example.com",
                      reply_domain="support.example.com")


def test_the_preflight_passes_a_ready_reply() -> None:
    assert mail_preflight(settings=READY, contact_email=JO, body="Hi").ok


def test_the_preflight_says_every_problem_at_once() -> None:
    verdict = mail_preflight(settings=EmailSettings(), contact_email="not an address",
                             body="", attachments=[Media("image/png", 25 * MB)])
    assert [r.field for r in verdict.refusals] == ["channel", "channel", "body", "media"]
    assert "not set up" in verdict.refusals[0].reason
    assert "no valid email address" in verdict.refusals[1].reason
    assert "add one in the contact view" in verdict.refusals[1].reason
    assert "25 MB" in verdict.refusals[3].reason and "20 MB" in verdict.refusals[3].reason


def test_sizes_read_as_megabytes() -> None:
    assert [in_mb(s) for s in (20 * MB, 20 * MB + MB // 2, 1000, 0)] == [
        "20 MB", "20.5 MB", "0.1 MB", "0.1 MB"]


async def test_a_20_mb_email_attachment_fits_in_one_websocket_frame(relay: Harness) -> None:
    twenty_mb = b"%PDF" + bytes(range(256)) * (20 * MB // 256 - 1) + b"x" * 252
    assert len(twenty_mb) == 20 * MB
    async with relay.agent(relay.admin_token) as admin:
        await admin.command("save_email_settings", changes=settings_for(NOWHERE))
        upload = await admin.command("upload_media", content_type="application/pdf",
                                     data=base64.b64encode(twenty_mb).decode(), purpose="email")
    assert upload["type"] == "result", upload
    assert upload["result"]["size"] == 20 * MB
    assert await relay.relay.media.read(upload["result"]["sha256"]) == twenty_mb
