"""The Email tab: the outgoing mail server, the sender, the reply domain, the inbound port and
the limits (issue 12), and a test email that reports exactly what the server said.

The SMTP password is like a Twilio auth token: typed here, never shown. The relay's
settings carry only ``smtp_password_set``, so the field is empty with "set" or "not set"
beside it; left empty, Save keeps the stored one; "clear" removes it. The relay checks
every value and refuses in words naming the setting (``field``): the refusal is shown
under that field, and the form keeps what was typed.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from tui.client import CommandError
from tui.screens.admin import AdminPane

MB = 1024 * 1024

# (setting, label, kind): "text", "int", "mb" (bytes shown and typed in MB), "password".
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("smtp_host", "Outgoing mail server", "text"),
    ("smtp_port", "Port", "int"),
    ("smtp_security", "Security", "security"),
    ("smtp_username", "User name", "text"),
    ("smtp_password", "Password", "password"),
    ("from_address", "From address", "text"),
    ("from_name", "From name", "text"),
    ("reply_domain", "Reply domain", "text"),
    ("inbound_port", "Inbound port (0: off)", "int"),
    ("inbound_host", "Inbound address", "text"),
    ("max_attachment_bytes", "Attachments up to (MB)", "mb"),
    ("max_inbound_bytes", "Incoming mail up to (MB)", "mb"),
    ("max_recipients", "Recipients per mail, at most", "int"),
)
SECURITY = [("STARTTLS (port 587)", "starttls"), ("TLS from the start (port 465)", "tls"),
            ("None (a local relay only)", "none")]


def shown_value(kind: str, value: Any) -> str:
    """A setting as the form shows it: sizes in MB, everything else as text."""
    if kind == "mb" and isinstance(value, int):
        megabytes = value / MB
        return f"{megabytes:g}"
    return "" if value is None else str(value)


def typed_value(kind: str, text: str, label: str) -> Any:
    """What the admin typed, as the relay wants it; ValueError in words if it is not one."""
    text = text.strip()
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{label}: type a whole number, not {text!r}") from None
    if kind == "mb":
        try:
            megabytes = float(text)
        except ValueError:
            raise ValueError(f"{label}: type a size in MB, such as 20, not {text!r}") from None
        return round(megabytes * MB)
    return text


class EmailPane(AdminPane):
    """``get_email_settings`` in a form; ``save_email_settings`` and ``send_test_email``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="admin.email_save"),
        Binding("ctrl+t", "test", "Send a test email", id="admin.email_test"),
    ]

    def __init__(self, client: Any, *, id: str | None = None) -> None:
        super().__init__(client, id=id)
        self.settings: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="email-form"):
            yield Static("", id="email-state", classes="admin-note")
            for name, label, kind in FIELDS:
                with Horizontal(classes="email-row"):
                    yield Label(label, classes="email-label")
                    if kind == "security":
                        yield Select(SECURITY, allow_blank=False, value="starttls",
                                     id=f"email-{name}")
                    else:
                        yield Input(id=f"email-{name}", password=kind == "password",
                                    placeholder="type to replace" if kind == "password" else "")
                    if kind == "password":
                        yield Static("", id="email-password-state", classes="email-hint")
                        yield Checkbox("clear", id="email-password-clear")
                yield Static("", id=f"email-error-{name}", classes="email-error")
            yield Static("", id="email-error", classes="email-error")
            with Horizontal(classes="email-row"):
                yield Button("Save (ctrl+s)", id="email-save", variant="primary")
            with Horizontal(classes="email-row"):
                yield Label("Send a test email to", classes="email-label")
                yield Input(placeholder="you@example.com", id="email-test-to")
                yield Button("Send (ctrl+t)", id="email-test")
            yield Static("", id="email-error-to", classes="email-error")
            yield Static("", id="email-test-result")

    # --- loading ----------------------------------------------------------------------

    async def reload(self) -> None:
        settings = await self.call("load the email settings", "get_email_settings")
        if settings is None:
            return
        self.loaded = True
        self.show_settings(settings)

    def show_settings(self, settings: dict[str, Any]) -> None:
        """Fill the form with what the relay stored (the password never comes back)."""
        self.settings = dict(settings)
        for name, _label, kind in FIELDS:
            if kind == "security":
                self.query_one(f"#email-{name}", Select).value = \
                    settings.get(name) or "starttls"
            elif kind == "password":
                self.query_one(f"#email-{name}", Input).value = ""
            else:
                self.query_one(f"#email-{name}", Input).value = shown_value(kind,
                                                                           settings.get(name))
        self.query_one("#email-password-clear", Checkbox).value = False
        self.query_one("#email-password-state", Static).update(
            "set" if settings.get("smtp_password_set") else "not set")
        self.query_one("#email-state", Static).update(
            "Email is set up: agents can reply by email." if settings.get("enabled") else
            "Email is off until the mail server, the from address and the reply domain are"
            " saved.")
        self._clear_errors()

    def focus_first(self) -> None:
        self.query_one("#email-smtp_host", Input).focus()

    # --- saving -----------------------------------------------------------------------

    def changes(self) -> dict[str, Any]:
        """What differs from the stored settings; ValueError (with the field) if a number is
        not one."""
        changed: dict[str, Any] = {}
        for name, label, kind in FIELDS:
            if kind == "security":
                value: Any = self.query_one(f"#email-{name}", Select).value
            else:
                typed = self.query_one(f"#email-{name}", Input).value
                if kind == "password":
                    if typed:
                        changed[name] = typed
                    continue
                try:
                    value = typed_value(kind, typed, label)
                except ValueError as error:
                    raise FieldProblem(str(error), name) from None
            if value != self.settings.get(name):
                changed[name] = value
        if self.query_one("#email-password-clear", Checkbox).value and "smtp_password" not in \
                changed:
            changed.update(smtp_password="", smtp_password_clear=True)
        return changed

    def action_save(self) -> None:
        self.save()

    @work(group="email-save", exclusive=True)
    async def save(self) -> None:
        self._clear_errors()
        try:
            changes = self.changes()
        except FieldProblem as problem:
            self._show_error(problem.field, str(problem))
            return
        if not changes:
            self.notify("Nothing changed.", timeout=3)
            return
        try:
            saved = await self.client.command("save_email_settings", changes=changes)
        except CommandError as error:
            self._show_error(error.field, error.message or error.code)
            return
        self.show_settings(saved)
        self.notify("Email settings saved.", timeout=3)

    # --- the test email ---------------------------------------------------------------

    def action_test(self) -> None:
        self.send_test()

    @work(group="email-test", exclusive=True)
    async def send_test(self) -> None:
        self._clear_errors()
        result = self.query_one("#email-test-result", Static)
        to = self.query_one("#email-test-to", Input).value.strip()
        if not to:
            self._show_error("to", "Type the address the test email goes to.")
            return
        result.update(Text(f"Sending a test email to {to}…"))
        try:
            answer = await self.client.command("send_test_email", to=to, timeout=120)
        except CommandError as error:
            result.update("")
            self._show_error(error.field or "to", error.message or error.code)
            return
        result.update(test_report(answer))

    # --- inside -----------------------------------------------------------------------

    @on(Button.Pressed, "#email-save")
    def _save_pressed(self) -> None:
        self.save()

    @on(Button.Pressed, "#email-test")
    def _test_pressed(self) -> None:
        self.send_test()

    @on(Input.Submitted, "#email-test-to")
    def _test_submitted(self) -> None:
        self.send_test()

    def _clear_errors(self) -> None:
        for error in self.query(".email-error").results(Static):
            error.update("")
            error.display = False

    def _show_error(self, field: str | None, message: str) -> None:
        """Under the field the refusal names (``smtp_password_clear`` is the password's),
        else under the form."""
        name = "smtp_password" if field == "smtp_password_clear" else field
        found = self.query(f"#email-error-{name}") if name else None
        target = found.first(Static) if found else self.query_one("#email-error", Static)
        target.update(Text(f"✗ {message}"))
        target.display = True
        self.app.bell()


class FieldProblem(ValueError):
    """A value the form itself can tell is wrong (a port that is no number)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def test_report(answer: dict[str, Any]) -> Text:
    """The server's replies line by line, as it said them, then how it ended."""
    text = Text()
    for reply in answer.get("said") or ():
        for line in str(reply).splitlines():  # a multi-line reply (EHLO's) keeps its indent
            text.append(f"  {line}\n", style="dim")
    ok = bool(answer.get("ok"))
    text.append(("✓ " if ok else "✗ ") + str(answer.get("detail") or ""),
                style="bold green" if ok else "bold red")
    return text
