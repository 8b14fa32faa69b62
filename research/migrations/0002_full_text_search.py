"""Full-text search over research_document, in each database's own way.

- SQLite: an FTS5 table over the document table's title and body (external content, so the
  text is stored once), kept in step by three triggers; porter stemming, diacritics folded.
- PostgreSQL: a stored generated ``tsvector`` column (title weighted A, body B, English
  configuration) with a GIN index; PostgreSQL keeps it current itself.

Other databases get no index, and research.search refuses them with a clear error.
Django drops a SQLite table's triggers when it remakes the table to alter a column: a later
migration that alters Document must run SQLITE_FORWARD again.
"""

from django.db import migrations

SQLITE_FORWARD = [
    """
    CREATE VIRTUAL TABLE research_document_fts USING fts5(
        title, body,
        content='research_document', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER research_document_fts_insert AFTER INSERT ON research_document BEGIN
        INSERT INTO research_document_fts(rowid, title, body)
        VALUES (new.id, new.title, new.body);
    END
    """,
    """
    CREATE TRIGGER research_document_fts_delete AFTER DELETE ON research_document BEGIN
        INSERT INTO research_document_fts(research_document_fts, rowid, title, body)
        VALUES ('delete', old.id, old.title, old.body);
    END
    """,
    """
    CREATE TRIGGER research_document_fts_update AFTER UPDATE ON research_document BEGIN
        INSERT INTO research_document_fts(research_document_fts, rowid, title, body)
        VALUES ('delete', old.id, old.title, old.body);
        INSERT INTO research_document_fts(rowid, title, body)
        VALUES (new.id, new.title, new.body);
    END
    """,
    # Index whatever rows already exist.
    "INSERT INTO research_document_fts(research_document_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS research_document_fts_insert",
    "DROP TRIGGER IF EXISTS research_document_fts_delete",
    "DROP TRIGGER IF EXISTS research_document_fts_update",
    "DROP TABLE IF EXISTS research_document_fts",
]
POSTGRESQL_FORWARD = [
    """
    ALTER TABLE research_document ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'B')
    ) STORED
    """,
    "CREATE INDEX research_document_search_gin ON research_document USING GIN (search_vector)",
]
POSTGRESQL_BACKWARD = [
    "DROP INDEX IF EXISTS research_document_search_gin",
    "ALTER TABLE research_document DROP COLUMN IF EXISTS search_vector",
]
FORWARD = {"sqlite": SQLITE_FORWARD, "postgresql": POSTGRESQL_FORWARD}
BACKWARD = {"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRESQL_BACKWARD}


def run_for_vendor(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        for statement in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("research", "0001_initial")]

    operations = [
        migrations.RunPython(run_for_vendor(FORWARD), run_for_vendor(BACKWARD), elidable=False)
    ]
