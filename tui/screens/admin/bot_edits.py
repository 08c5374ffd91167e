"""Edits to a bot flow as the Bot tab's tree makes them: pure functions on core.bot_flow's
frozen dataclasses, so the tab only shows and asks, and every edit is testable without a screen.

A node of the tree is named by a ``NodeRef`` tuple: ``("greeting",)``, ``("out_of_hours",)``,
``("hand_off",)``, ``("menus",)``, ``("menu", id)``, ``("option", menu_id, index)``,
``("questions",)``, ``("question", id)``, ``("keywords",)``, ``("keyword", index)``.
Whether a flow can run is decided by core.bot_flow alone (``problems_of`` writes the flow out
and parses it back), so the editor never holds a second copy of the rules.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from typing import Any

from core.bot_flow import (
    Flow,
    FlowInvalid,
    KeywordAnswer,
    Menu,
    Option,
    Problem,
    Question,
    Say,
    flow_to_toml,
    parse_flow,
    problems_for_number,
)

NodeRef = tuple[Any, ...]

ROOTS: tuple[NodeRef, ...] = (("greeting",), ("out_of_hours",), ("menus",), ("questions",),
                              ("keywords",), ("hand_off",))
_ID = re.compile(r"[A-Za-z0-9_-]+")


class EditRefused(ValueError):
    """An edit that would leave the flow pointing at nothing, said in words."""


def where_of(ref: NodeRef) -> str:
    """The key path core.bot_flow names a node's problems with (``menus.main.options[1]``)."""
    kind = ref[0]
    if kind == "menu":
        return f"menus.{ref[1]}"
    if kind == "option":
        return f"menus.{ref[1]}.options[{ref[2]}]"
    if kind == "question":
        return f"questions.{ref[1]}"
    if kind == "keyword":
        return f"keywords[{ref[1]}]"
    return str(kind)


def is_about(problem: Problem, ref: NodeRef) -> bool:
    """Whether a problem is in this node (the greeting's form also holds start and the limit)."""
    prefixes = ("greeting", "start", "replies_per_hour") if ref == ("greeting",) else \
        (where_of(ref),)
    return any(problem.where == p or problem.where.startswith((p + ".", p + "["))
               for p in prefixes)


def problems_of(flow: Flow, *, mms: bool | None = None, groups: Iterable[str] = (),
                fields: Iterable[str] = ()) -> list[Problem]:
    """Why this flow cannot be saved: the parser's refusals, then (with ``mms`` known) what
    this number and this desk refuse. Empty when it can run."""
    try:
        parse_flow(flow_to_toml(flow))
    except FlowInvalid as invalid:
        return [dataclasses.replace(p, line=None) for p in invalid.problems]
    if mms is None:
        return []
    return problems_for_number(flow, mms=mms, groups=groups, fields=fields)


# --- reading a node -----------------------------------------------------------------------


def node_value(flow: Flow, ref: NodeRef) -> Any:
    """What the node's form edits: a Menu, Option, Question, KeywordAnswer, the HandOff, the
    out-of-hours text, or the whole Flow for the greeting (greeting, start, replies per hour)."""
    kind = ref[0]
    if kind == "greeting":
        return flow
    if kind == "out_of_hours":
        return flow.out_of_hours
    if kind == "hand_off":
        return flow.hand_off
    if kind == "menu":
        return flow.menus[ref[1]]
    if kind == "option":
        return flow.menus[ref[1]].options[ref[2]]
    if kind == "question":
        return flow.questions[ref[1]]
    if kind == "keyword":
        return flow.keywords[ref[1]]
    raise EditRefused(f"{kind} is a heading: add to it with a, or edit what is under it")


def is_editable(ref: NodeRef) -> bool:
    return ref[0] not in ("menus", "questions", "keywords")


# --- changing a node ----------------------------------------------------------------------


def replace_node(flow: Flow, ref: NodeRef, value: Any) -> Flow:
    """The flow with this node's value replaced (a new menu or question id is renamed
    everywhere it is used)."""
    kind = ref[0]
    if kind == "greeting":
        return dataclasses.replace(flow, greeting=value.greeting, start=value.start,
                                   replies_per_hour=value.replies_per_hour)
    if kind == "out_of_hours":
        return dataclasses.replace(flow, out_of_hours=value)
    if kind == "hand_off":
        return dataclasses.replace(flow, hand_off=value)
    if kind == "menu":
        menus = _renamed(flow.menus, ref[1], value.id, value)
        flow = dataclasses.replace(flow, menus=menus)
        return _menu_renamed(flow, ref[1], value.id) if value.id != ref[1] else flow
    if kind == "option":
        menu = flow.menus[ref[1]]
        options = list(menu.options)
        options[ref[2]] = value
        return _with_menu(flow, dataclasses.replace(menu, options=tuple(options)))
    if kind == "question":
        questions = _renamed(flow.questions, ref[1], value.id, value)
        flow = dataclasses.replace(flow, questions=questions)
        return _question_renamed(flow, ref[1], value.id) if value.id != ref[1] else flow
    if kind == "keyword":
        keywords = list(flow.keywords)
        keywords[ref[1]] = value
        return dataclasses.replace(flow, keywords=tuple(keywords))
    raise EditRefused(f"{kind} is a heading: add to it with a, or edit what is under it")


def check_id(new_id: str, taken: Iterable[str], what: str) -> str | None:
    """A menu's or question's name: the words when it cannot be used, else None."""
    if not _ID.fullmatch(new_id):
        return f"a {what}'s name may use only letters, digits, _ and - (e.g. billing)"
    if new_id in taken:
        return f"there is a {what} named {new_id!r} already"
    return None


