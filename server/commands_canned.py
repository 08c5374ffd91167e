"""Canned responses' commands: the agent's library, saving and deleting responses and folders.

Who may change what (admins: shared; owners: personal) is decided in the write's own
transaction (core/canned.py), so a demotion between sending and writing is honoured.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core import canned
from core.writes import WriteContext
from server.commands import Context, _direct, _recorded, attachments


@_direct("list_canned")
async def _list_canned(ctx: Context, args: dict[str, Any]) -> Any:
    return await ctx.store.read(canned.library_for, ctx.agent.id)


@_recorded("save_canned")
async def _save_canned(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    media = await attachments(ctx, args)
    return lambda w: canned.save_response(
        w, agent_id=ctx.agent.id, response_id=args.get("response_id"), title=args["title"],
        body=args["body"], folder_id=args.get("folder_id"),
        personal=bool(args.get("personal", False)), media=media)


@_recorded("delete_canned")
def _delete_canned(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: canned.delete_response(w, agent_id=ctx.agent.id,
                                            response_id=args["response_id"])


@_recorded("save_canned_folder")
def _save_folder(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: canned.save_folder(w, folder_id=args.get("folder_id"), name=args["name"])


@_recorded("delete_canned_folder")
def _delete_folder(ctx: Context, args: dict[str, Any]) -> Callable[[WriteContext], Any]:
    return lambda w: canned.delete_folder(w, folder_id=args["folder_id"])
