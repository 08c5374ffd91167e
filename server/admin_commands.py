"""The admin's commands over the agents' websocket: accounts, numbers, agents, groups.

The inbox's setup screens drive these (docs/protocol.md has the table). Twilio
auth tokens only travel inwards: every account that goes out is
``records.public_account``. Commands that ask Twilio first (connect, rotate,
repoint) cannot hold a store transaction across a network call, so they check
the remembered answer, do the Twilio part, then write and remember the answer
in ONE transaction: a resent command id is answered, never done twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import urlsplit

from core import auth, held, prices, queries, records, writes
from core.country_names import is_country_code
from core.models import Account, Agent, NumberStatus, PhoneNumber, Role, SenderType
from core.protocol import Command
from core.writes import WriteContext
from server import twilio_api
from server.commands import (
    CommandRefused,
    Context,
    _check_every_command_has_a_handler,
    _direct,
    _recorded,
    _staged,
    answered,
    store_write,
    write_once,
)
from server.troubleshoot import LOW_BALANCE, is_private_host, troubleshoot
from server.twilio_api import AccountInfo, BalanceInfo, NumberInfo

BUY_A_NUMBER = ("this account has no SMS-capable numbers yet: buy one in Twilio console > Phone"
                " Numbers > Buy a number, then connect the account again")


# --- helpers --------------------------------------------------------------------------


T = TypeVar("T")


async def _twilio(fn: Callable[..., T], *args: Any) -> T:
    """One blocking Twilio call in a thread; a refusal becomes an ``error`` frame in words."""
    try:
        return await asyncio.to_thread(fn, *args)
    except (twilio_api.TwilioRestException, *twilio_api.NETWORK_ERRORS) as error:
        raise CommandRefused("twilio", twilio_api.refusal_words(error)) from None


def _credentials(args: dict[str, Any]) -> tuple[str, str]:
    sid, token = args["sid"].strip(), args["token"].strip()
    if not twilio_api.ACCOUNT_SID.match(sid):
        raise CommandRefused("bad_args",
                             "an Account SID is AC followed by 32 hexadecimal characters")
    return sid, pasted_token(token, "paste the account's auth token")


def pasted_token(token: str, missing: str) -> str:
    """An auth token as pasted, refused in words when it cannot be one: Twilio's are 32
    hexadecimal characters (an API key secret is longer), never anything but printable
    ASCII, which HTTP Basic authentication could not even carry."""
    if not token:
        raise CommandRefused("bad_args", missing)
    if not (token.isascii() and token.isprintable()) or " " in token:
        raise CommandRefused("bad_args", "an auth token is letters and digits only (Twilio's"
                             " are 32 hexadecimal characters): paste it again")
    return token


async def _active_account(sid: str, token: str) -> AccountInfo:
    info = await _twilio(twilio_api.fetch_account, sid, token)
    if info.status != "active":
        raise CommandRefused("twilio", twilio_api.inactive_words(info.status))
    return info


async def _balance(sid: str, token: str) -> BalanceInfo | None:
    """The balance, or None: a balance Twilio will not tell is no reason to refuse."""
    try:
        return await asyncio.to_thread(twilio_api.fetch_balance, sid, token)
    except (twilio_api.TwilioRestException, *twilio_api.NETWORK_ERRORS):
        return None


async def _stored_account(ctx: Context, account_id: int) -> Account:
    try:
        return await ctx.store.read(writes.account_by_id, account_id)
    except writes.NotFound as error:
        raise CommandRefused("not_found", str(error)) from None


def _number_offer(number: NumberInfo, public_url: str) -> dict[str, Any]:
    """A Twilio number as the connect screen shows it, before anything is stored."""
    sms_url, status_callback = twilio_api.webhook_urls(public_url)
    return {"sid": number.sid, "e164": number.phone_number, "friendly_name": number.friendly_name,
            "mms": number.mms, "status": number.status, "sms_url": number.sms_url or "",
            "status_callback": number.status_callback or "",
            "points_here": number.sms_url == sms_url
            and number.status_callback == status_callback}


def _public_agent(agent: Agent) -> dict[str, Any]:
    wire = records.to_wire(agent)
    del wire["token_hash"]
    return wire


def _need_changes(name: str, changes: dict[str, Any]) -> None:
    if not changes:
        raise CommandRefused("bad_args", f"{name} needs at least one field to change")


# --- accounts -------------------------------------------------------------------------


@_direct("check_account")
async def _check_account(ctx: Context, args: dict[str, Any]) -> Any:
    """What connecting would find, so the admin can pick numbers; nothing is stored."""
    sid, token = _credentials(args)
    info = await _active_account(sid, token)
    numbers, balance = await asyncio.gather(
        _twilio(twilio_api.list_sms_numbers, sid, token), _balance(sid, token))
    stored = {n.e164: n for n in await ctx.store.read(queries.numbers)}
    ours = await ctx.store.read(queries.account_by_sid, sid)
    offers = [_number_offer(n, ctx.public_url) for n in numbers]
    warnings = []
    if info.type == "Trial":
        warnings.append(twilio_api.TRIAL_LIMITS)
        verified = await _verified_caller_ids(sid, token)
        warnings.append("its verified numbers (the only ones it can text now): "
                        + (", ".join(verified) or "none listed"))
    if not numbers:
        warnings.append(BUY_A_NUMBER)
    if balance is not None and _below(balance.balance, LOW_BALANCE):
        warnings.append(f"the balance is low ({balance.balance} {balance.currency}): Twilio"
                        " stops sending when it runs out; add funds in Twilio console > Billing")
    if is_private_host(_host(ctx.public_url)):
        warnings.append(f"this relay's public URL is {ctx.public_url}, a local address that"
                        " Twilio, on the internet, cannot reach: fine with the simulator, but"
                        " with real Twilio run a tunnel (cloudflared or ngrok) and restart the"
                        " relay with its https:// URL as --public-url (docs/operations.md,"
                        " \"Through a tunnel\"), or no text will arrive")
    if ours is not None and not ours.connected:
        warnings.append(f"this account was disconnected from smsdesk as {ours.name!r}:"
                        " completing connects it again (its numbers are pointed here again;"
                        " its tickets were kept)")
    for offer in offers:
        known = stored.get(offer["e164"])
        offer["known"] = known is not None and ours is not None and known.account_id == ours.id
        if known is not None and (ours is None or known.account_id != ours.id):
            warnings.append(f"{offer['e164']} is already connected through another account")
        elif offer["sms_url"] and not offer["points_here"]:
            warnings.append(f"{offer['e164']} now sends its texts to {offer['sms_url']};"
                            " connecting it points it at this relay instead")
    return {"account": {"sid": info.sid, "friendly_name": info.friendly_name,
                        "status": info.status, "type": info.type},
            "numbers": offers,
            "balance": None if balance is None else {"balance": balance.balance,
                                                     "currency": balance.currency},
            "warnings": warnings}


def _below(amount: str, limit: Decimal) -> bool:
    try:
        return Decimal(amount) < limit
    except InvalidOperation:
        return False


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


@_staged("connect_account")
async def _connect_account(ctx: Context, command: Command) -> Any:
    done = await answered(ctx, command)
    if done is not None:
        return done
    args = command.args
    name = args["name"].strip()
    if not name:
        raise CommandRefused("bad_args", "give the account a name agents will recognise")
    sid, token = _credentials(args)
    info = await _active_account(sid, token)
    remote = {n.sid: n for n in await _twilio(twilio_api.list_sms_numbers, sid, token)}
    wanted = list(dict.fromkeys(args["number_sids"]))
    unknown = [s for s in wanted if s not in remote]
    if unknown:
        raise CommandRefused("bad_args", f"not SMS numbers of this account: {', '.join(unknown)}")
    if not wanted and remote:
        raise CommandRefused("bad_args", "select at least one of the account's numbers")
    ours = await ctx.store.read(queries.account_by_sid, sid)
    stored = {n.e164: n for n in await ctx.store.read(queries.numbers)}
    failed: list[dict[str, str]] = []
    chosen: list[NumberInfo] = []
    for number in (remote[s] for s in wanted):
        known = stored.get(number.phone_number)
        if known is not None and (ours is None or known.account_id != ours.id):
            failed.append({"e164": number.phone_number,
                           "reason": "already connected through another account"})
        else:
            chosen.append(number)
    repointed = await _repoint_all(sid, token, chosen, ctx.public_url, failed)
    notes = [BUY_A_NUMBER] if not remote else []
    verified: tuple[str, ...] = ()
    if info.type == "Trial":
        notes.append(twilio_api.TRIAL_LIMITS)
        verified = await _verified_caller_ids(sid, token)
    here = twilio_api.webhook_urls(ctx.public_url)

    def connect(wctx: WriteContext) -> dict[str, Any]:
        again = queries.account_by_sid(wctx.conn, sid)
        if again is None:
            account = writes.add_account(wctx, name=name, sid=sid, auth_token=token,
                                         status=info.status, type=info.type)
        else:
            account = writes.update_account(wctx, again.id, name=name, auth_token=token,
                                            status=info.status, type=info.type, connected=True)
        if verified:
            account = writes.update_account(wctx, account.id, verified_caller_ids=verified)
        saved = [
            writes.save_number(
                wctx, account_id=account.id, e164=n.phone_number, sid=n.sid, mms=n.mms,
                status=NumberStatus.ACTIVE, sender_type=twilio_api.sender_type_of(n.phone_number),
                country=twilio_api.country_of(n.phone_number), friendly_name=n.friendly_name,
                **twilio_api.remembered_webhooks(n, here))
            for n in chosen
        ]
        return {"account": records.public_account(account), "numbers": saved,
                "repointed": repointed, "failed": failed,
                "note": ". ".join(notes) + "." if notes else None}

    return await write_once(ctx, command, connect)


async def _verified_caller_ids(sid: str, token: str) -> tuple[str, ...]:
    """A Trial account's verified numbers, or () when Twilio will not list them."""
    try:
        return tuple(await asyncio.to_thread(twilio_api.verified_caller_ids, sid, token))
    except (twilio_api.TwilioRestException, *twilio_api.NETWORK_ERRORS):
        return ()


