"""The admin screen's Email tab (issue 12): the form, the write-only password, refusals under
their field, and the test email's report line by line; over canned relay answers."""

from __future__ import annotations

from typing import Any

from test_tui_admin import AdminApp, settle
from textual.widgets import Checkbox, Input, Static

from tui.client import CommandError
from tui.screens.admin.email import EmailPane

SETTINGS = {"smtp_host": "smtp.example.com", "smtp_port": 587, "smtp_security": "starttls",
            "smtp_username": "desk", "smtp_password_set": True, "from_address":
            "support@example.com", "from_name": "Acme Support", "reply_domain":
            "support.example.com", "inbound_port": 2525, "inbound_host": "127.0.0.1",
            "max_attachment_bytes": 20 * 1024 * 1024, "max_inbound_bytes": 25 * 1024 * 1024,
            "max_recipients": 50, "new_ticket_number_id": None, "enabled": True}
TEST = {"ok": False, "said": ["220 mx.example.com ESMTP", "250 mx.example.com",
                              "550 5.7.1 relaying denied"],
        "detail": "the mail server refused: 550 5.7.1 relaying denied"}


def app_with(**answers: Any) -> AdminApp:
    return AdminApp(tab="email", answers={"get_email_settings": SETTINGS,
                                          "send_test_email": TEST, **answers})


def text_of(pane: EmailPane, selector: str) -> str:
    return str(pane.query_one(selector, Static).render())


async def test_the_form_shows_the_settings_and_never_the_password() -> None:
    app = app_with()
    async with app.run_test(size=(130, 44)) as pilot:
        await settle("email")(pilot)
        pane = app.screen.query_one(EmailPane)
        assert pane.query_one("#email-smtp_host", Input).value == "smtp.example.com"
        assert pane.query_one("#email-max_attachment_bytes", Input).value == "20"
        password = pane.query_one("#email-smtp_password", Input)
        assert password.password and password.value == ""
        assert text_of(pane, "#email-password-state") == "set"
        password.value = "hunter2"
        pane.query_one("#email-smtp_port", Input).value = "465"
        pane.query_one("#email-max_attachment_bytes", Input).value = "10"
        app.client.answers = {**app.client.answers, "save_email_settings":
                              {**SETTINGS, "smtp_port": 465}}
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        name, args = app.client.calls[-1]
        assert name == "save_email_settings"
        assert args["changes"] == {"smtp_port": 465, "smtp_password": "hunter2",
                                   "max_attachment_bytes": 10 * 1024 * 1024}
        assert password.value == ""  # never kept on screen after a save


async def test_clearing_the_password_says_so() -> None:
    app = app_with(save_email_settings={**SETTINGS, "smtp_password_set": False})
    async with app.run_test(size=(130, 44)) as pilot:
        await settle("email")(pilot)
        pane = app.screen.query_one(EmailPane)
        pane.query_one("#email-password-clear", Checkbox).value = True
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert app.client.calls[-1][1]["changes"] == {"smtp_password": "",
                                                      "smtp_password_clear": True}
        assert text_of(pane, "#email-password-state") == "not set"


async def test_a_refusal_is_shown_under_its_field() -> None:
    refusal = CommandError("refused", "the mail server's port must be between 1 and 65535"
                           " (not 70000)", "smtp_port")
    app = app_with(save_email_settings=refusal)
    async with app.run_test(size=(130, 44)) as pilot:
        await settle("email")(pilot)
        pane = app.screen.query_one(EmailPane)
        pane.query_one("#email-smtp_port", Input).value = "70000"
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert "must be between 1 and 65535" in text_of(pane, "#email-error-smtp_port")
        assert pane.query_one("#email-smtp_port", Input).value == "70000"  # kept to fix
        pane.query_one("#email-smtp_port", Input).value = "five"
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert "Port: type a whole number, not 'five'" in text_of(pane, "#email-error-smtp_port")


async def test_the_test_email_reports_what_the_server_said_line_by_line() -> None:
    app = app_with()
    async with app.run_test(size=(130, 44)) as pilot:
        await settle("email")(pilot)
        pane = app.screen.query_one(EmailPane)
        pane.query_one("#email-test-to", Input).value = "me@example.com"
        await pilot.press("ctrl+t")
        await pilot.pause(0.2)
        assert app.client.calls[-1] == ("send_test_email", {"to": "me@example.com"})
        report = text_of(pane, "#email-test-result").splitlines()
        assert report == ["  220 mx.example.com ESMTP", "  250 mx.example.com",
                          "  550 5.7.1 relaying denied",
                          "✗ the mail server refused: 550 5.7.1 relaying denied"]


def test_snapshot_email_tab(snap_compare: Any) -> None:
    async def show(pilot: Any) -> None:
        await settle("email")(pilot)
        pane = pilot.app.screen.query_one(EmailPane)
        pane.query_one("#email-test-to", Input).value = "me@example.com"
        await pilot.press("ctrl+t")
        await pilot.pause(0.3)

    assert snap_compare(app_with(), terminal_size=(130, 50), run_before=show)


def test_a_multi_line_server_reply_is_shown_line_by_line_at_one_indent() -> None:
    from tui.screens.admin.email import test_report

    shown = test_report({"said": ["220 mx ready", "250-mx.example\n250-8BITMIME\n250 HELP"],
                         "ok": False, "detail": "no STARTTLS"}).plain.splitlines()
    assert shown == ["  220 mx ready", "  250-mx.example", "  250-8BITMIME", "  250 HELP",
                     "✗ no STARTTLS"]
