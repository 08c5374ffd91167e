"""What each websocket command does, checked on the relay.

A command that changes something runs as one store transaction together with
the record of its result, so a command resent with the same id (after a
reconnect, say) is answered from that record and never done twice.
"""

from __future__ import annotations

import base64
import dataclasses
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from core import queries, records, writes
from core import store as store_clock  # the store's clock: "overdue" is as of its now
from core.models import Agent, Media, Message
from core.phones import NotAPhoneNumber, country_of_number, understood
from core.preflight import MAX_MEDIA_TOTAL_BYTES, is_accepted_media_type
from core.protocol import COMMANDS, Command
from core.reply_preflight import queue_checked
from core.store import Store
from core.tickets import subject_from_body
from core.trash import PURGED_RESULT
from core.writes import WriteContext
from server.media import MediaStore

#: Answered by the connection itself (server/agents_ws.py), not here: they concern it alone.
SESSION_COMMANDS = {"presence"}


T = TypeVar("T")


class CommandRefused(Exception):
    """A command the relay will not carry out; ``code`` goes to the client."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field  # the ticket field the refusal is about, if one


@dataclass(frozen=True, slots=True)
class Context:
    store: Store
    agent: Agent
    media: MediaStore  # where attachments are kept (files, or the database)
    on_queued: Callable[[], None] = lambda: None  # wakes the outbox
    public_url: str = ""  # where Twilio reaches this relay: the admin commands point numbers here
    # The command being run is for admins only: its write checks, in its own transaction,
    # that the agent still is one (an admin may have been demoted since it was sent).
    needs_admin: bool = False


Handler = Callable[[Context, dict[str, Any]], Awaitable[Any]]
StagedHandler = Callable[[Context, Command], Awaitable[Any]]
_DIRECT: dict[str, Handler] = {}
Change = Callable[[WriteContext], Any]
#: A recorded command's change; built by a coroutine when it must look something up first
#: (the size of an attached file, say), which then happens before the transaction.
_RECORDED: dict[str, Callable[[Context, dict[str, Any]], Change | Awaitable[Change]]] = {}
_STAGED: dict[str, StagedHandler] = {}


def _direct(name: str) -> Callable[[Handler], Handler]:
    """A command answered as it comes: reads, and uploads (the same bytes, the same file)."""
    def register(fn: Handler) -> Handler:
        _DIRECT[name] = fn
        return fn
    return register


def answered_as_they_come() -> frozenset[str]:
    """The commands that change nothing (reads, uploads, a test email): an inbox may drop
    them unanswered when it quits (tui.client.NOT_WORK must hold every one of them)."""
    return frozenset(_DIRECT)


def _recorded(name: str) -> Callable[[Any], Any]:
    """A change, run in one transaction with the record of its result."""
    def register(fn: Any) -> Any:
        _RECORDED[name] = fn
        return fn
    return register


def _staged(name: str) -> Callable[[StagedHandler], StagedHandler]:
    """A change that must ask Twilio first: the handler gets the command id and keeps its
    own record (server/admin_commands.py), since a Twilio call cannot run in a transaction."""
    def register(fn: StagedHandler) -> StagedHandler:
        _STAGED[name] = fn
        return fn
    return register


async def run(ctx: Context, command: Command) -> Any:
    """Carry out a validated command for ``ctx.agent``; return its JSON-ready result."""
    spec = COMMANDS[command.name]
    if spec.admin_only and not ctx.agent.is_admin:
        raise CommandRefused("forbidden", f"{command.name} is for admins only")
    ctx = dataclasses.replace(ctx, needs_admin=spec.admin_only)
    if command.name in _DIRECT:
        return await _DIRECT[command.name](ctx, command.args)
    if command.name in _STAGED:
        return await _STAGED[command.name](ctx, command)
    done = await answered(ctx, command)
    if done is not None:
        return done
    change = _RECORDED[command.name](ctx, command.args)
    if inspect.isawaitable(change):
        change = await change
    value = await write_once(ctx, command, change)
    if command.name in QUEUES_A_MESSAGE:
        ctx.on_queued()
    return value


#: Commands that leave a message queued: the outbox is woken once they are written.
QUEUES_A_MESSAGE = frozenset({"reply", "retry_reply", "start_conversation",
                              "set_ticket"})  # a resolve may queue the CSAT survey


async def answered(ctx: Context, command: Command) -> Any | None:
    """The remembered result of a command already carried out under this id, if any."""
    remembered = await ctx.store.read(queries.remembered_result, ctx.agent.id, command.id)
    return None if remembered is None else _recalled(remembered)


def _recalled(remembered: str) -> Any:
    """A remembered answer; one scrubbed by a purge says so instead of being redone."""
    if remembered == PURGED_RESULT:
        raise CommandRefused("not_found", "done already; its ticket has since been purged "
                                          "from the Trash")
    return json.loads(remembered)


async def write_once(ctx: Context, command: Command, change: Callable[[WriteContext], Any]) -> Any:
    """The change and the record of its answer, in one transaction: a resend is not redone."""
    def once(wctx: WriteContext) -> Any:
        again = queries.remembered_result(wctx.conn, ctx.agent.id, command.id)
        if again is not None:  # a twin of this command committed in the meantime
            return _recalled(again)
        value = records.to_wire(change(wctx))
        writes.remember_result(wctx, ctx.agent.id, command.id, json.dumps(value))
        return value
    return await store_write(ctx, once)


async def store_write(ctx: Context, job: Callable[[WriteContext], T]) -> T:
    """A store write whose refusals reach the agent as command errors, in words.

    The agent's right to make it is checked in the same transaction: a command sent
    before an admin disabled or demoted its agent, and written after, is refused.
    """
    def checked(wctx: WriteContext) -> T:
        writes.require_agent_may_act(wctx.conn, ctx.agent.id, admin=ctx.needs_admin)
        return job(wctx)

    try:
        return await ctx.store.write(checked)
    except writes.Forbidden as error:
        raise CommandRefused("forbidden", str(error)) from None
    except writes.NotFound as error:
        raise CommandRefused("not_found", str(error)) from None
    except writes.FieldRefused as error:
        raise CommandRefused("refused", str(error), error.field) from None
    except writes.StoreError as error:
        raise CommandRefused("refused", str(error)) from None


# --- reads ----------------------------------------------------------------------------


def _view(args: dict[str, Any]) -> queries.TicketFilter:
    return queries.TicketFilter(
        status=tuple(args["status"]) if args.get("status") else None,
        group_id=args.get("group_id"),
        agent_id=args.get("agent_id"),
        unassigned=bool(args.get("unassigned")),
        unread=bool(args.get("unread")),
        text=args.get("text"),
        deleted=bool(args.get("deleted")),
        overdue_at=store_clock.now_ms() if args.get("overdue") else None,
    )


def _page(page: queries.Page[Any]) -> dict[str, Any]:
    return {"items": records.to_wire(list(page.items)), "older": page.older,
            "newer": page.newer}


async def _guarded_read(ctx: Context, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return await ctx.store.read(fn, *args, **kwargs)
    except (queries.BadCursor, ValueError) as error:
        raise CommandRefused("bad_args", str(error)) from None


@_direct("list_tickets")
async def _list_tickets(ctx: Context, args: dict[str, Any]) -> Any:
    page = await _guarded_read(ctx, queries.list_tickets, _view(args), before=args.get("before"),
                               after=args.get("after"), limit=args.get("limit", 50))
    return _page(page)


@_direct("count_tickets")
async def _count_tickets(ctx: Context, args: dict[str, Any]) -> Any:
    return await _guarded_read(ctx, queries.count_tickets, _view(args))


@_direct("get_thread")
async def _get_thread(ctx: Context, args: dict[str, Any]) -> Any:
    if await ctx.store.read(queries.ticket, args["ticket_id"]) is None:
        raise CommandRefused("not_found", f"ticket #{args['ticket_id']} does not exist")
    page = await _guarded_read(ctx, queries.thread, args["ticket_id"], before=args.get("before"),
                               after=args.get("after"), limit=args.get("limit", 50))
    return _page(page)


@_direct("search")
async def _search(ctx: Context, args: dict[str, Any]) -> Any:
    hits = await ctx.store.read(queries.search, args["text"], before=args.get("before"),
                                limit=args.get("limit", 50))
    return records.to_wire(hits)


@_direct("fetch_media")
async def _fetch_media(ctx: Context, args: dict[str, Any]) -> Any:
    data = await ctx.media.read(args["sha256"])
    if data is None:
        raise CommandRefused("not_found", "no such media")
    return {"sha256": args["sha256"], "size": len(data),
            "data": base64.b64encode(data).decode("ascii")}


@_direct("upload_media")
async def _upload_media(ctx: Context, args: dict[str, Any]) -> Any:
    """Keep an attachment for a reply; the reply then names it by its sha256."""
    try:
        data = base64.b64decode(args["data"], validate=True)
    except ValueError:
        raise CommandRefused("bad_args", "data must be base64") from None
    purpose = args.get("purpose", "mms")
    if purpose in UPLOAD_LIMIT_FOR:  # an email attachment: any type, its own limit
        limit = await UPLOAD_LIMIT_FOR[purpose](ctx)
        if len(data) > limit:
            raise CommandRefused("refused", f"an {purpose} can carry at most"
                                            f" {limit / 2**20:g} MB of attachments")
    elif purpose != "mms":
        raise CommandRefused("bad_args", f"uploads are for mms or email, not {purpose!r}")
    elif not is_accepted_media_type(args["content_type"]):
        raise CommandRefused("refused", f"Twilio does not accept {args['content_type']} for MMS")
    elif len(data) > MAX_MEDIA_TOTAL_BYTES:
        raise CommandRefused("refused", "an MMS can carry at most 5 MB of attachments")
    digest = await ctx.media.put(data)
    return {"sha256": digest, "size": len(data), "content_type": args["content_type"],
            "filename": args.get("filename", "")}


@_direct("list_groups")
async def _list_groups(ctx: Context, args: dict[str, Any]) -> Any:
    return records.to_wire(await ctx.store.read(queries.groups))


@_direct("list_agents")
async def _list_agents(ctx: Context, args: dict[str, Any]) -> Any:
    agents = await ctx.store.read(queries.agents)
    return [{k: v for k, v in records.to_wire(a).items() if k != "token_hash"} for a in agents]


@_direct("list_numbers")
async def _list_numbers(ctx: Context, args: dict[str, Any]) -> Any:
    """Every number, each with the sending rules of its account.

    The inbox runs the send preflight before a reply leaves, and that needs
    the account's status and geo-permissions; agents may not list accounts,
    so the rules travel with the number (never the auth token).
    """
    numbers = await ctx.store.read(queries.numbers)
    accounts = {account.id: account for account in await ctx.store.read(queries.accounts)}
    listed = []
    for number in numbers:
        wire = records.to_wire(number)
        account = accounts.get(number.account_id)
        if account is not None:
            wire["account"] = {key: value for key, value in records.public_account(account).items()
                               if key in _SENDING_RULES}
        listed.append(wire)
    return listed


_SENDING_RULES = ("id", "name", "sid", "geo_permissions", "status", "type", "connected",
                  "verified_caller_ids")


@_direct("list_accounts")
async def _list_accounts(ctx: Context, args: dict[str, Any]) -> Any:
    return [records.public_account(a) for a in await ctx.store.read(queries.accounts)]


# --- writes ---------------------------------------------------------------------------


#: Replies by another channel than SMS: channel name → the change it makes (the email
#: channel registers itself from server/commands_email.py).
REPLY_BY_CHANNEL: dict[str, Callable[[Context, dict[str, Any]],
                                     Awaitable[Callable[[WriteContext], Message]]]] = {}
#: Failed replies of another channel than SMS, sent again as new messages of it.
RETRY_BY_CHANNEL: dict[str, Callable[[WriteContext, int, Message], Message]] = {}
#: Uploads for another purpose than MMS: purpose → the largest upload it takes.
UPLOAD_LIMIT_FOR: dict[str, Callable[[Context], Awaitable[int]]] = {}


@_recorded("reply")
async def _reply(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Message]:
    channel = args.get("channel", "sms")
    if channel in REPLY_BY_CHANNEL:
        return await REPLY_BY_CHANNEL[channel](ctx, args)
    if channel not in ("sms", "mms"):
        raise CommandRefused("bad_args", f"a reply goes by sms or email, not {channel!r}")
    media = await attachments(ctx, args)

    def reply(wctx: WriteContext) -> Message:
        return queue_checked(wctx, ctx.agent.id, args["ticket_id"], args["body"], media,
                              from_number_id=args.get("from_number_id"))
    return reply


async def attachments(ctx: Context, args: dict[str, Any]) -> tuple[Media, ...]:
    """The command's ``media`` list as Media, each sized from the kept bytes."""
    return tuple([await media_of(ctx, item) for item in args.get("media", [])])


