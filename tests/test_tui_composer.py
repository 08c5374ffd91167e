"""The reply composer: live cost and verdict, the keys, and what it posts to the inbox."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static, TextArea

from core.models import Account, Contact, NumberStatus, PhoneNumber, SenderType
from tui.widgets.composer import (
    AttachFile,
    AttachmentRejected,
    ComposeContext,
    Composer,
    Draft,
    PendingFile,
    check_attachment,
    edit_externally,
)
from tui.widgets.send_review import SendReview, cost_hint

# A 1x1 PNG, so the file on disk is what its name says.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a1c1b1f80000000049454e44ae426082"
)


def context(
    *, ticket_id: int = 7, mms: bool = True, opted_out: bool = False, name: str = "Ann Lee"
) -> ComposeContext:
    """A US toll-free number texting a US customer: nothing refuses it unless told to."""
    return ComposeContext(
        ticket_id=ticket_id,
        number=PhoneNumber(
            id=1, account_id=1, e164="+18885550100", mms=mms,
            sender_type=SenderType.TOLL_FREE, country="US",
        ),
        account=Account(id=1, name="Acme", sid="AC" + "1" * 32, auth_token="",
                        geo_permissions=("US",)),
        contact=Contact(id=3, phone="+12025550123", name=name, opted_out=opted_out),
    )


class Host(App[None]):
    """An inbox in miniature: single-letter bindings, like the real one, and a message log."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(key, f"hit('{key}')") for key in ("r", "n", "s", "j", "k", "e", "y")
    ]

    def __init__(self, ctx: ComposeContext | None, **composer: object) -> None:
        super().__init__()
        self.ctx = ctx
        self.composer_options = composer
        self.hits: list[str] = []
        self.submitted: list[Composer.Submitted] = []
        self.cancelled = 0

    def compose(self) -> ComposeResult:
        yield Static("thread", id="thread")
        yield Composer(id="composer", **self.composer_options)  # type: ignore[arg-type]

    def on_mount(self) -> None:
        composer = self.query_one(Composer)
        composer.query_one(TextArea).cursor_blink = False
        composer.set_context(self.ctx)
        if self.ctx is not None:
            composer.start("reply")

    def action_hit(self, key: str) -> None:
        self.hits.append(key)

    def on_composer_submitted(self, message: Composer.Submitted) -> None:
        self.submitted.append(message)

    def on_composer_cancelled(self, message: Composer.Cancelled) -> None:
        self.cancelled += 1


def line(app: App[None], widget_id: str) -> str:
    return str(app.query_one(f"#{widget_id}", Static).render())


def area(app: App[None]) -> TextArea:
    return app.query_one("#composer-text", TextArea)


async def put(app: App[None], pilot: object, text: str) -> None:
    """Type text the Pilot cannot (curly quotes, emoji), as a paste would."""
    area(app).insert(text)
    await pilot.pause()  # type: ignore[attr-defined]


# -- live count ---------------------------------------------------------------------------------


async def test_count_is_gsm7_until_a_character_forces_ucs2_and_names_it() -> None:
    app = Host(context())
    async with app.run_test() as pilot:
        await put(app, pilot, "Hello")
        assert line(app, "composer-count") == "GSM-7 · 5/160 · 1 segment"
        await put(app, pilot, " “there” — 😀")
        count = line(app, "composer-count")
        assert count.startswith("UCS-2 · 18/70 · 1 segment")  # the emoji is 2 units
        assert count.endswith("UCS-2 because of: “ ” — 😀")


async def test_invisible_forcing_characters_are_named_by_code_point() -> None:
    app = Host(context())
    async with app.run_test() as pilot:
        await put(app, pilot, "a\u00a0b")
        assert line(app, "composer-count").endswith("because of: U+00A0")


@pytest.mark.parametrize(
    ("length", "expected"), [(160, "160/160 · 1 segment"), (161, "161/306 · 2 segments")]
)
async def test_segments_at_160_and_161_characters(length: int, expected: str) -> None:
    app = Host(context())
    async with app.run_test() as pilot:
        await put(app, pilot, "a" * length)
        assert line(app, "composer-count") == f"GSM-7 · {expected}"


# -- smart encoding -----------------------------------------------------------------------------


