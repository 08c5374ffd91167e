"""``smsdesk demo`` end to end: the real backend child, the real inbox, and a clean exit.

Why beside tests/test_demo.py (which checks the backend with a bare websocket):
the demo is the first thing a new user runs, so the inbox itself must show the
desk's history, receive the scripted customers' texts live, and leave nothing
behind (no process, no listening port) when the agent presses ctrl+q.
"""

from __future__ import annotations

from pathlib import Path

from desk_harness import processes_mentioning, refuses, until

from server.demo import DemoBackend, start_backend
from server.demo_history import PAST_CUSTOMER
from tui.app import InboxApp
from tui.client import ConnectionState
from tui.config import Config

SPEED = 20.0  # the script's first texts come within a second, the last after 9 s
HISTORY = 4  # open or pending tickets the demo's history leaves (server.demo.history)



def new_ticket_toasts(app: InboxApp) -> list[str]:
    return [str(n.title) for n in app._notifications if str(n.title).startswith("New ticket")]


async def test_the_demo_opens_in_the_inbox_and_quits_cleanly(tmp_path: Path) -> None:
    backend: DemoBackend = start_backend(tmp_path / "home", speed=SPEED)
    try:
        assert processes_mentioning(str(backend.home))  # the final check can see the child
        app = InboxApp(Config(relay=backend.url, token=backend.token, send_review=False))
        async with app.run_test(size=(140, 42)) as pilot:
            model = app.inbox.model
            await until(pilot, lambda: model.total >= HISTORY
                        and all(model.row(i) for i in range(model.total)), "the desk's history")
            # The week before today (server.demo_history) leaves a few open or pending too.
            history = HISTORY + sum(1 for i in range(model.total) if PAST_CUSTOMER.fullmatch(
                model.row(i)["ticket"]["customer_phone"] or ""))
            assert app.inbox.header.state == "live"
            assert app.inbox.header.agent == "Demo Admin"
            # A customer who never texted before starts a ticket while the inbox watches
            # (the toast only comes for live events, never for the first load).
            await until(pilot, lambda: new_ticket_toasts(app), "a live text")
            # Waited for, not asserted at once: a ticket created while the first window
            # loads is lost when the relay read that window before the ticket was committed
            # (TicketListModel.switch replaces what the event added); the next one counts.
            await until(pilot, lambda: model.total > history, "the new ticket in the list")
            await pilot.press("ctrl+q")
            await until(pilot, lambda: not app.is_running, "the inbox to exit", timeout=5)
        assert app.return_code == 0
        assert app.client.state is ConnectionState.CLOSED
    finally:
        code = backend.stop()
    assert code == 0
    assert backend.process.returncode == 0
    assert refuses(backend.url)
    assert refuses(backend.http_url)
    assert refuses(backend.sim_url)
    assert processes_mentioning(str(backend.home)) == []
