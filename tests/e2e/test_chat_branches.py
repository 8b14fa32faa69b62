"""Edit an earlier message and resend, in the browser: the conversation forks there, the new
reply streams, ◀ n/m ▶ switch between the versions (by mouse and keyboard), a reload keeps
them; at desktop and phone sizes, light and dark, with axe-core's checks and screenshots."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import axe_violations, page_state, poll, screenshot
from tests.e2e.test_chat_features import DESKTOP, PHONE
from tests.e2e.test_chat_ui import reply_text, send, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def user_messages(page) -> list[str]:
    return page.locator(".message.user .markdown").all_inner_texts()


def version_label(page) -> str:
    counts = page.locator(".message.user .branch-count")
    return counts.first.inner_text() if counts.count() else ""


@pytest.mark.parametrize(
    ("size", "scheme"),
    [(DESKTOP, "light"), (PHONE, "light"), (DESKTOP, "dark"), (PHONE, "dark")],
    ids=["desktop", "phone", "desktop-dark", "phone-dark"],
)
def test_edit_resend_and_switch_versions(new_page, size, scheme):
    page = new_page()
    page.set_viewport_size(size)
    page.emulate_media(color_scheme=scheme)
    send(page, "I like apples")
    wait_idle(page)
    send(page, "What do I like?")
    wait_idle(page)
    assert "apples" in reply_text(page)

    first = page.locator(".message.user").first
    first.get_by_role("button", name="Edit this message and resend it").click()
    editor = first.get_by_role("textbox", name="Edit your message")
    assert editor.input_value() == "I like apples"
    assert editor.evaluate("node => node === document.activeElement")
    assert axe_violations(page) == [], "editing a message"
    editor.fill("I like pears")
    editor.press("Enter")
    poll(lambda: version_label(page) == "2/2", context=lambda: page_state(page))
    wait_idle(page)
    assert user_messages(page) == ["I like pears"]
    # The model saw only the new branch: nothing of the apples.
    assert "pears" in reply_text(page) and "apples" not in reply_text(page)
    assert "first thing you have told me" in reply_text(page)
    assert axe_violations(page) == [], "a forked conversation"
    screenshot(page, f"branches-{'phone' if size == PHONE else 'desktop'}-{scheme}.png")

    page.get_by_role("button", name="Previous version").click()
    poll(lambda: version_label(page) == "1/2", context=lambda: page_state(page))
    assert user_messages(page) == ["I like apples", "What do I like?"]
    assert "apples" in reply_text(page)

    page.reload()
    page.wait_for_selector("[data-ready=true]")
    poll(lambda: version_label(page) == "1/2", context=lambda: page_state(page))
    assert user_messages(page) == ["I like apples", "What do I like?"]
    # By keyboard: Enter on ▶, and focus stays on the switcher (on ◀, as ▶ is now the end).
    page.get_by_role("button", name="Next version").focus()
    page.keyboard.press("Enter")
    poll(lambda: version_label(page) == "2/2", context=lambda: page_state(page))
    assert user_messages(page) == ["I like pears"]
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == "Previous version"


def test_cancelling_an_edit_changes_nothing(new_page):
    page = new_page()
    send(page, "Keep me as I am")
    wait_idle(page)
    message = page.locator(".message.user").first
    message.get_by_role("button", name="Edit this message and resend it").click()
    editor = message.get_by_role("textbox", name="Edit your message")
    editor.fill("Something else")
    editor.press("Escape")
    assert message.locator(".edit-box").count() == 0
    assert user_messages(page) == ["Keep me as I am"]
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == "Edit this message and resend it"
    page.reload()
    page.wait_for_selector("[data-ready=true]")
    assert user_messages(page) == ["Keep me as I am"]
    assert page.locator(".branch-switch").count() == 0
