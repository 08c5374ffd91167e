"""The inbox's part in scenarios: ``S`` picks one and runs it on the targets, then says how it went.

The relay runs it per ticket, all of it or none, and answers which tickets were
refused and why; the summary toast says exactly that ("Applied to 12 tickets; #4
refused: …"). Every change arrives as events, so every open inbox shows it at once.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from textual import work
from textual.command import Hit, Hits, Provider

from tui.client import CommandError
from tui.screens.scenario_picker import ScenarioPicker


def summary(result: dict[str, Any]) -> str:
    """The relay's answer to ``run_scenario`` in one or a few lines."""
    applied = len(result.get("applied") or [])
    lines = [f"Applied to {applied} ticket{'s' if applied != 1 else ''}"]
    refused = result.get("refused") or []
    lines.extend(f"#{item['ticket_id']} refused: {str(item['refused']).rstrip('.')}"
                 for item in refused[:5])
    if len(refused) > 5:
        lines.append(f"…and {len(refused) - 5} more refused")
    return ";\n".join(lines) + "."


class ScenarioActions:
    """Mixed into InboxScreen: the ``S`` key (and the palette's "Run scenario").

    It uses the screen's ``command``, ``_targets``, ``tickets``, ``names``, ``canned`` and
    ``notify``.
    """

    scenario_list: list[dict[str, Any]] | None = None

    def scenarios_changed(self) -> None:
        self.scenario_list = None

    def action_scenario(self) -> None:
        targets = self._targets()
        if not targets:
            self.notify("No ticket here.", severity="warning")
            return
        self.pick_scenario(targets)

    @work(group="scenario")
    async def pick_scenario(self, targets: list[int]) -> None:
        try:
            scenarios = await self.scenarios()
            titles = {r["id"]: r["title"] for r in (await self.canned()).get("responses", [])}
        except CommandError as error:
            self.notify(str(error), title="Could not load scenarios", severity="error")
            return
        chosen = await self.app.push_screen_wait(
            ScenarioPicker(scenarios, targets, canned_titles=titles, names=self.names))
        if chosen is not None:
            self.run_scenario(chosen, targets)

    def run_scenario_here(self, scenario: dict[str, Any]) -> None:
        """From the command palette: run on the selected tickets, or the current one."""
        targets = self._targets()
        if targets:
            self.run_scenario(scenario, targets)
        else:
            self.notify("No ticket here.", severity="warning")

    async def scenarios(self) -> list[dict[str, Any]]:
        if self.scenario_list is None:
            self.scenario_list = await self.command("list_scenarios")
        return self.scenario_list

    @work(group="scenario-run")
    async def run_scenario(self, scenario: dict[str, Any], targets: list[int]) -> None:
        try:
            result = await self.command("run_scenario", scenario_id=scenario["id"],
                                        ticket_ids=targets)
        except CommandError as error:
            self.notify(str(error), title=f"Could not run {scenario['name']}", severity="error")
            return
        refused = bool(result.get("refused"))
        self.notify(summary(result), title=scenario["name"],
                    severity="warning" if refused else "information", timeout=8)
        if len(targets) > 1 and self.showing:
            self.tickets.selected.clear()
            self.tickets.refresh_rows()


class ScenarioCommands(Provider):
    """The command palette offers each scenario by name: "Run scenario: Close as spam"."""

    def _inbox(self) -> Any:
        from tui.screens.inbox import InboxScreen

        for screen in reversed(self.app.screen_stack):
            if isinstance(screen, InboxScreen):
                return screen
        return None

    async def search(self, query: str) -> Hits:
        inbox = self._inbox()
        if inbox is None:
            return
        try:
            scenarios = await inbox.scenarios()
        except CommandError:
            return
        matcher = self.matcher(query)
        for scenario in scenarios:
            title = f"Run scenario: {scenario['name']}"
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title),
                          partial(inbox.run_scenario_here, scenario),
                          help="on the selected tickets, or the current one")
