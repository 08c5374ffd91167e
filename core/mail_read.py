"""An inbound email as the desk needs it: who, which thread, the new text, the files.

Sans-I/O: bytes in, an `InboundMail` out. Mail on the internet is often broken
(wrong charsets, bad MIME, 8-bit headers), so every field degrades to something
readable instead of raising; the only refusal is `MailUnreadable`, when there
is no sender to answer or the bytes are no mail at all. The full original is
kept by the caller, so anything this module simplifies can still be seen.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from mailparser_reply.parser import EmailMessage as ReplySplitter

from core.mail_compose import MailAttachment, mail_id

# MIME deeper than this is not a real mail's: parts below it are not looked at.
MAX_DEPTH = 12
# Parts looked at, at most: bounds the work a hostile mail can cause.
MAX_PARTS = 500
# The reply splitter's regexes backtrack badly on long lines and long blank runs;
# it sees a bounded view (quote headers are short lines near the top).
SPLITTER_LINE_CAP = 200
SPLITTER_MAX_LINES = 2000
# The customer's languages the quote-header rules cover (mail-parser-reply's own).
REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pl", "sv", "da", "cs"]


class MailUnreadable(Exception):
    """The bytes are no mail the desk can answer; `reason` says why (for the SMTP reply)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class InboundMail:
    from_address: str
    from_name: str
    to_addresses: tuple[str, ...]
    cc_addresses: tuple[str, ...]
    delivered_to: tuple[str, ...]
    subject: str
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    date: datetime | None
    # "auto-replied", "auto-generated"... (RFC 3834), so the relay never answers a robot.
    auto_submitted: str | None
    content_type: str
    text: str
    reply_text: str
    attachments: tuple[MailAttachment, ...]
    raw: bytes = field(repr=False, default=b"")

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """The Message-IDs this mail answers, most direct first."""
        seen: list[str] = []
        for value in (*self.in_reply_to, *reversed(self.references)):
            if value not in seen:
                seen.append(value)
        return tuple(seen)


