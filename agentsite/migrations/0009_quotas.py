# Owned by the quotas work of this round: its operations go here (kept in a fixed chain so that
# work landing in any order needs no merge migration).
import agentsite.governance.quota_models
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("agentsite", "0008_tool_approvals"),
    ]

    operations = [
        migrations.CreateModel(
            name='QuotaOverride',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('owner_key', models.CharField(help_text='key:<id> (an API key), user:<id>, browser:<id> or anonymous', max_length=160, unique=True, validators=[agentsite.governance.quota_models.validate_owner_key])),
                ('runs_per_minute', models.PositiveBigIntegerField(blank=True, help_text="Runs started per minute; empty: the QUOTA_… setting's default (0 refuses every run)", null=True)),
                ('concurrent_runs', models.PositiveBigIntegerField(blank=True, help_text="Runs running at once; empty: the QUOTA_… setting's default (0 refuses every run)", null=True)),
                ('tokens_per_day', models.PositiveBigIntegerField(blank=True, help_text="Tokens per UTC day; empty: the QUOTA_… setting's default (0 refuses every run)", null=True)),
                ('research_per_day', models.PositiveBigIntegerField(blank=True, help_text="Research runs per UTC day; empty: the QUOTA_… setting's default (0 refuses every run)", null=True)),
                ('conversation_bytes', models.PositiveBigIntegerField(blank=True, help_text="Stored bytes per conversation (never above MAX_CONVERSATION_BYTES); empty: the QUOTA_… setting's default (0 refuses every run)", null=True)),
                ('note', models.CharField(blank=True, max_length=200)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ['owner_key'],
            },
        ),
        migrations.CreateModel(
            name='QuotaSlot',
            fields=[
                ('run_id', models.UUIDField(primary_key=True, serialize=False)),
                ('owner_key', models.CharField(db_index=True, max_length=160)),
                ('lease_until', models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name='QuotaCounter',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('owner_key', models.CharField(max_length=160)),
                ('name', models.CharField(max_length=32)),
                ('window', models.BigIntegerField()),
                ('value', models.BigIntegerField(default=0)),
                ('expires_at', models.DateTimeField(db_index=True)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('owner_key', 'name', 'window'), name='quota_counter_unique')],
            },
        ),
    ]
