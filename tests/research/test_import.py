"""import_documents and load_corpus: files and folders, idempotent, searchable at once."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from research.models import Document
from research.search import rank_documents

pytestmark = pytest.mark.django_db


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    (root / "guides").mkdir(parents=True)
    (root / "guides" / "walrus.md").write_text(
        "Intro line\n\n# Assignment expressions\n\nThe walrus operator assigns inside an "
        "expression.\n",
        encoding="utf-8",
    )
    (root / "slicing.txt").write_text(
        "Slicing basics\nA slice selects a range of a sequence.\n", encoding="utf-8"
    )
    (root / "script.py").write_text("print('not a document')\n", encoding="utf-8")
    (root / "empty.md").write_text("  \n", encoding="utf-8")
    (root / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (root / ".hidden").mkdir()
    (root / ".hidden" / "secret.md").write_text("# Secret\n\nhidden text\n", encoding="utf-8")
    return root


def test_folder_import_is_recursive_and_idempotent(folder):
    out, err = run("import_documents", str(folder))
    assert "2 created, 0 updated, 0 unchanged, 3 skipped" in out
    assert "script.py: not a .txt or .md file" in err
    assert "empty.md: empty" in err
    assert "latin1.txt: not UTF-8 text" in err
    assert "secret" not in err + out
    documents = {document.title: document for document in Document.objects.all()}
    assert set(documents) == {"Assignment expressions", "Slicing basics"}
    walrus = documents["Assignment expressions"]
    assert walrus.source_url == (folder / "guides" / "walrus.md").resolve().as_uri()
    assert "walrus operator" in walrus.body
    assert len(walrus.content_hash) == 64

    again, _ = run("import_documents", str(folder))
    assert "0 created, 0 updated, 2 unchanged" in again
    assert Document.objects.count() == 2
    assert [hit.title for hit in rank_documents("walrus", 5)] == ["Assignment expressions"]


def test_changed_file_is_updated_in_place_and_reindexed(folder):
    run("import_documents", str(folder))
    before = Document.objects.get(title="Slicing basics")
    (folder / "slicing.txt").write_text(
        "Slicing basics\nA slice takes a start, a stop and a stride.\n", encoding="utf-8"
    )
    out, _ = run("import_documents", str(folder))
    assert "0 created, 1 updated, 1 unchanged" in out
    after = Document.objects.get(title="Slicing basics")
    assert after.pk == before.pk and after.content_hash != before.content_hash
    assert after.updated_at > before.updated_at
    assert [hit.title for hit in rank_documents("stride", 5)] == ["Slicing basics"]
    assert rank_documents("range sequence", 5) == []


def test_single_files_and_a_base_url(folder):
    out, _ = run(
        "import_documents",
        str(folder / "slicing.txt"),
        str(folder / "guides"),
        "--base-url",
        "https://docs.example/notes/",
    )
    assert "2 created" in out
    assert set(Document.objects.values_list("source_url", flat=True)) == {
        "https://docs.example/notes/slicing.txt",
        "https://docs.example/notes/walrus.md",
    }
    again, _ = run(
        "import_documents", str(folder / "slicing.txt"), "--base-url", "https://docs.example/notes"
    )
    assert "0 created, 0 updated, 1 unchanged" in again


def test_missing_path_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="No such file or folder"):
        run("import_documents", str(tmp_path / "nope"))
    assert Document.objects.count() == 0


def test_load_corpus_is_idempotent_and_searchable():
    out, _ = run("load_corpus")
    count = Document.objects.count()
    assert count > 50
    assert f"{count} created" in out
    again, _ = run("load_corpus")
    assert f"0 created, 0 updated, {count} unchanged" in again
    assert Document.objects.count() == count
    exceptions = Document.objects.get(source_url="pydoc:exceptions")
    assert exceptions.title == "Exceptions"
    hits = rank_documents("exception handler", 5)
    assert "pydoc:exceptions" in [hit.source_url for hit in hits[:3]]
