"""The reply composer: judge a reply while it is typed, because a sent text cannot be recalled.

Every keystroke re-runs the SMS count (:func:`core.sms.analyze`, tens of microseconds) and the
send preflight (:func:`core.preflight.preflight`, ~60 us), so the agent sees what the reply will
cost and every reason it would be refused *before* pressing send; send is refused while any
reason applies.  A private note skips all of that: it never reaches the customer.

A reply goes by SMS or by email (issue 12): one key switches, beside the From number.  Email
is offered only when the contact has a valid address and the desk's email is set up; in email
mode there is a subject, no segment count and no SMS rule, attachments up to the relay's limit.

The composer only judges and collects: it posts :class:`Composer.Submitted` with a
:class:`Draft` and the lead's code sends it, then calls :meth:`Composer.sent` or
:meth:`Composer.failed`.  Drafts are kept per ticket, so switching tickets neither loses a draft
nor carries one ticket's text into another ticket's reply.
"""

from __future__ import annotations

import mimetypes
import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from textual import on
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Static, TextArea

from core.mail_compose import subject_for
from core.models import Account, Contact, NumberStatus, PhoneNumber, SenderType
from core.preflight import (
    MAX_MEDIA,
    MAX_MEDIA_TOTAL_BYTES,
    Attachment,
    Refusal,
    is_accepted_media_type,
    preflight,
)
from core.sms import (
    SmartEncodingSuggestion,
    SmsAnalysis,
    analyze,
    as_sent,
    smart_encode,
    suggest_smart_encoding,
)
from tui.mail_channel import NO_EMAIL_KNOWN, ChannelName, EmailChannel, why_no_address
from tui.widgets.draft_area import DraftArea
from tui.widgets.path_dialog import PathDialog, PathRefused
from tui.widgets.send_review import ReviewChoice, SendReview, human_size

__all__ = [
    "AttachFile",
    "AttachmentRejected",
    "ComposeContext",
    "Composer",
    "Draft",
    "EditorRunner",
    "Mode",
    "PendingFile",
    "check_attachment",
    "check_email_attachment",
    "edit_externally",
]

Mode = Literal["reply", "note"]

EditorRunner = Callable[[str], str]
"""Blocking: takes the draft, returns the edited text (raises OSError/ValueError on failure)."""

# Twilio: "Messages that exceed 160 characters are split"; an MMS is one message of up to 1,600.
_MMS_MAX_CHARS = 1600


# -- what the composer judges against ----------------------------------------------------------


