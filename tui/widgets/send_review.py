"""The last look before a reply leaves: a text cannot be recalled once Twilio has it.

A modal that shows the exact body, who it goes to, what Twilio will bill (an email: its
subject, and that no SMS billing applies), and takes one key:
``y`` sends, ``n`` drops the send (the draft stays), ``e`` goes back to editing.  It takes plain
values rather than the composer's ``Draft`` so it can be reused by anything that sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from core.preflight import MediaLike
from core.sms import analyze, as_sent

__all__ = ["ReviewChoice", "SendReview", "cost_hint", "human_size"]

ReviewChoice = Literal["send", "cancel", "edit"]


def human_size(n_bytes: int) -> str:
    """Sizes the way Twilio states its 5 MB limit: 1 MB is 1024 x 1024 bytes."""
    if n_bytes < 1024:
        return f"{n_bytes} B"
    if n_bytes < 1024 * 1024:
        return f"{n_bytes / 1024:.1f} KB"
    return f"{n_bytes / (1024 * 1024):.2f} MB"


def cost_hint(body: str, attachments: Sequence[MediaLike] = (), *, trial: bool = False) -> str:
    """What Twilio will bill for this reply, in the unit it bills.

    With media the reply goes out as one MMS, billed per message whatever the text length (up to
    1,600 characters); without, it is SMS billed per segment, which is what an agent can save on.
    """
    if attachments:
        count = len(attachments)
        files = "1 attachment" if count == 1 else f"{count} attachments"
        return f"Billed as 1 MMS message (text and {files})."
    cost = analyze(as_sent(body, trial=trial))  # a Trial account's prefix is billed too
    unit = "segment" if cost.segments == 1 else "segments"
    return f"Billed as {cost.segments} SMS {unit} ({cost.encoding}, {cost.characters} characters)."


class SendReview(ModalScreen[ReviewChoice]):
    """Confirm a reply: dismisses with "send", "cancel" or "edit"."""

    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "choose('send')", "Send", id="send_review.send"),
        Binding("n,escape", "choose('cancel')", "Don't send", id="send_review.cancel"),
        Binding("e", "choose('edit')", "Edit", id="send_review.edit"),
    ]

    def __init__(
        self,
        body: str,
        *,
        to: str,
        sender: str,
        attachments: Sequence[MediaLike] = (),
        trial: bool = False,
        channel: str = "sms",
        subject: str = "",
    ) -> None:
        """``channel`` "email": the review says "Email to name <address>" and the subject."""
        super().__init__()
        self._channel = channel
        self._subject = subject
        self._trial = trial
        self._body = body
        self._to = to
        self._sender = sender
        self._attachments = tuple(attachments)

    def compose(self) -> ComposeResult:
        email = self._channel == "email"
        with Vertical(id="send-review"):
            if email:
                yield Static(Text(f"Email to {self._to}?"), id="send-review-title")
                yield Static(Text(f"Subject: {self._subject or '(none)'}"),
                             id="send-review-subject")
            else:
                yield Static(f"Send to {self._to} from {self._sender}?", id="send-review-title")
            with VerticalScroll(id="send-review-body"):
                # Text, not markup: the agent's "[b]" must appear as typed.
                yield Static(Text(self._body or "(no text)"), id="send-review-text")
            for item in self._attachments:
                yield Static(
                    Text(f"+ {item.filename} ({item.content_type}, {human_size(item.size)})"),
                    classes="send-review-attachment",
                )
            if email:
                yield Static(f"Sent by email from {self._sender}: no SMS billing, no segments.",
                             id="send-review-cost")
                yield Static("An email cannot be recalled once it is sent.",
                             id="send-review-warning")
            else:
                yield Static(cost_hint(self._body, self._attachments, trial=self._trial),
                             id="send-review-cost")
                yield Static("A text cannot be recalled once it is sent.",
                             id="send-review-warning")
            yield Static(
                Text.assemble(("y", "bold"), " send   ", ("n", "bold"), " don't send   ",
                              ("e", "bold"), " edit"),
                id="send-review-keys",
            )

    def action_choose(self, choice: ReviewChoice) -> None:
        self.dismiss(choice)
