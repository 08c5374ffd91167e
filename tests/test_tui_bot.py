"""The admin screen's Bot tab (issue 13): a number's flow as a tree, edited in forms, imported
and exported as TOML, turned on and off, and tried in the preview; over a relay that keeps what
it is sent (``FlowRelay``), checking it with core.bot_flow as the real one does."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import US_TOLL_FREE, LiveDesk, live_desk, until
from test_tui_admin import CANNED, AdminApp, CannedClient, open_admin, settle
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static, TextArea

from core import bot_store, ticket_fields
from core.bot_flow import Attachment, Flow, FlowInvalid, Say, parse_flow
from core.business_hours import calendar_from_dict, hours_now, opening_in_words
from tui.app import InboxApp
from tui.client import CommandError
from tui.screens.admin.bot import BotPane
from tui.screens.admin.bot_edits import (
    EditRefused,
    add_under,
    is_about,
    node_value,
    problems_of,
    replace_node,
    without_node,
)
from tui.screens.admin.bot_node_form import NodeForm
from tui.screens.admin.bot_preview import BotPreview, hours_for_preview, hours_words
from tui.screens.admin.bot_tree import BotTree, find_node
from tui.screens.pickers import ConfirmScreen, TextPromptScreen

FLOW = '''\
# smsdesk bot flow
greeting = "Hi, this is Acme Support."
start = "main"
out_of_hours = "We're closed now; we open {next_opening}. Leave a message and we'll answer then."

[hand_off]
text = "Thanks! A person will answer shortly."

[menus.main]
prompt = "Reply 1 for billing, 2 for shipping, 3 for a person."
invalid = "Sorry, I didn't get that. Reply 1, 2 or 3."

[[menus.main.options]]
key = "1"
label = "Billing"
route = "Billing"
say = "Thanks, billing will text you soon."
hand_off = true

[[menus.main.options]]
key = "2"
label = "Shipping"
ask = "order"

[[menus.main.options]]
key = "3"
label = "A person"
hand_off = true

[questions.order]
prompt = "What's your order number? It looks like AC-12345."
field = "order_number"
pattern = "AC-?[0-9]{5}"
retry = "That doesn't look like an order number (AC-12345). Try again?"
then_say = "Thanks! We'll look up {answer}."
then_route = "Shipping"

[[keywords]]
words = ["hours", "opening", "horario"]
say = "We're open Mon-Fri 9:00-17:30. Sábado cerrado."
'''
FIELDS = [{"id": 1, "key": "order_number", "label": "Order number", "kind": "text",
           "choices": [], "required_to_resolve": False, "position": 0, "retired_at": None}]
US, UK = 1, 2
PRICES_SHA = "ab" * 32
LONDON = {"time_zone": "Europe/London", "monday": "09:00-17:30", "tuesday": "09:00-17:30",
          "wednesday": "09:00-17:30", "thursday": "09:00-17:30", "friday": "09:00-17:30",
          "saturday": "closed", "sunday": "closed", "holidays": []}
HOURS = {"hours": [
    {"scope": "number", "scope_id": US, "name": "+18885550100", "calendar": None},
    {"scope": "number", "scope_id": UK, "name": "+447400900456", "calendar": LONDON},
    {"scope": "group", "scope_id": 1, "name": "Billing", "calendar": None}]}


def row(number_id: int, e164: str, mms: bool, source: str | None, enabled: bool) -> dict[str, Any]:
    return {"number_id": number_id, "e164": e164, "mms": mms, "enabled": enabled,
            "source": source, "version": 1 if source else 0, "problems": []}


class FlowRelay(CannedClient):
    """The bot commands of the relay, kept in memory: a save is parsed as the relay does, and
    what is stored is what get_bot_flows answers after."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flows = {US: row(US, "+18885550100", True, FLOW, True),
                      UK: row(UK, "+447400900456", False, None, False)}
        self.answers = {**CANNED, "list_fields": FIELDS, "get_business_hours": HOURS,
                        "upload_media": {
            "sha256": PRICES_SHA, "size": 68, "content_type": "image/png",
            "filename": "prices.png"}}

    async def command(self, name: str, /, *, timeout: float | None = None,
                      command_id: str | None = None, **args: Any) -> Any:
        if name == "get_bot_flows":
            self.calls.append((name, args))
            return {"flows": copy.deepcopy(list(self.flows.values()))}
        if name == "save_bot_flow":
            self.calls.append((name, args))
            try:
                parse_flow(args["source"])
            except FlowInvalid as invalid:
                raise CommandError("bad_args", str(invalid)) from None
            stored = self.flows[args["number_id"]]
            stored.update(source=args["source"], version=stored["version"] + 1)
            return copy.deepcopy(stored)
        if name == "set_bot_enabled":
            self.calls.append((name, args))
            stored = self.flows[args["number_id"]]
            if stored["source"] is None:
                raise CommandError("refused", "this number has no flow to turn on")
            stored["enabled"] = args["enabled"]
            return copy.deepcopy(stored)
        return await super().command(name, timeout=timeout, command_id=command_id, **args)