def read_mail(raw: bytes) -> InboundMail:
    """The mail in `raw`; raises MailUnreadable, and nothing else, for what is no mail."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise MailUnreadable("not bytes")
    raw = bytes(raw)
    if not raw.strip():
        raise MailUnreadable("empty message")
    message = parsed_message(raw)
    if not message.keys():
        raise MailUnreadable("no mail headers")
    from_name, from_address = _sender_of(message)
    if not from_address:
        raise MailUnreadable("no usable sender address")
    texts, htmls, attachments = _Walk().parts_of(message)
    if texts:
        text = "\n".join(texts)
    elif htmls:
        text = "\n".join(html_to_text(html) for html in htmls)
    else:
        text = ""
    text = _tidy(text)
    return InboundMail(
        from_address=from_address,
        from_name=from_name,
        to_addresses=_addresses(message, "To"),
        cc_addresses=_addresses(message, "Cc"),
        delivered_to=_addresses(message, "Delivered-To", "X-Original-To"),
        subject=header_text(message, "Subject"),
        message_id=next(iter(mail_ids_of(message, "Message-ID")), None),
        in_reply_to=mail_ids_of(message, "In-Reply-To"),
        references=mail_ids_of(message, "References"),
        date=_date_of(message),
        auto_submitted=header_text(message, "Auto-Submitted").lower() or None,
        content_type=content_type_of(message),
        text=text,
        reply_text=reply_text_of(text),
        attachments=tuple(attachments),
        raw=raw,
    )


def parsed_message(raw: bytes) -> Message:
    """compat32: it keeps going on broken MIME where the modern policy raises on access."""
    try:
        return BytesParser(policy=policy.compat32).parsebytes(raw)
    except RecursionError:
        # Absurdly nested multiparts: keep the headers and the body as text.
        return BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)


# --- text cleaning -------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean(text: str) -> str:
    """Readable text: undecodable bytes (surrogate-escaped) replaced, controls dropped."""
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        text = text.encode("utf-8", "replace").decode("utf-8", "replace")
    return _CONTROL.sub("", text)


def _tidy(text: str) -> str:
    text = _clean(text.replace("\r\n", "\n").replace("\r", "\n"))
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _decoded(data: bytes, charset: str | None) -> str:
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return data.decode(candidate, "replace")
        except (LookupError, ValueError, TypeError, UnicodeError):
            continue
    return data.decode("latin-1")


# --- headers ---------------------------------------------------------------------------


def raw_header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # the stdlib raises assorted errors on broken headers
        return ""
    return "" if value is None else _clean(str(value))


def _words(value: str) -> str:
    """RFC 2047 encoded words decoded; left as they are when they are broken."""
    try:
        decoded = str(make_header(decode_header(value)))
    except Exception:  # LookupError, UnicodeError, HeaderParseError, ValueError...
        decoded = value
    return " ".join(_clean(decoded).split())


def header_text(message: Message, name: str) -> str:
    return _words(raw_header(message, name))


_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.?[^@\s<>()\[\],;:\"]*")


def _usable(address: str) -> str | None:
    address = address.strip()
    if not _ADDRESS.fullmatch(address):
        return None
    local, _, domain = address.rpartition("@")
    if not local or not domain or domain.startswith(".") or ".." in domain:
        return None
    return f"{local}@{domain.lower().rstrip('.')}"


def _pairs(message: Message, *names: str) -> list[tuple[str, str]]:
    values = [raw_header(message, name) for name in names]
    try:
        return getaddresses([value for value in values if value])
    except Exception:  # older getaddresses raise on some malformed lists
        return []


def _addresses(message: Message, *names: str) -> tuple[str, ...]:
    found: list[str] = []
    for _, address in _pairs(message, *names):
        usable = _usable(address)
        if usable and usable not in found:
            found.append(usable)
    return tuple(found)


def _sender_of(message: Message) -> tuple[str, str]:
    """(name, address) from From, else Sender, else Return-Path."""
    for name in ("From", "Sender", "Return-Path"):
        for display, address in _pairs(message, name):
            usable = _usable(address)
            if usable:
                return _words(display), usable
    return "", ""


_ID = re.compile(r"<[^<>]*>")


def mail_ids_of(message: Message, name: str) -> tuple[str, ...]:
    value = raw_header(message, name)
    found: list[str] = []
    for candidate in _ID.findall(value) or [value]:
        canonical = mail_id(candidate)
        if canonical and canonical not in found:
            found.append(canonical)
    return tuple(found)


def _date_of(message: Message) -> datetime | None:
    value = raw_header(message, "Date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except Exception:  # ValueError, TypeError, IndexError, OverflowError on odd dates
        return None


def content_type_of(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


# --- MIME walk ------------------------------------------------------------------------


class _Walk:
    """The body texts and the files of a mail, within depth and part-count bounds."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.attachments: list[MailAttachment] = []
        self.seen = 0

    def parts_of(self, message: Message) -> tuple[list[str], list[str], list[MailAttachment]]:
        self._visit(message, 0)
        return self.texts, self.htmls, self.attachments

    def _visit(self, part: Message, depth: int) -> None:
        self.seen += 1
        if self.seen > MAX_PARTS or depth > MAX_DEPTH:
            return
        content_type = content_type_of(part)
        payload = payload_of(part)
        if isinstance(payload, list) and not content_type.startswith("message/"):
            for child in payload:
                if isinstance(child, Message):
                    self._visit(child, depth + 1)
            return
        filename = _filename(part)
        disposition = _disposition(part)
        if content_type.startswith("message/") or disposition == "attachment" or filename:
            self._attach(part, content_type, filename)
        elif content_type == "text/html":
            self.htmls.append(text_of_part(part))
        elif content_type.startswith("text/") or content_type.startswith("multipart/"):
            # text/plain, text/enriched, or a multipart whose boundary is missing: the body.
            self.texts.append(text_of_part(part))
        else:
            self._attach(part, content_type, filename)

    def _attach(self, part: Message, content_type: str, filename: str) -> None:
        data = bytes_of_part(part)
        if not filename:
            extension = mimetypes.guess_extension(content_type) or ".bin"
            if content_type == "message/rfc822":
                extension = ".eml"
            filename = f"attachment-{len(self.attachments) + 1}{extension}"
        self.attachments.append(MailAttachment(filename, content_type, data))


