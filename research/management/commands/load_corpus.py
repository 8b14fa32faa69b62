"""manage.py load_corpus — fill the knowledge base with Python's own pydoc topics."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from research.documents import load_pydoc_topics


class Command(BaseCommand):
    help = (
        "Load the built-in corpus — Python's pydoc help topics (statements, the data model, "
        "operators, …), which ship with Python — into the research knowledge base, so research "
        "works offline on a fresh install. Idempotent."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = load_pydoc_topics()
        except ImportError as exc:
            raise CommandError(
                "This Python has no pydoc_data.topics (some distributions package it apart)"
            ) from exc
        self.stdout.write(self.style.SUCCESS(f"pydoc topics: {summary}"))
