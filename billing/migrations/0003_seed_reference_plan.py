"""The reference plan, as published on the pricing page. Edited later in the operator admin;
this migration only creates it when it is missing, and never changes an edited plan."""

from decimal import Decimal

from django.db import migrations

TIERS = (
    (1, 1, Decimal("29.99")),
    (2, 3, Decimal("23.99")),
    (4, 5, Decimal("20.99")),
    (6, None, Decimal("17.99")),
)
# Monthly premium when more invoices than this were created in a rolling 30 days.
BANDS = (
    (500, Decimal("10.00")),
    (2000, Decimal("30.00")),
    (5000, Decimal("60.00")),
)


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    plan, created = Plan.objects.get_or_create(
        code="standard",
        defaults={
            "name": "Standard",
            "currency": "GBP",
            "is_active": True,
            "description": (
                "Everything included: free set-up, upgrades and support. A monthly price per "
                "switched-on integration, lower for each further one, plus a volume premium "
                "for busy accounts."
            ),
        },
    )
    if not created:
        return
    for first, last, amount in TIERS:
        plan.tiers.create(first_integration=first, last_integration=last, unit_amount=amount)
    for above, amount in BANDS:
        plan.volume_bands.create(above_invoices=above, monthly_amount=amount)
    Subscription = apps.get_model("billing", "Subscription")
    Subscription.objects.filter(plan__isnull=True).update(plan=plan)


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_plans_trial_claims")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
