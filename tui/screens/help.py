"""The ``?`` screen: every key of the inbox, as the agent has them mapped right now.

It lists the whole binding catalog rather than only what the focused widget
answers to, because an agent looking for "how do I assign" is usually not in
the widget that does it yet. Bindings that work on the screen below at this
moment are shown plainly, the others dimmed, and each row shows its binding id
so the agent can remap it in the config file without reading source code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Label, Static

from tui.keymap import current_keys, scope_of

SCOPE_ORDER = ("app", "inbox", "list", "thread", "composer")
SCOPE_TITLES = {
    "app": "Anywhere",
    "inbox": "Inbox",
    "list": "Ticket list",
    "thread": "Conversation",
    "composer": "Composer",
    "send_review": "Before a text goes out",
    "admin": "Admin (admins only)",
    "wizard": "Connect a Twilio account",
    "other": "Other keys here",
}


@dataclass(frozen=True)
class HelpRow:
    """One line of the help table."""

    scope: str
    binding_id: str  # "" for bindings without an id (cannot be remapped)
    keys: str
    description: str
    active: bool  # works on the screen the help was opened over, right now


def _scope_rank(scope: str) -> tuple[int, str]:
    """Known scopes in the order an agent meets them, the rest alphabetically, 'other' last."""
    if scope in SCOPE_ORDER:
        return (SCOPE_ORDER.index(scope), scope)
    return (len(SCOPE_ORDER) + (1 if scope == "other" else 0), scope)


def help_rows(
    catalog: Mapping[str, Binding],
    keymap: Mapping[str, str],
    key_display: Callable[[Binding], str],
    active: Iterable[Binding] | None = None,
) -> list[HelpRow]:
    """The help table's rows, grouped by scope, keys shown after keymap remapping.

    ``active`` are the bindings in effect on the screen below (``None``: unknown,
    so every row counts as active). Of those, the ones without an id that would
    show in a footer are added under "other": they work but cannot be remapped.
    """
    active_list = list(active) if active is not None else None
    active_ids = {b.id for b in active_list or () if b.id}
    rows: list[HelpRow] = []
    for binding_id, binding in catalog.items():
        keys = current_keys(binding_id, catalog, keymap)
        shown = " ".join(key_display(binding.with_key(key)) for key in keys)
        rows.append(HelpRow(
            scope=scope_of(binding_id),
            binding_id=binding_id,
            keys=shown,
            description=binding.description or binding.action,
            active=active_list is None or binding_id in active_ids,
        ))
    extras: dict[str, list[str]] = {}
    descriptions: dict[str, str] = {}
    for binding in active_list or ():
        if binding.id or binding.system or not (binding.show and binding.description):
            continue
        extras.setdefault(binding.action, []).append(key_display(binding))
        descriptions[binding.action] = binding.description
    rows += [
        HelpRow("other", "", " ".join(dict.fromkeys(keys)), descriptions[action], True)
        for action, keys in extras.items()
    ]
    return sorted(rows, key=lambda row: _scope_rank(row.scope))  # stable: catalog order kept


class HelpScreen(ModalScreen[None]):
    """Modal list of every binding; escape, q or ? closes it."""

    CSS_PATH = "help.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close help", id="help.close"),
    ]

    def __init__(
        self,
        catalog: Mapping[str, Binding],
        keymap: Mapping[str, str] | None = None,
        config_hint: str = "",
    ) -> None:
        """``keymap`` defaults to the app's live keymap; ``config_hint`` names the config file."""
        super().__init__()
        self._catalog = catalog
        self._keymap_override = keymap
        self._config_hint = config_hint

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            yield Label("Key bindings", id="help-title")
            yield DataTable(id="help-table", cursor_type="none", zebra_stripes=False)
            where = f" in {self._config_hint}" if self._config_hint else ""
            yield Static(
                f"Dim rows do not work where you are now. To remap one, add "
                f"\"id\" = \"keys\" under [keymap]{where}.  esc q ? close",
                id="help-hint",
                markup=False,  # "[keymap]" is text here, not a style tag
            )

    def _screen_below(self) -> Screen[Any] | None:
        stack = self.app.screen_stack
        if self in stack:
            index = stack.index(self)
            return stack[index - 1] if index > 0 else None
        return stack[-1] if stack else None

    def on_mount(self) -> None:
        below = self._screen_below()
        active = (
            [item.binding for item in below.active_bindings.values() if item.enabled]
            if below is not None else None
        )
        # Textual keeps no public getter for the keymap set with App.set_keymap.
        keymap = (
            self._keymap_override if self._keymap_override is not None else self.app._keymap
        )
        rows = help_rows(self._catalog, keymap, self.app.get_key_display, active)
        table: DataTable[Text] = self.query_one("#help-table", DataTable)
        table.add_column("Keys", key="keys")
        table.add_column("Does", key="does")
        table.add_column("Binding id", key="id")
        scope = None
        for index, row in enumerate(rows):
            if row.scope != scope:
                scope = row.scope
                title = SCOPE_TITLES.get(scope, scope.capitalize())
                table.add_row(Text(title, style="bold"), Text(""), Text(""), key=f"§{scope}")
            style = "" if row.active else "dim"
            table.add_row(
                Text(row.keys, style=f"bold {style}".strip()),
                Text(row.description, style=style),
                Text(row.binding_id, style="dim italic"),
                key=row.binding_id or f"#{index}",
            )

    def action_close(self) -> None:
        self.dismiss(None)