class BotApp(AdminApp):
    def __init__(self) -> None:
        super().__init__(tab="bot")
        self.client = FlowRelay()


def pane_of(app: AdminApp) -> BotPane:
    return app.screen.query_one(BotPane)


def shown(widget: Any, selector: str) -> str:
    return str(widget.query_one(selector, Static).render())


async def press_on(pilot: Pilot[Any], app: AdminApp, ref: tuple[Any, ...], *keys: str) -> BotPane:
    """The Bot tab loaded, the tree's cursor on ``ref``, then ``keys``."""
    await settle("bot")(pilot)
    pane = pane_of(app)
    tree = pane.query_one(BotTree)
    tree.focus()
    tree.move_cursor(find_node(tree.root, ref))
    await pilot.press(*keys)
    await pilot.pause()
    return pane


async def prompt_answer(pilot: Pilot[Any], app: AdminApp, text: str) -> None:
    prompt = await until(pilot, lambda: isinstance(app.screen, TextPromptScreen) and app.screen,
                         what="the path prompt")
    prompt.query_one(Input).value = text
    await pilot.press("enter")


async def test_importing_a_file_with_an_error_shows_its_line(tmp_path: Path) -> None:
    broken = FLOW.replace('label = "Shipping"', 'label = "Shipping"\nbuttons = ["Track"]')
    path = tmp_path / "flow.toml"
    path.write_text(broken)
    app = BotApp()
    async with app.run_test(size=(150, 44)) as pilot:
        await settle("bot")(pilot)
        pane = pane_of(app)
        await pilot.press("i")
        await prompt_answer(pilot, app, str(path))
        await until(pilot, lambda: "Not imported" in shown(pane, "#bot-problems"),
                    what="the refusal")
        words = shown(pane, "#bot-problems")
        line = broken.splitlines().index('buttons = ["Track"]') + 1
        assert f"line {line}: menus.main.options[1]" in words
        assert "SMS has no buttons" in words
        assert "save_bot_flow" not in [name for name, _ in app.client.calls]


async def test_space_turns_the_bot_off_and_on_and_a_number_without_a_flow_cannot() -> None:
    app = BotApp()
    async with app.run_test(size=(150, 44)) as pilot:
        await settle("bot")(pilot)
        pane = pane_of(app)
        numbers = pane.query_one("#bot-numbers")
        numbers.focus()
        await pilot.press("space")
        await until(pilot, lambda: not app.client.flows[US]["enabled"], what="off")
        await until(pilot, lambda: "bot off" in shown(pane, "#bot-state"), what="shown off")
        assert str(numbers.get_row_at(0)[0]) == "○"
        await pilot.press("space")
        await until(pilot, lambda: app.client.flows[US]["enabled"], what="on again")
        await until(pilot, lambda: str(numbers.get_row_at(0)[0]) == "●", what="shown on")
        await pilot.press("down", "space")
        await pilot.pause(0.2)
        assert "no flow saved yet" in shown(pane, "#bot-state")
        assert "SMS-only number: the bot sends text only" in shown(pane, "#bot-state")
        assert [name for name, _ in app.client.calls].count("set_bot_enabled") == 2
        assert any("has no flow saved yet" in n.message for n in app._notifications)


