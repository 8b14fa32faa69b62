from django.apps import AppConfig


class ResearchConfig(AppConfig):
    """The research pipeline (planner → searches → writer) and its knowledge base."""

    name = "research"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks
        from django.db.models.signals import post_delete

        from agentsite.checks import TAG
        from research.models import Report
        from research.reports import forget_report_events
        from research.search import check_search_backend_setting

        checks.register(check_search_backend_setting, TAG)
        post_delete.connect(forget_report_events, sender=Report, dispatch_uid="report-events")