def payload_of(part: Message) -> object:
    try:
        return part.get_payload()
    except Exception:
        return None


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:  # broken RFC 2231 parameters
        name = ""
    name = _words(str(name)) if name else ""
    # A path in a filename is never honoured: keep the last component.
    return re.split(r"[\\/]", name)[-1].strip()[:200]


def _disposition(part: Message) -> str:
    try:
        return (part.get_content_disposition() or "").lower()
    except Exception:
        return ""


def bytes_of_part(part: Message) -> bytes:
    try:
        if content_type_of(part).startswith("message/"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner:
                return inner[0].as_bytes()
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    payload = payload_of(part)
    return _clean(payload).encode("utf-8") if isinstance(payload, str) else b""


def text_of_part(part: Message) -> str:
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return _decoded(bytes_of_part(part), charset)


# --- HTML to text ---------------------------------------------------------------------

_SKIPPED = {"script", "style", "head", "title", "noscript", "template", "svg", "object"}
_BLOCKS = {
    "p", "div", "br", "tr", "table", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "pre", "hr", "section", "article", "header", "footer", "blockquote", "dd", "dt", "address",
}  # fmt: skip
_PARAGRAPHS = {
    "p",
    "div",
    "table",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "hr",
}


class _TextOfHtml(HTMLParser):
    """HTML as the words a reader sees. Nothing is fetched: images become their alt text,
    links keep their address as text, scripts and styles are dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line: list[str] = []
        self.quote_depth = 0
        self.line_depth = 0
        self.skipping: list[str] = []
        self.pre = 0
        self.links: list[tuple[str, int]] = []

    def _break(self, *, empty_too: bool = False) -> None:
        """End the current line (an empty one only for <br>)."""
        text = "".join(self.line)
        text = text if self.pre else " ".join(text.split())
        if text or empty_too:
            prefix = "> " * self.line_depth
            self.lines.append(f"{prefix}{text}" if text else prefix.rstrip())
        self.line = []
        self.line_depth = self.quote_depth

    def _gap(self) -> None:
        """One blank line between paragraphs, never more."""
        self._break()
        if self.lines and self.lines[-1].strip("> "):
            self.lines.append(("> " * self.quote_depth).rstrip())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skipping.append(tag)
            return
        if self.skipping:
            return
        if tag == "br":
            self._break(empty_too=True)
        elif tag in _PARAGRAPHS:
            self._gap()
        elif tag in _BLOCKS:
            self._break()
        if tag == "blockquote":
            self.quote_depth += 1
            self.line_depth = self.quote_depth
        elif tag == "pre":
            self.pre += 1
        elif tag == "li":
            self.line.append("- ")
        elif tag == "img":
            alt = " ".join((dict(attrs).get("alt") or "").split())
            if alt:
                self.line.append(f"[{alt}]")
        elif tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            self.links.append((href, len("".join(self.line))))

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag == self.skipping[-1]:
                self.skipping.pop()
            return
        if tag == "a" and self.links:
            href, start = self.links.pop()
            shown = "".join(self.line)[start:].strip()
            address = href.removeprefix("mailto:")
            if re.match(r"(?i)(https?:|mailto:)", href) and address not in shown:
                self.line.append(f" ({address})")
        if tag == "blockquote":
            self._break()
            self.quote_depth = max(0, self.quote_depth - 1)
            self.line_depth = self.quote_depth
        elif tag == "pre":
            self._break()
            self.pre = max(0, self.pre - 1)
        if tag in _PARAGRAPHS:
            self._gap()
        elif tag in _BLOCKS and tag != "br":
            self._break()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.pre:
            for number, piece in enumerate(data.split("\n")):
                if number:
                    self._break()
                self.line.append(piece)
        else:
            self.line.append(data)

    def text(self) -> str:
        self._break()
        return "\n".join(self.lines)


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML mail body; never fetches or runs anything."""
    converter = _TextOfHtml()
    try:
        converter.feed(html)
        converter.close()
        return _tidy(converter.text())
    except Exception:  # the parser is lenient, but a last resort keeps the words
        return _tidy(re.sub(r"<[^>]*>", " ", html))


# --- the new part of a reply ----------------------------------------------------------

_SEPARATOR = re.compile(r"[_\-=]{20,}")
_SENT_FROM = re.compile(
    r"(?i)^(sent from my |sent from (outlook|mail|yahoo)|get outlook for |envoyé de mon |"
    r"von meinem .* gesendet)"
)


def _quote_header_line(text: str) -> int | None:
    """The line where the quoted history starts, by mail-parser-reply's header rules.

    It sees a bounded view of the text (lines stripped and capped, blank runs
    collapsed) because its regexes take seconds on hostile input; the view keeps
    each line's index in the real text.
    """
    lines = text.split("\n")
    view: list[str] = []
    index: list[int] = []
    for number, line in enumerate(lines[:SPLITTER_MAX_LINES]):
        shown = line.strip()[:SPLITTER_LINE_CAP]
        if _SEPARATOR.fullmatch(shown):
            shown = ""  # the splitter deletes these lines itself, which would shift indexes
        if not shown and view and not view[-1]:
            continue
        view.append(shown)
        index.append(number)
    splitter = ReplySplitter(text="\n".join(view), languages=list(REPLY_LANGUAGES))
    normalised = splitter.text
    found = splitter.HEADER_REGEX.search(normalised)
    if found is None:
        return None
    header = next((group for group in found.groups() if group), found.group())
    start = normalised.find(header.strip("\n"), found.start())
    if start < 0:
        return None
    view_line = normalised.count("\n", 0, start)
    return index[min(view_line, len(index) - 1)]


def _without_signature_and_quotes(lines: list[str]) -> list[str]:
    kept: list[str] = []
    for line in lines:
        stripped = line.strip()
        if line.rstrip() in ("--", "-- ") or _SENT_FROM.match(stripped):
            break  # RFC 3676 signature delimiter, or a phone's sign-off: the rest is signature
        if stripped.startswith(">"):
            continue
        kept.append(line)
    while kept and (not kept[-1].strip() or _SEPARATOR.fullmatch(kept[-1].strip())):
        kept.pop()
    return kept


def reply_text_of(text: str) -> str:
    """The customer's new words: quoted history and signature stripped.

    Rules, in order: the text before the first quote header ("On … wrote:",
    Outlook's From:/Sent: block, "-----Original Message-----", in the languages
    mail-parser-reply knows); then lines quoted with ">" dropped; then a signature
    cut at "-- " or "Sent from my …". A mail that starts with the quote header
    (bottom-posting) keeps its unquoted lines after it. If nothing is left, the
    whole text is kept: it is better to show too much than to lose the message.
    """
    if not text.strip():
        return ""
    try:
        header_line = _quote_header_line(text)
    except Exception:  # a splitter bug must not lose a customer's mail
        header_line = None
    lines = text.split("\n")
    new = lines if header_line is None else lines[:header_line]
    kept = _without_signature_and_quotes(new)
    if not any(line.strip() for line in kept) and header_line is not None:
        after = lines[header_line + 1 :]
        try:
            next_header = _quote_header_line("\n".join(after))
        except Exception:
            next_header = None
        kept = _without_signature_and_quotes(after if next_header is None else after[:next_header])
    result = _tidy("\n".join(kept))
    return result or text.strip()