async def test_the_preview_answers_a_menu_choice_with_each_text_s_segments() -> None:
    app = BotApp()
    async with app.run_test(size=(150, 44)) as pilot:
        await settle("bot")(pilot)
        preview = pane_of(app).query_one(BotPreview)
        preview.query_one("#preview-input", Input).focus()
        await pilot.press(*"hello", "enter")
        texts = [str(s.render()) for s in preview.query(".preview-bot").results(Static)]
        assert texts[0].startswith("🤖 Hi, this is Acme Support.")
        assert texts[1].startswith("🤖 Reply 1 for billing") and \
            texts[1].endswith("1 segment · GSM-7")
        await pilot.press("1", "enter")
        texts = [str(s.render()) for s in preview.query(".preview-bot").results(Static)]
        assert texts[2] == "🤖 Thanks, billing will text you soon.\n1 segment · GSM-7"
        assert texts[3].startswith("🤖 Thanks! A person will answer shortly.")
        notes = [str(s.render()) for s in preview.query(".preview-note").results(Static)]
        assert "→ moves the ticket to Billing" in notes
        assert any(note.startswith("→ hands the ticket to a person") for note in notes)
        await pilot.press("ctrl+n", "ctrl+o")
        assert preview.closed
        await pilot.press(*"what are your opening hours?", "enter")
        texts = [str(s.render()) for s in preview.query(".preview-bot").results(Static)]
        closed = [t for t in texts if "closed now" in t]
        assert closed and closed[0].startswith("🤖 We're closed now; we open tomorrow at 9:00.")
        hours = [t for t in texts if "Sábado" in t]  # á is not GSM-7: the whole text is UCS-2
        assert hours and hours[0].endswith("1 segment · UCS-2")


async def test_export_writes_a_file_that_parses_back_equal(tmp_path: Path) -> None:
    app = BotApp()
    async with app.run_test(size=(150, 44)) as pilot:
        # An unsaved change: the export is of what the editor shows.
        pane = await press_on(pilot, app, ("keyword", 0), "d")
        assert pane.unsaved and not pane.flow.keywords
        path = tmp_path / "out.toml"
        await pilot.press("x")
        await prompt_answer(pilot, app, str(path))
        await until(pilot, path.exists, what="the file")
        assert parse_flow(path.read_text()) == pane.flow
        await pilot.press("x")
        await prompt_answer(pilot, app, str(path))
        confirm = await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and
                              app.screen, what="replace?")
        assert "exists. Replace it?" in str(confirm.query_one(".confirm-question").render())
        await pilot.press("n")


async def test_leaving_with_unsaved_changes_asks() -> None:
    app = BotApp()
    async with app.run_test(size=(150, 44)) as pilot:
        pane = await press_on(pilot, app, ("out_of_hours",), "d")
        assert pane.unsaved
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="asked")
        await pilot.press("n")  # stay
        await pilot.pause()
        assert pane.unsaved and pane.flow.out_of_hours == ""
        await pilot.press("8")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="asked again")
        assert app.screen_stack[-2].tabs.active == "bot"
        await pilot.press("y")  # discard
        await until(pilot, lambda: app.screen_stack[-1].tabs.active == "email",
                    what="the email tab")
        assert not pane.unsaved and pane.flow.out_of_hours.startswith("We're closed")


async def test_an_sms_only_number_s_editor_says_text_only_and_offers_no_attachment() -> None:
    app = BotApp()
    async with app.run_test(size=(150, 44)) as pilot:
        await settle("bot")(pilot)
        pane = pane_of(app)
        await pilot.press("down")
        await until(pilot, lambda: pane.number_id == UK, what="the UK number")
        tree = pane.query_one(BotTree)
        tree.focus()
        tree.move_cursor(find_node(tree.root, ("menus",)))
        await pilot.press("a")
        form = await until(pilot, lambda: isinstance(app.screen, NodeForm) and app.screen,
                           what="the new menu's form")
        assert "SMS-only number: the bot sends text only" in " ".join(
            str(s.render()) for s in form.query(".sms-only").results(Static))
        assert not form.query("#prompt-file")  # nowhere to attach a file
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is not form, what="kept")
        assert list(pane.flow.menus) == ["menu"] and pane.flow.start == "menu"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.client.flows[UK]["source"] is not None, what="saved")
        assert parse_flow(app.client.flows[UK]["source"]) == pane.flow


async def test_the_form_refuses_what_the_flow_would_refuse_and_stays_open() -> None:
    app = BotApp()
    async with app.run_test(size=(150, 44)) as pilot:
        pane = await press_on(pilot, app, ("question", "order"), "enter")
        form = await until(pilot, lambda: isinstance(app.screen, NodeForm) and app.screen,
                           what="the form")
        form.query_one("#form-pattern", Input).value = "AC-(["
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert app.screen is form
        assert "questions.order.pattern" in shown(form, "#bot-form-error")
        await pilot.press("escape")
        await pilot.pause()
        assert not pane.unsaved


