"""Ship the vendor's prices, the known public styles and the tracker's backstop Schedule."""

from django.db import migrations

from generations import catalogue

TRACK_SCHEDULE = "soulsite: track job sets"


def seed(apps, schema_editor):
    catalogue.install(apps.get_model("generations", "Price"), apps.get_model("generations", "Style"))
    Schedule = apps.get_model("django_q", "Schedule")
    # The backstop that restarts tracking after a crash; tracking itself is
    # woken by submits (see generations.lifecycle.tracker). Idempotent by name.
    Schedule.objects.update_or_create(
        name=TRACK_SCHEDULE,
        defaults={"func": "generations.tasks.track", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def unseed(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=TRACK_SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("generations", "0001_initial"),
        ("django_q", "0014_schedule_cluster"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
