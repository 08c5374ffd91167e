"""Contacts in the inbox, against a real relay and the simulator: ``C`` shows every ticket
of the person across business numbers (closed ones too) and opens one's thread; ``E``
edits name, email and note with the relay's refusal shown on the form; two inboxes see
each other's edit at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from desk_harness import UK_LONG_CODE, US_TOLL_FREE, LiveDesk, live_desk, until
from textual.widgets import Input, OptionList, Static

from core import contacts, queries, writes
from tui.app import InboxApp
from tui.screens import inbox_contacts
from tui.screens.contact import ContactScreen
from tui.screens.contact_form import ContactFormScreen
from tui.screens.pickers import ChoiceScreen, ConfirmScreen
from tui.widgets.earlier import EarlierConversations

SIZE = (150, 44)
JORDAN = "+15125550133"


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


async def test_contact_view_lists_every_ticket_and_opens_one(desk: LiveDesk) -> None:
    await desk.text("Where is my parcel?", from_=JORDAN, to=US_TOLL_FREE)
    first = (await desk.relay.store.read(queries.list_tickets)).items[0].ticket
    await desk.relay.store.write(writes.update_ticket, first.id, status="closed")
    await desk.text("It came, thanks. Different question", from_=JORDAN, to=UK_LONG_CODE)
    await desk.text("STOP", from_=JORDAN, to=UK_LONG_CODE)  # blocks the UK number only
    app = InboxApp(desk.config(admin=False, data_dir=desk.home), backoff=(30,))
    async with app.run_test(size=SIZE) as pilot:
        inbox = app.inbox
        await until(pilot, lambda: inbox.model.total == 1 and inbox.model.row(0), "one open")
        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, ContactScreen) and app.screen.loaded,
                    "the contact view")
        view = app.screen
        assert isinstance(view, ContactScreen)
        assert [(i["ticket"]["id"], i["number"]) for i in view.items] == [
            (first.id + 1, UK_LONG_CODE), (first.id, US_TOLL_FREE)]
        options = view.query_one(OptionList)
        assert "closed" in str(options.get_option_at_index(1).prompt)
        await pilot.press("j", "enter")  # the closed one, on the other number
        await until(pilot, lambda: inbox.thread_state is not None
                    and inbox.thread_state.ticket_id == first.id
                    and len(inbox.thread.entries) == 1, "the closed ticket's thread")
        assert inbox.thread.entries[0]["body"] == "Where is my parcel?"
        # Opened from here, a ticket is judged by its own number's STOP, as from the list.
        uk_id = view.items[0]["ticket"]["number_id"]
        assert inbox.open_row["contact_opted_out"] is False
        assert inbox.open_row["contact_opted_out_number_ids"] == [uk_id]


async def test_an_edit_is_refused_inline_then_saved_and_seen_by_another_inbox(
    desk: LiveDesk,
) -> None:
    await desk.text("Hi", from_="+12025550199")  # someone else, with a phone of their own
    await desk.text("Hello", from_=JORDAN)
    mine = InboxApp(desk.config(admin=False, data_dir=desk.home / "a"), backoff=(30,))
    theirs = InboxApp(desk.config(admin=True, data_dir=desk.home / "b"), backoff=(30,))
    async with mine.run_test(size=SIZE) as pilot, theirs.run_test(size=SIZE) as other:
        for app, driver in ((mine, pilot), (theirs, other)):
            await until(driver, lambda app=app: app.inbox.model.row(0) is not None, "a row")
        await pilot.press("E")
        await until(pilot, lambda: isinstance(mine.screen, ContactFormScreen), "the form")
        form = mine.screen
        await pilot.press(*"Jordan Reyes", "tab", *"jordan@", "ctrl+s")
        error = form.query_one("#contact-form-error", Static)
        await until(pilot, lambda: "not a valid email" in str(error.render()), "the refusal")
        assert mine.screen is form  # still open, nothing saved
        contact = await desk.relay.store.read(queries.contact_by_phone, JORDAN)
        assert contact is not None and contact.name == ""
        form.query_one("#contact-email", Input).value = "jordan@example.com"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: mine.screen is mine.inbox, "the form closed")
        await until(other, lambda: theirs.inbox.model.row(0)["contact_name"] == "Jordan Reyes",
                    "the other inbox's row")
        saved = await desk.relay.store.read(queries.contact_by_phone, JORDAN)
        assert saved is not None and (saved.name, saved.email) == (
            "Jordan Reyes", "jordan@example.com")

        # Phones, typed in any format: one already someone else's is refused on the form.
        await pilot.press("E")
        await until(pilot, lambda: isinstance(mine.screen, ContactFormScreen), "the form again")
        form = mine.screen
        phones = form.query_one("#contact-phones", Input)
        assert phones.value == JORDAN
        phones.value = f"{JORDAN}, (202) 555-0199"
        await pilot.press("ctrl+s")
        error = form.query_one("#contact-form-error", Static)
        await until(pilot, lambda: "merge the two contacts" in str(error.render()), "refused")
        phones.value = f"{JORDAN}, 512 555 0177"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: mine.screen is mine.inbox, "the form closed")
        person = await desk.relay.store.read(contacts.phones_of, saved.id)
        assert [p.e164 for p in person] == [JORDAN, "+15125550177"]


async def test_search_finds_a_phone_in_any_format_and_says_how(desk: LiveDesk) -> None:
    await desk.text("Where is my parcel?", from_=JORDAN)
    await desk.text("Unrelated", from_="+12025550199")
    app = InboxApp(desk.config(admin=False, data_dir=desk.home), backoff=(30,))
    async with app.run_test(size=SIZE) as pilot:
        inbox = app.inbox
        await until(pilot, lambda: inbox.model.total == 2 and inbox.model.row(1), "two rows")
        await pilot.press("slash", *"+1 512-555-0133", "enter")
        await until(pilot, lambda: inbox.model.total == 1 and inbox.model.row(0)
                    and inbox.model.row(0)["contact_phone"] == JORDAN, "Jordan's ticket")
        await until(pilot, lambda: inbox.header.view.endswith("(by phone)"), "the search box")
        await pilot.press("C")  # from the highlighted search result
        await until(pilot, lambda: isinstance(app.screen, ContactScreen) and app.screen.loaded,
                    "the contact view")
        assert [i["ticket"]["id"] for i in app.screen.items] == [
            inbox.model.row(0)["ticket"]["id"]]


HOME = "+15125550177"


async def test_an_admin_merges_two_contacts_and_another_inbox_follows(desk: LiveDesk) -> None:
    """The admin finds the other contact by number from Jordan's contact view (M), is told
    what will move, and merges; an agent's inbox, with the merged-away contact's view
    open, follows to the kept contact (both phones listed) and its rows show the name."""
    await desk.text("From work", from_=JORDAN)
    first = (await desk.relay.store.read(queries.list_tickets)).items[0].ticket
    await desk.relay.store.write(writes.update_contact, first.contact_id, name="Jordan Reyes")
    await desk.text("From home", from_=HOME)
    admin = InboxApp(desk.config(admin=True, data_dir=desk.home / "a"), backoff=(30,))
    agent = InboxApp(desk.config(admin=False, data_dir=desk.home / "b"), backoff=(30,))
    async with admin.run_test(size=SIZE) as pilot, agent.run_test(size=SIZE) as other:
        for app, driver in ((admin, pilot), (agent, other)):
            await until(driver, lambda app=app: app.inbox.model.row(1) is not None, "two rows")
        await other.press("C")  # the newest row: the home phone's contact
        await until(other, lambda: isinstance(agent.screen, ContactScreen)
                    and agent.screen.loaded, "the agent's contact view")
        away = agent.screen
        assert isinstance(away, ContactScreen) and away.contact_id != first.contact_id
        assert not away.check_action("merge", ())  # merging is for admins

        await pilot.press("j", "C")
        await until(pilot, lambda: isinstance(admin.screen, ContactScreen)
                    and admin.screen.loaded, "the admin's contact view")
        await pilot.press("M", *"512 555 0177", "enter")
        await until(pilot, lambda: isinstance(admin.screen, ChoiceScreen), "the contact picker")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(admin.screen, ConfirmScreen), "the question")
        question = str(admin.screen.query_one(".confirm-question", Static).render())
        assert "1 ticket(s)" in question and HOME in question and "Jordan Reyes" in question
        await pilot.press("y")

        await until(other, lambda: away.contact_id == first.contact_id and away.loaded
                    and [p["e164"] for p in away.phones] == [JORDAN, HOME],
                    "the agent's view follows to Jordan, with both phones")
        await until(other, lambda: {agent.inbox.model.row(i)["contact_name"]
                                    for i in (0, 1)} == {"Jordan Reyes"}, "both rows named")
        assert {agent.inbox.model.row(i)["contact_phone"] for i in (0, 1)} == {JORDAN, HOME}


async def test_h_shows_the_earlier_conversations_above_the_thread_and_hides_them(
    desk: LiveDesk, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Jordan's two closed tickets (one per number) above the open one's thread, newest
    first, a window at a time; Enter opens one; H again hides them."""
    monkeypatch.setattr(inbox_contacts, "EARLIER_WINDOW", 2)
    earlier = []
    for body, to in (("First question", US_TOLL_FREE), ("Second question", UK_LONG_CODE)):
        await desk.text(body, from_=JORDAN, to=to)
        ticket = (await desk.relay.store.read(queries.list_tickets)).items[0].ticket
        await desk.relay.store.write(writes.update_ticket, ticket.id, status="closed")
        earlier.append(ticket.id)
    await desk.text("Third time", from_=JORDAN, to=US_TOLL_FREE)
    app = InboxApp(desk.config(admin=False, data_dir=desk.home), backoff=(30,))
    async with app.run_test(size=SIZE) as pilot:
        inbox = app.inbox
        await until(pilot, lambda: inbox.model.row(0) is not None, "the open ticket")
        await pilot.press("enter")
        await until(pilot, lambda: inbox.thread_state is not None
                    and len(inbox.thread.entries) == 1, "its thread")
        await pilot.press("H")
        panel = inbox.query_one(EarlierConversations)
        await until(pilot, lambda: panel.display and panel.items, "the earlier conversations")
        assert [i["ticket"]["id"] for i in panel.items] == [earlier[1]]
        assert panel.older is not None and "closed" in str(panel.get_option_at_index(0).prompt)
        await pilot.press("j", "enter")  # "Load older conversations…"
        await until(pilot, lambda: len(panel.items) == 2, "the older window")
        assert [i["ticket"]["id"] for i in panel.items] == [earlier[1], earlier[0]]
        assert UK_LONG_CODE in str(panel.get_option_at_index(0).prompt)
        await pilot.press("H")
        await until(pilot, lambda: not panel.display, "hidden again")
        await pilot.press("H")
        await until(pilot, lambda: panel.display and len(panel.items) == 1, "shown again")
        await pilot.press("enter")  # open the newest earlier one
        await until(pilot, lambda: inbox.thread_state is not None
                    and inbox.thread_state.ticket_id == earlier[1]
                    and len(inbox.thread.entries) == 1, "the earlier ticket's thread")
        assert inbox.thread.entries[0]["body"] == "Second question"


async def test_the_form_opened_to_add_an_email_starts_in_the_email_field() -> None:
    """Offered from the composer's refused switch, the form puts the cursor where the agent
    came to type (the name field otherwise)."""
    from textual.app import App

    async def save(changes: dict[str, object]) -> object:
        return changes

    contact = {"id": 1, "name": "Priya Raman", "phone": JORDAN, "email": "", "phones": []}
    for focus, expected in (("email", "contact-email"), ("name", "contact-name")):
        app: App[None] = App()
        async with app.run_test(size=SIZE) as pilot:
            await app.push_screen(ContactFormScreen(contact, save, focus=focus))
            await pilot.pause()
            assert app.focused is not None and app.focused.id == expected