async def _repoint_all(sid: str, token: str, numbers: list[NumberInfo], public_url: str,
                       failed: list[dict[str, str]]) -> list[str]:
    """Point every number at the relay at once; the ones Twilio refuses go to ``failed``."""
    async def one(number: NumberInfo) -> str | None:
        try:
            await _twilio(twilio_api.point_number_at, sid, token, number.sid, public_url)
        except CommandRefused as refused:
            failed.append({"e164": number.phone_number, "reason": str(refused)})
            return None
        return number.phone_number

    done = await asyncio.gather(*(one(n) for n in numbers))
    return [e164 for e164 in done if e164 is not None]


@_staged("update_account")
async def _update_account(ctx: Context, command: Command) -> Any:
    done = await answered(ctx, command)
    if done is not None:
        return done
    args = command.args
    account = await _stored_account(ctx, args["account_id"])
    changes: dict[str, Any] = {}
    if "name" in args:
        if not args["name"].strip():
            raise CommandRefused("bad_args", "an account needs a name")
        changes["name"] = args["name"].strip()
    if "geo_permissions" in args:
        bad = [c for c in args["geo_permissions"] if not is_country_code(c)]
        if bad:
            raise CommandRefused("bad_args", f"not ISO 3166 country codes (two letters of a"
                                 f" country that exists, like GB or US): {', '.join(bad)}")
        changes["geo_permissions"] = args["geo_permissions"]
    if "token" in args:
        token = pasted_token(args["token"].strip(), "paste the new auth token")
        info = await _twilio(twilio_api.fetch_account, account.sid, token)  # rotation: check
        changes.update(auth_token=token, status=info.status, type=info.type)
    _need_changes("update_account", changes)
    return await write_once(ctx, command, lambda w: records.public_account(
        writes.update_account(w, account.id, **changes)))


