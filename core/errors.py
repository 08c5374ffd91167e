"""Twilio error codes, explained for the people who meet them.

Twilio reports failures as a number plus a terse developer message
("Attempt to send to unsubscribed recipient"). Agents and admins need to know
what happened in plain words and what to do next, so every code an SMS inbox
routinely meets is catalogued here with an explanation and an action. Titles
follow Twilio's Error and Warning Dictionary (https://www.twilio.com/docs/api/errors)
so they can be searched for; actions follow the Freshdesk Twilio SMS
troubleshooting guide this project is modelled on.

Pure data and a few small functions: no I/O, safe to import anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "CATALOG",
    "NO_RESPONSE",
    "TwilioError",
    "docs_url",
    "explain",
    "is_retryable",
]

DOCS_BASE = "https://www.twilio.com/docs/api/errors"

NO_RESPONSE = 0
"""The ``http_status`` to pass to :func:`is_retryable` when no HTTP response
arrived at all (connection refused, DNS failure, timeout)."""


@dataclass(frozen=True, slots=True)
class TwilioError:
    """One Twilio error code, in words an agent or admin can act on."""

    code: int
    title: str  # Twilio's own title, so it can be searched for
    explanation: str  # what happened, in plain words
    action: str  # what to do about it

    @property
    def docs_url(self) -> str:
        """Twilio's page for this code, for whoever wants the full story."""
        return docs_url(self.code)


def docs_url(code: int) -> str:
    """Where Twilio documents ``code``."""
    return f"{DOCS_BASE}/{code}"


_CONSOLE_KEYS = (
    "Twilio console > Account > Keys & Credentials > API keys & tokens > Live Credentials"
)
_GEO_PERMISSIONS = "Twilio console > Messaging > Settings > Geo permissions"
_A2P_REGISTRATION = "Twilio console > Messaging > Regulatory Compliance > A2P 10DLC"

