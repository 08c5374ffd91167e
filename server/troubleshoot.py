"""The admin's checklist: why texts may not arrive or leave, and what to do about it.

Follows the troubleshooting steps of the Freshdesk Twilio SMS guide (account
connected and active, credit, number active, webhooks, UK and US carrier
rules, delivery failures), and checks before anything fails what would: the
customers' countries against the account's geo-permissions, and texts that
arrived on a number out of service (held, not lost).

The judging is pure: :func:`judge` takes the facts (:class:`DeskFacts`) and
returns the checks, so every rule is tested without a network.
:func:`gather_facts` is the thin layer that asks Twilio, the relay's own
``/healthz`` and the store.
"""

from __future__ import annotations

import asyncio
import ipaddress
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Protocol
from urllib.parse import SplitResult, urlsplit

from core import queries, writes
from core.country_names import COUNTRY_NAMES
from core.db import Conn
from core.errors import explain
from core.held import held_texts
from core.models import Account, HeldText, PhoneNumber, SenderType, now_ms
from core.store import Store
from core.writes import WriteContext
from server import twilio_api
from server.twilio_api import AccountInfo, BalanceInfo, NumberInfo

LOW_BALANCE = Decimal("5")
FAILURE_WINDOW_MS = 7 * 24 * 3600 * 1000
HEALTH_TIMEOUT_SECONDS = 3.0
_A2P = "Twilio console > Messaging > Regulatory Compliance > A2P 10DLC"
_TOLL_FREE = "Twilio console > Messaging > Regulatory Compliance > Toll-Free Verifications"


class Level(StrEnum):
    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    PROBLEM = "problem"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist; ``action`` names what the inbox can do about it."""

    scope: str  # relay | account | number
    subject: str
    account_id: int | None
    number_id: int | None
    check: str
    title: str
    level: Level
    detail: str = ""
    fix: str = ""
    action: str | None = None  # "repoint", "open_held": the relay can fix it itself


@dataclass(frozen=True, slots=True)
class Reachability:
    ok: bool
    detail: str  # "HTTP 200", or what went wrong


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What Twilio and the store say about one connected account."""

    account: Account
    numbers: tuple[PhoneNumber, ...] = ()  # as stored
    info: AccountInfo | None = None  # None: Twilio could not be asked, or refused
    error: str = ""  # why ``info`` is None, in words
    balance: BalanceInfo | None = None
    remote_numbers: tuple[NumberInfo, ...] | None = None  # None: could not be listed
    failures: tuple[tuple[int, int], ...] = ()  # (error code, messages), most first
    # Countries the account's customers are in (contacts with tickets on its numbers), with
    # how many customers each, most first
    destinations: tuple[tuple[str, int], ...] = ()
    held: dict[int, tuple[HeldText, ...]] = field(default_factory=dict)  # by number id
    verified: tuple[str, ...] | None = None  # a Trial account's verified caller IDs, fetched


@dataclass(frozen=True, slots=True)
class DeskFacts:
    public_url: str
    reachable: Reachability | None
    accounts: tuple[AccountFacts, ...] = field(default_factory=tuple)


# --- judging (pure) -------------------------------------------------------------------


def judge(facts: DeskFacts) -> list[Check]:
    """Every check, relay first, then each account followed by its numbers."""
    checks = list(relay_checks(facts.public_url, facts.reachable))
    for account in facts.accounts:
        checks.extend(account_checks(account))
        for number in account.numbers:
            checks.extend(number_checks(number, account, facts.public_url))
    return checks