@_staged("disconnect_account")
async def _disconnect_account(ctx: Context, command: Command) -> Any:
    """Give each number's webhooks back (what they were before connecting, or none), then
    mark the account disconnected. History stays, and so does the auth token: a text that
    still arrives is checked with it and held (core/held.py), never dropped."""
    done = await answered(ctx, command)
    if done is not None:
        return done
    account = await _stored_account(ctx, command.args["account_id"])
    numbers = await ctx.store.read(queries.numbers, account.id)
    released: list[str] = []
    failed: list[dict[str, str]] = []
    if account.connected:
        async def release(number: PhoneNumber) -> None:
            try:
                await _twilio(twilio_api.restore_webhooks, account.sid, account.auth_token,
                              number.sid, number.e164, number.prior_webhooks or {})
            except CommandRefused as refused:
                failed.append({"e164": number.e164, "reason": str(refused)})
            else:
                released.append(number.e164)

        await asyncio.gather(*(release(n) for n in numbers if n.sid))

    def disconnect(w: WriteContext) -> dict[str, Any]:
        gone = writes.update_account(w, account.id, connected=False)
        return {"account": records.public_account(gone), "released": sorted(released),
                "failed": failed}

    return await write_once(ctx, command, disconnect)


# --- numbers --------------------------------------------------------------------------


