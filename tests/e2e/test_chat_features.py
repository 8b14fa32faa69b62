"""The chat page's features as a new user meets them, at desktop (1366×900) and phone (390×844)
sizes and in dark mode: rendered Markdown, scrolling that lets the reader scroll up, the phone
sidebar, one conversation list (search, rename, delete with undo, dates), handoffs and
speakers after a reload, per-message copy/time/usage, Escape, the empty state, claiming a
browser's conversations after logging in, and axe-core's accessibility checks."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import axe_violations, page_state, poll, screenshot
from tests.e2e.test_chat_ui import LONG_MESSAGE, reply_text, send, streaming, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def a_delete(response) -> bool:
    return response.request.method == "DELETE"


DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
MARKDOWN = (
    "Show: table\n\n| name | value |\n|---|---|\n| a_b | 1 |\n\n```python\ndef f(x):\n"
    "    return x * 2\n```\n\n[snake_case_link](https://example.com/a_b*c*d)"
)


def listed(page) -> list[str]:
    return page.locator("#conversation-list li .title").all_inner_texts()


def test_markdown_tables_code_and_links_render(new_page):
    page = new_page()
    page.set_viewport_size(DESKTOP)
    send(page, MARKDOWN)
    wait_idle(page)
    reply = page.locator(".message.assistant .markdown").last
    assert reply.locator("table th").all_inner_texts() == ["name", "value"]
    assert reply.locator("table td").first.inner_text() == "a_b"
    assert "|" not in reply.locator("table").inner_text()
    code = reply.locator(".codeblock")
    assert code.locator(".code-lang").inner_text() == "python"
    assert code.locator("code .hljs-keyword").count() >= 2  # highlighted: def, return
    link = reply.locator("a", has_text="snake_case_link")
    assert link.get_attribute("href") == "https://example.com/a_b*c*d"
    assert link.get_attribute("rel") == "noopener noreferrer nofollow"
    screenshot(page, "features-markdown.png")


def test_scrolling_up_during_a_reply_is_not_pulled_back(new_page):
    page = new_page()
    page.set_viewport_size({"width": 700, "height": 500})
    send(page, "First, to have something to scroll back to")
    wait_idle(page)
    send(page, LONG_MESSAGE)
    poll(lambda: page.evaluate("(m => m.scrollHeight > m.clientHeight + 200)(messages)"))
    page.evaluate("messages.scrollTop = 0")
    grown = len(reply_text(page))
    poll(lambda: len(reply_text(page)) > grown + 100)
    assert streaming(page)
    assert page.evaluate("messages.scrollTop") == 0, "the stream pulled the reader back down"
    assert page.locator("#jump-latest").is_visible()
    page.click("#jump-latest")
    wait_idle(page)
    at_bottom = "(m => m.scrollHeight - m.scrollTop - m.clientHeight < 60)(messages)"
    poll(lambda: page.evaluate(at_bottom))
    assert not page.locator("#jump-latest").is_visible()


def test_phone_composer_is_in_view_and_the_sidebar_collapses(new_page):
    page = new_page()
    page.set_viewport_size(PHONE)
    composer = page.locator("#composer-input").bounding_box()
    assert composer["y"] + composer["height"] <= PHONE["height"]
    assert not page.locator("#sidebar").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    send(page, MARKDOWN)
    wait_idle(page)
    # Wide content (a table, code) scrolls inside its message; no message leaves the screen.
    rights = page.eval_on_selector_all(
        ".message", "nodes => nodes.map((n) => n.getBoundingClientRect().right)"
    )
    assert rights and max(rights) <= PHONE["width"], rights
    page.click("#sidebar-toggle")
    assert page.locator("#sidebar").is_visible()
    assert page.get_attribute("#sidebar-toggle", "aria-expanded") == "true"
    screenshot(page, "features-phone-sidebar.png")
    page.keyboard.press("Escape")
    assert not page.locator("#sidebar").is_visible()
    page.click("#sidebar-toggle")
    page.click("#new-chat")
    assert not page.locator("#sidebar").is_visible()
    page.click("#sidebar-toggle")
    page.locator("#conversation-list li .open").first.click()
    assert not page.locator("#sidebar").is_visible()
    poll(lambda: page.locator(".message.user").count() == 1)
    screenshot(page, "features-phone.png")


def test_one_list_across_agents_newest_first_listed_at_once(new_page):
    page = new_page()
    page.set_viewport_size(DESKTOP)
    long_title = "A conversation whose title is much longer than the sidebar is wide, on purpose"
    send(page, long_title)
    wait_idle(page)
    page.select_option("#agent-picker", "assistant")
    send(page, LONG_MESSAGE)
    # Listed while its first reply is still streaming, at the top.
    poll(lambda: streaming(page) and len(listed(page)) == 2)
    assert listed(page)[0].startswith("Story: a long one")
    wait_idle(page)
    poll(lambda: len(listed(page)) == 2)
    entries = page.locator("#conversation-list li")
    assert entries.nth(0).locator(".agent-badge").inner_text().lower() == "assistant"
    assert entries.nth(1).locator(".agent-badge").inner_text().lower() == "chat"
    assert entries.nth(1).locator("time").get_attribute("datetime")
    title = entries.nth(1).locator(".title")
    assert title.inner_text() == long_title  # the whole title, cut only by CSS
    assert page.evaluate("t => t.scrollWidth > t.clientWidth", title.element_handle())
    # Opening the chat conversation from the assistant switches agent.
    entries.nth(1).locator(".open").click()
    poll(lambda: page.locator("#active-agent").inner_text() == "Chat")
    assert page.input_value("#agent-picker") == "chat"
    first_user = page.locator(".message.user .markdown").first
    poll(lambda: first_user.inner_text() == long_title)


def test_search_rename_and_delete_with_undo(new_page):
    page = new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for text in ("Planning a trip to Lisbon", "Recipe for bread", "Lisbon trams history"):
        page.click("#new-chat")
        send(page, text)
        wait_idle(page)
    poll(lambda: len(listed(page)) == 3)
    page.fill("#conversation-search", "lisbon")
    poll(lambda: sorted(listed(page)) == ["Lisbon trams history", "Planning a trip to Lisbon"])
    page.fill("#conversation-search", "zebra")
    poll(lambda: page.locator("#conversation-empty").is_visible() and listed(page) == [])
    page.fill("#conversation-search", "")
    poll(lambda: len(listed(page)) == 3)
    # Rename in place.
    page.locator("#conversation-list li .rename").nth(1).click()
    page.fill("#conversation-list .rename-field", "Bread, renamed")
    page.press("#conversation-list .rename-field", "Enter")
    poll(lambda: "Bread, renamed" in listed(page))
    # Delete, undo, delete again and let it go.
    page.locator("#conversation-list li .delete").nth(1).click()
    assert "Bread, renamed" not in listed(page)
    assert page.locator("#toast").is_visible()
    page.click("#toast-undo")
    poll(lambda: "Bread, renamed" in listed(page))
    with page.expect_response(a_delete, timeout=15_000) as deleted:
        page.locator("#conversation-list li .delete").nth(1).click()
    assert deleted.value.ok  # sent once the undo window has passed
    assert not page.locator("#toast").is_visible()
    page.reload()
    page.wait_for_selector("[data-ready=true]")
    poll(lambda: len(listed(page)) == 2)
    assert "Bread, renamed" not in listed(page)
    assert dialogs == []


def test_handoff_and_speaker_survive_a_reload(new_page):
    page = new_page()
    page.select_option("#agent-picker", "assistant")
    send(page, "Ask the math specialist to compute 12*12")
    wait_idle(page)
    reply = page.locator(".message.assistant").last
    poll(lambda: reply.locator(".role").inner_text() == "Math Specialist")
    assert "handed off to Math Specialist" in reply.locator(".status-line.handoff").inner_text()
    page.reload()
    page.wait_for_selector("[data-ready=true]")
    reply = page.locator(".message.assistant").last
    poll(lambda: reply.locator(".status-line.handoff").count() == 1)
    assert reply.locator(".status-line.handoff").inner_text() == "↪ handed off to Math Specialist"
    assert reply.locator(".role").inner_text() == "Math Specialist"
    assert '{"assistant"' not in page.locator("#messages").inner_text()
    send(page, "Please calculate 1+1")
    wait_idle(page)
    assert page.locator(".message.assistant").last.locator(".role").inner_text() == "Assistant"


def test_each_message_has_copy_time_and_usage(new_page):
    page = new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    send(page, "Copy me: **bold** text")
    wait_idle(page)
    reply = page.locator(".message.assistant").last
    poll(lambda: "tokens" in reply.locator(".usage").inner_text())
    assert reply.locator(".usage").inner_text().startswith("offline · ")
    assert reply.locator("time").get_attribute("datetime")
    reply.locator(".message-meta .copy").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("[offline model]") and "**bold**" in copied
    page.locator(".message.user .message-meta .copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == "Copy me: **bold** text"
    page.reload()
    page.wait_for_selector("[data-ready=true]")
    reply = page.locator(".message.assistant").last
    poll(lambda: "tokens" in reply.locator(".usage").inner_text())
    assert reply.locator("time").inner_text()


def test_escape_stops_a_reply(new_page):
    page = new_page()
    send(page, LONG_MESSAGE)
    poll(lambda: len(reply_text(page)) > 20)
    page.keyboard.press("Escape")
    poll(
        lambda: page.locator(".status-line.stopped").count() == 1, context=lambda: page_state(page)
    )
    wait_idle(page)
    assert "finale" not in reply_text(page)


def test_empty_state_examples_run_the_tools(new_page):
    page = new_page()
    assert page.locator("#empty-state").is_visible()
    examples = page.locator("#empty-state [data-prompt]")
    assert examples.count() >= 3
    examples.filter(has_text="calculate").click()
    poll(lambda: page.locator("#chat-app[data-busy=true]").count() == 1)
    wait_idle(page)
    assert not page.locator("#empty-state").is_visible()
    assert page.input_value("#agent-picker") == "assistant"
    assert "calculate" in page.locator(".status-line.tool").first.inner_text()
    assert "14" in reply_text(page)
    page.click("#new-chat")
    assert page.locator("#empty-state").is_visible()


def test_logging_in_offers_to_keep_this_browsers_conversations(new_page):
    page = new_page()
    send(page, "Said before logging in")
    wait_idle(page)
    page.goto("/accounts/login/?next=/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "correct-horse-battery")
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.wait_for_selector("[data-ready=true]")
    offer = page.locator("#claim-offer")
    poll(lambda: offer.is_visible())
    assert "1 conversation" in offer.inner_text()
    assert listed(page) == []
    page.click("#claim-yes")
    poll(lambda: listed(page) == ["Said before logging in"])
    assert not offer.is_visible()
    page.reload()
    page.wait_for_selector("[data-ready=true]")
    time.sleep(0.3)
    assert not offer.is_visible()
    assert listed(page) == ["Said before logging in"]


@pytest.mark.parametrize(
    ("size", "scheme"),
    [(DESKTOP, "light"), (PHONE, "light"), (DESKTOP, "dark"), (PHONE, "dark")],
    ids=["desktop", "phone", "desktop-dark", "phone-dark"],
)
def test_accessibility(new_page, size, scheme):
    page = new_page()
    page.set_viewport_size(size)
    page.emulate_media(color_scheme=scheme)
    assert axe_violations(page) == [], "empty chat page"
    send(page, MARKDOWN)
    wait_idle(page)
    assert axe_violations(page) == [], "conversation"
    if size == PHONE:
        page.click("#sidebar-toggle")
    assert axe_violations(page) == [], "with the sidebar"
    name = f"features-{'phone' if size == PHONE else 'desktop'}-{scheme}.png"
    screenshot(page, name)
    research = new_page("/ui/research/")
    research.set_viewport_size(size)
    research.emulate_media(color_scheme=scheme)
    assert axe_violations(research) == [], "research page"


def test_keyboard_focus_order(new_page):
    page = new_page()
    page.set_viewport_size(DESKTOP)
    send(page, "Something to list")
    wait_idle(page)
    order: list[str] = []
    page.focus("body")
    while "composer-input" not in order and len(order) < 60:
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
    expected = ["agent-picker", "new-chat", "conversation-search", "open", "icon rename"]
    positions = [order.index(name) for name in expected]
    assert positions == sorted(positions), order
    assert order.index("composer-input") > order.index("open"), order
