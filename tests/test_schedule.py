"""The minute tracking Schedule exists once, however many clusters start at the same moment."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django_q.models import Schedule

from generations.lifecycle import tracker


@pytest.mark.django_db
def test_making_sure_of_the_schedule_removes_duplicates_left_by_an_old_race():
    Schedule.objects.filter(name=tracker.SCHEDULE_NAME).delete()
    for _ in range(3):
        Schedule.objects.create(name=tracker.SCHEDULE_NAME, func="generations.tasks.track")

    tracker.ensure_schedule()

    assert Schedule.objects.filter(name=tracker.SCHEDULE_NAME).count() == 1


@pytest.mark.django_db(transaction=True)
def test_clusters_starting_together_create_the_schedule_once():
    Schedule.objects.filter(name=tracker.SCHEDULE_NAME).delete()
    starting = threading.Barrier(4)
    errors = []

    def start_a_cluster():
        try:
            starting.wait()
            tracker.ensure_schedule()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=start_a_cluster) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    assert Schedule.objects.filter(name=tracker.SCHEDULE_NAME).count() == 1
