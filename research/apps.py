from django.apps import AppConfig


class ResearchConfig(AppConfig):
    """The research pipeline (planner → searches → writer); its agents arrive with issue #4."""

    name = "research"
    default_auto_field = "django.db.models.BigAutoField"
