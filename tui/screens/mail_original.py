"""The full original of a customer's email, one key away from the reply the thread shows.

The thread shows the customer's words without the quoted history and the signature; an
agent who doubts the cut, or needs a header (who it really came from, which server passed
it on), reads the original here: the raw header block as it arrived, then the plain text.
Read only, and nothing is rendered or fetched: no HTML, no image, no link followed. An
HTML-only mail shows its parts' names instead of its markup.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["MailOriginalScreen", "OriginalMail", "read_original"]

# Enough for any real mail's text; a 25 MB attachment-heavy original is not drawn whole.
MAX_SHOWN_CHARS = 200_000


@dataclass(frozen=True, slots=True)
class OriginalMail:
    """What the screen shows of a raw message: its headers as they arrived, and its text."""

    headers: str
    text: str
    parts: tuple[str, ...]  # every part, "content/type name size", so nothing is hidden


def _header_block(data: bytes) -> str:
    """The headers exactly as they arrived (folded lines kept), up to the first blank line."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = data.find(separator)
        if end != -1:
            head = data[:end]
            break
    else:
        head = data
    return head.decode("utf-8", errors="replace").replace("\r\n", "\n")


def read_original(data: bytes) -> OriginalMail:
    """Parse ``data`` (blocking for a large mail: run it in a thread). Never raises: a mail
    the parser cannot read shows as its raw bytes."""
    try:
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        parts = tuple(
            f"{part.get_content_type()} {part.get_filename() or ''}".rstrip()
            for part in message.walk() if not part.is_multipart())
        body = message.get_body(preferencelist=("plain",))
        if body is not None:
            text = str(body.get_content())
        else:
            text = "(no plain-text part: HTML is not shown here; the parts are listed below)"
    except Exception as error:  # any broken mail is shown raw, never a crash
        return OriginalMail(_header_block(data), f"(unreadable as MIME: {error})\n\n"
                            + data.decode("utf-8", errors="replace"), ())
    return OriginalMail(_header_block(data), text, parts)


class MailOriginalScreen(ModalScreen[None]):
    """The raw headers and plain text of one email; escape or q closes it."""

    CSS_PATH = "mail_original.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="mail_original.close"),
        Binding("j,down", "scroll('down')", "Down", show=False, id="mail_original.down"),
        Binding("k,up", "scroll('up')", "Up", show=False, id="mail_original.up"),
        Binding("pagedown,space", "page('down')", "Page down", show=False,
                id="mail_original.page_down"),
        Binding("pageup", "page('up')", "Page up", show=False, id="mail_original.page_up"),
    ]

    def __init__(self, original: OriginalMail, *, subject: str = "") -> None:
        super().__init__()
        self.original = original
        self.subject = subject

    def compose(self) -> ComposeResult:
        with Vertical(id="mail-original"):
            yield Static(Text(f"Original email{': ' + self.subject if self.subject else ''}"),
                         id="mail-original-title")
            with VerticalScroll(id="mail-original-scroll"):
                yield Static(Text(self.original.headers), id="mail-original-headers")
                text = self.original.text
                if len(text) > MAX_SHOWN_CHARS:
                    text = text[:MAX_SHOWN_CHARS] + "\n… (the rest is not shown)"
                yield Static(Text(text), id="mail-original-text")
                if self.original.parts:
                    yield Static(Text("Parts: " + " · ".join(self.original.parts)),
                                 id="mail-original-parts")
            yield Static("j/k scroll · space page · esc close", id="mail-original-keys")

    def on_mount(self) -> None:
        self.query_one("#mail-original-scroll", VerticalScroll).focus()

    def action_scroll(self, way: str) -> None:
        scroll = self.query_one("#mail-original-scroll", VerticalScroll)
        scroll.scroll_relative(y=1 if way == "down" else -1, animate=False)

    def action_page(self, way: str) -> None:
        scroll = self.query_one("#mail-original-scroll", VerticalScroll)
        (scroll.scroll_page_down if way == "down" else scroll.scroll_page_up)(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
