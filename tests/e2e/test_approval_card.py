"""The chat page's approval card in a real browser: the assistant asks before it sends an email;
Approve sends it, Reject (with a reason) does not and the reply says why."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import page_state, poll, screenshot
from tests.e2e.test_chat_ui import reply_text, send, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def ask_to_email(page, address: str) -> None:
    page.select_option("#agent-picker", "assistant")
    poll(lambda: page.locator("#active-agent").inner_text() == "Assistant")
    send(page, f"Please email {address} that the report is ready")
    page.wait_for_selector(".approval-card")


def test_approving_in_the_card_sends_the_email(new_page):
    page = new_page()
    ask_to_email(page, "bob@example.com")
    card = page.locator(".approval-card")
    assert "send_email" in card.locator(".approval-title").inner_text()
    arguments = card.locator(".approval-arguments").inner_text()
    assert '"to": "bob@example.com"' in arguments and "The report is ready" in arguments
    screenshot(page, "approval-card.png")
    card.locator("button.approve").click()
    poll(
        lambda: "Email sent to bob@example.com" in reply_text(page),
        context=lambda: page_state(page),
    )
    wait_idle(page)
    assert card.locator(".approval-outcome").inner_text() == "Approved"
    assert card.locator("button").count() == 0


def test_rejecting_in_the_card_tells_the_assistant_why(new_page):
    page = new_page()
    ask_to_email(page, "carol@example.com")
    card = page.locator(".approval-card")
    card.locator(".approval-reason").fill("Carol is on holiday")
    card.locator("button.reject").click()
    poll(lambda: "Carol is on holiday" in reply_text(page), context=lambda: page_state(page))
    wait_idle(page)
    reply = reply_text(page)
    assert "did not run" in reply and "Email sent" not in reply
    assert card.locator(".approval-outcome").inner_text() == "Rejected: Carol is on holiday"
    # The conversation goes on after the decision.
    send(page, "thanks")
    poll(lambda: page.locator(".message.user").count() == 2)
    wait_idle(page)


def test_the_card_comes_back_after_a_reload(new_page):
    page = new_page()
    ask_to_email(page, "dan@example.com")
    page.reload()
    page.wait_for_selector("[data-ready=true]")
    card = page.locator(".approval-card")
    poll(lambda: card.count() == 1, context=lambda: page_state(page))
    assert "dan@example.com" in card.locator(".approval-arguments").inner_text()
    card.locator("button.approve").click()
    poll(
        lambda: "Email sent to dan@example.com" in reply_text(page),
        context=lambda: page_state(page),
    )
    wait_idle(page)