async def test_smart_encoding_key_straightens_quotes_and_the_segments_drop() -> None:
    app = Host(context(), send_review=False)
    async with app.run_test() as pilot:
        await put(app, pilot, "“" + "a" * 100 + "”")
        assert line(app, "composer-count").startswith("UCS-2 · 102/134 · 2 segments")
        assert "^e: smart encoding would save 1 segment (“ → \", ” → \")" in line(
            app, "composer-smart"
        )
        area(app).move_cursor((0, 50))
        await pilot.press("ctrl+e")
        assert area(app).text == '"' + "a" * 100 + '"'
        assert area(app).cursor_location == (0, 50)
        assert line(app, "composer-count") == "GSM-7 · 102/160 · 1 segment"
        assert not app.query_one("#composer-smart").display
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.submitted[0].draft.smart_encoding is True
        assert app.submitted[0].draft.body == area(app).text


async def test_ctrl_e_stays_end_of_line_when_smart_encoding_saves_nothing() -> None:
    app = Host(context())
    async with app.run_test() as pilot:
        await put(app, pilot, "“hi” 😀")  # the emoji keeps it UCS-2: nothing to save
        area(app).move_cursor((0, 0))
        await pilot.press("ctrl+e")
        assert area(app).text == "“hi” 😀"
        assert area(app).cursor_location == (0, len("“hi” 😀"))


# -- preflight ----------------------------------------------------------------------------------


async def test_opted_out_contact_blocks_sending_with_the_reason() -> None:
    app = Host(context(opted_out=True), send_review=False)
    async with app.run_test() as pilot:
        await put(app, pilot, "are you there")
        assert "Ann Lee replied STOP and has opted out" in line(app, "composer-verdict")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.submitted == []
        assert not isinstance(app.screen, SendReview)
        verdict = line(app, "composer-verdict")
        assert verdict.startswith("Not sent. Fix this first:\n✗ Ann Lee replied STOP")
        assert app.query_one(Composer).verdict_text() == verdict


async def test_contact_opting_out_mid_draft_updates_the_verdict() -> None:
    app = Host(context(), send_review=False)
    async with app.run_test() as pilot:
        await put(app, pilot, "hi")
        assert "STOP" not in line(app, "composer-verdict")
        app.query_one(Composer).set_context(context(opted_out=True))
        await pilot.pause()
        assert area(app).text == "hi"
        assert "STOP" in line(app, "composer-verdict")


async def test_a_number_twilio_delivered_is_warned_about_but_can_be_answered() -> None:
    drama = "+447700900321"  # libphonenumber calls it invalid; Twilio delivered a text from it
    ctx = context()
    ctx = ComposeContext(ticket_id=ctx.ticket_id, number=ctx.number,
                         account=Account(id=1, name="Acme", sid="AC" + "1" * 32, auth_token=""),
                         contact=Contact(id=3, phone=drama, name="Emma"))
    app = Host(ctx, send_review=False)
    async with app.run_test() as pilot:
        await put(app, pilot, "Sorry about the parcel")
        verdict = line(app, "composer-verdict")
        assert "✗" not in verdict
        assert verdict.startswith("⚠ ")
        assert "Nothing stands in the way" in verdict
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert [m.draft.body for m in app.submitted] == ["Sorry about the parcel"]


async def test_empty_reply_is_refused_on_send_but_not_nagged_about_while_typing() -> None:
    app = Host(context(), send_review=False)
    async with app.run_test() as pilot:
        assert "nothing to send" not in line(app, "composer-verdict")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.submitted == []
        assert "There is nothing to send" in line(app, "composer-verdict")


# -- attachments --------------------------------------------------------------------------------


async def test_sms_only_number_refuses_attach_and_says_why(tmp_path: Path) -> None:
    app = Host(context(mms=False))
    async with app.run_test() as pilot:
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert not isinstance(app.screen, AttachFile)
        assert "+18885550100 is SMS-only" in line(app, "composer-verdict")
        assert "Attachments are disabled" in line(app, "composer-verdict")