def _pick(cls: type, wire: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``wire`` that are fields of ``cls``: the wire carries extras (nested account,
    masked token hint) that the dataclass does not take."""
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in wire.items() if key in names}


@dataclass(frozen=True)
class ComposeContext:
    """What the composer needs to judge a reply before it leaves: built by the lead from relay
    data, and set again whenever any of it changes (the contact may opt out mid-draft)."""

    ticket_id: int
    number: PhoneNumber  # the number the reply goes out from: the ticket's, or the agent's choice
    account: Account  # its account; ``auth_token`` is "" on the client
    contact: Contact
    # The ticket's own number (the one the customer last texted); ``number`` differs from it
    # when the agent chose another sender (ctrl+f). 0: not known (a context built by hand).
    ticket_number_id: int = 0
    # The desk's numbers the contact is opted out from (a STOP blocks the number it was sent
    # to); None: not known, and ``contact.opted_out`` holds for every sender.
    opted_out_number_ids: frozenset[int] | None = None
    # Email (issue 12): the contact's address (None: not asked yet), the desk's email as
    # the inbox knows it, the channel the customer last wrote in (the ticket's default),
    # and the subject an email reply continues.
    contact_email: str | None = None
    email: EmailChannel = NO_EMAIL_KNOWN
    default_channel: ChannelName = "sms"
    email_subject: str = ""

    @property
    def who(self) -> str:
        """The customer as the composer names them."""
        return self.contact.name or self.contact.phone or self.contact_email or "the customer"

    def why_no_email(self) -> str:
        """Why this reply cannot go by email ("" when it can; "?" while the address is not
        known yet)."""
        if self.email.why_not:
            return self.email.why_not
        if self.contact_email is None:
            return "?"
        return why_no_address(self.contact_email, self.who)

    @classmethod
    def from_wire(
        cls,
        ticket_row: Mapping[str, Any],
        number: Mapping[str, Any],
        account: Mapping[str, Any] | None = None,
    ) -> ComposeContext:
        """From a ``list_tickets`` item, a ``list_numbers`` item and its account.

        ``account`` defaults to the sending rules ``list_numbers`` nests under ``"account"``.
        Raises ValueError when the three do not belong together: judging a reply against the
        wrong number would show the wrong refusals.
        """
        ticket = ticket_row["ticket"]
        account = account if account is not None else number.get("account")
        if account is None:
            raise ValueError(f"number {number.get('e164')!r} came without its account")
        if ticket["number_id"] != number["id"]:
            raise ValueError(
                f"ticket #{ticket['id']} came in on number id {ticket['number_id']}, "
                f"not {number['id']}"
            )
        phone, rules = sender_from_wire(number, account)
        return cls(
            ticket_id=ticket["id"],
            number=phone,
            account=rules,
            contact=Contact(
                id=ticket["contact_id"],
                phone=ticket_row["contact_phone"],
                name=ticket_row.get("contact_name", ""),
                opted_out=bool(ticket_row.get("contact_opted_out", False)),
            ),
            ticket_number_id=phone.id,
            opted_out_number_ids=None if ticket_row.get("contact_opted_out_number_ids") is None
            else frozenset(ticket_row["contact_opted_out_number_ids"]),
        )

    @property
    def from_another_number(self) -> bool:
        """Whether the agent chose to send from another number than the ticket's own."""
        return bool(self.ticket_number_id) and self.number.id != self.ticket_number_id

    def sending_from(self, number: Mapping[str, Any]) -> ComposeContext:
        """The same draft sent from another of the desk's numbers (a ``list_numbers`` item):
        judged by that number's rules, and by its account's."""
        account = number.get("account")
        if account is None:
            raise ValueError(f"number {number.get('e164')!r} came without its account")
        phone, rules = sender_from_wire(number, account)
        if self.opted_out_number_ids is None:
            return replace(self, number=phone, account=rules)
        contact = replace(self.contact, opted_out=phone.id in self.opted_out_number_ids)
        return replace(self, number=phone, account=rules, contact=contact)


def sender_from_wire(number: Mapping[str, Any],
                     account: Mapping[str, Any]) -> tuple[PhoneNumber, Account]:
    """A ``list_numbers`` item and its account's sending rules, as preflight reads them."""
    if number["account_id"] != account["id"]:
        raise ValueError(f"number {number['e164']} is not in account id {account['id']}")
    phone = _pick(PhoneNumber, number)
    phone["status"] = NumberStatus(phone.get("status", NumberStatus.ACTIVE))
    phone["sender_type"] = SenderType(phone.get("sender_type", SenderType.LONG_CODE))
    rules = _pick(Account, account)
    rules["auth_token"] = ""
    rules["geo_permissions"] = tuple(rules.get("geo_permissions", ()))
    return PhoneNumber(**phone), Account(**rules)


@dataclass(frozen=True, slots=True)
class PendingFile:
    """A local file the agent attached; the lead uploads it (``upload_media``) when sending."""

    path: Path
    filename: str
    content_type: str
    size: int  # bytes, when it was attached
    # Already kept by the relay (a canned response's attachment): sent by this reference,
    # never uploaded again. "": a local file.
    sha256: str = ""

    @property
    def attachment(self) -> Attachment:
        return Attachment(self.filename, self.content_type, self.size)


@dataclass(frozen=True)
class Draft:
    """What the agent asked to send.

    ``smart_encoding`` is True when the agent applied Smart Encoding to this draft: the
    replacements are already in ``body`` (the agent saw exactly what goes out), so nothing
    further needs doing.  A note never carries attachments.
    """

    mode: Mode
    body: str
    attachments: tuple[PendingFile, ...]
    smart_encoding: bool
    channel: ChannelName = "sms"  # a reply's; a note goes nowhere
    subject: str = ""  # an email's


# -- attachments ---------------------------------------------------------------------------------


class AttachmentRejected(PathRefused):
    """A file the composer will not attach; ``str(error)`` says why, for the agent."""


def check_attachment(
    typed: str, *, attached: tuple[PendingFile, ...] = (), base: Path | None = None
) -> PendingFile:
    """The file at ``typed`` (``~`` expanded, relative to ``base`` or the cwd) if Twilio would
    take it next to ``attached``; otherwise AttachmentRejected saying what to do."""
    path = _readable_file(typed, attached, base)
    if len(attached) >= MAX_MEDIA:
        raise AttachmentRejected(f"Twilio sends at most {MAX_MEDIA} attachments per message.")
    size = path.stat().st_size
    if size == 0:
        raise AttachmentRejected(f"{path.name} is empty.")
    content_type = mimetypes.guess_type(path.name, strict=False)[0]
    if content_type is None:
        raise AttachmentRejected(
            f"smsdesk cannot tell what kind of file {path.name} is from its name. Twilio takes "
            "images (JPEG, PNG, GIF), audio, video, vCards and PDFs."
        )
    if not is_accepted_media_type(content_type):
        raise AttachmentRejected(
            f"{path.name} is {content_type}, which Twilio does not accept for MMS. Send an "
            "image (JPEG, PNG or GIF) or a PDF, or send a link instead."
        )
    total = size + sum(item.size for item in attached)
    if total > MAX_MEDIA_TOTAL_BYTES:
        raise AttachmentRejected(
            f"{path.name} ({human_size(size)}) would bring the attachments to "
            f"{human_size(total)}, over Twilio's {human_size(MAX_MEDIA_TOTAL_BYTES)} per message."
        )
    return PendingFile(path=path, filename=path.name, content_type=content_type, size=size)


def _readable_file(typed: str, attached: tuple[PendingFile, ...], base: Path | None) -> Path:
    """The file at ``typed`` if it is one that can be read and is not attached yet."""
    if not typed.strip():
        raise AttachmentRejected("Type the path of a file to attach.")
    path = Path(typed.strip()).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    if not path.exists():
        raise AttachmentRejected(f"There is no file at {path}.")
    if not path.is_file():
        raise AttachmentRejected(f"{path} is a folder, not a file.")
    if not os.access(path, os.R_OK):
        raise AttachmentRejected(f"{path.name} cannot be read: permission denied.")
    if any(item.path == path for item in attached):
        raise AttachmentRejected(f"{path.name} is already attached.")
    return path


def check_email_attachment(
    typed: str, *, attached: tuple[PendingFile, ...] = (), limit: int,
    base: Path | None = None,
) -> PendingFile:
    """The file at ``typed`` if an email can carry it next to ``attached``: any kind of file,
    all of them together within ``limit`` bytes (the relay's); else AttachmentRejected."""
    path = _readable_file(typed, attached, base)
    size = path.stat().st_size
    if size == 0:
        raise AttachmentRejected(f"{path.name} is empty.")
    content_type = mimetypes.guess_type(path.name, strict=False)[0] or "application/octet-stream"
    total = size + sum(item.size for item in attached)
    if total > limit:
        raise AttachmentRejected(
            f"{path.name} ({human_size(size)}) would bring the attachments to "
            f"{human_size(total)}, over the {human_size(limit)} an email here can carry."
        )
    return PendingFile(path=path, filename=path.name, content_type=content_type, size=size)


AttachCheck = Callable[[str, tuple["PendingFile", ...]], "PendingFile"]


class AttachFile(PathDialog["PendingFile"]):
    """Asks for a file path, and only closes on a file Twilio would take (or on escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Cancel", id="composer.attach_cancel"),
    ]

    def __init__(self, attached: tuple[PendingFile, ...],
                 check: AttachCheck | None = None) -> None:
        """``check`` judges the typed path (default: what Twilio takes for an MMS)."""
        super().__init__("Attach a file", prefix="attach", help_line="enter attach · escape cancel",
                         placeholder="path, e.g. ~/Pictures/receipt.png")
        self._attached = attached
        self._check: AttachCheck = check or (
            lambda typed, attached: check_attachment(typed, attached=attached))

    def judge(self, typed: str) -> PendingFile:
        return self._check(typed, self._attached)


# -- the external editor -------------------------------------------------------------------------


def edit_externally(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Run ``$VISUAL``/``$EDITOR``/``vi`` on ``text`` in a temp file and return what it saved.

    Blocks until the editor exits, so the caller must have suspended the TUI.  A non-zero exit
    (vi's ``:cq``) means "abandon": ValueError, and the draft stays as it was.  The one newline
    editors add at the end of a file is dropped, since Twilio would bill it.
    """
    env = os.environ if environ is None else environ
    command = shlex.split(env.get("VISUAL") or env.get("EDITOR") or "vi")
    handle, name = tempfile.mkstemp(prefix="smsdesk-draft-", suffix=".txt")
    path = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        done = subprocess.run([*command, str(path)], check=False, env=dict(env))
        if done.returncode != 0:
            raise ValueError(f"{command[0]} exited with status {done.returncode}")
        edited = path.read_text(encoding="utf-8")
    finally:
        path.unlink(missing_ok=True)
    return edited.removesuffix("\n").removesuffix("\r")


# -- the widget ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Stash:
    """A ticket's draft while another ticket is open."""

    mode: Mode
    text: str
    attachments: tuple[PendingFile, ...]
    smart_encoding: bool
    channel: ChannelName | None = None  # chosen by the agent; None: the ticket's default
    subject: str = ""


_EMPTY = _Stash("reply", "", (), False)


def _visible(cluster: str) -> str:
    """A non-GSM character as the agent can find it: invisible ones by code point."""
    if cluster.isprintable() and not cluster.isspace():
        return cluster
    return " ".join(f"U+{ord(c):04X}" for c in cluster)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class Composer(Widget):
    """Reply or private note for the open ticket, judged live, sent on ctrl+s."""

    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", id="composer.send"),
        Binding("escape", "cancel", "Leave", id="composer.cancel"),
        # Priority, to win over TextArea's ctrl+e (end of line); check_action hands the key back
        # to the TextArea whenever smart encoding would save nothing.
        Binding("ctrl+e", "smart_encoding", "Smart encoding", id="composer.smart_encoding",
                priority=True),
        Binding("ctrl+t", "attach", "Attach", id="composer.attach"),
        Binding("ctrl+r", "remove_attachment", "Remove attachment",
                id="composer.remove_attachment"),
        Binding("ctrl+o", "editor", "$EDITOR", id="composer.editor"),
        Binding("ctrl+n", "toggle_mode", "Reply/note", id="composer.toggle_mode"),
        # Not in the footer (full already); the help screen lists it, the title shows the choice.
        Binding("ctrl+f", "choose_sender", "Choose From", show=False,
                id="composer.choose_sender"),
        # Canned responses (issue 10): a picker, its choice filled in at the cursor.
        Binding("ctrl+g", "canned", "Canned", show=False, id="composer.canned"),
        # Issue 12: SMS or email for this reply (the title shows which, beside the From).
        Binding("ctrl+l", "switch_channel", "SMS/email", show=False,
                id="composer.switch_channel"),
    ]

    class Submitted(Message):
        """The agent sent this draft and nothing refuses it; the lead sends it to the relay."""

        def __init__(self, draft: Draft, context: ComposeContext) -> None:
            super().__init__()
            self.draft = draft
            self.context = context

    class Cancelled(Message):
        """The agent left the composer (escape); the draft is kept."""

    class SenderWanted(Message):
        """The agent wants to choose the number the reply goes out from (ctrl+f): the lead
        knows the desk's numbers and opens the From picker for this draft."""

        def __init__(self, draft: Draft, context: ComposeContext) -> None:
            super().__init__()
            self.draft = draft
            self.context = context

    class CannedWanted(Message):
        """The agent wants a canned response (ctrl+g): the lead holds the library and the
        placeholders' values, opens the picker, and calls ``insert_canned`` with the choice."""

        def __init__(self, draft: Draft, context: ComposeContext) -> None:
            super().__init__()
            self.draft = draft
            self.context = context

    class AddressWanted(Message):
        """The agent asked for email and the contact's address is not known yet: the lead
        looks it up, sets the context again and calls :meth:`Composer.switch_channel`."""

        def __init__(self, context: ComposeContext) -> None:
            super().__init__()
            self.context = context

    class AddressMissing(Message):
        """Email was refused because the contact has no valid address: the lead offers to
        add one (the contact form)."""

        def __init__(self, context: ComposeContext, why: str) -> None:
            super().__init__()
            self.context = context
            self.why = why

    def __init__(
        self,
        *,
        send_review: bool = True,
        editor: EditorRunner | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """``editor`` replaces the ``$EDITOR`` round trip (``ctrl+o``): by default the app is
        suspended and :func:`edit_externally` runs."""
        super().__init__(name=name, id=id, classes=classes)
        self.send_review = send_review
        self._editor = editor
        self._ctx: ComposeContext | None = None
        self._mode: Mode = "reply"
        self._channel: ChannelName = "sms"
        self._channel_chosen = False  # the agent switched: the ticket's default no longer rules
        self._attachments: tuple[PendingFile, ...] = ()
        self._smart_encoding = False
        self._stash: dict[int, _Stash] = {}
        self._pending_ticket: int | None = None  # a Submitted the lead has not answered yet
        self._failure: str | None = None
        self._notice: str | None = None  # why a key did nothing, until the next edit
        self._notice_outlives_edit = False  # said of an insert: kept past its own edit
        self._analysis: SmsAnalysis = analyze("")
        self._refusals: tuple[Refusal, ...] = ()
        self._warnings: tuple[Refusal, ...] = ()  # doubts that do not stop the send
        self._saving = 0  # segments smart encoding would save now
        self._chrome: tuple[object, ...] = ()  # what the title and keys were last drawn for
        self._keys: dict[str, str] = {}  # action -> key display, with the app's keymap
        self._verdict = Content("")
        self._ready = False

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Subject", id="composer-subject")
        yield DraftArea(soft_wrap=True, tab_behavior="focus", show_line_numbers=False,
                       highlight_cursor_line=False, id="composer-text")
        yield Static(id="composer-count")
        yield Static(id="composer-smart")
        yield Static(id="composer-attachments")
        yield Static(id="composer-verdict")

    def on_mount(self) -> None:
        self._ready = True  # the children exist from here on (is_mounted is not yet True)
        self._show()

    # -- the lead's side ----------------------------------------------------------------------

    @property
    def context(self) -> ComposeContext | None:
        return self._ctx

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        if mode not in ("reply", "note"):
            raise ValueError(f"mode must be 'reply' or 'note', not {mode!r}")
        self._mode = mode
        self._notice = None
        self._show()

    @property
    def channel(self) -> ChannelName:
        """How the reply goes: "sms" (from the number in the title) or "email"."""
        return self._channel

    @property
    def subject(self) -> str:
        return self._subject_input.value

    @property
    def text(self) -> str:
        return self._text_area.text

    @property
    def attachments(self) -> tuple[PendingFile, ...]:
        return self._attachments

    @property
    def refusals(self) -> tuple[Refusal, ...]:
        """What stands in the way of sending the reply now (empty in note mode)."""
        return self._refusals

    def verdict_text(self) -> str:
        """The verdict under the draft as the agent reads it: refusals, failure, why a key did
        nothing.  Plain text, for tests and screen readers."""
        return self._verdict.plain

    def set_context(self, context: ComposeContext | None) -> None:
        """Open a ticket's draft (or refresh its facts); None disables the composer."""
        current = self._ctx
        if not self._ready:  # no text yet, so no draft to stash or restore
            self._ctx = context
            self.disabled = context is None
            return
        if current is not None and (context is None or context.ticket_id != current.ticket_id):
            self._stash_current(current.ticket_id)
        self._ctx = context
        if context is not None and (current is None or context.ticket_id != current.ticket_id):
            self._restore(self._stash.pop(context.ticket_id, _EMPTY))
        elif context is not None and not self._channel_chosen:
            self._set_channel(self._default_channel(context))  # facts came in: thread, address
        elif context is not None and self._channel == "email" and context.why_no_email() \
                and context.why_no_email() != "?":
            self._set_channel("sms")  # the address was removed, or the desk's email turned off
            self._notice = f"Back to SMS: {context.why_no_email()}"
        self.disabled = context is None
        self._show()

    def unsent_drafts(self) -> list[tuple[int, Mode, str]]:
        """Text typed but never submitted, per ticket: ``(ticket_id, mode, text)``.

        The one being sent is left out (the lead knows it as sending); quitting asks
        before these are lost.
        """
        found: list[tuple[int, Mode, str]] = [
            (ticket_id, stash.mode, stash.text) for ticket_id, stash in self._stash.items()
            if stash.text.strip() and ticket_id != self._pending_ticket]
        if self._ready and self._ctx is not None and self.text.strip() \
                and self._ctx.ticket_id != self._pending_ticket:
            found.append((self._ctx.ticket_id, self._mode, self.text))
        return found

    def offer_draft(self, ticket_id: int, mode: Mode, text: str) -> bool:
        """Put a kept draft back for ``ticket_id`` unless the agent already wrote something there.

        True when it was put back (the lead then says so).
        """
        if self._ctx is not None and self._ctx.ticket_id == ticket_id and self._ready:
            if self.text.strip():
                return False
            self._restore(_Stash(mode, text, (), False))
            self._show()
            return True
        if self._stash.get(ticket_id, _EMPTY).text.strip():
            return False
        self._stash[ticket_id] = _Stash(mode, text, (), False)
        return True

    def start(self, mode: Mode) -> None:
        """Focus the text in ``mode`` (the inbox's r / n)."""
        if self._ctx is None:
            self.app.notify("Open a ticket first.", severity="warning")
            return
        self.mode = mode
        self._text_area.focus()

    def sent(self) -> None:
        """The relay accepted the last Submitted: its draft is done with."""
        ticket, self._pending_ticket = self._pending_ticket, None
        if ticket is None:
            return
        if self._ctx is not None and self._ctx.ticket_id == ticket:
            self._restore(replace(_EMPTY, mode=self._mode, channel=self._channel
                                  if self._channel_chosen else None))
            self._show()
        else:
            self._stash.pop(ticket, None)

    def failed(self, reason: str) -> None:
        """The relay refused the last Submitted: say why, keep the draft for another try."""
        ticket, self._pending_ticket = self._pending_ticket, None
        if self._ctx is not None and ticket in (None, self._ctx.ticket_id):
            self._failure = reason
            self._show()
        else:
            self.app.notify(f"Ticket #{ticket}: not sent. {reason}", severity="error")

    # -- keys ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "smart_encoding":
            return self._saving > 0 and self._mode == "reply" and self._channel == "sms"
        if action == "remove_attachment":
            return bool(self.attachments)
        return True

    def action_send(self) -> None:
        context = self._ctx
        if context is None:
            return
        if self._pending_ticket is not None:
            self._refuse("Still sending the previous one; wait for the relay's answer.")
            return
        draft = self._draft()
        if draft.mode == "note":
            if not draft.body.strip():
                self._refuse("There is nothing to note. Type the note first.")
                return
            self._submit(draft, context)
            return
        refusals = self._judge(context, draft, live=False)
        if refusals:
            self._refuse_send(refusals)
            return
        if not self.send_review:
            self._submit(draft, context)
            return
        if draft.channel == "email":
            review = SendReview(
                draft.body,
                to=f"{context.contact.name or context.contact_email} <{context.contact_email}>",
                sender="the desk's email address",
                attachments=[item.attachment for item in draft.attachments],
                channel="email",
                subject=draft.subject,
            )
            self.app.push_screen(review, lambda choice: self._reviewed(choice, draft, context))
            return
        review = SendReview(
            draft.body,
            to=context.contact.phone,
            sender=context.number.e164,
            attachments=[item.attachment for item in draft.attachments],
            trial=context.account.is_trial,
        )
        self.app.push_screen(review, lambda choice: self._reviewed(choice, draft, context))

    def action_cancel(self) -> None:
        self.post_message(self.Cancelled())

    def action_choose_sender(self) -> None:
        context = self._ctx
        if context is None:
            return
        if self._mode == "note":
            self._refuse("A private note is not sent from any number; switch to reply "
                         f"({self._key('toggle_mode')}) to choose one.")
            return
        if self._channel == "email":
            self._refuse("An email goes from the desk's email address, not a number; switch to "
                         f"SMS ({self._key('switch_channel')}) to choose one.")
            return
        self.post_message(self.SenderWanted(self._draft(), context))

    def action_switch_channel(self) -> None:
        """SMS to email and back; email only where it can go, else the reason in words."""
        context = self._ctx
        if context is None:
            return
        if self._mode == "note":
            self._refuse("A private note goes to no one, by no channel; switch to reply "
                         f"({self._key('toggle_mode')}) first.")
            return
        if self._channel == "email":
            self._channel_chosen = True
            self._set_channel("sms")
            self._notice = f"By SMS from {context.number.e164}."
            self._show()
            return
        self.switch_channel()

    def switch_channel(self) -> None:
        """Go to email if this reply can go by email; otherwise say why (and, when the address
        is the reason, ask the lead to offer adding one)."""
        context = self._ctx
        if context is None or self._mode == "note":
            return
        why = context.why_no_email()
        if why == "?":
            self._notice = "Looking up the contact's email address…"
            self._show()
            self.post_message(self.AddressWanted(context))
            return
        if why:
            words = f"Not by email: {why}.".replace("..", ".")
            if context.email.why_not:
                self._refuse(words)
            else:  # the address is missing: the question that offers one says it, no toast
                self._notice = words
                self._show()
                self.post_message(self.AddressMissing(context, why))
            return
        self._channel_chosen = True
        self._set_channel("email")
        self._show()
        self._subject_input.focus() if not self.subject.strip() else self._text_area.focus()

    def action_canned(self) -> None:
        context = self._ctx
        if context is not None:
            self.post_message(self.CannedWanted(self._draft(), context))

    def insert_canned(self, text: str, media: tuple[PendingFile, ...] = ()) -> None:
        """Put a filled canned response at the cursor, and its attachments with the reply's.

        The text always goes in; attachments only where they can go (a reply from an MMS
        number), else the composer says why they stayed out.
        """
        area = self._text_area
        area.insert(text)
        area.focus()
        if not media:
            self._show()
            return
        context, files = self._ctx, _plural(len(media), "attachment")
        if self._mode == "note":
            why = f"The response's {files} stayed out: a private note cannot carry attachments."
        elif context is not None and not context.number.mms and self._channel == "sms":
            why = (f"The response's {files} stayed out: {context.number.e164} is SMS-only, and"
                   " SMS-only numbers send text only. Reply from an MMS-enabled number to send"
                   " them.")
        else:
            known = {item.sha256 for item in self._attachments}
            self._attachments = (*self._attachments,
                                 *(item for item in media if item.sha256 not in known))
            self._show()
            return
        self._notice, self._notice_outlives_edit = why, True  # the insert is an edit too
        self.app.notify(why, severity="warning", timeout=8)
        self._show()

    def action_smart_encoding(self) -> None:
        """Put Twilio's Smart Encoding replacements into the text itself (one undo step), so
        the agent sees exactly what the customer will receive."""
        area = self._text_area
        suggestion = suggest_smart_encoding(area.text)
        if suggestion is None:
            return
        # Replacements can be longer ("…" -> "..."): keep the cursor after the same character.
        cursor = area.document.get_index_from_location(area.cursor_location)
        offset = len(smart_encode(area.text[:cursor]))
        area.replace(suggestion.text, (0, 0), area.document.end, maintain_selection_offset=False)
        area.move_cursor(area.document.get_location_from_index(offset))
        self._smart_encoding = True
        self._show()

    def action_attach(self) -> None:
        context = self._ctx
        if context is None:
            return
        if self._mode == "note":
            self._refuse("A private note cannot carry attachments; switch to reply "
                         f"({self._key('toggle_mode')}).")
            return
        if self._channel == "email":
            limit = context.email.max_attachment_bytes
            self.app.push_screen(AttachFile(self._attachments, lambda typed, attached:
                                            check_email_attachment(typed, attached=attached,
                                                                   limit=limit)),
                                 self._attached)
            return
        if not context.number.mms:
            self._refuse(
                f"Attachments are disabled: {context.number.e164} is SMS-only, and SMS-only "
                "numbers send text only. Reply from an MMS-enabled number to send files."
            )
            return
        self.app.push_screen(AttachFile(self._attachments), self._attached)

    def action_remove_attachment(self) -> None:
        if not self._attachments:
            self._refuse("There is no attachment to remove.")
            return
        self._attachments = self._attachments[:-1]
        self._show()

    def action_toggle_mode(self) -> None:
        self.mode = "note" if self._mode == "reply" else "reply"

    def action_editor(self) -> None:
        area = self._text_area
        try:
            edited = (self._editor or self._suspend_and_edit)(area.text)
        except SuspendNotSupported:
            self._refuse("This terminal cannot hand over to an external editor.")
            return
        except (OSError, ValueError) as error:
            self._refuse(f"The external editor failed, the draft is unchanged: {error}")
            return
        if edited != area.text:
            area.replace(edited, (0, 0), area.document.end, maintain_selection_offset=False)
        area.focus()
        self._show()

    # -- inside -------------------------------------------------------------------------------

    @property
    def _text_area(self) -> TextArea:
        return self.query_one("#composer-text", TextArea)

    @property
    def _subject_input(self) -> Input:
        return self.query_one("#composer-subject", Input)

    def _default_channel(self, context: ComposeContext) -> ChannelName:
        """The channel the customer last wrote in, when a reply can go that way."""
        if context.default_channel == "email" and not context.why_no_email():
            return "email"
        return "sms"

    def _set_channel(self, channel: ChannelName) -> None:
        """Switch, prefilling an empty subject ("Re: [#123] …") the first time email is on."""
        if channel != self._channel:
            self._notice = None
        self._channel = channel
        context = self._ctx
        if channel == "email" and context is not None and not self._subject_input.value.strip():
            self._subject_input.value = subject_for(context.ticket_id, context.email_subject)

    @on(Input.Changed, "#composer-subject")
    def _subject_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._failure = None

    @on(Input.Submitted, "#composer-subject")
    def _subject_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._text_area.focus()  # enter in the subject goes on to the text

    def _suspend_and_edit(self, text: str) -> str:
        """Textual's documented way to run a terminal program: suspend, block, resume."""
        with self.app.suspend():
            return edit_externally(text)

    @on(TextArea.Changed, "#composer-text")
    def _changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self._failure = None
        if not self._notice_outlives_edit:
            self._notice = None
        self._notice_outlives_edit = False
        self._show()

    def _attached(self, pending: PendingFile | None) -> None:
        if pending is not None:
            self._attachments = (*self._attachments, pending)
            self._show()
        self._text_area.focus()

    def _reviewed(self, choice: ReviewChoice | None, draft: Draft, context: ComposeContext) -> None:
        """Send what was reviewed, unless the ticket or its facts changed meanwhile."""
        if choice == "cancel":
            self.post_message(self.Cancelled())
            return
        if choice != "send":
            self._text_area.focus()
            return
        if self._ctx is None or self._ctx.ticket_id != context.ticket_id:
            self._refuse("Not sent: the ticket changed while the reply was being reviewed.")
            return
        refusals = self._judge(self._ctx, draft, live=False)
        if refusals:  # e.g. the contact opted out while the review was open
            self._refuse_send(refusals)
            return
        self._submit(draft, self._ctx)

    def _submit(self, draft: Draft, context: ComposeContext) -> None:
        self._pending_ticket = context.ticket_id
        self._failure = None
        self.post_message(self.Submitted(draft, context))
        self._show()

    def _refuse(self, why: str, *, toast: str | None = None) -> None:
        """A key that did nothing says why, in the composer and as a toast."""
        self._notice = why
        self.app.bell()
        self.app.notify(toast or why, severity="error", timeout=6)
        self._show()

    def _refuse_send(self, refusals: tuple[Refusal, ...]) -> None:
        """The reasons are listed under the text already; the toast repeats them in full."""
        self._refuse("Not sent. Fix this first:", toast=" ".join(r.reason for r in refusals))
        # _show re-judged live, which leaves out "nothing to send"; the agent asked, so say it.
        self._refusals = refusals
        self._show_verdict(self._ctx, self._mode == "reply")

    def _draft(self) -> Draft:
        attachments = self._attachments if self._mode == "reply" else ()
        if self._mode == "reply" and self._channel == "email":
            return Draft(self._mode, self._text_area.text, attachments, False, "email",
                         " ".join(self.subject.split()))
        return Draft(self._mode, self._text_area.text, attachments, self._smart_encoding)

    def _judge(self, context: ComposeContext, draft: Draft, *, live: bool) -> tuple[Refusal, ...]:
        """Preflight refusals; while typing, "nothing to send" is left out as noise."""
        if draft.channel == "email":
            self._warnings = ()
            return _email_refusals(context, draft, live=live)
        if not context.contact.phone:
            self._warnings = ()
            return (Refusal(None, f"{context.who} is known only by email: reply by email "
                                  f"({self._key('switch_channel')}), or add a phone to the "
                                  "contact to text them.", "to"),)
        verdict = preflight(
            number=context.number,
            account=context.account,
            contact=context.contact,
            to=context.contact.phone,
            body=draft.body,
            attachments=[item.attachment for item in draft.attachments],
        )
        self._warnings = verdict.warnings
        if live:
            return tuple(r for r in verdict.refusals if r.code != 21602)
        return verdict.refusals

    def _stash_current(self, ticket_id: int) -> None:
        stash = _Stash(self._mode, self._text_area.text, self._attachments, self._smart_encoding,
                       self._channel if self._channel_chosen else None,
                       self._subject_input.value)
        if stash.text or stash.attachments or stash.channel is not None:
            self._stash[ticket_id] = stash
        else:
            self._stash.pop(ticket_id, None)

    def _restore(self, stash: _Stash) -> None:
        self._mode = stash.mode
        self._subject_input.value = stash.subject
        self._channel_chosen = stash.channel is not None
        context = self._ctx
        self._set_channel(stash.channel or (self._default_channel(context) if context else "sms"))
        self._attachments = stash.attachments
        self._smart_encoding = stash.smart_encoding
        self._failure = None
        self._notice = None
        if self._text_area.text != stash.text:
            self._text_area.load_text(stash.text)

    def _show(self) -> None:
        """Recompute cost and verdict for the text as it is now, then redraw."""
        if not self._ready:
            return
        context, text = self._ctx, self._text_area.text
        reply = self._mode == "reply"
        email = reply and self._channel == "email"
        self.set_class(context is None, "-idle")
        self.set_class(not reply, "-note")
        self.set_class(email, "-email")
        self.set_class(bool(self._pending_ticket), "-sending")
        sent = as_sent(text, trial=bool(context and reply and context.account.is_trial))
        suggestion = suggest_smart_encoding(sent) if reply and not email \
            and not self._attachments else None
        self._analysis = suggestion.original if suggestion is not None else analyze(sent)
        self._saving = suggestion.segments_saved if suggestion is not None else 0
        if context is not None and reply:
            self._refusals = self._judge(context, self._draft(), live=True)
        else:
            self._refusals = ()
            self._warnings = ()
        # Title, key hints and the footer only change with the ticket, mode or smart encoding's
        # availability: not redrawn on every keystroke.
        chrome = (context, self._mode, self._channel, self._saving > 0, bool(self._attachments),
                  getattr(self.app, "_keymap", None))
        if chrome != self._chrome:
            self._chrome = chrome
            self._keys = self._bound_keys()
            self._show_title(context)
            self.refresh_bindings()
        self._show_count(reply, text, email)
        self._show_smart(suggestion)
        self._show_attachments(reply)
        self._show_verdict(context, reply)

    def _key(self, action: str) -> str:
        """The key bound to ``action``, as the footer shows it (worked out with the chrome)."""
        return self._keys.get(action, "?")

    def _bound_keys(self) -> dict[str, str]:
        """Each action's first key, after the app's keymap (``App.set_keymap``).

        Textual applies the keymap to a copy of each node's bindings when it builds the binding
        chain and offers no public accessor for the result, so this does the same with
        ``App._keymap``.
        """
        bindings = self._bindings.copy()
        bindings.apply_keymap(getattr(self.app, "_keymap", {}))
        keys: dict[str, str] = {}
        for key, bound in bindings.key_to_bindings.items():
            for binding in bound:
                keys.setdefault(binding.action, self.app.get_key_display(replace(binding, key=key)))
        return keys

    def _show_title(self, context: ComposeContext | None) -> None:
        # Content, not str: a contact named "[b]ob" must not be read as markup.
        if context is None:
            self.border_title = Content("Reply")
            self.border_subtitle = None
            return
        # The channel shows beside the From where there is a choice to make: on a desk
        # whose email is set up, or in an email reply (a desk without email stays as it was).
        offered = context.email.enabled is True or self._channel == "email"
        if self._mode == "note":
            self.border_title = Content(f"Private note on #{context.ticket_id}: agents only")
        elif self._channel == "email":
            self.border_title = Content(
                f"Reply to {context.who} <{context.contact_email}> · ✉ Email")
        else:
            who = context.contact.name or context.contact.phone
            chosen = " (chosen)" if context.from_another_number else ""
            channel = " · SMS" if offered else ""
            self.border_title = Content(
                f"Reply to {who} from {context.number.e164}{chosen}{channel}")
        send, other = ("add note", "reply") if self._mode == "note" else ("send", "note")
        switch = ""
        if offered and self._mode == "reply":
            switch = (f"{self._key('switch_channel')} "
                      f"{'SMS' if self._channel == 'email' else 'email'} · ")
        self.border_subtitle = Content(
            f"{self._key('send')} {send} · {self._key('toggle_mode')} {other} · {switch}"
            f"{self._key('attach')} attach · {self._key('canned')} canned · "
            f"{self._key('editor')} editor · "
            f"{self._key('cancel')} leave"
        )

    def _show_count(self, reply: bool, text: str, email: bool = False) -> None:
        count = self.query_one("#composer-count", Static)
        if self._ctx is None:
            count.update(Content("No ticket open: open one to reply or add a note."))
            return
        if not reply:
            count.update(Content("Private note: only agents see it. Any length, no SMS rules."))
            return
        if email:
            count.update(Content(
                f"✉ Email · {len(text):,} characters · no segments, no SMS rules · attachments"
                f" up to {human_size(self._ctx.email.max_attachment_bytes)}"))
            return
        if self._attachments:
            count.update(Content(f"MMS · {len(text):,}/{_MMS_MAX_CHARS:,} characters · 1 message"))
            return
        cost = self._analysis
        limit = cost.per_segment_limit * max(cost.segments, 1)
        parts: list[str | tuple[str, str]] = [
            f"{cost.encoding} · {cost.characters}/{limit} · {_plural(cost.segments, 'segment')}"
        ]
        if not cost.is_gsm7:
            parts.append(" · UCS-2 because of: ")
            for i, cluster in enumerate(cost.non_gsm):
                parts.extend([" "] if i else [])
                parts.append((_visible(cluster), "bold $warning reverse"))
        count.update(Content.assemble(*parts))

    def _show_smart(self, suggestion: SmartEncodingSuggestion | None) -> None:
        smart = self.query_one("#composer-smart", Static)
        smart.display = suggestion is not None and self._saving > 0
        if suggestion is not None and self._saving > 0:
            pairs = ", ".join(
                f"{_visible(a)} → {b or '(nothing)'}" for a, b in suggestion.replacements[:6]
            )
            smart.update(Content.assemble(
                (self._key("smart_encoding"), "bold"),
                f": smart encoding would save {_plural(self._saving, 'segment')} ({pairs})",
            ))

    def _show_attachments(self, reply: bool) -> None:
        box = self.query_one("#composer-attachments", Static)
        box.display = bool(self._attachments)
        if not self._attachments:
            return
        if not reply:
            box.update(Content(f"{_plural(len(self._attachments), 'attachment')} kept for the "
                               "reply; a note cannot carry them."))
            return
        parts: list[str | tuple[str, str]] = [
            f"+ {item.filename} · {item.content_type} · {human_size(item.size)}\n"
            for item in self._attachments
        ]
        total = sum(item.size for item in self._attachments)
        limit = self._ctx.email.max_attachment_bytes \
            if self._ctx is not None and self._channel == "email" else MAX_MEDIA_TOTAL_BYTES
        parts.append((f"{_plural(len(self._attachments), 'file')} · {human_size(total)} of "
                      f"{human_size(limit)} · {self._key('remove_attachment')} "
                      "removes the last", "$text-muted"))
        box.update(Content.assemble(*parts))

    def _show_verdict(self, context: ComposeContext | None, reply: bool) -> None:
        verdict = self.query_one("#composer-verdict", Static)
        parts: list[str | tuple[str, str]] = []
        if self._pending_ticket is not None:
            parts.append(("Sending…\n", "bold"))
        if self._failure:
            parts.append((f"Not sent: {self._failure}\n", "bold $error"))
        if self._notice:
            parts.append((f"{self._notice}\n", "$warning"))
        for refusal in self._refusals:
            parts.extend([("✗ ", "bold $error"), f"{refusal.reason}\n"])
        for warning in self._warnings if reply else ():
            parts.extend([("⚠ ", "bold $warning"), f"{warning.reason}\n"])
        if context is not None and reply and not self._refusals and not self._failure \
                and not self._notice and self._pending_ticket is None:
            parts.append((f"Nothing stands in the way. {self._key('send')} sends.",
                          "$text-muted"))
        self._verdict = Content.assemble(*parts).rstrip()
        verdict.display = bool(parts)
        verdict.update(self._verdict)


def _email_refusals(context: ComposeContext, draft: Draft, *, live: bool) -> tuple[Refusal, ...]:
    """What stands in the way of this email, as the relay will judge it (core.mail_preflight's
    rules: the desk's email, the address, a body, the attachments' total); while typing, the
    empty body is left out as noise. None of the SMS rules apply."""
    refusals: list[Refusal] = []
    why = context.why_no_email()
    if why and why != "?":
        refusals.append(Refusal(None, why if why.endswith(".") else f"{why}.", "channel"))
    if not live and not draft.body.strip():
        refusals.append(Refusal(None, "The email is empty: write something to send.", "body"))
    total = sum(item.size for item in draft.attachments)
    limit = context.email.max_attachment_bytes
    if total > limit:
        refusals.append(Refusal(
            None, f"The attachments come to {human_size(total)}; an email here can carry at most"
                  f" {human_size(limit)}. Remove some, or send them in several emails.", "media"))
    return tuple(refusals)
