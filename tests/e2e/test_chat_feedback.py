"""Feedback on a reply in the chat page: 👍 / 👎 toggle buttons (named, pressed state, usable
from the keyboard) and an optional comment, stored through the API and pressed again after a
reload."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import axe_violations, page_state, poll, screenshot
from tests.e2e.test_chat_ui import send, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def thumbs(page):
    reply = page.locator(".message.assistant").last
    return (
        reply.get_by_role("button", name="Good reply"),
        reply.get_by_role("button", name="Bad reply"),
    )


def pressed(button) -> str | None:
    return button.get_attribute("aria-pressed")


def reload(page) -> None:
    page.reload()
    page.wait_for_selector("[data-ready=true]")


def stored_ratings(page) -> list[dict]:
    """The conversation's ratings as the API returns them to this browser."""
    current = page.evaluate("JSON.parse(sessionStorage.getItem('agentsite.current'))")
    url = f"/{current['agent']}/session/{current['sessionId']}"
    return page.evaluate("async (url) => (await (await fetch(url)).json()).feedback", url)


def test_a_thumb_is_stored_and_pressed_again_after_a_reload(new_page):
    page = new_page()
    send(page, "Rate me, please")
    wait_idle(page)
    up, down = thumbs(page)
    poll(lambda: up.count() == 1, context=lambda: page_state(page))
    assert (pressed(up), pressed(down)) == ("false", "false")

    up.click()
    poll(lambda: pressed(up) == "true")
    comment = page.get_by_label("Feedback comment (optional)")
    poll(lambda: comment.is_visible())
    comment.fill("Clear and short")
    comment.press("Enter")
    poll(lambda: "Comment saved" in page.locator(".feedback-status").last.inner_text())
    assert axe_violations(page) == []
    screenshot(page, "feedback-rated.png")
    assert [(r["rating"], r["comment"]) for r in stored_ratings(page)] == [
        ("up", "Clear and short")
    ]

    reload(page)
    up, down = thumbs(page)
    poll(lambda: pressed(up) == "true", context=lambda: page_state(page))
    assert pressed(down) == "false"

    # From the keyboard: the other thumb replaces the rating.
    down.focus()
    page.keyboard.press("Enter")
    poll(lambda: pressed(down) == "true")
    assert pressed(up) == "false"
    reload(page)
    up, down = thumbs(page)
    poll(lambda: pressed(down) == "true", context=lambda: page_state(page))
    assert pressed(up) == "false"
    assert [r["rating"] for r in stored_ratings(page)] == ["down"]

    # Pressing the pressed thumb takes the rating back.
    down.click()
    poll(lambda: pressed(down) == "false")
    reload(page)
    up, down = thumbs(page)
    poll(lambda: up.count() == 1)
    assert (pressed(up), pressed(down)) == ("false", "false")
    assert stored_ratings(page) == []


def test_thumbs_and_comment_fit_a_phone_in_dark_mode(new_page):
    page = new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    send(page, "Rate me on a phone")
    wait_idle(page)
    _, down = thumbs(page)
    poll(lambda: down.count() == 1, context=lambda: page_state(page))

    down.click()

    poll(lambda: pressed(down) == "true")
    comment = page.get_by_label("Feedback comment (optional)")
    poll(lambda: comment.is_visible())
    box = comment.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert axe_violations(page) == []
    screenshot(page, "feedback-phone-dark.png")
