from django.apps import AppConfig


class ResearchConfig(AppConfig):
    """The research pipeline (planner → searches → writer) and its knowledge base."""

    name = "research"
    default_auto_field = "django.db.models.BigAutoField"