def add_under(flow: Flow, ref: NodeRef) -> tuple[Flow, NodeRef]:
    """A new node where the cursor is (a menu under Menus, an option under a menu or beside
    an option, ...), filled so that the flow still runs; its ref, for the form to open."""
    kind = ref[0]
    if kind == "menus":
        menu_id = _free_id("menu", flow.menus)
        menu = Menu(id=menu_id, prompt=Say("Reply 1 for a person."), invalid="",
                    options=(Option(key="1", label="A person", hand_off=True),))
        start = flow.start if flow.start is not None else menu_id
        return dataclasses.replace(flow, menus={**flow.menus, menu_id: menu},
                                   start=start), ("menu", menu_id)
    if kind in ("menu", "option"):
        menu = flow.menus[ref[1]]
        keys = {o.key.strip().casefold() for o in menu.options}
        key = next(str(n) for n in range(1, 100) if str(n) not in keys)
        option = Option(key=key, label="A person", hand_off=True)
        flow = _with_menu(flow, dataclasses.replace(menu, options=(*menu.options, option)))
        return flow, ("option", menu.id, len(menu.options))
    if kind in ("questions", "question"):
        qid = _free_id("question", flow.questions)
        question = Question(id=qid, prompt=Say("What is your order number?"), field="")
        return dataclasses.replace(flow, questions={**flow.questions, qid: question}), \
            ("question", qid)
    if kind in ("keywords", "keyword"):
        keyword = KeywordAnswer(words=("hours",), say=Say("We are open Mon-Fri 9:00-17:30."))
        return dataclasses.replace(flow, keywords=(*flow.keywords, keyword)), \
            ("keyword", len(flow.keywords))
    raise EditRefused("add a menu, question or keyword under its heading; "
                      "the greeting, out-of-hours text and hand-off are edited with enter")


def without_node(flow: Flow, ref: NodeRef) -> Flow:
    """The flow without this node; EditRefused, in words, when something still points at it."""
    kind = ref[0]
    if kind == "greeting":
        return dataclasses.replace(flow, greeting=None)
    if kind == "out_of_hours":
        return dataclasses.replace(flow, out_of_hours="")
    if kind == "menu":
        users = _options_where(flow, lambda o: o.menu == ref[1])
        if flow.start == ref[1]:
            users.insert(0, "the greeting (the flow starts with it)")
        if users:
            raise EditRefused(f"menu {ref[1]} is used by " + ", ".join(users)
                              + ": change those first")
        return dataclasses.replace(flow, menus={k: v for k, v in flow.menus.items()
                                                if k != ref[1]})
    if kind == "option":
        menu = flow.menus[ref[1]]
        if len(menu.options) == 1:
            raise EditRefused(f"menu {menu.id} needs at least one choice: delete the menu"
                              " instead, or add another choice first")
        options = menu.options[:ref[2]] + menu.options[ref[2] + 1:]
        return _with_menu(flow, dataclasses.replace(menu, options=options))
    if kind == "question":
        users = _options_where(flow, lambda o: o.ask == ref[1])
        if users:
            raise EditRefused(f"question {ref[1]} is asked by " + ", ".join(users)
                              + ": change those first")
        return dataclasses.replace(flow, questions={k: v for k, v in flow.questions.items()
                                                    if k != ref[1]})
    if kind == "keyword":
        return dataclasses.replace(flow, keywords=flow.keywords[:ref[1]]
                                   + flow.keywords[ref[1] + 1:])
    if kind == "hand_off":
        raise EditRefused("the hand-off text is always there: edit it with enter")
    raise EditRefused("delete a menu, option, question or keyword, not a heading")


# --- inside -------------------------------------------------------------------------------


def _options_where(flow: Flow, test: Callable[[Option], bool]) -> list[str]:
    """The menu choices for which ``test`` holds, named as an admin finds them."""
    return [f"option {o.key} of menu {m.id}" for m in flow.menus.values()
            for o in m.options if test(o)]


def _free_id(stem: str, taken: Iterable[str]) -> str:
    names = set(taken)
    return next(f"{stem}{n}" if n else stem for n in range(100) if
                (f"{stem}{n}" if n else stem) not in names)


def _renamed(table: Any, old: str, new: str, value: Any) -> dict[str, Any]:
    """The mapping with ``old`` replaced by ``new`` in place (the file keeps its order)."""
    return {(new if key == old else key): (value if key == old else item)
            for key, item in table.items()}


def _with_menu(flow: Flow, menu: Menu) -> Flow:
    return dataclasses.replace(flow, menus={**flow.menus, menu.id: menu})


def _menu_renamed(flow: Flow, old: str, new: str) -> Flow:
    flow = _choices_renamed(flow, "menu", old, new)
    return dataclasses.replace(flow, start=new if flow.start == old else flow.start)


def _question_renamed(flow: Flow, old: str, new: str) -> Flow:
    return _choices_renamed(flow, "ask", old, new)


def _choices_renamed(flow: Flow, pointer: str, old: str, new: str) -> Flow:
    """Every choice whose ``pointer`` (menu or ask) named ``old`` names ``new``."""
    menus = {mid: dataclasses.replace(m, options=tuple(
        dataclasses.replace(o, **{pointer: new}) if getattr(o, pointer) == old else o
        for o in m.options)) for mid, m in flow.menus.items()}
    return dataclasses.replace(flow, menus=menus)