async def media_of(ctx: Context, item: dict[str, Any]) -> Media:
    """One attachment named by the sha256 of an upload; refused if nothing is kept under it."""
    digest = item.get("sha256")
    size = await ctx.media.size(digest) if isinstance(digest, str) else None
    if size is None:
        raise CommandRefused("bad_args", "attach files by the sha256 of an uploaded file")
    return Media(content_type=str(item.get("content_type", "application/octet-stream")),
                 size=size, sha256=str(digest), filename=str(item.get("filename", "")))


@_recorded("retry_reply")
def _retry_reply(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Message]:
    """A failed reply sent again as a NEW message (same body and media, same preflight and
    outbox); the failed one is never sent twice. Only the ticket's newest reply may be
    retried, so a second retry of the same failure is refused rather than sent again."""

    def retry(wctx: WriteContext) -> Message:
        failed = writes.entry_by_id(wctx.conn, args["message_id"])
        if not isinstance(failed, Message) or failed.direction != "outbound":
            raise writes.StoreError(f"#{args['message_id']} is not a reply")
        if failed.status not in RETRYABLE:
            raise writes.StoreError(f"that reply is {failed.status}, not failed: nothing to retry")
        newest = wctx.conn.execute(
            "SELECT max(id) FROM entries WHERE ticket_id = ? AND kind = 'message'"
            " AND direction = 'outbound'", (failed.ticket_id,)).fetchone()[0]
        if newest != failed.id:
            raise writes.StoreError("a newer reply went out since (or this one was retried "
                                    "already); retry only the newest")
        if failed.channel in RETRY_BY_CHANNEL:  # an email is retried as an email
            return RETRY_BY_CHANNEL[failed.channel](wctx, ctx.agent.id, failed)
        return queue_checked(wctx, ctx.agent.id, failed.ticket_id, failed.body, failed.media,
                              from_number_id=failed.from_number_id)  # the same sender
    return retry


