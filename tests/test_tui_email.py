"""The TUI's email channel (issue 12): the composer's switch, the subject, the email rules, the
send review, the thread's ✉ entries, the list's mark and an email's original."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static, TextArea

from core.models import Account, Contact, PhoneNumber, SenderType
from tui.mail_channel import (
    EmailChannel,
    default_channel,
    email_state_label,
    last_email_subject,
    shown_phone,
    why_no_address,
)
from tui.screens.mail_original import MailOriginalScreen, read_original
from tui.widgets import render
from tui.widgets.composer import (
    AttachmentRejected,
    ComposeContext,
    Composer,
    check_email_attachment,
)
from tui.widgets.send_review import SendReview
from tui.widgets.thread_view import ThreadView

MB = 1024 * 1024
ON = EmailChannel(enabled=True)


def context(*, email: str | None = "ann@example.com", desk: EmailChannel = ON,
            default: str = "sms", subject: str = "Where is my order?",
            phone: str = "+12025550123") -> ComposeContext:
    """Ann Lee on ticket #7, texting a US toll-free number; her address as given."""
    return ComposeContext(
        ticket_id=7,
        number=PhoneNumber(id=1, account_id=1, e164="+18885550100", mms=True,
                           sender_type=SenderType.TOLL_FREE, country="US"),
        account=Account(id=1, name="Acme", sid="AC" + "1" * 32, auth_token="",
                        geo_permissions=("US",)),
        contact=Contact(id=3, phone=phone, name="Ann Lee"),
        ticket_number_id=1,
        contact_email=email,
        email=desk,
        default_channel=default,  # type: ignore[arg-type]
        email_subject=subject,
    )