def relay_checks(public_url: str, reachable: Reachability | None) -> Iterator[Check]:
    def check(name: str, title: str, level: Level, detail: str = "", fix: str = "") -> Check:
        return Check("relay", public_url or "relay", None, None, name, title, level, detail, fix)

    if not public_url:
        yield check("public_url", "No public URL is set", Level.PROBLEM,
                    "Twilio needs an address to send customers' texts to.",
                    "Restart the relay with `smsdesk relay --public-url https://...`.")
        return
    parts = urlsplit(public_url)
    yield check("public_url", "Public URL is set", Level.OK, public_url)
    if parts.scheme == "https":
        yield check("https", "Public URL uses HTTPS", Level.OK)
    else:
        yield check("https", "Public URL is not HTTPS", Level.WARNING,
                    "Customers' texts would cross the internet unencrypted.",
                    "Put the relay behind a TLS proxy (Caddy, nginx) or a tunnel and restart it"
                    " with the https:// URL as --public-url.")
    host = parts.hostname or ""
    if is_private_host(host):
        yield check("public_address", "Public URL is not reachable from the internet",
                    Level.PROBLEM, f"{host} is a loopback or private address, as in the local"
                    " setup of the README: fine for the simulator, but Twilio sends its"
                    " webhooks from the internet and cannot open an address on this machine"
                    " or network, so no customer text will arrive from real Twilio.",
                    f"Run a tunnel to the relay (`cloudflared tunnel --url {_origin(parts)}` or"
                    f" `ngrok http {parts.port or 80}`), restart the relay with the tunnel's"
                    " https:// address as --public-url, then repoint all numbers (R). See"
                    f" {_TUNNEL_DOC}.")
    else:
        yield check("public_address", "Public URL has a public address", Level.OK, host)
    if reachable is None:
        return
    if reachable.ok:
        yield check("reachable", "Relay answers at its public URL", Level.OK,
                    f"{public_url}/healthz answered ({reachable.detail}) from this machine;"
                    " Twilio reaches it from the internet, which this cannot test.")
    else:
        yield check("reachable", "Relay does not answer at its public URL", Level.PROBLEM,
                    f"{public_url}/healthz: {reachable.detail}.",
                    "Check the proxy or tunnel in front of the relay and that the URL is"
                    " the relay's.")


_TUNNEL_DOC = 'docs/operations.md, "Through a tunnel (trying it out)"'


def _origin(parts: SplitResult) -> str:
    return f"{parts.scheme or 'http'}://{parts.netloc}"


