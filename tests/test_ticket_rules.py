"""Pure ticket rules: status after a customer's text, forward-only delivery status."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.models import MessageStatus, TicketStatus
from core.tickets import is_final, status_after_customer_text, status_moves_forward


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (TicketStatus.OPEN, TicketStatus.OPEN),
        (TicketStatus.PENDING, TicketStatus.OPEN),
        (TicketStatus.RESOLVED, TicketStatus.OPEN),
        (TicketStatus.CLOSED, TicketStatus.CLOSED),
    ],
)
def test_a_customer_text_needs_an_agent_again(before: TicketStatus, after: TicketStatus) -> None:
    assert status_after_customer_text(before) is after


def test_late_sent_never_overwrites_delivered() -> None:
    assert not status_moves_forward(MessageStatus.DELIVERED, MessageStatus.SENT)
    assert not status_moves_forward(MessageStatus.DELIVERED, MessageStatus.QUEUED)
    assert status_moves_forward(MessageStatus.SENT, MessageStatus.DELIVERED)
    assert status_moves_forward(MessageStatus.DELIVERED, MessageStatus.UNDELIVERED)
    assert not status_moves_forward(MessageStatus.UNDELIVERED, MessageStatus.DELIVERED)


@given(st.lists(st.sampled_from(list(MessageStatus)), min_size=1, max_size=12))
def test_applying_callbacks_in_any_order_never_leaves_a_final_state(
    reports: list[MessageStatus],
) -> None:
    status = MessageStatus.QUEUED
    reached_final = False
    for report in reports:
        if status_moves_forward(status, report):
            status = report
        reached_final = reached_final or is_final(status)
        assert not (reached_final and not is_final(status))


def test_every_twilio_status_has_a_rank() -> None:
    for status in MessageStatus:
        status_moves_forward(MessageStatus.QUEUED, status)  # raises KeyError if unranked
