"""The demo's canned responses and scenarios, so a newcomer finds ctrl+g and S filled in."""

from __future__ import annotations

from core import canned, scenarios
from core.store import Store

FOLDERS = {"Orders": [("Where is my order", "Hi {{contact.first_name}}, your order is on its"
                       " way; the tracking link follows by text. {{agent.name}}")],
           "Returns": [("How to return", "Hi {{contact.first_name}}, reply with your order"
                        " number and we will text you a return label.")]}
UNFILED = [("Opening hours", "We are open 9am to 5pm, Monday to Saturday. Text us at"
            " {{business.number}} any time."),
           ("Thanks, resolved", "Thanks {{contact.first_name}}! Ticket #{{ticket.id}} is"
            " resolved; just reply if anything else comes up.")]


async def furnish_library(store: Store, admin_id: int) -> None:
    """Two folders of shared responses, two unfiled, and two scenarios that use them."""
    saved = {}
    for folder_name, responses in [*FOLDERS.items(), ("", UNFILED)]:
        folder_id = None
        if folder_name:
            folder_id = (await store.write(canned.save_folder, folder_id=None,
                                           name=folder_name)).id
        for title, body in responses:
            saved[title] = await store.write(canned.save_response, agent_id=admin_id,
                                             response_id=None, title=title, body=body,
                                             folder_id=folder_id, personal=False)
    await store.write(scenarios.save_scenario, scenario_id=None, name="Resolve with thanks",
                      actions=[{"canned": saved["Thanks, resolved"].id},
                               {"set": "status", "value": "resolved"}])
    await store.write(scenarios.save_scenario, scenario_id=None, name="Close as spam",
                      actions=[{"tags_add": ["spam"]}, {"set": "status", "value": "closed"}])
