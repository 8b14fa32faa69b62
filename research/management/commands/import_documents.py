"""manage.py import_documents PATH… — add text and Markdown files to the knowledge base."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from research.documents import import_paths


class Command(BaseCommand):
    help = (
        "Import .txt and .md files, and folders of them (recursively), into the research "
        "knowledge base. Idempotent: unchanged files are left alone, changed ones updated."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="Files or folders to import")
        parser.add_argument(
            "--base-url",
            help="Cite documents as BASE_URL/<path relative to the folder> instead of file:// "
            "URIs, e.g. the site the files are published on",
        )

    def handle(self, *args: Any, paths: list[Path], base_url: str | None, **options: Any) -> None:
        try:
            summary = import_paths(paths, base_url=base_url)
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from exc
        for path, why in summary.skipped:
            self.stderr.write(f"skipped {path}: {why}")
        self.stdout.write(self.style.SUCCESS(f"Documents: {summary}"))