async def test_attach_a_png_on_an_mms_number(tmp_path: Path) -> None:
    picture = tmp_path / "receipt.png"
    picture.write_bytes(PNG)
    (tmp_path / "notes.txt").write_text("hello")
    app = Host(context(), send_review=False)
    async with app.run_test() as pilot:
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert isinstance(app.screen, AttachFile)
        path_input = app.screen.query_one(Input)
        path_input.value = str(tmp_path / "notes.txt")
        await pilot.press("enter")
        assert isinstance(app.screen, AttachFile)  # refused: stays open and says why
        assert "text/plain, which Twilio does not accept" in str(
            app.screen.query_one("#attach-error", Static).render()
        )
        path_input.value = str(picture)
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, AttachFile)
        composer = app.query_one(Composer)
        assert composer.attachments == (PendingFile(picture, "receipt.png", "image/png", len(PNG)),)
        listing = line(app, "composer-attachments")
        assert f"+ receipt.png · image/png · {len(PNG)} B" in listing
        assert f"1 file · {len(PNG)} B of 5.00 MB" in listing
        assert line(app, "composer-count") == "MMS · 0/1,600 characters · 1 message"
        await pilot.press("ctrl+s")  # an attachment alone is something to send
        await pilot.pause()
        assert app.submitted[0].draft.attachments == composer.attachments
        composer.sent()
        await pilot.pause()
        assert composer.attachments == ()


async def test_remove_last_attachment(tmp_path: Path) -> None:
    first, second = tmp_path / "a.png", tmp_path / "b.jpg"
    first.write_bytes(PNG)
    second.write_bytes(b"\xff\xd8\xff")
    app = Host(context())
    async with app.run_test() as pilot:
        composer = app.query_one(Composer)
        for path in (first, second):
            await pilot.press("ctrl+t")
            app.screen.query_one(Input).value = str(path)
            await pilot.press("enter")
            await pilot.pause()
        assert [item.filename for item in composer.attachments] == ["a.png", "b.jpg"]
        await pilot.press("ctrl+r")
        assert [item.filename for item in composer.attachments] == ["a.png"]


def test_check_attachment_says_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "big.mp4").write_bytes(b"")
    os.truncate(tmp_path / "big.mp4", 5 * 1024 * 1024 + 1)
    (tmp_path / "blob").write_bytes(b"x")
    (tmp_path / "ok.pdf").write_bytes(b"%PDF")
    cases = {
        "": "Type the path",
        "missing.png": "There is no file",
        ".": "is a folder",
        "blob": "cannot tell what kind of file",
        "big.mp4": "over Twilio's 5.00 MB per message",
    }
    for typed, why in cases.items():
        with pytest.raises(AttachmentRejected, match=why):
            check_attachment(typed, base=tmp_path)
    ok = check_attachment("ok.pdf", base=tmp_path)
    assert ok.content_type == "application/pdf"
    with pytest.raises(AttachmentRejected, match="already attached"):
        check_attachment(str(tmp_path / "ok.pdf"), attached=(ok,))
    with pytest.raises(AttachmentRejected, match="at most 10"):
        check_attachment("ok.pdf", base=tmp_path, attached=(PendingFile(Path("/x"), "x", "", 1),)
                         * 10)


def test_unreadable_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG)
    real_access = os.access
    # chmod 0 does not stop root, which CI may run as; ask os.access what a plain user would hear.
    monkeypatch.setattr(os, "access", lambda path, mode: path != secret and real_access(path, mode))
    with pytest.raises(AttachmentRejected, match=r"secret\.png cannot be read: permission denied"):
        check_attachment(str(secret))


# -- sending and the review ---------------------------------------------------------------------


async def test_review_y_sends_the_draft() -> None:
    app = Host(context())
    async with app.run_test() as pilot:
        await put(app, pilot, "See you soon")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SendReview)
        assert "Billed as 1 SMS segment (GSM-7, 12 characters)." in str(
            app.screen.query_one("#send-review-cost", Static).render()
        )
        await pilot.press("y")
        await pilot.pause()
        assert not isinstance(app.screen, SendReview)
        (message,) = app.submitted
        assert message.draft == Draft("reply", "See you soon", (), False)
        assert message.context.ticket_id == 7
        assert app.hits == []  # the review's y was not the app's y


async def test_review_n_cancels_and_keeps_the_draft() -> None:
    app = Host(context())
    async with app.run_test() as pilot:
        await put(app, pilot, "maybe")
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        assert app.submitted == []
        assert app.cancelled == 1
        assert area(app).text == "maybe"


async def test_review_e_returns_to_editing() -> None:
    app = Host(context())
    async with app.run_test() as pilot:
        await put(app, pilot, "typo")
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        assert app.submitted == [] and app.cancelled == 0
        assert app.focused is area(app)
        await pilot.press(*"s")
        assert area(app).text == "typos"


