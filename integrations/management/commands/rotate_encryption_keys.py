"""Re-encrypts every encrypted field with the newest key in FIELD_ENCRYPTION_KEYS.

Run it after putting a new key first in the list; once it reports nothing left to rotate, the
old keys can be removed.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast

from integrations.connections.crypto import EncryptedJSONField, needs_rotation


class Command(BaseCommand):
    help = "Re-encrypt all encrypted credentials with the newest FIELD_ENCRYPTION_KEYS key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model in apps.get_models():
            fields = [f for f in model._meta.get_fields() if isinstance(f, EncryptedJSONField)]
            if not fields:
                continue
            names = [f.attname for f in fields]
            # Cast to text to read the raw ciphertext: the field itself would decrypt each value.
            casts = {f"raw_{name}": Cast(name, output_field=TextField()) for name in names}
            raw = model._default_manager.annotate(**casts).values_list("pk", *casts)
            stale = [
                row[0]
                for row in raw.iterator(chunk_size=options["batch_size"])
                if any(value and needs_rotation(value) for value in row[1:])
            ]
            total += len(stale)
            if options["dry_run"] or not stale:
                continue
            for start in range(0, len(stale), options["batch_size"]):
                with transaction.atomic():
                    chunk = stale[start : start + options["batch_size"]]
                    for obj in model._default_manager.select_for_update().filter(pk__in=chunk):
                        obj.save(update_fields=names)
            self.stdout.write(f"{model._meta.label}: re-encrypted {len(stale)} row(s)")
        verb = "would re-encrypt" if options["dry_run"] else "re-encrypted"
        self.stdout.write(self.style.SUCCESS(f"Done: {verb} {total} row(s)."))
