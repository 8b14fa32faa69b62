"""The web UI's pages without a browser: they render, mark the browser, lock scripts down with
a CSP, escape what they show, and their static files are served and collectable."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.templatetags.static import static
from django.test import AsyncClient, Client

from agentsite.web.owners import BROWSER_SESSION_KEY

pytestmark = pytest.mark.django_db

PAGES = ["/", "/ui/research/"]


@pytest.fixture
def browser() -> Client:
    return Client()


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_and_marks_the_browser(browser: Client, path: str):
    response = browser.get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert browser.session.get(BROWSER_SESSION_KEY)
    assert browser.cookies["sessionid"].value
    html = response.content.decode()
    assert 'id="offline-banner"' in html
    assert "agentsite/markdown.js" in html


def test_a_browser_keeps_its_id_across_pages(browser: Client):
    browser.get("/")
    first = browser.session[BROWSER_SESSION_KEY]
    browser.get("/ui/research/")
    assert browser.session[BROWSER_SESSION_KEY] == first
    other = Client()
    other.get("/")
    assert other.session[BROWSER_SESSION_KEY] != first


@pytest.mark.parametrize("path", PAGES)
def test_pages_allow_only_their_own_scripts(browser: Client, path: str):
    response = browser.get(path)
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    html = response.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts, "the page loads its scripts"
    assert all(" src=" in tag for tag in scripts), f"inline script in {path}: {scripts}"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler attribute"


def test_chat_page_offers_both_agents_and_the_controls(browser: Client):
    html = browser.get("/").content.decode()
    assert '<option value="chat">' in html
    assert '<option value="assistant">' in html
    for control in ('id="composer-input"', 'id="stop"', 'id="regenerate"', 'id="new-chat"'):
        assert control in html
    assert '<label for="composer-input"' in html
    assert '<label for="agent-picker"' in html


def test_research_page_has_query_progress_and_report(browser: Client):
    html = browser.get("/ui/research/").content.decode()
    for hook in ('<label for="research-query"', 'id="research-bar"', 'id="report-body"'):
        assert hook in html


def test_logged_in_user_is_shown_escaped_and_can_log_out(browser: Client):
    user = User.objects.create_user("<b>eve</b>", password="correct-horse-battery")
    browser.force_login(user)
    html = browser.get("/").content.decode()
    assert "&lt;b&gt;eve&lt;/b&gt;" in html
    assert "<b>eve</b>" not in html
    response = browser.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert "Log in" in browser.get("/").content.decode()


def test_login_page_logs_in_and_redirects_to_chat(browser: Client):
    User.objects.create_user("ada", password="correct-horse-battery")
    page = browser.get("/accounts/login/")
    assert page.status_code == 200
    assert 'name="username"' in page.content.decode()
    response = browser.post(
        "/accounts/login/", {"username": "ada", "password": "correct-horse-battery"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert ">ada<" in browser.get("/").content.decode()


@pytest.mark.parametrize("name", ["site.css", "markdown.js", "api.js", "chat.js", "research.js"])
async def test_static_files_are_served(name: str):
    response = await AsyncClient().get(f"/static/agentsite/{name}")
    assert response.status_code == 200
    if response.streaming:
        body = b"".join([chunk async for chunk in response.streaming_content])
    else:
        body = response.content
    assert len(body) > 100


def test_collectstatic_hashes_names_for_production(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", interactive=False, verbosity=0)
    assert (tmp_path / "staticfiles.json").exists()
    assert list(tmp_path.glob("agentsite/chat.*.js.gz"))
    url = static("agentsite/chat.js")
    assert re.fullmatch(r"/static/agentsite/chat\.[0-9a-f]{12}\.js", url), url


def test_before_collectstatic_pages_use_plain_names(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "empty"
    assert static("agentsite/chat.js") == "/static/agentsite/chat.js"