@_recorded("update_number")
def _update_number(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    changes = {k: v for k, v in args.items() if k != "number_id"}
    _need_changes("update_number", changes)
    if "sender_type" in changes:
        try:
            changes["sender_type"] = SenderType(changes["sender_type"])
        except ValueError:
            kinds = ", ".join(t.value for t in SenderType)
            raise CommandRefused("bad_args", f"sender_type is one of {kinds}") from None
    if "friendly_name" in changes:
        changes["friendly_name"] = changes["friendly_name"].strip()
    for name, check in (("segment_price", prices.checked_segment_price),
                        ("price_currency", prices.checked_currency)):
        if name in changes:  # a price that is not one is a bad argument, said in words
            try:
                changes[name] = check(changes[name])
            except ValueError as problem:
                raise CommandRefused("bad_args", str(problem), name) from None
    return lambda w: writes.update_number(w, args["number_id"], **changes)


@_staged("repoint_number")
async def _repoint_number(ctx: Context, command: Command) -> Any:
    done = await answered(ctx, command)
    if done is not None:
        return done
    number_id = command.args["number_id"]
    try:
        number = await ctx.store.read(writes.number_by_id, number_id)
    except writes.NotFound as error:
        raise CommandRefused("not_found", str(error)) from None
    account = await _stored_account(ctx, number.account_id)
    if not account.connected:
        raise CommandRefused("refused", f"{account.name} is disconnected: connect it again first")
    if not number.sid:
        raise CommandRefused("refused", f"{number.e164} has no Twilio SID: connect its account"
                             " again to import it")
    if not ctx.public_url:
        raise CommandRefused("refused", "the relay has no public URL: restart it with"
                             " --public-url")
    pointed = await _twilio(twilio_api.point_number_found, account.sid, account.auth_token,
                            number.sid, number.e164, ctx.public_url)

    def repointed(w: WriteContext) -> dict[str, Any]:
        if pointed.sid != number.sid:  # Twilio knows it by a new SID now: keep that one
            writes.update_number(w, number_id, sid=pointed.sid)
        return {"number": writes.number_by_id(w.conn, number_id),
                "sms_url": pointed.sms_url or "", "status_callback": pointed.status_callback or ""}

    return await write_once(ctx, command, repointed)


@_staged("repoint_all")
async def _repoint_every_number(ctx: Context, command: Command) -> Any:
    """Point every number of every connected account at this relay (after the public URL
    changed, or the numbers were bought again): one Twilio call per number, all at once."""
    done = await answered(ctx, command)
    if done is not None:
        return done
    if not ctx.public_url:
        raise CommandRefused("refused", "the relay has no public URL: restart it with"
                             " --public-url")
    accounts = {a.id: a for a in await ctx.store.read(queries.accounts) if a.connected}
    numbers = [n for n in await ctx.store.read(queries.numbers) if n.account_id in accounts]
    failed: list[dict[str, str]] = []

    async def one(number: PhoneNumber) -> tuple[PhoneNumber, NumberInfo] | None:
        account = accounts[number.account_id]
        try:
            pointed = await _twilio(twilio_api.point_number_found, account.sid,
                                    account.auth_token, number.sid, number.e164, ctx.public_url)
        except CommandRefused as refused:
            failed.append({"e164": number.e164, "reason": str(refused)})
            return None
        return number, pointed

    results = [r for r in await asyncio.gather(*(one(n) for n in numbers)) if r is not None]

    def store(w: WriteContext) -> dict[str, Any]:
        for number, pointed in results:
            if pointed.sid != number.sid:
                writes.update_number(w, number.id, sid=pointed.sid)
        return {"repointed": sorted(n.e164 for n, _ in results), "failed": failed}

    return await write_once(ctx, command, store)


@_recorded("open_held_texts")
def _open_held_texts(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    """The texts that arrived while the number was out of service, opened as tickets."""
    return lambda w: {"opened": held.open_held_texts(w, args["number_id"])}


@_direct("troubleshoot")
async def _troubleshoot(ctx: Context, args: dict[str, Any]) -> Any:
    checks = await troubleshoot(ctx.store, ctx.public_url)
    return {"public_url": ctx.public_url, "checks": records.to_wire(checks)}


# --- agents and groups ----------------------------------------------------------------


def _role(value: Any) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise CommandRefused("bad_args", "role is admin or agent") from None


@_staged("add_agent")
async def _add_agent(ctx: Context, command: Command) -> Any:
    """The token is answered once and only its hash is kept, in the agent and in the
    remembered answer; so a resent add_agent (its answer was lost) gets a fresh token,
    replacing the one nobody saw, instead of a second agent."""
    args = command.args
    role = _role(args["role"])
    token = auth.new_token()

    def add(wctx: WriteContext) -> dict[str, Any]:
        again = queries.remembered_result(wctx.conn, ctx.agent.id, command.id)
        if again is not None:
            agent_id = json.loads(again)["agent"]["id"]
            agent = writes.update_agent(wctx, agent_id, token_hash=auth.hash_token(token))
        else:
            agent = writes.add_agent(wctx, name=args["name"], role=role,
                                     token_hash=auth.hash_token(token),
                                     group_ids=args.get("group_ids", ()))
            kept = {"agent": _public_agent(agent), "token": None}
            writes.remember_result(wctx, ctx.agent.id, command.id, json.dumps(kept))
        return {"agent": _public_agent(agent), "token": token}

    return await store_write(ctx, add)


@_recorded("update_agent")
def _update_agent(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    changes: dict[str, Any] = {k: v for k, v in args.items() if k != "agent_id"}
    _need_changes("update_agent", changes)
    if "role" in changes:
        changes["role"] = _role(changes["role"])
    if args["agent_id"] == ctx.agent.id and (
        changes.get("disabled") or changes.get("role", Role.ADMIN) is not Role.ADMIN
    ):
        # So there is always an admin left: the one making the change.
        raise CommandRefused("refused", "you cannot disable yourself or give up your own admin"
                             " role; ask another admin")
    return lambda w: _public_agent(writes.update_agent(w, args["agent_id"], **changes))


@_recorded("add_group")
def _add_group(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: writes.add_group(w, args["name"])


@_recorded("rename_group")
def _rename_group(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: writes.rename_group(w, args["group_id"], args["name"])


_check_every_command_has_a_handler()
