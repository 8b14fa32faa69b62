from django.apps import AppConfig


class ResearchConfig(AppConfig):
    """The research pipeline (planner → searches → writer) and its knowledge base."""

    name = "research"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from agentsite.checks import TAG
        from agentsite.registry import AppEndpoint, register_endpoint
        from research.search import check_search_backend_setting

        checks.register(check_search_backend_setting, TAG)
        # Research is a pipeline of several agents with its own API, not one agent behind the
        # shared routes: the site mounts its router at /research and its consumer at ws/research/.
        register_endpoint(
            AppEndpoint(
                "research",
                router="research.urls.research_router",
                consumer="research.consumers.ResearchConsumer",
            )
        )
