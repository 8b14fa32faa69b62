"""Research's domain errors; ``agentsite.web.api`` and the transports turn them into responses."""

from __future__ import annotations

from agentsite.errors import AgentSiteError


class InvalidQuery(AgentSiteError):
    status = 422
    message = "Invalid research query"


class SearchUnavailable(AgentSiteError):
    """The configured search backend cannot work here (a setting, or the database vendor)."""

    status = 503
    message = "Research search is not available"


class NoSources(AgentSiteError):
    """Every search came back empty: there is nothing to write a report from."""

    status = 404
    # Said to the person asking, who cannot run commands; the operator's hint (import documents
    # or load the corpus) goes to the server log where it is raised.
    message = (
        "Nothing in the knowledge base matches this query. Try other words, or a broader question."
    )
    operator_hint = (
        "research found no passage for any search: import documents "
        "(manage.py import_documents PATH…) or load the built-in corpus (manage.py load_corpus)"
    )


class ResearchFailed(AgentSiteError):
    """The pipeline could not produce a report (every search failed, an empty summary, …)."""

    status = 502
    message = "The research failed"
