"""Existing installations had no teams: put everyone in one team and file their job sets under it."""

from django.conf import settings
from django.db import migrations


def forwards(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Team = apps.get_model("generations", "Team")
    Membership = apps.get_model("generations", "Membership")
    JobSet = apps.get_model("generations", "JobSet")
    if Team.objects.exists() or not User.objects.exists():
        return
    team = Team.objects.create(name="Studio")
    for user in User.objects.all():
        role = "manager" if user.is_superuser else "member"
        Membership.objects.create(team=team, user=user, role=role)
    JobSet.objects.filter(team__isnull=True).update(team=team)


class Migration(migrations.Migration):
    dependencies = [
        ("generations", "0004_teams_characters_uploads"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
