# Owned by the privacy work of this round: its operations go here (kept in a fixed chain so that
# work landing in any order needs no merge migration).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("agentsite", "0009_quotas"),
    ]

    operations = []