_ENTRIES: tuple[TwilioError, ...] = (
    # -- account and credentials ------------------------------------------------
    TwilioError(
        10001,
        "Account is not active",
        "The Twilio account is suspended or closed, so Twilio refuses to send anything from it.",
        "An admin should log in to the Twilio console, check billing and any email from "
        "Twilio about the suspension, and contact Twilio support to reactivate the account.",
    ),
    TwilioError(
        20003,
        "Permission Denied",
        "Twilio rejected the Account SID and auth token smsdesk used, so it could not "
        "authenticate. The auth token may have been rotated or the SID mistyped.",
        f"An admin should copy the Account SID and auth token from {_CONSOLE_KEYS} and "
        "reconnect the account in smsdesk.",
    ),
    TwilioError(
        20404,
        "Not Found",
        "Twilio has no record of what smsdesk asked about: the phone number, message or "
        "media may have been released, deleted, or belong to another Twilio account.",
        "An admin should check that the number still exists in the connected Twilio account "
        "(Phone Numbers > Manage > Active numbers) and that the Account SID is the right one.",
    ),
    TwilioError(
        20429,
        "Too Many Requests",
        "smsdesk sent Twilio more API requests than it allows at once, so Twilio asked it "
        "to slow down. Nothing is wrong with the message itself.",
        "No action needed: smsdesk waits and retries automatically. If it keeps happening, "
        "send large batches more slowly.",
    ),
    TwilioError(
        11200,
        "HTTP retrieval failure",
        "Twilio tried to reach smsdesk (to deliver an incoming message, a status update or "
        "to fetch an attachment) and got no usable answer.",
        "An admin should check that the smsdesk relay is running, reachable from the internet "
        "at the public URL configured in Twilio, serves valid HTTPS and answers within 15 "
        "seconds. Twilio's Debugger (Monitor > Logs > Errors) shows the failing URL.",
    ),
    TwilioError(
        12300,
        "Invalid Content-Type",
        "Twilio could not use a file or webhook answer because its Content-Type is one it "
        "does not accept.",
        "Send attachments in a type Twilio accepts for MMS (images such as JPEG, PNG or GIF, "
        "common audio and video, vCard, PDF), or share a link to the file instead.",
    ),
    TwilioError(
        11751,
        "Media exceeds messaging provider size limit",
        "The attachments of this MMS come to more than the carrier takes in one message "
        "(Twilio's limit is 5 MB in all), so Twilio did not send it.",
        "Send fewer or smaller files (shrink photos, or send a PDF as a link), in several "
        "messages if need be.",
    ),
    TwilioError(
        14107,
        "SMS send rate limit exceeded",
        "More than 30 replies went between the same two numbers within 30 seconds, which "
        "usually means an auto-reply loop. Twilio fails further messages for 30 seconds.",
        "Wait 30 seconds before sending again, and check that no automation or auto-reply "
        "is answering the customer's auto-replies.",
    ),
    # -- the request itself -------------------------------------------------------
    TwilioError(
        21211,
        "Invalid 'To' Phone Number",
        "The customer's number is not a valid phone number, or is not written in E.164 "
        "format (a plus sign, the country code, then the number, e.g. +12025550123).",
        "Correct the contact's phone number, including the country code, and send again.",
    ),
    TwilioError(
        21408,
        "Permission to send an SMS or MMS has not been enabled for the region indicated by "
        "the 'To' number",
        "The Twilio account is not allowed to send messages to the customer's country. "
        "Twilio blocks countries that are not ticked in the account's geo permissions.",
        f"An admin should enable the destination country in {_GEO_PERMISSIONS} and save. "
        "Most countries are enabled by default; check this when messages to one country fail.",
    ),
    TwilioError(
        21602,
        "Message body is required",
        "The message had no text (and no attachment), so there was nothing to send.",
        "Type a reply, or attach a file from an MMS-enabled number, and send again.",
    ),
    TwilioError(
        21603,
        "'From' phone number is required",
        "smsdesk did not tell Twilio which number to send from.",
        "Pick the number to reply from; an admin should check that the ticket's number is "
        "still connected in smsdesk.",
    ),
    TwilioError(
        21604,
        "'To' phone number is required",
        "The message had no destination number.",
        "Add a phone number to the contact, in E.164 format (e.g. +12025550123).",
    ),
    TwilioError(
        21606,
        "The 'From' phone number provided is not a valid message-capable Twilio phone "
        "number for this destination/account",
        "The number replying cannot send SMS to the customer's country: it is not "
        "SMS-capable, or Twilio does not support that route.",
        "Reply from a number that can message this country (often a local number there), "
        "and check the number's SMS capability in the Twilio console.",
    ),
    TwilioError(
        21608,
        "The 'To' phone number provided is not yet verified for this account",
        "The Twilio account is a trial account, and trial accounts can only send messages "
        "to verified caller IDs.",
        "An admin should verify the customer's number in Twilio console > Phone Numbers > "
        "Manage > Verified Caller IDs, or upgrade the Twilio account to remove the limit.",
    ),
    TwilioError(
        21610,
        "Attempt to send to unsubscribed recipient",
        "The customer replied STOP (or another opt-out keyword) to this number, so Twilio "
        "will not deliver messages to them.",
        "Do not message this customer by SMS. They must text START to the number to opt back "
        "in; until then, reach them another way, such as email.",
    ),
    TwilioError(
        21611,
        "This 'From' number has exceeded the maximum number of queued messages",
        "The number replying has more than 10 hours' worth of messages waiting to go out, "
        "so Twilio refuses to queue more.",
        "Wait for the queue to drain before sending more, and send large batches more slowly "
        "or from more numbers.",
    ),
    TwilioError(
        21612,
        "Message cannot be sent with the current combination of 'To' and/or 'From' parameters",
        "Twilio cannot route a message from this sender to this customer. A common cause: "
        "Alphanumeric Sender IDs cannot send to US or Canadian numbers.",
        "Reply from a phone number (long code, toll-free or short code) that can reach the "
        "customer's country.",
    ),
    TwilioError(
        21614,
        "'To' number is not a valid mobile number",
        "The customer's number cannot receive text messages, usually because it is a landline.",
        "Call the customer instead, or ask them for a mobile number.",
    ),
    TwilioError(
        21617,
        "The concatenated message body exceeds the 1600 character limit",
        "The reply is longer than 1,600 characters, the most Twilio sends in one message.",
        "Shorten the reply to 1,600 characters or fewer, or split it into several replies.",
    ),
    TwilioError(
        21619,
        "A Message Body, Media URL or Content SID is required",
        "The message had neither text nor attachments, so there was nothing to send.",
        "Type a reply or add an attachment, then send again.",
    ),
    TwilioError(
        21620,
        "Invalid media URL(s)",
        "Twilio could not use the link smsdesk gave it for an attachment, because the link "
        "is malformed (for example it lacks http:// or https://).",
        "An admin should check smsdesk's public URL setting: it must be a full https:// "
        "address that Twilio can reach.",
    ),
    TwilioError(
        21623,
        "Number of media files exceeds allowed limit",
        "The message had more than 10 attachments; Twilio accepts at most 10 per message.",
        "Remove attachments until there are 10 or fewer, or send the rest in another reply.",
    ),
    TwilioError(
        21660,
        "Mismatch between the 'From' number and the account",
        "The number replying belongs to a different Twilio account (or subaccount) than the "
        "one smsdesk signed in with, often after the number was moved.",
        "An admin should reconnect the Twilio account that owns the number, or remove the "
        "number from smsdesk and add it under the right account.",
    ),
    # -- delivery ---------------------------------------------------------------------
    TwilioError(
        30001,
        "Queue overflow",
        "Too many messages were waiting to go out from this sender, so this one expired "
        "in Twilio's queue before it could be sent.",
        "Send the reply again in a few minutes, and send large batches more slowly.",
    ),
    TwilioError(
        30002,
        "Account suspended",
        "The Twilio account was suspended (for example for lack of funds or a policy "
        "review) after the message was queued, so it was never sent.",
        "An admin should check the account's balance and billing and any email from "
        "Twilio, add credit or contact Twilio support, then resend.",
    ),
    TwilioError(
        30003,
        "Unreachable destination handset",
        "The customer's phone could not be reached: it may be switched off, out of signal, "
        "roaming abroad, or unable to receive texts.",
        "Try again later, or reach the customer another way.",
    ),
    TwilioError(
        30004,
        "Message blocked",
        "The customer's carrier or phone blocked the message, for example because the "
        "customer blocked this number or opted out with their carrier.",
        "Ask the customer, through another channel, to unblock the number or text START, "
        "then resend.",
    ),
    TwilioError(
        30005,
        "Unknown destination handset",
        "The customer's number does not exist or is no longer in service.",
        "Check the number with the customer and correct the contact.",
    ),
    TwilioError(
        30006,
        "Landline or unreachable carrier",
        "The customer's number is a landline or its carrier cannot receive text messages.",
        "Call the customer instead, or ask them for a mobile number.",
    ),
    TwilioError(
        30007,
        "Message filtered",
        "The carrier filtered the message as possible spam or fraud.",
        "Rephrase the reply (avoid link shorteners and spam-like wording) and make sure the "
        "sending number is registered (A2P 10DLC or toll-free verification) before resending.",
    ),
    TwilioError(
        30008,
        "Unknown error",
        "The carrier rejected the message without saying why.",
        "Resend once. If it keeps failing, contact Twilio support with the message SIDs.",
    ),
    TwilioError(
        30009,
        "Missing inbound segment",
        "A long message travels as several segments and one of them never arrived.",
        "Resend, or shorten the reply so it fits in fewer segments.",
    ),
    TwilioError(
        30010,
        "Message price exceeds max price",
        "Sending would cost more than the maximum price allowed for this message.",
        "An admin should raise or remove the maximum price setting, then resend.",
    ),
    TwilioError(
        30011,
        "MMS not supported by the receiving phone number in this region",
        "The customer's phone or carrier cannot receive MMS, so the attachment could not be "
        "delivered. Customers need an MMS-capable number to receive media.",
        "Send a text-only reply instead, for example with a link to the file.",
    ),
    TwilioError(
        30019,
        "Content size exceeds carrier limit",
        "The message or its attachments were larger than the customer's carrier accepts.",
        "Shorten the reply or send smaller attachments (images are the safest), then resend.",
    ),
    TwilioError(
        30022,
        "US A2P 10DLC - Rate Limits Exceeded",
        "US carriers rejected the message because the number's A2P 10DLC campaign sent "
        "faster than its allowed rate.",
        "Wait a little and resend; send large batches more slowly.",
    ),
    TwilioError(
        30023,
        "US A2P 10DLC - Daily Message Cap Reached",
        "The business has sent as many messages today as its A2P 10DLC registration allows.",
        "Wait until the cap resets tomorrow, or ask an admin to request a higher limit "
        "through the A2P 10DLC registration.",
    ),
    TwilioError(
        30024,
        "Numeric Sender ID Not Provisioned on Carrier",
        "The customer's carrier has not yet been set up to accept messages from this number "
        "(for example, just after A2P 10DLC registration).",
        "Wait for the carrier to finish provisioning and resend. If it persists, contact "
        "Twilio support with three or more failed message SIDs.",
    ),
    TwilioError(
        30032,
        "Toll-Free Number Has Not Been Verified",
        "Unverified toll-free numbers cannot send messages to the US and Canada.",
        "An admin should submit toll-free verification in Twilio console > Messaging > "
        "Regulatory Compliance > Toll-Free Verifications, or reply from a registered number.",
    ),
    TwilioError(
        30033,
        "US A2P 10DLC - Campaign Suspended",
        "The A2P 10DLC campaign this number is registered under is suspended, so US carriers "
        "block its messages.",
        f"An admin should check the campaign status in {_A2P_REGISTRATION} and follow "
        "Twilio's suspension notice; meanwhile reply from a toll-free number.",
    ),
    TwilioError(
        30034,
        "US A2P 10DLC - Message from an Unregistered Number",
        "US carriers block messages to US numbers from 10-digit long codes that are not "
        "registered for A2P 10DLC, and this number is not registered.",
        f"An admin should register the number for A2P 10DLC in {_A2P_REGISTRATION}, or reply "
        "from a toll-free number, which does not need 10DLC registration.",
    ),
    TwilioError(
        30035,
        "US A2P 10DLC - Message from a Number Still Being Configured",
        "The number's A2P 10DLC registration is approved but the carriers have not finished "
        "setting it up yet.",
        "Wait for registration to complete (usually within a day) and resend; do not remove "
        "and re-add the number, which restarts the process. Reply from a toll-free number "
        "meanwhile.",
    ),
    TwilioError(
        30036,
        "Validity Period Expired",
        "The message waited in Twilio's queue longer than its validity period, so Twilio "
        "dropped it instead of delivering it late.",
        "Resend it. If it keeps happening, send large batches more slowly.",
    ),
    TwilioError(
        30037,
        "Outbound Messaging Disabled",
        "Sending messages has been disabled for this Twilio account.",
        "An admin should contact Twilio support to find out why and re-enable it.",
    ),
    TwilioError(
        30450,
        "Message delivery blocked",
        "Twilio's SMS Pumping Protection flagged traffic to this number as suspicious and "
        "blocked it for a short while (usually 15 to 30 minutes).",
        "Wait 30 minutes and resend. If a genuine customer keeps being blocked, an admin can "
        "add the number to Twilio's Global Safe List or contact Twilio support.",
    ),
)

