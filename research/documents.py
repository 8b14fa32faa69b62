"""Filling the knowledge base: text and Markdown files, and Python's own pydoc topics.

Imports are idempotent. A document is found again by its source (the file's URI, or the URL it
was given; ``pydoc:<topic>``) and rewritten only when its content hash changed, so running an
import twice changes nothing and re-running it after editing a file updates just that file.
Management commands call these; they are plain synchronous functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from django.db import transaction
from django.utils import timezone

from research.models import Document, content_hash

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
MAX_TITLE_CHARS = 300
Outcome = Literal["created", "updated", "unchanged"]


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # (path, why) for every file that was not imported.
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def __str__(self) -> str:
        text = f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        return f"{text}, {len(self.skipped)} skipped" if self.skipped else text


def save_document(title: str, source_url: str, body: str) -> Outcome:
    """Create the document of ``source_url``, or update it if its content changed."""
    existing = Document.objects.filter(source_url=source_url).first()
    if existing is None:
        Document.objects.create(title=title, source_url=source_url, body=body)
        return "created"
    if existing.content_hash == content_hash(title, body):
        return "unchanged"
    existing.title, existing.body, existing.updated_at = title, body, timezone.now()
    existing.save(update_fields=["title", "body", "updated_at"])
    return "updated"


def import_paths(paths: Iterable[Path], base_url: str | None = None) -> ImportSummary:
    """Import files and folders (recursively) of .txt/.md files; one transaction in all.

    With ``base_url`` a document's source is that URL plus its path relative to the folder
    named (for a file named directly, its name); otherwise its ``file://`` URI.
    """
    summary = ImportSummary()
    with transaction.atomic():
        for root in paths:
            if not root.exists():
                raise FileNotFoundError(f"No such file or folder: {root}")
            for path, relative in _text_files(root, summary):
                try:
                    text = path.read_text(encoding="utf-8")
                except UnicodeDecodeError:
                    summary.skipped.append((str(path), "not UTF-8 text"))
                    continue
                if not text.strip():
                    summary.skipped.append((str(path), "empty"))
                    continue
                source = (
                    f"{base_url.rstrip('/')}/{relative}" if base_url else path.resolve().as_uri()
                )
                summary.count(save_document(title_of(text, path), source, text.strip()))
    return summary


def load_pydoc_topics() -> ImportSummary:
    """The help topics of ``pydoc`` (the language reference's chapters on statements, data
    model, operators, …) as documents ``pydoc:<topic>``; they ship with Python."""
    from pydoc_data.topics import topics

    summary = ImportSummary()
    with transaction.atomic():
        for topic, text in sorted(topics.items()):
            summary.count(
                save_document(title_of(text, Path(topic)), f"pydoc:{topic}", text.strip())
            )
    return summary


def title_of(text: str, path: Path) -> str:
    """A Markdown file's first heading, else the first line of text, else the file's name."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    headings = [line.lstrip("#").strip() for line in lines if line.startswith("# ")]
    if path.suffix.lower() in (".md", ".markdown") and headings:
        title = headings[0]
    else:
        title = lines[0].lstrip("#").strip() if lines else ""
    return (title or path.stem)[:MAX_TITLE_CHARS]


def _text_files(root: Path, summary: ImportSummary) -> list[tuple[Path, str]]:
    """(file, path relative to ``root``) for every importable file; others noted as skipped."""
    if root.is_file():
        candidates = [(root, root.name)]
    else:
        candidates = [
            (path, path.relative_to(root).as_posix())
            for path in sorted(root.rglob("*"))
            if path.is_file()
            and not any(part.startswith(".") for part in path.relative_to(root).parts)
        ]
    found = []
    for path, relative in candidates:
        if path.suffix.lower() in TEXT_SUFFIXES:
            found.append((path, relative))
        else:
            summary.skipped.append((str(path), "not a .txt or .md file"))
    return found
