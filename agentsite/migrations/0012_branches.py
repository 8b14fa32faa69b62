# Owned by the branches work of this round: its operations go here (kept in a fixed chain so that
# work landing in any order needs no merge migration).
#
# Conversation branches (editing an earlier message forks the conversation). Existing data is
# one main branch: every item's branch and every conversation's active branch default to 1.
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("agentsite", "0011_feedback"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConversationBranch",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("number", models.PositiveIntegerField()),
                ("parent", models.PositiveIntegerField()),
                ("fork_turn", models.PositiveIntegerField()),
                (
                    "created_at",
                    models.DateTimeField(default=django.utils.timezone.now, editable=False),
                ),
            ],
            options={
                "ordering": ["conversation_id", "number"],
            },
        ),
        migrations.AddField(
            model_name="conversation",
            name="active_branch",
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="conversation",
            name="branch_count",
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="conversationitem",
            name="branch",
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddIndex(
            model_name="conversationitem",
            index=models.Index(
                fields=["conversation", "branch", "position"], name="item_branch_position"
            ),
        ),
        migrations.AddField(
            model_name="conversationbranch",
            name="conversation",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="branches",
                to="agentsite.conversation",
            ),
        ),
        migrations.AddConstraint(
            model_name="conversationbranch",
            constraint=models.UniqueConstraint(
                fields=("conversation", "number"), name="unique_branch_number"
            ),
        ),
    ]