async def test_review_rechecks_what_changed_while_it_was_open() -> None:
    app = Host(context())
    async with app.run_test() as pilot:
        await put(app, pilot, "hello")
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.query_one(Composer).set_context(context(opted_out=True))
        await pilot.press("y")
        await pilot.pause()
        assert app.submitted == []
        verdict = line(app, "composer-verdict")
        assert verdict.startswith("Not sent. Fix this first:\n✗ Ann Lee replied STOP")


async def test_one_send_at_a_time_then_sent_clears_and_failed_keeps() -> None:
    app = Host(context(), send_review=False)
    async with app.run_test() as pilot:
        composer = app.query_one(Composer)
        await put(app, pilot, "one")
        await pilot.press("ctrl+s", "ctrl+s")
        await pilot.pause()
        assert len(app.submitted) == 1
        assert "Sending…" in line(app, "composer-verdict")
        composer.failed("Twilio refused it: 21610")
        await pilot.pause()
        assert area(app).text == "one"
        assert "Not sent: Twilio refused it: 21610" in line(app, "composer-verdict")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert len(app.submitted) == 2
        composer.sent()
        await pilot.pause()
        assert area(app).text == ""


async def test_escape_leaves_the_composer() -> None:
    app = Host(context())
    async with app.run_test() as pilot:
        await put(app, pilot, "draft")
        await pilot.press("escape")
        await pilot.pause()
        assert app.cancelled == 1
        assert area(app).text == "draft"


# -- notes ---------------------------------------------------------------------------------------


async def test_note_mode_skips_sms_rules() -> None:
    app = Host(context(opted_out=True, mms=False))  # a reply would be refused twice over
    async with app.run_test() as pilot:
        composer = app.query_one(Composer)
        composer.start("note")
        await pilot.pause()
        assert composer.has_class("-note")
        assert "Private note on #7" in str(composer.border_title)
        await put(app, pilot, "Customer is angry 😀 " * 100)  # long and UCS-2: any length
        assert line(app, "composer-count").startswith("Private note: only agents see it")
        assert "STOP" not in line(app, "composer-verdict")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, SendReview)  # notes never reach the customer
        (message,) = app.submitted
        assert message.draft.mode == "note"
        assert message.draft.body.startswith("Customer is angry")


async def test_toggle_between_reply_and_note() -> None:
    app = Host(context())
    async with app.run_test() as pilot:
        composer = app.query_one(Composer)
        await pilot.press("ctrl+n")
        assert composer.mode == "note"
        await pilot.press("ctrl+n")
        assert composer.mode == "reply"
        assert "Reply to Ann Lee from +18885550100" in str(composer.border_title)


# -- typing is typing ----------------------------------------------------------------------------


async def test_single_letter_app_bindings_never_fire_while_typing() -> None:
    app = Host(context())
    async with app.run_test() as pilot:
        await pilot.press(*"rnsjkey")
        assert area(app).text == "rnsjkey"
        assert app.hits == []
        await pilot.press("escape")  # out of the composer, the same keys are the app's again
        app.query_one("#thread").can_focus = True
        app.set_focus(app.query_one("#thread"))
        await pilot.press("j", "r")
        assert app.hits == ["j", "r"]


# -- the external editor -------------------------------------------------------------------------


@pytest.fixture
def fake_editor(tmp_path: Path) -> dict[str, str]:
    """An $EDITOR that checks it got the draft, then saves a fixed text with a final newline."""
    script = tmp_path / "editor.sh"
    script.write_text(
        '#!/bin/sh\ngrep -q "first draft" "$1" || exit 3\n'
        'printf "Edited “properly”\\n" > "$1"\n'
    )
    script.chmod(0o755)
    return {"PATH": os.environ.get("PATH", ""), "EDITOR": str(script)}


def test_edit_externally_reads_back_what_the_editor_saved(fake_editor: dict[str, str]) -> None:
    assert edit_externally("first draft", fake_editor) == "Edited “properly”"
    with pytest.raises(ValueError, match="exited with status 3"):
        edit_externally("something else", fake_editor)


def test_visual_wins_over_editor(fake_editor: dict[str, str]) -> None:
    env = {**fake_editor, "EDITOR": "false", "VISUAL": fake_editor["EDITOR"]}
    assert edit_externally("first draft", env) == "Edited “properly”"


async def test_editor_key_puts_the_edited_text_back(fake_editor: dict[str, str]) -> None:
    app = Host(context(), editor=lambda text: edit_externally(text, fake_editor))
    async with app.run_test() as pilot:
        await put(app, pilot, "first draft")
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert area(app).text == "Edited “properly”"
        assert line(app, "composer-count").startswith("UCS-2")