async def test_an_mms_number_attaches_a_picture_but_never_audio(tmp_path: Path) -> None:
    (tmp_path / "prices.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(60))
    (tmp_path / "jingle.mp3").write_bytes(b"ID3" + bytes(60))
    app = BotApp()
    async with app.run_test(size=(150, 44)) as pilot:
        pane = await press_on(pilot, app, ("keyword", 0), "enter")
        form = await until(pilot, lambda: isinstance(app.screen, NodeForm) and app.screen,
                           what="the form")
        form.query_one("#say-file", Input).value = str(tmp_path / "jingle.mp3")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "cannot send audio" in shown(form, "#bot-form-error"),
                    what="the refusal")
        assert "keywords[0].say.attachments" in shown(form, "#bot-form-error")
        form.query_one("#say-file", Input).value = str(tmp_path / "prices.png")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: pane.unsaved, what="kept")
        assert pane.flow.keywords[0].say.attachments == (
            Attachment(PRICES_SHA, "image/png", "prices.png", 68),)
        assert [n for n, _ in app.client.calls].count("upload_media") == 1
        assert "📎 1" in str(find_node(pane.query_one(BotTree).root, ("keyword", 0)).label)


async def test_every_node_s_form_opens_and_keeps_it_as_it_was() -> None:
    app = BotApp()
    async with app.run_test(size=(150, 44)) as pilot:
        await settle("bot")(pilot)
        pane = pane_of(app)
        before = pane.flow
        refs = [("greeting",), ("out_of_hours",), ("menu", "main"), ("option", "main", 0),
                ("option", "main", 1), ("question", "order"), ("keyword", 0), ("hand_off",)]
        for ref in refs:
            await press_on(pilot, app, ref, "enter")
            form = await until(pilot, lambda: isinstance(app.screen, NodeForm) and app.screen,
                               what=f"the form of {ref}")
            assert form.focused is not None
            await pilot.press("ctrl+s")
            await until(pilot, lambda form=form: app.screen is not form, what=f"{ref} kept")
        assert pane.flow == before


async def test_a_route_to_a_group_gone_stays_picked_and_is_named() -> None:
    app = BotApp()
    app.client.answers = {**app.client.answers, "list_groups": [{"id": 2, "name": "Shipping"}]}
    async with app.run_test(size=(150, 44)) as pilot:
        pane = await press_on(pilot, app, ("option", "main", 0), "enter")
        assert "there is no group named 'Billing'" in shown(pane, "#bot-problems")
        form = await until(pilot, lambda: isinstance(app.screen, NodeForm) and app.screen,
                           what="the form")
        assert form.query_one("#form-route", Select).value == "Billing"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "no group named 'Billing'" in shown(form, "#bot-form-error"),
                    what="the refusal")


# --- snapshots ----------------------------------------------------------------------------

FIXED_MS = 1_780_000_000_000  # a fixed clock: the preview's "tomorrow at 9:00" never moves


def test_snapshot_bot_tab_with_a_flow(snap_compare: Any) -> None:
    assert snap_compare(BotApp(), terminal_size=(150, 40), run_before=settle("bot"))


def test_snapshot_preview_mid_conversation(snap_compare: Any) -> None:
    async def talk(pilot: Pilot[Any]) -> None:
        await settle("bot")(pilot)
        preview = pilot.app.screen.query_one(BotPreview)
        preview.clock = lambda: FIXED_MS
        preview.query_one("#preview-input", Input).focus()
        await pilot.press(*"hi", "enter", "2", "enter", *"AC-123", "enter")
        await pilot.pause()

    assert snap_compare(BotApp(), terminal_size=(150, 40), run_before=talk)


# --- the edits, without a screen ------------------------------------------------------------


def test_renaming_a_menu_or_question_follows_everywhere_it_is_used() -> None:
    flow = parse_flow(FLOW)
    renamed = replace_node(flow, ("menu", "main"),
                           dataclasses.replace(flow.menus["main"], id="welcome"))
    assert list(renamed.menus) == ["welcome"] and renamed.start == "welcome"
    renamed = replace_node(renamed, ("question", "order"),
                           dataclasses.replace(flow.questions["order"], id="order_no"))
    assert renamed.menus["welcome"].options[1].ask == "order_no"
    assert problems_of(renamed) == []


def test_deleting_what_is_used_is_refused_in_words() -> None:
    flow = parse_flow(FLOW)
    with pytest.raises(EditRefused, match="question order is asked by option 2 of menu main"):
        without_node(flow, ("question", "order"))
    with pytest.raises(EditRefused, match="the flow starts with it"):
        without_node(flow, ("menu", "main"))
    shorter = without_node(flow, ("option", "main", 1))
    assert [o.key for o in shorter.menus["main"].options] == ["1", "3"]
    assert problems_of(without_node(shorter, ("question", "order"))) == []


