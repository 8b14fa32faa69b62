# Owned by the feedback work of this round: its operations go here (kept in a fixed chain so that
# work landing in any order needs no merge migration).
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("agentsite", "0010_privacy"),
    ]

    operations = [
        migrations.CreateModel(
            name="Feedback",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("position", models.BigIntegerField()),
                ("owner_key", models.CharField(db_index=True, max_length=160)),
                ("agent", models.CharField(max_length=64)),
                (
                    "rating",
                    models.CharField(
                        choices=[("up", "thumbs up"), ("down", "thumbs down")], max_length=8
                    ),
                ),
                ("comment", models.TextField(blank=True, max_length=2000)),
                ("model", models.CharField(blank=True, max_length=100)),
                (
                    "created_at",
                    models.DateTimeField(default=django.utils.timezone.now, editable=False),
                ),
                (
                    "updated_at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                ),
                (
                    "conversation",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="feedback",
                        to="agentsite.conversation",
                    ),
                ),
                (
                    "run",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="feedback",
                        to="agentsite.run",
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "feedback",
                "ordering": ["-updated_at"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("conversation", "position"), name="one_feedback_per_reply"
                    )
                ],
            },
        ),
    ]