RETRYABLE = frozenset({"failed", "undelivered"})


@_recorded("add_note")
def _add_note(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: writes.add_note(w, ticket_id=args["ticket_id"], agent_id=ctx.agent.id,
                                     body=args["body"])


@_recorded("set_ticket")
def _set_ticket(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    changes = {k: v for k, v in args.items() if k not in ("ticket_id", "bulk")}
    if not changes:
        raise CommandRefused("bad_args", "set_ticket needs at least one field to change")
    return lambda w: writes.update_ticket(w, args["ticket_id"], by=ctx.agent.id,
                                          bulk=bool(args.get("bulk")), **changes)


@_recorded("mark_read")
def _mark_read(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: writes.update_ticket(w, args["ticket_id"], unread=False)


@_recorded("mark_unread")
def _mark_unread(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: writes.update_ticket(w, args["ticket_id"], unread=True)


@_recorded("log_time")
def _log_time(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: writes.log_time(w, ticket_id=args["ticket_id"], agent_id=ctx.agent.id,
                                     seconds=args["seconds"], note=args.get("note", ""),
                                     billable=bool(args.get("billable", False)))


# --- new conversations (issue 10) -----------------------------------------------------


@_recorded("start_conversation")
async def _start_conversation(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    """A new ticket with a customer and its first message, in one transaction: a refused
    preflight leaves no ticket behind, and a resend (same id) makes no second one."""
    media = await attachments(ctx, args)

    def start(wctx: WriteContext) -> dict[str, Any]:
        number = writes.number_by_id(wctx.conn, args["from_number_id"])
        try:
            to = understood(args["to"], country_of_number(number)).e164
        except NotAPhoneNumber as error:
            raise writes.StoreError(str(error)) from None
        ticket = writes.open_conversation(wctx, phone=to, number_id=number.id,
                                          agent_id=ctx.agent.id,
                                          subject=subject_from_body(args["body"]))
        message = queue_checked(wctx, ctx.agent.id, ticket.id, args["body"], media)
        return {"ticket": writes.ticket_by_id(wctx.conn, ticket.id), "message": message}
    return start


def _check_every_command_has_a_handler() -> None:
    missing = set(COMMANDS) - set(_DIRECT) - set(_RECORDED) - set(_STAGED) - SESSION_COMMANDS
    if missing:
        raise RuntimeError(f"commands without a handler: {sorted(missing)}")


# Each domain's commands register themselves here, before the admin commands, whose module
# runs the check above once every handler is in.
from server import commands_trash  # noqa: E402, F401, I001
from server import commands_time  # noqa: E402, F401
from server import commands_fields  # noqa: E402, F401
from server import commands_canned  # noqa: E402, F401
from server import commands_scenarios  # noqa: E402, F401
from server import commands_contacts  # noqa: E402, F401
from server import commands_email  # noqa: E402, F401
from server import commands_bot  # noqa: E402, F401
from server import commands_csat  # noqa: E402, F401
from server import commands_sla  # noqa: E402, F401
from server import commands_reports  # noqa: E402, F401

# The admin commands register themselves here; that module runs the check above once every
# handler is in, whichever of the two modules is imported first.
from server import admin_commands  # noqa: E402, F401

__all__ = ["CommandRefused", "Context", "run"]
