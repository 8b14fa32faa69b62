from django.apps import AppConfig


class ResearchConfig(AppConfig):
    """The research pipeline (planner → searches → writer) and its knowledge base."""

    name = "research"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from agentsite.checks import TAG
        from research.search import check_search_backend_setting

        checks.register(check_search_backend_setting, TAG)
