"""Staff manage the knowledge base and read stored reports in the Django admin."""

from __future__ import annotations

import pytest

from research.models import Document, Report

pytestmark = pytest.mark.django_db


@pytest.fixture
def documents():
    return [
        Document.objects.create(
            title="Generators", source_url="pydoc:gen", body="A generator function yields."
        ),
        Document.objects.create(title="Loops", body="A for loop iterates over a sequence."),
    ]


def test_document_list_and_full_text_search(admin_client, documents):
    listing = admin_client.get("/admin/research/document/").content.decode()
    assert "Generators" in listing and "Loops" in listing
    # "iterating" is in no title or source: found by the stemmed full-text search.
    found = admin_client.get("/admin/research/document/?q=iterating").content.decode()
    assert "Loops" in found and "Generators" not in found
    by_source = admin_client.get("/admin/research/document/?q=pydoc:gen").content.decode()
    assert "Generators" in by_source and "Loops" not in by_source


def test_documents_are_added_and_edited_with_their_hash_and_index(admin_client, documents):
    response = admin_client.post(
        "/admin/research/document/add/",
        {"title": "Walrus", "source_url": "", "body": "The walrus operator assigns."},
    )
    assert response.status_code == 302
    walrus = Document.objects.get(title="Walrus")
    assert len(walrus.content_hash) == 64
    old_hash = walrus.content_hash
    admin_client.post(
        f"/admin/research/document/{walrus.pk}/change/",
        {"title": "Walrus", "source_url": "", "body": "Assignment expressions."},
    )
    walrus.refresh_from_db()
    assert walrus.content_hash != old_hash
    found = admin_client.get("/admin/research/document/?q=expression").content.decode()
    assert "Walrus" in found


def test_report_pages_show_progress_and_sources(admin_client):
    report = Report.objects.create(
        query="How do <b>loops</b> work?",
        status="failed",
        error="The writer failed",
        searches=[
            {
                "index": 1,
                "query": "for loop",
                "status": "completed",
                "summary": "Loops iterate [1].",
                "sources": [{"number": 1, "title": "Loops", "url": "pydoc:for"}],
                "error": "",
            }
        ],
        sources=[{"number": 1, "title": "Loops", "url": "pydoc:for"}],
    )
    listing = admin_client.get("/admin/research/report/").content.decode()
    assert "How do &lt;b&gt;loops&lt;/b&gt; work?" in listing and "failed" in listing
    page = admin_client.get(f"/admin/research/report/{report.pk}/change/").content.decode()
    for expected in ("The writer failed", "for loop", "Loops iterate [1].", "pydoc:for"):
        assert expected in page
    assert admin_client.get("/admin/research/report/add/").status_code == 403
