"""The chat page in a real browser: streaming, resume after reload, stop, history, isolation,
inert Markdown, login."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import page_state, poll, screenshot

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# The offline model quotes a message's material (the lines after a blank line) back, word by
# word: a long one gives a reply that streams for a few seconds.
WORDS = " ".join(f"word{n}" for n in range(120))
LONG_MESSAGE = f"Story: a long one\n\n{WORDS} finale"


def send(page, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def reply_text(page) -> str:
    replies = page.locator(".message.assistant .markdown")
    return replies.last.inner_text() if replies.count() else ""


def streaming(page) -> bool:
    return page.locator(".message.assistant.streaming").count() > 0


def wait_idle(page, timeout: float = 30.0) -> None:
    poll(lambda: page.locator("#chat-app[data-busy=false]").count() == 1, timeout)


def test_a_reply_streams_word_by_word(new_page):
    page = new_page()
    poll(lambda: page.locator("#offline-banner").is_visible())
    send(page, LONG_MESSAGE)
    lengths: list[int] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (streaming(page) or not lengths):
        lengths.append(len(reply_text(page)))
        time.sleep(0.1)
    wait_idle(page)
    distinct = sorted(set(lengths))
    assert len(distinct) >= 5, f"the reply did not grow gradually: {distinct}"
    assert lengths == sorted(lengths), "the reply shrank while streaming"
    final = reply_text(page)
    assert final.startswith("[offline model]")
    assert "finale" in final
    assert page.locator("#active-agent").inner_text() == "Chat"
    assert page.locator("#regenerate").is_visible()
    screenshot(page, "chat.png")


def test_reload_mid_stream_resumes_the_reply(new_page):
    page = new_page()
    send(page, LONG_MESSAGE)
    poll(lambda: len(reply_text(page)) > 40 and streaming(page))
    before = reply_text(page)
    page.reload()
    page.wait_for_selector("[data-ready=true]")
    # The resumed reply is rebuilt from the run's first event and followed to its end.
    poll(lambda: streaming(page) or "finale" in reply_text(page), context=lambda: page_state(page))
    wait_idle(page)
    final = reply_text(page)
    assert final.startswith(before.rstrip("▍").strip()[:30])
    assert "finale" in final
    assert page.locator(".message.user").count() == 1
    assert page.locator(".message.assistant").count() == 1


def test_stop_cancels_the_reply(new_page):
    page = new_page()
    send(page, LONG_MESSAGE)
    poll(lambda: len(reply_text(page)) > 20)
    page.click("#stop")
    poll(lambda: page.locator(".status-line.stopped").count() == 1)
    wait_idle(page)
    stopped = reply_text(page)
    assert "finale" not in stopped
    time.sleep(0.5)
    assert reply_text(page) == stopped, "the reply kept growing after Stop"
    assert page.locator("#send").is_enabled()


def test_history_persists_across_reload_and_tabs(new_page):
    page = new_page()
    send(page, "Hi! My name is Ada and I work as a nurse.")
    wait_idle(page)
    send(page, "What work do I do?")
    wait_idle(page)
    page.reload()
    page.wait_for_selector("[data-ready=true]")
    poll(lambda: page.locator(".message.user").count() == 2)
    assert "nurse" in reply_text(page)
    entries = page.locator("#conversation-list li")
    poll(lambda: entries.count() == 1)
    # Another tab of the same browser: the conversation is in its sidebar, and opens.
    other = new_page(context=page.context)
    other.locator("#conversation-list li .open").first.click()
    poll(lambda: other.locator(".message.user").count() == 2)
    other.click("#new-chat")
    assert other.locator(".message").count() == 0
    # Phone width: everything fits without sideways scrolling.
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    assert page.locator("#composer-input").is_visible()
    screenshot(page, "chat-phone.png")


def test_two_browsers_do_not_see_each_others_conversations(new_page):
    first = new_page()
    send(first, "A secret for the first browser only: pineapple")
    wait_idle(first)
    poll(lambda: first.locator("#conversation-list li").count() == 1)
    session_id = first.locator("#conversation-list li").first.get_attribute("data-session-id")
    second = new_page()
    time.sleep(0.5)
    assert second.locator("#conversation-list li").count() == 0
    assert "pineapple" not in second.content()
    # Another owner's session id names an empty conversation for this browser.
    answer = second.evaluate(
        "async (id) => (await fetch(`/chat/session/${id}`)).json()", session_id
    )
    assert answer["messages"] == []


def test_markup_in_a_reply_is_inert(new_page):
    page = new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    payload = (
        "Payload: test\n\n<script>alert('script')</script> <img src=x onerror=alert('img')> "
        '<a href="javascript:alert(1)">x</a> [click](javascript:alert(2)) **bold** `code`'
    )
    send(page, payload)
    wait_idle(page)
    time.sleep(0.3)
    messages = page.locator("#messages")
    assert "<script>" in messages.inner_text()
    assert messages.locator("script, img, iframe, [onerror]").count() == 0
    assert messages.locator("a[href^='javascript' i]").count() == 0
    assert messages.locator(".message.assistant strong").count() >= 1
    assert dialogs == []
    # The renderer itself, on the usual injection vectors.
    dangerous = page.evaluate(
        """() => {
          const vectors = ['<svg onload=alert(1)>', '"><img src=x onerror=alert(1)>',
            '[a](javascript:alert(1))', '[a](https://x.test/" onmouseover="alert(1))',
            '```\\n</code><script>alert(1)</script>\\n```', '<iframe src=javascript:alert(1)>',
            '**<b onclick=alert(1)>x</b>**', '`<img src=x onerror=alert(1)>`'];
          const box = document.createElement('div');
          box.innerHTML = vectors.map(AgentSite.renderMarkdown).join('');
          const bad = box.querySelectorAll('script, img, svg, iframe, b, [onerror], [onload], '
            + '[onclick], [onmouseover], a:not([href^="https://"])');
          return bad.length;
        }"""
    )
    assert dangerous == 0
    assert dialogs == []


def test_logged_in_user_sees_own_conversations(new_page):
    page = new_page("/accounts/login/?next=/", ready=False)
    page.fill("#id_username", "ada")
    page.fill("#id_password", "correct-horse-battery")
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.wait_for_selector("[data-ready=true]")
    assert page.locator(".account .who").inner_text() == "ada"
    send(page, "Logged in and chatting")
    wait_idle(page)
    poll(lambda: page.locator("#conversation-list li").count() == 1)
    with page.expect_navigation():
        page.click(".account button")
    page.wait_for_selector("[data-ready=true]")
    assert page.locator(".account a", has_text="Log in").count() == 1
    time.sleep(0.3)
    assert page.locator("#conversation-list li").count() == 0


def test_assistant_tool_calls_and_handoffs_are_status_lines(new_page):
    page = new_page()
    page.select_option("#agent-picker", "assistant")
    poll(lambda: page.locator("#active-agent").inner_text() == "Assistant")
    send(page, "Please calculate 2*(3+4)")
    wait_idle(page)
    tool_lines = page.locator(".message.assistant .status-line.tool")
    assert "calculate" in tool_lines.first.inner_text()
    assert "14" in reply_text(page)
    send(page, "Ask the math specialist to explain 3*3")
    wait_idle(page)
    handoffs = page.locator(".message.assistant").last.locator(".status-line.handoff")
    poll(lambda: handoffs.count() >= 1, context=lambda: page_state(page))
    assert "Math Specialist" in page.locator("#active-agent").inner_text()
    # One list for every agent: the conversation stays listed, marked as the assistant's.
    poll(lambda: page.locator("#conversation-list li").count() == 1)
    page.select_option("#agent-picker", "chat")
    time.sleep(0.3)
    assert page.locator("#conversation-list li").count() == 1
    assert page.get_attribute("#conversation-list li", "data-agent") == "assistant"


def test_code_blocks_render_with_a_copy_button(new_page):
    page = new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.evaluate(
        """() => {
          const box = document.createElement('div');
          box.id = 'sample';
          box.innerHTML = AgentSite.renderMarkdown(
            'Intro with `inline`\\n\\n```python\\nprint("<hi>")\\n```\\n\\n- one\\n- two');
          document.getElementById('messages').append(box);
        }"""
    )
    sample = page.locator("#sample")
    assert sample.locator("pre code").inner_text() == 'print("<hi>")'
    assert sample.locator("li").count() == 2
    sample.locator("button.copy").click()
    poll(lambda: sample.locator("button.copy").inner_text() == "Copied")
    assert page.evaluate("navigator.clipboard.readText()") == 'print("<hi>")'


def test_regenerate_replaces_the_last_answer(new_page):
    page = new_page()
    send(page, "First question")
    wait_idle(page)
    send(page, "Second question")
    wait_idle(page)
    with page.expect_response(lambda response: response.url.endswith("/rewind")):
        page.click("#regenerate")
    # The same question is asked again: wait for that run to start, then to end.
    poll(lambda: page.locator("#chat-app[data-busy=true]").count() == 1)
    wait_idle(page)
    assert page.locator(".message.user").count() == 2
    assert page.locator(".message.assistant").count() == 2
    page.reload()
    page.wait_for_selector("[data-ready=true]")
    poll(lambda: page.locator(".message.user").count() == 2)
    users = [text.strip() for text in page.locator(".message.user .markdown").all_inner_texts()]
    assert users[0].endswith("First question") and users[1].endswith("Second question")
    assert page.locator(".message.assistant").count() == 2


SEND_LONE_SURROGATE = """() => {
  // Valid JavaScript, invalid Unicode: the server refuses it (422) before any run starts.
  document.getElementById('composer-input').value = 'Hello \\uD800';
  document.getElementById('composer').requestSubmit();
}"""


# A WebSocket that never opens: the page falls back to streaming over HTTP.
NO_WEBSOCKET = """window.WebSocket = class {
  static OPEN = 1;
  readyState = 0;
  addEventListener() {}
  send() {}
  close() {}
};"""


@pytest.mark.parametrize("transport", ["websocket", "http"])
def test_a_refused_run_shows_the_error_box_with_retry(new_page, browser, ui_server, transport):
    context = browser.new_context(base_url=ui_server.url)
    if transport == "http":
        context.add_init_script(NO_WEBSOCKET)
    page = new_page(context=context)
    if transport == "websocket":
        poll(lambda: page.evaluate("() => document.readyState") == "complete")
    page.evaluate(SEND_LONE_SURROGATE)
    box = page.locator(".message.assistant .error[role=alert]")
    poll(lambda: box.count() == 1, context=lambda: page_state(page))
    assert "lone surrogate" in box.inner_text()
    assert box.locator("button", has_text="Retry").count() == 1
    wait_idle(page)
    context.close()


FAILURES = """async () => {
  const { request, errorMessage, ApiError } = window.AgentSite;
  const refused = await request('/chat/session/bad%20id').catch((error) => error);
  const notJson = await request('/static/agentsite/missing.js').catch((error) => error);
  const offline = await request('http://127.0.0.1:9/').catch((error) => error);
  return {
    refused: [refused instanceof ApiError, refused.status, errorMessage(refused)],
    notJson: [notJson.status, errorMessage(notJson)],
    offline: [offline instanceof ApiError, errorMessage(offline).length > 0],
    event: errorMessage({type: 'error', message: 'The model is down'}),
    silentEvent: errorMessage({type: 'error'}, 'The run failed.'),
    socket: errorMessage(new Event('error')),
  };
}"""


def test_every_kind_of_failure_becomes_one_message(new_page):
    page = new_page()
    seen = page.evaluate(FAILURES)
    assert seen["refused"][:2] == [True, 422]
    assert seen["refused"][2].startswith("Invalid request: ")
    assert seen["notJson"] == [404, "HTTP 404"]
    assert seen["offline"] == [False, True]
    assert seen["event"] == "The model is down"
    assert seen["silentEvent"] == "The run failed."
    assert seen["socket"] == "The connection to the server failed."
