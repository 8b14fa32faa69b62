"""The research page in a real browser: live progress, the report, past reports."""

from __future__ import annotations

import itertools

import pytest

from tests.e2e.conftest import poll, screenshot

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def a_delete(response) -> bool:
    return response.request.method == "DELETE"


RECORD_STAGES = """() => {
  window.__stages = [];
  const stage = document.getElementById('research-stage');
  // Every text the status line showed, even ones replaced before the observer ran.
  new MutationObserver((records) => records.forEach((record) =>
      record.addedNodes.forEach((node) => window.__stages.push(node.textContent))))
    .observe(stage, {childList: true, characterData: true, subtree: true});
}"""


def test_research_shows_progress_and_the_report(new_page):
    page = new_page("/ui/research/")
    page.evaluate(RECORD_STAGES)
    page.fill("#research-query", "How do Python exceptions work?")
    page.press("#research-query", "Enter")
    page.wait_for_selector("#research-report:not([hidden])", timeout=90_000)
    stages = page.evaluate("window.__stages")
    assert any(stage.startswith("Will perform") for stage in stages), stages
    assert any(stage.startswith("Searching") for stage in stages), stages
    assert any("riting" in stage for stage in stages), stages
    total = int(page.locator("#research-bar").get_attribute("max"))
    assert total >= 1
    assert page.locator("#research-plan li").count() == total
    poll(lambda: page.eval_on_selector("#research-bar", "bar => bar.value === bar.max"))
    assert page.locator("#report-body").inner_text().strip()
    assert page.locator("#report-sources li").count() >= 1
    followups = page.locator("#report-followups button")
    assert followups.count() >= 1
    poll(lambda: page.locator("#report-list li").count() == 1)
    screenshot(page, "research.png")
    # A follow-up question starts a new research.
    question = followups.first.inner_text()
    followups.first.click()
    assert page.input_value("#research-query") == question
    poll(lambda: page.locator("#report-list li").count() == 2, timeout=90)
    page.wait_for_selector("#research-report:not([hidden])")
    # A past report opens again.
    page.locator("#report-list li .open").last.click()
    poll(lambda: page.input_value("#research-query") == "How do Python exceptions work?")
    assert page.locator("#report-sources li").count() >= 1


RECORD_STAGE_TIMES = """() => {
  window.__stageTimes = [];
  new MutationObserver(() => window.__stageTimes.push(performance.now()))
    .observe(document.getElementById('research-stage'), {childList: true, subtree: true});
}"""


def test_progress_is_paced_so_people_can_follow_it(new_page):
    page = new_page("/ui/research/")
    page.evaluate(RECORD_STAGE_TIMES)
    page.fill("#research-query", "How do Python exceptions work?")
    page.press("#research-query", "Enter")
    page.wait_for_selector("#research-report:not([hidden])", timeout=90_000)
    times = page.evaluate("window.__stageTimes")
    assert len(times) >= 5, times
    gaps = [later - earlier for earlier, later in itertools.pairwise(times[1:])]
    assert min(gaps) >= 300, f"progress steps flashed by: {gaps}"


def test_a_query_with_no_matches_fails_plainly_and_can_be_deleted(new_page):
    page = new_page("/ui/research/")
    page.fill("#research-query", "qwxzv flibbertigibbet zzyzx")
    page.press("#research-query", "Enter")
    error = page.locator("#research-errors .error[role=alert]")
    poll(lambda: error.count() == 1 and error.is_visible(), timeout=60)
    assert "Nothing in the knowledge base matches" in error.inner_text()
    assert "manage.py" not in page.locator("main").inner_text()
    assert not page.locator("#research-bar").is_visible(), "a failed run shows no full bar"
    assert not page.locator("#research-count").is_visible()
    assert "Finished" not in page.locator("#research-stage").inner_text()
    assert not page.locator("#research-report").is_visible()
    entry = page.locator("#report-list li").first
    poll(lambda: entry.get_attribute("data-status") == "failed")
    assert entry.locator(".status").inner_text().lower() == "failed"
    assert entry.locator("time").get_attribute("datetime")
    screenshot(page, "research-failed.png")
    count = page.locator("#report-list li").count()
    entry.locator(".delete").click()
    assert page.locator("#report-list li").count() == count - 1
    page.click("#toast-undo")
    poll(lambda: page.locator("#report-list li").count() == count)
    with page.expect_response(a_delete, timeout=15_000) as deleted:
        page.locator("#report-list li").first.locator(".delete").click()
    assert deleted.value.ok
    assert not page.locator("#toast").is_visible()
    page.reload()
    page.wait_for_selector("[data-ready=true]")
    poll(lambda: page.locator("#report-list li").count() == count - 1)


def test_a_refused_query_shows_the_error_box_with_retry(new_page):
    page = new_page("/ui/research/")
    # Valid JavaScript, invalid Unicode: the server refuses the query (422) before it runs.
    page.evaluate("() => { document.getElementById('research-query').value = 'Why \\uD800'; }")
    page.press("#research-query", "Enter")
    box = page.locator("#research-errors .error[role=alert]")
    poll(lambda: box.count() == 1)
    assert "lone surrogate" in box.inner_text()
    page.locator("#research-errors button", has_text="Retry").click()
    poll(lambda: page.locator("#research-app[data-busy=false]").count() == 1)
    assert box.count() == 1, "a retry shows its own failure in the same single box"
