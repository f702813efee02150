from django.db import migrations, models

# The log page's record search (integrations.sync.lookup.ledger_search) by opportunity or
# customer name: a trigram GIN index on Django's icontains expression, as 0020 made for the log
# itself (PostgreSQL only, kept out of the model's state for SQLite's sake); sync_ledger_recent
# serves its order (most recently changed first), so a common name need not sort every match.
TRIGRAM_INDEXES = (
    ("sync_ledger_opportunity_name_trgm", "opportunity_name"),
    ("sync_ledger_customer_name_trgm", "customer_name"),
)


def create_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("integrations", "LedgerEntry")._meta.db_table)
    for name, column in TRIGRAM_INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
            f"USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _column in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0022_drop_old_alert_marks"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(
                fields=["integration", "-updated_at", "-id"], name="sync_ledger_recent"
            ),
        ),
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes),
    ]
