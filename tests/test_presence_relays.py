"""The presence board with other relays: what it shares, what it hears, what it forgets."""

from __future__ import annotations

import json
import time
from typing import Any

from server.hub import Hub
from server.presence import PresenceBoard


class FakeStore:
    """What the board needs of a store: ``share`` and ``on_shared``."""

    def __init__(self) -> None:
        self.shared: list[dict[str, Any]] = []
        self.listeners: list[Any] = []

    def share(self, text: str) -> None:
        self.shared.append(json.loads(text))

    def on_shared(self, listener: Any, joined: Any = None) -> None:
        self.listeners.append(listener)
        if joined is not None:
            joined()  # hearing the others from now on


def _board() -> tuple[PresenceBoard, FakeStore, Hub]:
    hub = Hub()
    board = PresenceBoard(hub)
    store = FakeStore()
    board.share_through(store)  # type: ignore[arg-type]
    return board, store, hub


def _spot(origin: str, connection: int, ticket_id: int | None) -> str:
    return json.dumps({"p": 1, "o": origin, "t": "spot", "c": connection,
                       "agent": {"id": 7, "name": "Ana"}, "ticket_id": ticket_id,
                       "activity": "viewing" if ticket_id else None})


def test_a_new_board_asks_and_shares_its_changes() -> None:
    board, store, hub = _board()
    assert [s["t"] for s in store.shared] == ["ask"]
    ana = hub.subscribe()
    board.set(ana, {"id": 1, "name": "Ana"}, 5, "replying")
    board.leave(ana)
    spots = [(s["t"], s["ticket_id"], s["activity"]) for s in store.shared[1:]]
    assert spots == [("spot", 5, "replying"), ("spot", None, None)]


def test_what_another_relay_says_reaches_local_agents_and_the_board() -> None:
    board, _store, hub = _board()
    watcher = hub.subscribe()
    board.heard(_spot("elsewhere", 1, 9))
    board.heard(_spot("elsewhere", 1, 9))  # the same again: not told twice
    told = [json.loads(text) for _, text in watcher.pending]
    assert [(t["agent"]["name"], t["ticket_id"]) for t in told] == [("Ana", 9)]
    assert [json.loads(m)["ticket_id"] for m in board.current(skip=watcher)] == [9]
    board.heard(_spot("elsewhere", 1, None))
    assert json.loads(watcher.pending[-1][1])["ticket_id"] is None
    assert board.current(skip=watcher) == []


def test_an_ask_is_answered_with_this_relays_spots() -> None:
    board, store, hub = _board()
    board.set(hub.subscribe(), {"id": 1, "name": "Ana"}, 5, "viewing")
    store.shared.clear()
    board.heard(json.dumps({"p": 1, "o": "new relay", "t": "ask"}))
    assert [(s["t"], s["ticket_id"]) for s in store.shared] == [("spot", 5)]


def test_a_silent_relays_spots_are_taken_off() -> None:
    board, _store, hub = _board()
    watcher = hub.subscribe()
    board.heard(_spot("dead", 1, 9))
    board.heard(_spot("alive", 2, 8))
    board.forget_silent(time.monotonic() + 1)  # neither heard since: both go
    assert board.current(skip=watcher) == []
    left = [json.loads(text) for _, text in watcher.pending[2:]]
    assert sorted(t["ticket_id"] is None for t in left) == [True, True]


def test_own_and_malformed_texts_are_ignored() -> None:
    board, _store, hub = _board()
    watcher = hub.subscribe()
    own = json.loads(_spot("x", 1, 3))
    own["o"] = board._origin
    for text in (json.dumps(own), "not json", json.dumps({"p": 2}), json.dumps([1]),
                 json.dumps({"p": 1, "o": "y", "t": "spot", "c": "one"})):
        board.heard(text)
    assert watcher.pending == []