class Host(App[None]):
    """The composer alone, recording what it posts."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("y", "noop", "letter y")]

    def __init__(self, ctx: ComposeContext | None, **composer: Any) -> None:
        super().__init__()
        self.ctx = ctx
        self.composer_options = composer
        self.posted: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Composer(id="composer", **self.composer_options)

    def on_mount(self) -> None:
        composer = self.query_one(Composer)
        composer.query_one(TextArea).cursor_blink = False
        composer.set_context(self.ctx)
        composer.start("reply")

    def on_composer_submitted(self, message: Composer.Submitted) -> None:
        self.posted.append(message)

    def on_composer_address_wanted(self, message: Composer.AddressWanted) -> None:
        self.posted.append(message)

    def on_composer_address_missing(self, message: Composer.AddressMissing) -> None:
        self.posted.append(message)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)


def count_line(app: App[Any]) -> str:
    return str(app.query_one("#composer-count", Static).render())


# -- the pure rules --------------------------------------------------------------------------


def test_an_address_is_judged_for_syntax_with_the_reason_in_words() -> None:
    assert why_no_address("ann@example.com", "Ann") == ""
    assert why_no_address("", "Ann") == "Ann has no email address"
    assert why_no_address(None, "Ann") == "Ann has no email address"
    assert why_no_address("ann@", "Ann").startswith("Ann has no valid email address (")


def test_the_default_channel_is_the_customers_last_and_the_subject_the_last_emails() -> None:
    entries = [{"direction": "inbound", "channel": "sms"},
               {"direction": "inbound", "channel": "email", "subject": "Order 55"},
               {"direction": "outbound", "channel": "sms"}]
    assert default_channel(entries) == "email"  # an agent's SMS since does not change it
    assert default_channel([*entries, {"direction": "inbound", "channel": "mms"}]) == "sms"
    assert default_channel([]) == "sms"
    assert last_email_subject(entries) == "Order 55"


def test_the_email_only_stand_in_is_never_a_phone() -> None:
    assert shown_phone("email:ann@example.com") == ""
    assert shown_phone("+12025550123") == "+12025550123"
    assert shown_phone(None) == ""


def test_email_states_in_words_with_the_servers_words() -> None:
    assert email_state_label("sent", "250 ok")[0] == "accepted by the mail server"
    assert email_state_label("undelivered", "550 5.1.1 no such user") == (
        "bounced: 550 5.1.1 no such user", "error")
    assert email_state_label("failed", "554 5.7.1\n rejected") == (
        "failed: 554 5.7.1 rejected", "error")
    assert email_state_label("queued", None)[0] == "queued"


def test_the_desk_settings_come_from_the_wire_form() -> None:
    wire = {"enabled": True, "max_attachment_bytes": 3 * MB, "smtp_password_set": True}
    assert EmailChannel.from_wire(wire) == EmailChannel(True, 3 * MB)
    assert EmailChannel.from_wire({"enabled": False}).why_not.startswith(
        "The desk's email is not set up")


def test_email_attachments_take_any_file_up_to_the_relays_limit(tmp_path: Path) -> None:
    archive = tmp_path / "logs.tar.gz"
    archive.write_bytes(b"x" * 1000)
    pending = check_email_attachment(str(archive), limit=2000)
    assert (pending.filename, pending.size) == ("logs.tar.gz", 1000)
    other = tmp_path / "notes.unknownext"
    other.write_bytes(b"y" * 1500)
    with pytest.raises(AttachmentRejected, match=r"over the 2\.0 KB an email here can carry"):
        check_email_attachment(str(other), attached=(pending,), limit=2000)


# -- the composer's switch -------------------------------------------------------------------


async def test_email_is_offered_with_a_valid_address_and_the_subject_is_prefilled() -> None:
    app = Host(context(), send_review=False)
    async with app.run_test(size=(100, 24)) as pilot:
        composer = app.composer
        assert composer.channel == "sms"
        assert str(composer.border_title).endswith(" · SMS")
        assert "^l email" in str(composer.border_subtitle)
        await pilot.press("ctrl+l")
        assert composer.channel == "email"
        assert str(composer.border_title) == "Reply to Ann Lee <ann@example.com> · ✉ Email"
        assert composer.subject == "Re: [#7] Where is my order?"
        assert count_line(app).startswith("✉ Email · 0 characters · no segments, no SMS rules")
        assert "up to 20.00 MB" in count_line(app)
        assert composer.query_one("#composer-subject", Input).display
        composer.query_one(TextArea).insert("Your parcel left today. " * 20)  # 480 chars
        await pilot.pause()
        assert composer.refusals == ()  # no segment limit, no SMS rule
        await pilot.press("ctrl+s")
        await pilot.pause()
        (sent,) = app.posted
        assert (sent.draft.channel, sent.draft.subject) == ("email",
                                                            "Re: [#7] Where is my order?")


async def test_without_an_address_the_switch_says_why_and_offers_to_add_one() -> None:
    app = Host(context(email=""))
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert app.composer.channel == "sms"
        assert "Not by email: Ann Lee has no email address." in app.composer.verdict_text()
        (missing,) = app.posted
        assert isinstance(missing, Composer.AddressMissing)
        assert missing.why == "Ann Lee has no email address"


async def test_an_invalid_address_is_refused_in_words() -> None:
    app = Host(context(email="ann@@example"))
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert app.composer.channel == "sms"
        assert "Ann Lee has no valid email address (" in app.composer.verdict_text()


async def test_a_desk_without_email_refuses_the_switch_and_offers_no_contact_form() -> None:
    app = Host(context(desk=EmailChannel(enabled=False)))
    async with app.run_test(size=(100, 24)) as pilot:
        assert not str(app.composer.border_title).endswith("SMS")  # no choice to show
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert app.composer.channel == "sms"
        assert "The desk's email is not set up yet" in app.composer.verdict_text()
        assert app.posted == []


async def test_an_unknown_address_is_asked_for_first() -> None:
    app = Host(context(email=None, desk=EmailChannel()))
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.press("ctrl+l")
        await pilot.pause()
        (wanted,) = app.posted
        assert isinstance(wanted, Composer.AddressWanted)
        assert "Looking up the contact's email address" in app.composer.verdict_text()
        app.composer.set_context(context(desk=EmailChannel()))  # the lead found it
        app.composer.switch_channel()
        assert app.composer.channel == "email"


async def test_switching_back_to_sms_sends_by_sms_from_the_tickets_number() -> None:
    app = Host(context(default="email"), send_review=False)
    async with app.run_test(size=(100, 24)) as pilot:
        composer = app.composer
        assert composer.channel == "email"  # the customer last wrote by email
        await pilot.press("ctrl+l")
        assert composer.channel == "sms"
        assert "By SMS from +18885550100." in composer.verdict_text()
        assert str(composer.border_title) == "Reply to Ann Lee from +18885550100 · SMS"
        assert count_line(app).startswith("GSM-7 · 0/160")
        await pilot.press(*"ok")
        await pilot.press("ctrl+s")
        await pilot.pause()
        (sent,) = app.posted
        assert (sent.draft.channel, sent.draft.subject, sent.draft.body) == ("sms", "", "ok")
        # The agent's choice holds for the ticket: later facts do not switch it back.
        composer.set_context(context(default="email"))
        assert composer.channel == "sms"


async def test_an_empty_email_is_refused_on_send_and_a_note_has_no_channel() -> None:
    app = Host(context(default="email"), send_review=False)
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "The email is empty: write something to send." in app.composer.verdict_text()
        assert app.posted == []
        await pilot.press("ctrl+n")  # a private note
        await pilot.press("ctrl+l")
        assert "A private note goes to no one" in app.composer.verdict_text()


async def test_a_contact_known_only_by_email_cannot_be_texted() -> None:
    app = Host(context(phone=""))
    async with app.run_test(size=(100, 24)):
        assert "known only by email" in app.composer.verdict_text()


async def test_the_send_review_says_email_to_name_and_address() -> None:
    app = Host(context(default="email"))
    async with app.run_test(size=(100, 30)) as pilot:
        app.composer.query_one(TextArea).insert("It left today.")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        review = app.screen
        assert isinstance(review, SendReview)
        title = str(review.query_one("#send-review-title", Static).render())
        assert title == "Email to Ann Lee <ann@example.com>?"
        assert str(review.query_one("#send-review-subject", Static).render()) == \
            "Subject: Re: [#7] Where is my order?"
        assert "no SMS billing" in str(review.query_one("#send-review-cost", Static).render())
        await pilot.press("y")
        await pilot.pause()
        (sent,) = app.posted
        assert sent.draft.channel == "email"


# -- the thread, the list and the original ---------------------------------------------------


EMAILS: list[dict[str, Any]] = [
    {"id": 1, "ticket_id": 7, "direction": "inbound", "channel": "email",
     "body": "Where is my order 55?", "status": "received", "created_at": 1_795_790_000_000,
     "subject": "Order 55", "mail_id": "<a@mail.example.com>", "media": [],
     "mail_original": {"sha256": "ab" * 32, "content_type": "message/rfc822", "size": 900}},
    {"id": 2, "ticket_id": 7, "direction": "outbound", "channel": "email", "author_agent_id": 1,
     "body": "It left today.", "status": "sent", "created_at": 1_795_790_060_000,
     "subject": "Re: [#7] Order 55", "mail_detail": "250 2.0.0 Ok: queued as 4F1A2",
     "media": []},
    {"id": 3, "ticket_id": 7, "direction": "outbound", "channel": "email", "author_agent_id": 1,
     "body": "Tracking: 1Z999.", "status": "undelivered", "created_at": 1_795_790_120_000,
     "subject": "Re: [#7] Order 55", "mail_detail": "550 5.1.1 <ann@example.com>: no such user",
     "media": []},
    {"id": 4, "ticket_id": 7, "direction": "outbound", "channel": "sms", "author_agent_id": 1,
     "body": "Texted you the tracking.", "status": "delivered", "created_at": 1_795_790_180_000,
     "media": [], "segments": 1, "encoding": "GSM-7"},
]
ROW = {"ticket": {"id": 7, "contact_id": 3, "number_id": 1, "last_channel": "sms"},
       "contact_name": "Ann Lee", "contact_phone": "+12025550123"}


class Names:
    def agent(self, agent_id: Any) -> str:
        return "Ada"

    def group(self, group_id: Any) -> str:
        return ""

    numbers: ClassVar[dict[int, Any]] = {}


class ThreadHost(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.originals: list[int] = []

    def on_thread_view_original_wanted(self, message: ThreadView.OriginalWanted) -> None:
        self.originals.append(message.entry["id"])

    def compose(self) -> ComposeResult:
        yield ThreadView(Names(), id="thread")  # type: ignore[arg-type]

    def on_mount(self) -> None:
        self.query_one(ThreadView).show(ROW, EMAILS, has_older=False)
        self.query_one(ThreadView).focus()


def thread_text(app: App[Any]) -> str:
    view = app.query_one(ThreadView)
    return "\n".join("".join(segment.text for segment in view.render_line(y))
                     for y in range(view.size.height)).rstrip()


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC
    monkeypatch.setattr(render, "clock", lambda: 1_795_790_400_000)
    monkeypatch.setattr(render, "timezone", UTC)


async def test_the_thread_marks_emails_with_subject_and_state_in_words(
        frozen_clock: None) -> None:
    app = ThreadHost()
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.pause()
        text = thread_text(app)
        assert "← ✉ Ann Lee" in text and "O original" in text
        assert "Subject: Order 55" in text
        assert "→ ✉ Ada" in text and "accepted by the mail server" in text
        assert "bounced: 550 5.1.1 <ann@example.com>: no such user" in text
        assert "→ Ada" in text and "delivered ✓" in text  # the SMS as before
        await pilot.press("g", "O")
        await pilot.pause()
        assert app.originals == [1]


ORIGINAL = (b"Return-Path: <ann@example.com>\r\nFrom: Ann Lee <ann@example.com>\r\n"
            b"To: support+t7.abc@support.example.com\r\nSubject: Order 55\r\n"
            b"Message-ID: <a@mail.example.com>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nWhere is my order 55?\r\n\r\n"
            b"> quoted history\r\n--b\r\nContent-Type: text/html\r\n\r\n"
            b"<p>Where <img src=\"http://tracker.example/x.png\"></p>\r\n--b--\r\n")


def test_the_original_shows_raw_headers_and_the_plain_text_only() -> None:
    original = read_original(ORIGINAL)
    assert original.headers.splitlines()[0] == "Return-Path: <ann@example.com>"
    assert "Message-ID: <a@mail.example.com>" in original.headers
    assert "> quoted history" in original.text  # the whole text, not the cut reply
    assert "<img" not in original.text
    assert original.parts == ("text/plain", "text/html")
    html_only = read_original(b"Subject: x\r\nContent-Type: text/html\r\n\r\n<b>hi</b>")
    assert html_only.text.startswith("(no plain-text part: HTML is not shown here")
    assert read_original(b"\xff\xfe garbage without headers").headers


async def test_the_original_screen_scrolls_and_closes() -> None:
    class OriginalHost(App[None]):
        def on_mount(self) -> None:
            self.push_screen(MailOriginalScreen(read_original(ORIGINAL), subject="Order 55"))

    app = OriginalHost()
    async with app.run_test(size=(100, 20)) as pilot:
        screen = app.screen
        assert isinstance(screen, MailOriginalScreen)
        headers = str(screen.query_one("#mail-original-headers", Static).render())
        assert "From: Ann Lee <ann@example.com>" in headers
        await pilot.press("j", "space", "escape")
        await pilot.pause()
        assert not isinstance(app.screen, MailOriginalScreen)


def test_the_list_marks_a_ticket_whose_last_message_was_an_email() -> None:
    from tui.widgets.ticket_list import TicketList

    cell = TicketList._cell  # the cell renderer needs only the names and the selection
    holder = type("H", (), {"selected": set(), "names": Names()})()
    email_row = {"ticket": {"id": 7, "last_channel": "email", "last_preview": "Thanks"}}
    sms_row = {"ticket": {"id": 8, "last_channel": "sms", "last_preview": "Thanks"}}
    assert cell(holder, "preview", email_row) == ("✉ Thanks", "preview")  # type: ignore[arg-type]
    assert cell(holder, "preview", sms_row) == ("Thanks", "preview")  # type: ignore[arg-type]


def test_context_replace_keeps_email_facts() -> None:
    ctx = context()
    moved = replace(ctx, contact_email="b@example.com")
    assert moved.why_no_email() == "" and context(email=None).why_no_email() == "?"


# -- snapshots (fixed size and clock) ----------------------------------------------------------


def test_snapshot_composer_in_email_mode(snap_compare: Any) -> None:
    async def write(pilot: Any) -> None:
        pilot.app.composer.query_one(TextArea).insert("Your parcel left our warehouse today.")
        await pilot.pause()

    assert snap_compare(Host(context(default="email")), terminal_size=(100, 16),
                        run_before=write)


def test_snapshot_thread_with_emails(snap_compare: Any, frozen_clock: None) -> None:
    assert snap_compare(ThreadHost(), terminal_size=(110, 24))