CATALOG: Mapping[int, TwilioError] = MappingProxyType({e.code: e for e in _ENTRIES})
"""Every Twilio code smsdesk can explain, by code. Read-only."""


def explain(code: int | None, twilio_message: str | None = None) -> TwilioError:
    """What ``code`` means and what to do, falling back on Twilio's own words.

    Twilio has thousands of codes; for the ones we have not catalogued, its own
    message is still better than nothing, and its docs page has the rest.
    """
    if code is None:
        return _without_code(twilio_message)
    return CATALOG.get(code) or _uncatalogued(code, twilio_message)


def _uncatalogued(code: int, twilio_message: str | None) -> TwilioError:
    """A code we do not know: repeat Twilio's message and point at its docs."""
    return TwilioError(
        code=code,
        title=f"Twilio error {code}",
        explanation=_or_generic(twilio_message, f"Twilio reported error {code}."),
        action=f"See {docs_url(code)} for causes and fixes.",
    )


def _without_code(twilio_message: str | None) -> TwilioError:
    """A failure Twilio gave no code for (code 0): say what little we know."""
    return TwilioError(
        code=0,
        title="Sending failed",
        explanation=_or_generic(twilio_message, "The message failed without a Twilio error code."),
        action="Try again. If it keeps failing, an admin should check Twilio's Debugger "
        "(Monitor > Logs > Errors) and status.twilio.com.",
    )


def _or_generic(twilio_message: str | None, generic: str) -> str:
    """Twilio's message when it said something, else our generic sentence."""
    return twilio_message.strip() if twilio_message and twilio_message.strip() else generic


_RETRYABLE_CODES = frozenset({20429})


def is_retryable(http_status: int, code: int | None) -> bool:
    """Whether the outbox should try a failed send again later.

    Rate limiting (HTTP 429, Twilio 20429), Twilio's own outages (5xx) and
    network failures (no response: pass :data:`NO_RESPONSE`) are transient.
    Any other 4xx means the request itself is wrong; sending it again would
    fail the same way, and could annoy a customer who opted out.
    """
    if code in _RETRYABLE_CODES or http_status == 429:
        return True
    return _no_response(http_status) or _server_error(http_status)


def _no_response(http_status: int) -> bool:
    """No HTTP status at all means the network, not Twilio, failed."""
    return http_status < 100


def _server_error(http_status: int) -> bool:
    return 500 <= http_status <= 599
