"""Setting the relay up from the command line: accounts, agents, groups.

The same steps the setup wizard will take, usable without a screen. Each
function opens the store, does one thing, and says what it did.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import phonenumbers

from core import auth, queries, writes
from core.models import Role, SenderType
from core.store import Store
from server import twilio_api
from server.config import Paths
from server.relay import PUBLIC_URL

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
TOLL_FREE_AREA_CODES = {"800", "833", "844", "855", "866", "877", "888"}


class AdminError(Exception):
    """Something the admin must fix, said in words."""


def sender_type_of(e164: str) -> SenderType:
    digits = e164.lstrip("+")
    if not e164.startswith("+"):
        return SenderType.ALPHANUMERIC if not digits.isdigit() else SenderType.SHORT_CODE
    if e164.startswith("+1") and digits[1:4] in TOLL_FREE_AREA_CODES:
        return SenderType.TOLL_FREE
    return SenderType.LONG_CODE


def country_of(e164: str) -> str:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164)) or ""
    except phonenumbers.NumberParseException:
        return ""


@dataclass(frozen=True, slots=True)
class Connected:
    account_name: str
    numbers: list[str]
    repointed: bool
    warning: str = ""


async def add_account(paths: Paths, *, name: str, sid: str, token: str) -> Connected:
    if not ACCOUNT_SID.match(sid):
        raise AdminError("an Account SID is AC followed by 32 hexadecimal characters")
    try:
        info = await asyncio.to_thread(twilio_api.fetch_account, sid, token)
        numbers = await asyncio.to_thread(twilio_api.list_sms_numbers, sid, token)
    except twilio_api.TwilioRestException as error:
        if error.code == 20003 or error.status == 401:
            raise AdminError(
                "Twilio did not accept that Account SID and auth token (20003). Copy both from"
                " Twilio console > Account > Keys & Credentials > API keys & tokens >"
                " Live Credentials."
            ) from None
        raise AdminError(f"Twilio refused: {error.msg} ({error.code})") from None
    if info.status != "active":
        raise AdminError(f"the Twilio account is {info.status}; reactivate it in Twilio first")
    async with await Store.open(paths.database) as store:
        account = await store.write(writes.add_account, name=name, sid=sid, auth_token=token,
                                    status=info.status, type=info.type)
        for number in numbers:
            await store.write(
                writes.save_number, account_id=account.id, e164=number.phone_number,
                sid=number.sid, mms=number.mms, sender_type=sender_type_of(number.phone_number),
                country=country_of(number.phone_number), friendly_name=number.friendly_name,
            )
        public_url = await store.read(queries.setting, PUBLIC_URL)
    if not numbers:
        return Connected(name, [], False, "this account has no SMS-capable numbers yet: buy one"
                         " in Twilio console > Phone Numbers > Buy a number, then add it again")
    if not public_url:
        return Connected(name, [n.phone_number for n in numbers], False,
                         "no public URL is set yet: start `smsdesk relay --public-url URL` and"
                         " the numbers' webhooks can then be pointed at it")
    for number in numbers:
        await asyncio.to_thread(twilio_api.point_number_at, sid, token, number.sid, public_url)
    trial = " (a Trial account: it can only text verified numbers)" if info.type == "Trial" else ""
    return Connected(name + trial, [n.phone_number for n in numbers], True)


async def add_agent(paths: Paths, *, name: str, role: Role, groups: list[str]) -> str:
    async with await Store.open(paths.database) as store:
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
    async with await Store.open(paths.database) as store:
        await store.write(writes.add_group, name)


async def list_accounts(paths: Paths) -> list[str]:
    async with await Store.open(paths.database) as store:
        accounts = await store.read(queries.accounts)
        numbers = await store.read(queries.numbers)
    lines = []
    for account in accounts:
        lines.append(f"{account.name}  {account.sid}  {account.status} {account.type}")
        for n in numbers:
            if n.account_id == account.id:
                kind = "MMS" if n.mms else "SMS-only"
                lines.append(f"    {n.e164}  {kind}  {n.sender_type.value}  {n.country}")
    return lines


async def list_agents(paths: Paths) -> list[str]:
    async with await Store.open(paths.database) as store:
        agents = await store.read(queries.agents)
        groups = {g.id: g.name for g in await store.read(queries.groups)}
    return [
        f"{a.name}  {a.role.value}{'  (disabled)' if a.disabled else ''}"
        f"  groups: {', '.join(groups[g] for g in a.group_ids) or '-'}"
        for a in agents
    ]