def test_what_is_added_runs_and_a_problem_is_named_at_its_node() -> None:
    flow, ref = add_under(Flow(), ("menus",))
    assert ref == ("menu", "menu") and flow.start == "menu" and problems_of(flow) == []
    flow, ref = add_under(flow, ref)
    assert ref == ("option", "menu", 1) and flow.menus["menu"].options[1].key == "2"
    routed = replace_node(flow, ref, dataclasses.replace(node_value(flow, ref), route="Nobody"))
    problems = problems_of(routed, mms=True, groups=["Billing"], fields=[])
    assert [p.where for p in problems] == ["menus.menu.options[1].route"]
    assert is_about(problems[0], ref) and not is_about(problems[0], ("option", "menu", 0))


# --- against the real relay -----------------------------------------------------------------


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        await running.relay.store.write(ticket_fields.create_field, label="Order number",
                                        kind="text")
        yield running


async def stored_flows(desk: LiveDesk) -> dict[str, Any]:
    return {row.e164: row for row in await desk.relay.store.read(bot_store.bot_flows)}


async def test_import_edit_save_and_turn_on_reach_the_relay(desk: LiveDesk,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    path.write_text(FLOW)
    app = InboxApp(desk.config())
    async with app.run_test(size=(150, 44)) as pilot:
        screen = await open_admin(pilot, app)
        await pilot.press("9")
        pane = screen.query_one(BotPane)
        await until(pilot, lambda: pane.loaded and pane.row is not None, what="the Bot tab")
        assert pane.row["e164"] == US_TOLL_FREE and pane.row["source"] is None
        await pilot.press("i")
        await prompt_answer(pilot, app, str(path))
        await until(pilot, lambda: pane.row["source"] is not None, what="imported")
        assert (await stored_flows(desk))[US_TOLL_FREE].source == FLOW  # as written
        pane = await press_on(pilot, app, ("option", "main", 2), "enter")
        form = await until(pilot, lambda: isinstance(app.screen, NodeForm) and app.screen,
                           what="the form")
        form.query_one("#form-label", Input).value = "An agent"
        form.query_one("#form-route", Select).value = "Shipping"
        form.query_one("#say-say #say-text", TextArea).text = "One moment, please."
        await pilot.press("ctrl+s")
        await until(pilot, lambda: pane.unsaved, what="kept in the editor")
        assert "unsaved changes" in shown(pane, "#bot-state")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not pane.unsaved, what="saved")
        row = (await stored_flows(desk))[US_TOLL_FREE]
        option = parse_flow(row.source).menus["main"].options[2]
        assert (option.label, option.route, option.say, row.version, row.enabled) == \
            ("An agent", "Shipping", Say("One moment, please."), 2, False)
        await pilot.press("space")
        await until(pilot, lambda: pane.row["enabled"], what="on")
        assert (await stored_flows(desk))[US_TOLL_FREE].enabled


SATURDAY_NOON = 1780743600000  # 2026-06-06 12:00 in London (BST)
MONDAY_TEN = 1780909200000     # 2026-06-08 10:00 in London


def test_the_preview_keeps_the_number_s_hours_and_pretends_closed_only_when_open() -> None:
    london = calendar_from_dict(LONDON)
    assert hours_words(None, MONDAY_TEN) == "Hours: 24×7 (no hours set for this number)"
    assert hours_words(london, MONDAY_TEN) == "Hours (Europe/London): open now"
    assert hours_words(london, SATURDAY_NOON) == \
        "Hours (Europe/London): closed, opens Monday at 9:00"
    weekend = hours_for_preview(london, SATURDAY_NOON, pretend_closed=True)
    assert weekend == hours_now(london, SATURDAY_NOON)  # really closed: kept as it is
    pretended = hours_for_preview(london, MONDAY_TEN, pretend_closed=True)
    assert not pretended.open and pretended.next_opening is not None
    assert opening_in_words(pretended.next_opening, MONDAY_TEN) == "tomorrow at 9:00"
    assert hours_for_preview(london, MONDAY_TEN, pretend_closed=False).open


def test_the_bot_keys_are_in_the_keymap_and_remap_without_clashes() -> None:
    from tui.config import Config
    from tui.keymap import apply_keymap

    app = InboxApp(Config(relay="ws://127.0.0.1:9/ws", token="sd_x", send_review=False))
    ids = {"admin.tab_bot", "bot.save", "bot.import", "bot.export", "bot.toggle", "bot.edit",
           "bot.add", "bot.delete", "bot.preview_new", "bot.preview_closed", "flow.keep"}
    assert ids <= set(app.catalog)
    assert apply_keymap(app, {"bot.toggle": "t", "bot.import": "I", "flow.keep": "ctrl+k"},
                        app.catalog) == []
