from django.apps import AppConfig


class AgentsiteConfig(AppConfig):
    name = "agentsite"
    verbose_name = "Agent conversations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks
        from django.test.signals import setting_changed

        from agentsite.checks import TAG, check_enumerated_settings
        from agentsite.conversations.retention import runs_content_deleted
        from agentsite.governance.quotas import check_quota_settings
        from agentsite.providers.selection import configure_sdk, reset_provider_cache
        from agentsite.runs.eventlog import forget_events_of_deleted_runs
        from agentsite.runs.pauses import forget_paused_content
        from agentsite.web.cors import check_cors_settings

        configure_sdk()
        setting_changed.connect(reset_provider_cache)
        runs_content_deleted.connect(forget_events_of_deleted_runs, dispatch_uid="run-events")
        runs_content_deleted.connect(forget_paused_content, dispatch_uid="paused-runs")
        checks.register(check_cors_settings, checks.Tags.security)
        checks.register(check_enumerated_settings, TAG)
        checks.register(check_quota_settings, TAG)
