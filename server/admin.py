"""Setting the relay up from the command line: accounts, agents, groups.

The same steps the setup wizard will take, usable without a screen. Each
function opens the store, does one thing, and says what it did.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from core import auth, queries, writes
from core.models import Role
from core.store import Store
from server import twilio_api
from server.config import Paths
from server.relay import PUBLIC_URL

# Shared with the inbox's admin commands (server/admin_commands.py), which say the same words.
from server.twilio_api import ACCOUNT_SID, country_of, sender_type_of

__all__ = ["ACCOUNT_SID", "AdminError", "Connected", "country_of", "sender_type_of"]


class AdminError(Exception):
    """Something the admin must fix, said in words."""


@dataclass(frozen=True, slots=True)
class Connected:
    account_name: str
    numbers: list[str]
    repointed: bool
    warning: str = ""


async def add_account(paths: Paths, *, name: str, sid: str, token: str) -> Connected:
    """Connect an account, or connect again one that was disconnected (same SID): the token
    is checked with Twilio, the numbers imported afresh and their webhooks pointed here."""
    if not ACCOUNT_SID.match(sid):
        raise AdminError("an Account SID is AC followed by 32 hexadecimal characters")
    try:
        info = await asyncio.to_thread(twilio_api.fetch_account, sid, token)
        numbers = await asyncio.to_thread(twilio_api.list_sms_numbers, sid, token)
        verified = (await asyncio.to_thread(twilio_api.verified_caller_ids, sid, token)
                    if info.type == "Trial" else [])
    except (twilio_api.TwilioRestException, *twilio_api.NETWORK_ERRORS) as error:
        raise AdminError(twilio_api.refusal_words(error)) from None
    if info.status != "active":
        raise AdminError(twilio_api.inactive_words(info.status))
    async with await Store.open(paths.store) as store:
        known = await store.read(queries.account_by_sid, sid)
        if known is not None and known.connected:
            raise AdminError(f"{sid} is already connected as {known.name!r}; rotate its token"
                             " or rename it from the inbox's admin screen")
        public_url = await store.read(queries.setting, PUBLIC_URL)
        here = twilio_api.webhook_urls(public_url or "")
        if known is None:
            account = await store.write(writes.add_account, name=name, sid=sid,
                                        auth_token=token, status=info.status, type=info.type)
        else:
            account = await store.write(writes.update_account, known.id, name=name,
                                        auth_token=token, status=info.status, type=info.type,
                                        connected=True)
        if verified:
            await store.write(writes.update_account, account.id, verified_caller_ids=verified)
        for number in numbers:
            remembered = twilio_api.remembered_webhooks(number, here) if public_url else {}
            await store.write(
                writes.save_number, account_id=account.id, e164=number.phone_number,
                sid=number.sid, mms=number.mms, sender_type=sender_type_of(number.phone_number),
                country=country_of(number.phone_number), friendly_name=number.friendly_name,
                **remembered,
            )
    again = " again" if known is not None else ""
    if not numbers:
        return Connected(name + again, [], False, "this account has no SMS-capable numbers"
                         " yet: buy one in Twilio console > Phone Numbers > Buy a number,"
                         " then add it again")
    if not public_url:
        return Connected(name + again, [n.phone_number for n in numbers], False,
                         "no public URL is set yet: start `smsdesk relay --public-url URL` and"
                         " the numbers' webhooks can then be pointed at it")
    for number in numbers:
        await asyncio.to_thread(twilio_api.point_number_at, sid, token, number.sid, public_url)
    trial = " (a Trial account: it can only text verified numbers)" if info.type == "Trial" else ""
    return Connected(name + again + trial, [n.phone_number for n in numbers], True)


async def add_agent(paths: Paths, *, name: str, role: Role, groups: list[str]) -> str:
    async with await Store.open(paths.store) as store:
        known = {g.name.lower(): g.id for g in await store.read(queries.groups)}
        missing = [g for g in groups if g.lower() not in known]
        if missing:
            raise AdminError(f"no such group: {', '.join(missing)} (add it with `smsdesk group"
                             " add`)")
        token = auth.new_token()
        await store.write(writes.add_agent, name=name, role=role,
                          token_hash=auth.hash_token(token),
                          group_ids=[known[g.lower()] for g in groups])
    return token


async def add_group(paths: Paths, name: str) -> None:
    async with await Store.open(paths.store) as store:
        await store.write(writes.add_group, name)


async def list_accounts(paths: Paths) -> list[str]:
    async with await Store.open(paths.store) as store:
        accounts = await store.read(queries.accounts)
        numbers = await store.read(queries.numbers)
    lines = []
    for account in accounts:
        gone = "" if account.connected else "  (disconnected: `smsdesk account add` with the" \
            " same SID connects it again)"
        lines.append(f"{account.name}  {account.sid}  {account.status} {account.type}{gone}")
        for n in numbers:
            if n.account_id == account.id:
                kind = "MMS" if n.mms else "SMS-only"
                lines.append(f"    {n.e164}  {kind}  {n.sender_type.value}  {n.country}")
    return lines


async def list_agents(paths: Paths) -> list[str]:
    async with await Store.open(paths.store) as store:
        agents = await store.read(queries.agents)
        groups = {g.id: g.name for g in await store.read(queries.groups)}
    return [
        f"{a.name}  {a.role.value}{'  (disabled)' if a.disabled else ''}"
        f"  groups: {', '.join(groups[g] for g in a.group_ids) or '-'}"
        for a in agents
    ]