async def test_failed_editor_keeps_the_draft(fake_editor: dict[str, str]) -> None:
    app = Host(context(), editor=lambda text: edit_externally(text, fake_editor))
    async with app.run_test() as pilot:
        await put(app, pilot, "unrelated")
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert area(app).text == "unrelated"
        assert "external editor failed" in line(app, "composer-verdict")


async def test_headless_terminal_cannot_suspend_and_says_so() -> None:
    app = Host(context())
    async with app.run_test() as pilot:
        await put(app, pilot, "x")
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert area(app).text == "x"
        assert "cannot hand over to an external editor" in line(app, "composer-verdict")


# -- tickets and context ------------------------------------------------------------------------


async def test_drafts_stay_with_their_ticket() -> None:
    app = Host(context(ticket_id=1))
    async with app.run_test() as pilot:
        composer = app.query_one(Composer)
        await put(app, pilot, "for one")
        composer.set_context(context(ticket_id=2))
        await pilot.pause()
        assert area(app).text == ""
        await put(app, pilot, "for two")
        composer.set_context(context(ticket_id=1))
        await pilot.pause()
        assert area(app).text == "for one"
        composer.set_context(None)
        await pilot.pause()
        assert composer.disabled
        assert "No ticket open" in line(app, "composer-count")
        composer.set_context(context(ticket_id=2))
        await pilot.pause()
        assert area(app).text == "for two"


async def test_context_set_before_mount_is_kept() -> None:
    composer = Composer(send_review=False)
    composer.set_context(context(ticket_id=5))

    class Early(App[None]):
        def compose(self) -> ComposeResult:
            yield composer

    async with Early().run_test() as pilot:
        await pilot.pause()
        assert not composer.disabled
        assert "Reply to Ann Lee" in str(composer.border_title)


def test_context_from_wire() -> None:
    ticket_row = {
        "ticket": {"id": 9, "number_id": 4, "contact_id": 12, "status": "open"},
        "contact_name": "Bo", "contact_phone": "+447700900123", "contact_opted_out": True,
    }
    account = {"id": 2, "name": "Acme", "sid": "AC1", "geo_permissions": ["GB"],
               "status": "active", "type": "Full", "connected": True, "auth_token_hint": "••"}
    number = {"id": 4, "account_id": 2, "e164": "+447400900456", "sid": "PN1", "mms": False,
              "status": "inactive", "sender_type": "short_code", "country": "GB",
              "a2p_registered": False, "default_group_id": None, "csat": False,
              "enabled": True, "friendly_name": "UK", "account": account}
    built = ComposeContext.from_wire(ticket_row, number)
    assert built.number.status is NumberStatus.INACTIVE
    assert built.number.sender_type is SenderType.SHORT_CODE
    assert built.account.geo_permissions == ("GB",) and built.account.auth_token == ""
    assert built.contact == Contact(id=12, phone="+447700900123", name="Bo", opted_out=True)
    assert ComposeContext.from_wire(ticket_row, number, account) == built
    with pytest.raises(ValueError, match="not 5"):
        ComposeContext.from_wire(ticket_row, {**number, "id": 5})


def test_cost_hint_bills_mms_per_message() -> None:
    attachment = PendingFile(Path("a.png"), "a.png", "image/png", 10).attachment
    assert cost_hint("hi", [attachment]) == "Billed as 1 MMS message (text and 1 attachment)."
    assert cost_hint("é" * 161).startswith("Billed as 2 SMS segments (GSM-7")


# -- how it looks --------------------------------------------------------------------------------


def test_snapshot_ucs2_draft_with_a_refusal(snap_compare: object) -> None:
    app = Host(context(opted_out=True))

    async def draft(pilot: object) -> None:
        area(app).insert("Your order “#4411” ships today 🚚")
        await pilot.pause()  # type: ignore[attr-defined]

    assert snap_compare(app, terminal_size=(90, 24), run_before=draft)  # type: ignore[operator]


async def test_key_hints_follow_the_app_keymap() -> None:
    app = Host(context(), send_review=False)
    async with app.run_test() as pilot:
        app.set_keymap({"composer.send": "ctrl+g"})
        app.query_one(Composer).set_context(context(ticket_id=8))
        await pilot.pause()
        assert str(app.query_one(Composer).border_subtitle).startswith("^g send")
        await put(app, pilot, "hi")
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert [m.draft.body for m in app.submitted] == ["hi"]
