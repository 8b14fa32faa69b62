"""Conversation.stored_bytes: the size MAX_CONVERSATION_BYTES bounds, counted for the
conversations that exist already (UTF-8 bytes of their items' JSON)."""

from django.db import migrations, models

COUNT_SQL = {
    "sqlite": "LENGTH(CAST(i.data AS BLOB))",
    "postgresql": "OCTET_LENGTH(i.data)",
}


def count_stored_bytes(apps, schema_editor):
    connection = schema_editor.connection
    length = COUNT_SQL.get(connection.vendor, "LENGTH(i.data)")
    conversations = apps.get_model("agentsite", "Conversation")._meta.db_table
    items = apps.get_model("agentsite", "ConversationItem")._meta.db_table
    schema_editor.execute(
        f"UPDATE {conversations} SET stored_bytes = COALESCE("
        f"(SELECT SUM({length}) FROM {items} i WHERE i.conversation_id = {conversations}.id), 0)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("agentsite", "0004_item_lookups_use_position_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="stored_bytes",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.RunPython(count_stored_bytes, migrations.RunPython.noop),
    ]