def is_private_host(host: str) -> bool:
    """Whether Twilio, on the internet, certainly cannot reach ``host``."""
    if host in ("localhost", "") or host.endswith(".localhost") or host.endswith(".local"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False  # a name: only DNS knows, and Twilio's DNS may differ from ours
    return address.is_private or address.is_loopback or address.is_link_local


def account_checks(facts: AccountFacts) -> Iterator[Check]:
    account = facts.account
    subject = f"{account.name} ({account.sid})"

    def check(name: str, title: str, level: Level, detail: str = "", fix: str = "") -> Check:
        return Check("account", subject, account.id, None, name, title, level, detail, fix)

    if not account.connected:
        yield check("connected", "Disconnected", Level.INFO,
                    "Its numbers do not send; its history is kept.",
                    "Connect it again from the accounts screen to use it.")
        return
    if facts.info is None:
        refused = "20003" in facts.error
        yield check("credentials", "Twilio refused the credentials" if refused
                    else "Twilio could not be asked about this account", Level.PROBLEM,
                    facts.error,
                    f"Rotate the auth token on the accounts screen: copy it from"
                    f" {twilio_api.CONSOLE_KEYS}." if refused
                    else "Check this machine's internet connection and status.twilio.com.")
    else:
        yield check("credentials", "Twilio accepts the Account SID and auth token", Level.OK)
        yield from _status_checks(facts.info, check)
        yield from _balance_checks(facts.balance, check)
    yield from _geo_checks(account, facts.destinations, check)
    yield from _failure_checks(facts.failures, check)


def _geo_checks(account: Account, destinations: Sequence[tuple[str, int]],
                check: _Maker) -> Iterator[Check]:
    """Customers in countries the account may not text: replies to them fail with 21408."""
    where = "Twilio console > Messaging > Settings > Geo permissions"
    if not destinations:
        return
    if not account.geo_permissions:
        yield check("geo", "Geo-permissions not recorded", Level.INFO,
                    "smsdesk cannot tell which countries Twilio lets this account text;"
                    " customers are in " + _countries(destinations) + ".",
                    f"Copy the countries enabled in {where} to the account (key g).")
        return
    allowed = {code.upper() for code in account.geo_permissions}
    missing = [(code, n) for code, n in destinations if code not in allowed]
    if not missing:
        yield check("geo", "Every customer's country is enabled", Level.OK,
                    _countries(destinations))
        return
    error = explain(21408)
    yield check("geo", f"Not enabled for {_countries(missing)}", Level.PROBLEM,
                f"{error.explanation} Replies to these customers will fail with 21408.",
                f"Enable the countries in {where}, then add them to the account (key g).")


def _countries(found: Sequence[tuple[str, int]]) -> str:
    def one(code: str, n: int) -> str:
        people = "customer" if n == 1 else "customers"
        return f"{COUNTRY_NAMES.get(code, code)} ({code}, {n} {people})"
    return ", ".join(one(code, n) for code, n in found)


def _status_checks(info: AccountInfo, check: _Maker) -> Iterator[Check]:
    if info.status == "active":
        yield check("active", "Account is active", Level.OK)
    else:
        error = explain(10001)
        yield check("active", f"Account is {info.status}", Level.PROBLEM,
                    twilio_api.inactive_words(info.status), error.action)
    if info.type == "Trial":
        yield check("trial", "Trial account", Level.WARNING, twilio_api.TRIAL_LIMITS + ".",
                    "Upgrade the account in the Twilio console (Billing) to text any number.")


def _balance_checks(balance: BalanceInfo | None, check: _Maker) -> Iterator[Check]:
    if balance is None:
        yield check("balance", "Balance unknown", Level.INFO, "Twilio did not say the balance.")
        return
    shown = f"{balance.balance} {balance.currency}".strip()
    try:
        amount = Decimal(balance.balance)
    except InvalidOperation:
        yield check("balance", f"Balance {shown}", Level.INFO)
        return
    if amount < LOW_BALANCE:
        yield check("balance", f"Low balance: {shown}", Level.WARNING,
                    "Twilio stops sending when the credit runs out.",
                    "Add funds in Twilio console > Billing, or turn on auto-recharge.")
    else:
        yield check("balance", f"Balance {shown}", Level.OK)


def _failure_checks(failures: Sequence[tuple[int, int]], check: _Maker) -> Iterator[Check]:
    if not failures:
        yield check("failures", "No failed messages in the last 7 days", Level.OK)
        return
    for code, count in failures:
        error = explain(code)
        plural = "message" if count == 1 else "messages"
        yield check(f"failures:{code}", f"{count} {plural} failed with {code}: {error.title}",
                    Level.WARNING, error.explanation, error.action)


def number_checks(number: PhoneNumber, facts: AccountFacts, public_url: str) -> Iterator[Check]:
    named = number.friendly_name and number.friendly_name != number.e164
    subject = f"{number.e164} ({number.friendly_name})" if named else number.e164

    def check(name: str, title: str, level: Level, detail: str = "", fix: str = "",
              action: str | None = None) -> Check:
        return Check("number", subject, number.account_id, number.id, name, title, level,
                     detail, fix, action)

    if facts.account.connected:
        yield from _remote_checks(number, facts, public_url, check)
    if not number.enabled:
        yield check("enabled", "Turned off in smsdesk", Level.INFO,
                    "Agents cannot reply from it.", "Turn it on in the numbers screen.")
    yield from _held_checks(number, facts.held.get(number.id, ()), check)
    if number.mms:
        yield check("mms", "SMS and MMS", Level.OK, "Agents can send pictures and files.")
    else:
        yield check("mms", "SMS only", Level.INFO,
                    "Agents can send text only; attachments are refused from this number.")
    yield from _uk_checks(number, check)
    yield from _us_checks(number, check)


def _remote_checks(number: PhoneNumber, facts: AccountFacts, public_url: str,
                   check: _NumberMaker) -> Iterator[Check]:
    if facts.remote_numbers is None:
        return  # the account's own check already says Twilio could not be asked
    remote = next((r for r in facts.remote_numbers
                   if r.sid == number.sid or r.phone_number == number.e164), None)
    if remote is None:
        yield check("active", "Not found on Twilio", Level.PROBLEM,
                    f"{number.e164} is not among the account's SMS-capable numbers: it may"
                    " have been released, moved to another account, or lost SMS.",
                    "Check Twilio console > Phone Numbers > Active numbers.")
        return
    if remote.status not in ("in-use", "active"):
        yield check("active", f"Number is {remote.status}", Level.PROBLEM,
                    "Twilio does not route texts for a number that is not active.",
                    "Check the number in Twilio console > Phone Numbers > Active numbers.")
    else:
        yield check("active", "Number is active", Level.OK)
    sms_url, status_callback = twilio_api.webhook_urls(public_url)
    wrong = [f"{label} is {value or '(empty)'}" for label, value, wanted in (
        ("SmsUrl", remote.sms_url, sms_url),
        ("StatusCallback", remote.status_callback, status_callback)) if value != wanted]
    if wrong:
        lost = (" Customers' texts to this number do not reach smsdesk."
                if remote.sms_url != sms_url else "")
        yield check("webhooks", "Webhooks do not point at this relay", Level.PROBLEM,
                    "; ".join(wrong) + f" (this relay needs {sms_url} and {status_callback})."
                    + lost,
                    "Repoint the number: smsdesk sets both URLs through Twilio.", "repoint")
    else:
        yield check("webhooks", "Webhooks point at this relay", Level.OK, sms_url)


def _held_checks(number: PhoneNumber, held: Sequence[HeldText],
                 check: _NumberMaker) -> Iterator[Check]:
    """Texts that arrived while the number was out of service: kept, waiting for an admin."""
    if not held:
        return
    reasons = {text.reason for text in held}
    after = ("after its account was disconnected" if reasons == {"disconnected"}
             else "after it was disabled" if reasons == {"disabled"}
             else "while it was disabled or its account disconnected")
    plural = "text" if len(held) == 1 else "texts"
    shown = "; ".join(f"{text.from_phone}: {_preview(text.body)}" for text in held[:3])
    more = f"; and {len(held) - 3} more" if len(held) > 3 else ""
    yield check("held", f"{len(held)} {plural} arrived on {number.e164} {after}",
                Level.WARNING, f"Kept, not opened as tickets: {shown}{more}.",
                "Open them as tickets from here; to stop more arriving, point the number"
                " elsewhere in Twilio.", "open_held")


def _preview(body: str, width: int = 40) -> str:
    flat = " ".join(body.split())
    return repr(flat if len(flat) <= width else flat[:width - 1] + "…")


def _uk_checks(number: PhoneNumber, check: _NumberMaker) -> Iterator[Check]:
    if number.sender_type is SenderType.ALPHANUMERIC or number.country == "GB":
        yield check("uk", "Can text UK mobiles", Level.OK)
    elif number.sender_type is SenderType.LONG_CODE:
        yield check("uk", "Cannot text UK mobiles", Level.INFO,
                    "UK networks have blocked messages from international long codes to UK"
                    f" mobile numbers since 1 June 2023, and {number.e164} is a"
                    f" {number.country or 'non-UK'} long code.", _UK_FIX)
    else:
        yield check("uk", "Cannot text UK mobiles", Level.INFO,
                    f"{number.e164} is a {number.sender_type.value.replace('_', '-')} number"
                    " outside the UK; UK mobiles take texts from UK numbers and Alphanumeric"
                    " Sender IDs.", _UK_FIX)


_UK_FIX = ("For UK customers, connect a UK long code, an Alphanumeric Sender ID or a UK short"
           " code.")


def _us_checks(number: PhoneNumber, check: _NumberMaker) -> Iterator[Check]:
    if number.country != "US":
        return
    if number.sender_type is SenderType.LONG_CODE:
        if number.a2p_registered:
            yield check("a2p_10dlc", "Registered for A2P 10DLC", Level.OK)
            return
        error = explain(30034)
        yield check("a2p_10dlc", "US long code not registered for A2P 10DLC", Level.PROBLEM,
                    f"{error.explanation} Its texts to US numbers fail with 30034.",
                    f"Register it in {_A2P}, then mark it registered in the numbers screen;"
                    " meanwhile reply from a toll-free number.")
    elif number.sender_type is SenderType.TOLL_FREE:
        yield check("toll_free", "US toll-free: check its verification", Level.INFO,
                    f"{explain(30032).explanation} Twilio refuses them with error 30032.",
                    f"If not done yet, submit toll-free verification in {_TOLL_FREE}.")


class _Maker(Protocol):  # the local ``check`` builders, which fill in the subject
    def __call__(self, name: str, title: str, level: Level, detail: str = "",
                 fix: str = "") -> Check: ...


class _NumberMaker(Protocol):
    def __call__(self, name: str, title: str, level: Level, detail: str = "", fix: str = "",
                 action: str | None = None) -> Check: ...


# --- gathering (I/O) ------------------------------------------------------------------


def recent_failures(conn: Conn, since: int) -> dict[int, list[tuple[int, int]]]:
    """Failed replies since ``since`` (ms), counted by account and error code, most first."""
    rows = conn.execute(
        "SELECT p.account_id, e.error_code, count(*) AS n FROM entries e"
        " JOIN tickets t ON t.id = e.ticket_id JOIN phone_numbers p ON p.id = t.number_id"
        " WHERE e.kind = 'message' AND e.direction = 'outbound' AND e.error_code IS NOT NULL"
        " AND e.updated_at >= ? GROUP BY p.account_id, e.error_code ORDER BY n DESC, 2",
        (since,),
    )
    found: dict[int, list[tuple[int, int]]] = {}
    for account_id, code, count in rows:
        found.setdefault(account_id, []).append((code, count))
    return found


def customer_countries(conn: Conn) -> dict[int, list[tuple[str, int]]]:
    """By account: the countries of the customers with tickets on its numbers, most first."""
    rows = conn.execute(
        "SELECT DISTINCT p.account_id, c.phone FROM tickets t"
        " JOIN contacts c ON c.id = t.contact_id JOIN phone_numbers p ON p.id = t.number_id"
        " WHERE t.deleted = 0")
    counts: dict[int, dict[str, int]] = {}
    for account_id, phone in rows:
        code = twilio_api.country_of(phone)
        if code:
            per = counts.setdefault(account_id, {})
            per[code] = per.get(code, 0) + 1
    return {account_id: sorted(per.items(), key=lambda item: (-item[1], item[0]))
            for account_id, per in counts.items()}


def probe(url: str, timeout: float = HEALTH_TIMEOUT_SECONDS) -> Reachability:
    """GET ``url`` the way anyone on the network would (blocking: run it in a thread)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return Reachability(response.status == 200, f"HTTP {response.status}")
    except urllib.error.HTTPError as error:
        return Reachability(False, f"HTTP {error.code}")
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return Reachability(False, f"no answer ({reason})")


async def _ask_twilio(facts: AccountFacts) -> AccountFacts:
    account = facts.account
    if not account.connected:
        return facts
    sid, token = account.sid, account.auth_token
    try:
        info = await asyncio.to_thread(twilio_api.fetch_account, sid, token)
        remote = await asyncio.to_thread(twilio_api.list_sms_numbers, sid, token)
    except (twilio_api.TwilioRestException, *twilio_api.NETWORK_ERRORS) as error:
        return replace(facts, error=twilio_api.refusal_words(error))
    try:
        balance: BalanceInfo | None = await asyncio.to_thread(twilio_api.fetch_balance, sid,
                                                              token)
    except (twilio_api.TwilioRestException, *twilio_api.NETWORK_ERRORS):
        balance = None
    verified: tuple[str, ...] | None = None
    if info.type == "Trial":
        try:
            verified = tuple(await asyncio.to_thread(twilio_api.verified_caller_ids, sid, token))
        except (twilio_api.TwilioRestException, *twilio_api.NETWORK_ERRORS):
            verified = None
    return replace(facts, info=info, balance=balance, remote_numbers=tuple(remote),
                   verified=verified)


async def gather_facts(store: Store, public_url: str) -> DeskFacts:
    """Ask the store, the relay's public URL and Twilio (every account at once)."""
    since = now_ms() - FAILURE_WINDOW_MS
    accounts = await store.read(queries.accounts)
    numbers = await store.read(queries.numbers)
    failures = await store.read(recent_failures, since)
    countries = await store.read(customer_countries)
    kept = await store.read(held_texts)
    reaching = (asyncio.to_thread(probe, public_url.rstrip("/") + "/healthz")
                if public_url else asyncio.sleep(0, None))
    asked = asyncio.gather(*(
        _ask_twilio(AccountFacts(
            account, tuple(n for n in numbers if n.account_id == account.id),
            failures=tuple(failures.get(account.id, ())),
            destinations=tuple(countries.get(account.id, ())),
            held={n.id: tuple(kept[n.id]) for n in numbers
                  if n.account_id == account.id and n.id in kept}))
        for account in accounts
    ))
    reachable, per_account = await asyncio.gather(reaching, asked)
    return DeskFacts(public_url, reachable, tuple(per_account))


async def troubleshoot(store: Store, public_url: str) -> list[Check]:
    facts = await gather_facts(store, public_url)
    if any(f.verified is not None and f.verified != f.account.verified_caller_ids
           for f in facts.accounts):
        await store.write(_keep_verified_caller_ids, facts)
    return judge(facts)


def _keep_verified_caller_ids(ctx: WriteContext, facts: DeskFacts) -> None:
    """A Trial account's verified numbers change in the console: keep the ones just fetched,
    so the send preflight (21608) judges by today's list."""
    for found in facts.accounts:
        if found.verified is not None and found.verified != found.account.verified_caller_ids:
            writes.update_account(ctx, found.account.id, verified_caller_ids=found.verified)


__all__ = [
    "AccountFacts",
    "Check",
    "DeskFacts",
    "Level",
    "Reachability",
    "account_checks",
    "customer_countries",
    "gather_facts",
    "is_private_host",
    "judge",
    "number_checks",
    "probe",
    "recent_failures",
    "relay_checks",
    "troubleshoot",
]
