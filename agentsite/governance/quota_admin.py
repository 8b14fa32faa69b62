"""The admin of quota overrides: one owner's limits where they differ from the QUOTA_* settings
(``agentsite.governance.quotas``). Imported by ``agentsite.admin``."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from agentsite.governance.quota_models import QuotaOverride
from agentsite.governance.quotas import OVERRIDE_CACHE_SECONDS, forget_cached_overrides


@admin.register(QuotaOverride)
class QuotaOverrideAdmin(admin.ModelAdmin):
    list_display = (
        "owner_key",
        "runs_per_minute",
        "concurrent_runs",
        "tokens_per_day",
        "research_per_day",
        "conversation_bytes",
        "note",
        "updated_at",
    )
    search_fields = ("owner_key", "note")
    fieldsets = (
        (
            None,
            {
                "fields": ("owner_key", "note"),
                "description": "Empty limits take the QUOTA_… settings' defaults. Other server "
                f"processes see a change within {OVERRIDE_CACHE_SECONDS:g} seconds.",
            },
        ),
        (
            "Limits",
            {
                "fields": (
                    "runs_per_minute",
                    "concurrent_runs",
                    "tokens_per_day",
                    "research_per_day",
                    "conversation_bytes",
                )
            },
        ),
    )

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        forget_cached_overrides()

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        super().delete_model(request, obj)
        forget_cached_overrides()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        super().delete_queryset(request, queryset)
        forget_cached_overrides()
