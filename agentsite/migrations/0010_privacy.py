# Owned by the privacy work of this round: its operations go here (kept in a fixed chain so that
# work landing in any order needs no merge migration). The audit log of staff actions and the
# legal hold on conversations (README, "Privacy").
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("agentsite", "0009_quotas"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ("actor", models.CharField(max_length=160)),
                (
                    "action",
                    models.CharField(
                        choices=[
                            ("transcript_viewed", "Transcript Viewed"),
                            ("report_viewed", "Report Viewed"),
                            ("exported", "Exported"),
                            ("purged", "Purged"),
                            ("approval_decided", "Approval Decided"),
                            ("owner_exported", "Owner Exported"),
                            ("owner_erased", "Owner Erased"),
                            ("legal_hold_placed", "Legal Hold Placed"),
                            ("legal_hold_released", "Legal Hold Released"),
                        ],
                        max_length=32,
                    ),
                ),
                ("target_type", models.CharField(max_length=32)),
                ("target_ids", models.JSONField(blank=True, default=list)),
                ("target_count", models.PositiveIntegerField(default=0)),
                ("owner_key", models.CharField(blank=True, db_index=True, max_length=160)),
                ("details", models.JSONField(blank=True, default=dict)),
            ],
            options={
                "verbose_name": "audit entry",
                "verbose_name_plural": "audit log",
                "ordering": ["-at", "-id"],
            },
        ),
        migrations.AddField(
            model_name="conversation",
            name="legal_hold",
            field=models.BooleanField(default=False),
        ),
    ]
