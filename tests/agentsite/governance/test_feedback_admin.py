"""Staff see the users' feedback in the admin: a list filtered by rating, agent, date and
comment, and a read-only section beside the transcript on the conversation's page."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone

from agentsite.models import Conversation, Feedback
from tests.agentsite.test_admin import make_conversation

pytestmark = pytest.mark.django_db

LIST = "/admin/agentsite/feedback/"
# The date filter's "Past 7 days", as its link sends it.
LAST_WEEK = (timezone.now() - timedelta(days=7)).isoformat()


def rate(
    conversation: Conversation, position: int, rating: str, comment: str = "", **extra
) -> Feedback:
    return Feedback.objects.create(
        conversation=conversation,
        position=position,
        owner_key=conversation.owner_key,
        agent=conversation.agent,
        rating=rating,
        comment=comment,
        **extra,
    )


@pytest.fixture
def rated():
    chat = make_conversation("fb-chat", "chat", ["Hi", "Hello <b>there</b>", "More", "Sure"])
    assistant = make_conversation("fb-assistant", "assistant", ["Time?", "Noon"])
    long_ago = timezone.now() - timedelta(days=60)
    return [
        rate(chat, 1, "up", "lovely answer"),
        rate(chat, 3, "down", ""),
        rate(assistant, 1, "down", "wrong time zone", updated_at=long_ago),
    ]


def listed(admin_client, query: str = "") -> str:
    page = admin_client.get(LIST + query)
    assert page.status_code == 200
    return page.content.decode()


def test_the_list_shows_each_rating_with_its_reply_and_comment(admin_client, rated):
    html = listed(admin_client)

    for expected in ("lovely answer", "wrong time zone", "Time?", "Noon", "#3"):
        assert expected in html
    conversation = rated[0].conversation_id
    assert f'href="/admin/agentsite/conversation/{conversation}/change/"' in html
    # The reply's text is escaped, never rendered.
    assert "Hello &lt;b&gt;there&lt;/b&gt;" in html and "<b>there</b>" not in html


@pytest.mark.parametrize(
    ("query", "present", "absent"),
    [
        ("?rating__exact=up", ["lovely answer"], ["wrong time zone"]),
        ("?rating__exact=down", ["wrong time zone"], ["lovely answer"]),
        ("?agent=assistant", ["wrong time zone"], ["lovely answer"]),
        ("?has_comment=yes", ["lovely answer", "wrong time zone"], ["Sure"]),
        ("?has_comment=no", ["Sure"], ["lovely answer", "wrong time zone"]),
        ("?updated_at__gte=" + quote(LAST_WEEK), ["lovely answer"], ["wrong time zone"]),
        ("?q=zone", ["wrong time zone"], ["lovely answer"]),
    ],
)
def test_the_list_filters(admin_client, rated, query, present, absent):
    html = listed(admin_client, query)

    for text in present:
        assert text in html
    for text in absent:
        assert text not in html


def test_the_filters_are_offered(admin_client, rated):
    html = listed(admin_client)

    for choice in ("?rating__exact=down", "?agent=chat", "?has_comment=yes", "updated_at__gte"):
        assert choice in html


def test_the_conversation_page_shows_its_feedback_read_only(admin_client, rated):
    conversation = rated[0].conversation

    page = admin_client.get(f"/admin/agentsite/conversation/{conversation.pk}/change/")

    html = page.content.decode()
    assert page.status_code == 200
    assert html.index('class="transcript"') < html.index(">Feedback on replies<")
    assert html.index(">Feedback on replies<") < html.index(">Details<")
    table = html[
        html.index('class="feedback"') : html.index("</table>", html.index('class="feedback"'))
    ]
    assert "#1" in table and "lovely answer" in table and "thumbs up" in table
    assert "#3" in table and "thumbs down" in table
    assert "Hello &lt;b&gt;there&lt;/b&gt;" in table  # the rated reply's text, escaped
    assert "wrong time zone" not in html  # another conversation's
    assert "<textarea" not in html and 'name="_save"' not in html  # nothing to edit


def test_a_conversation_without_feedback_says_so(admin_client, rated):
    quiet = make_conversation("fb-none", "chat", ["Hi", "Hello"])

    html = admin_client.get(f"/admin/agentsite/conversation/{quiet.pk}/change/").content.decode()

    assert "No feedback on this conversation" in html


def test_feedback_cannot_be_added_or_changed_in_the_admin(admin_client, rated):
    assert admin_client.get(LIST + "add/").status_code == 403
    page = admin_client.get(f"{LIST}{rated[0].pk}/change/")
    assert page.status_code == 200
    assert 'name="comment"' not in page.content.decode()
    response = admin_client.post(f"{LIST}{rated[0].pk}/change/", {"comment": "staff edit"})
    assert response.status_code == 403
    rated[0].refresh_from_db()
    assert rated[0].comment == "lovely answer"


def test_a_rating_whose_reply_was_removed_is_kept_and_says_so(admin_client, rated):
    chat = rated[0].conversation
    chat.items.filter(position=3).delete()  # as a rewind removes the last turn

    html = listed(admin_client, "?has_comment=no")

    assert "(the reply is no longer stored)" in html
    assert Feedback.objects.filter(conversation=chat).count() == 2


def test_the_conversation_export_carries_its_feedback(admin_client, rated):
    chat = rated[0].conversation

    body = json.loads(admin_client.get(f"/admin/agentsite/conversation/{chat.pk}/export/").content)

    assert [(f["position"], f["rating"], f["comment"]) for f in body["feedback"]] == [
        (1, "up", "lovely answer"),
        (3, "down", ""),
    ]
    assert body["feedback"][0]["owner_key"] == "anonymous" and body["feedback"][0]["updated_at"]
