"""The demo's UK number runs a small bot: a menu, business hours and a hand-off.

So that ``make demo`` shows what an admin's flow does without anyone writing one: Emma's
texts in the timeline walk its menu, its question and its hand-off, and Tom's first text
(in the history) meets its greeting and a keyword answer before Sam takes over.
"""

from __future__ import annotations

from core import bot_store, ticket_fields
from core.store import Store

# What an admin would import on the Bot tab (A, 9): the same file format, kept here whole.
UK_FLOW = """\
# The demo's UK number (+44): a small flow a shop might run.
greeting = "Hi, you've reached Demo Shop UK 👋"
start = "main"
replies_per_hour = 6
out_of_hours = "We're closed just now; we open {next_opening}. A person will answer then."

[hand_off]
text = "Thanks! A person from our team will text you shortly."
closed_text = "Thanks! A person from our team will text you when we open, {next_opening}."

[menus.main]
prompt = "Reply 1 for an order or delivery, 2 for returns, 3 to talk to a person."
invalid = "Sorry, I didn't catch that. Reply 1, 2 or 3."

[[menus.main.options]]
key = "1"
label = "Orders and delivery"
route = "Shipping"
ask = "order"

[[menus.main.options]]
key = "2"
label = "Returns"
say = "You can return anything within 30 days: demo.shop/returns. Reply 3 if you need a person."

[[menus.main.options]]
key = "3"
label = "A person"
hand_off = true

[questions.order]
prompt = "What's your order number? It looks like #4417."
field = "order_number"
pattern = "#?[0-9]{4,6}"
retry = "That doesn't look like an order number (#4417). Could you check it?"
tries = 2
then_say = "Thanks! Order {answer} noted."
then_hand_off = true

[[keywords]]
words = ["opening hours", "open", "hours"]
say = "We're open Mon-Fri 9:00-17:30 and Sat 10:00-16:00 (UK time)."

[[keywords]]
words = ["parking", "car park"]
say = "There's free parking behind the shop on Mill Lane."
"""

# Shop hours in the UK, with the bank holidays of the season: outside them the bot says when
# the shop opens (so a demo run at night shows that path).
UK_HOURS = {
    "time_zone": "Europe/London",
    "monday": "09:00-17:30", "tuesday": "09:00-17:30", "wednesday": "09:00-17:30",
    "thursday": "09:00-17:30", "friday": "09:00-17:30", "saturday": "10:00-16:00",
    "sunday": "closed",
    "holidays": [{"date": "2026-12-25", "name": "Christmas Day"},
                 {"date": "2026-12-28", "name": "Boxing Day (substitute)"},
                 {"date": "2027-01-01", "name": "New Year's Day"}],
}


async def furnish_bot(store: Store, *, number_id: int, admin_id: int) -> None:
    """The order-number field the flow's question fills, the UK hours, and the flow, on."""
    await store.write(ticket_fields.create_field, label="Order number", kind="text")
    await store.write(bot_store.save_hours, scope="number", scope_id=number_id,
                      calendar=UK_HOURS)
    await store.write(bot_store.save_flow, number_id=number_id, source=UK_FLOW,
                      enabled=True, by=admin_id)
