"""Delete the stored events of runs whose conversation was deleted before deleting one also
deleted its runs' events (agentsite.retention): their reply text was still replayable.

A run with a session id but no conversation is exactly such a run (the conversation's deletion
set the link to null). Redis streams of such runs expire on their own (RUN_EVENTS_TTL_SECONDS).
"""

from django.db import migrations


def forget_events_of_deleted_conversations(apps, schema_editor):
    RunEventBatch = apps.get_model("agentsite", "RunEventBatch")
    RunEventBatch.objects.filter(run__conversation__isnull=True).exclude(
        run__session_id=""
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("agentsite", "0005_input_conversation_bytes")]

    operations = [
        migrations.RunPython(forget_events_of_deleted_conversations, migrations.RunPython.noop)
    ]
