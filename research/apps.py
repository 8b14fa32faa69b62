from django.apps import AppConfig


class ResearchConfig(AppConfig):
    """The research pipeline (planner → searches → writer) and its knowledge base."""

    name = "research"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks
        from django.db.models.signals import post_delete

        from agentsite.checks import TAG
        from agentsite.registry import AppEndpoint, register_endpoint
        from research.models import Report
        from research.reports import forget_report_events
        from research.search import check_search_backend_setting

        checks.register(check_search_backend_setting, TAG)
        post_delete.connect(forget_report_events, sender=Report, dispatch_uid="report-events")
        # Research is a pipeline of several agents with its own API, not one agent behind the
        # shared routes: the site mounts its router at /research and, at ws/research/, the
        # shared run consumer with research's run frame. Its runs go through the run service.
        register_endpoint(
            AppEndpoint(
                "research",
                router="research.urls.research_router",
                consumer="research.sockets.ResearchConsumer",
            )
        )
