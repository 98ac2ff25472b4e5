"""The whole path through a real django-q2 cluster in another process and the sandbox over HTTP."""

from __future__ import annotations

import pytest
from django_q.models import Schedule
from PIL import Image

from generations.lifecycle import tracker
from generations.models import JobSet
from tests.conftest import wait_until

Status = JobSet.Status


@pytest.mark.django_db(transaction=True)
def test_a_submitted_prompt_ends_as_images_on_our_disk(client, alice, cluster, sandbox_stats, media_root):
    client.force_login(alice)
    before = sandbox_stats()["submits_accepted"]

    response = client.post(
        "/generate/",
        {
            "prompt": "a glass teapot in a greenhouse",
            "width_and_height": "2048x1152",
            "quality": "720p",
            "batch_size": "4",
            "seed": "123",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    job_set = JobSet.objects.get()

    finished = wait_until(
        lambda: JobSet.objects.filter(pk=job_set.pk, status__in=JobSet.TERMINAL).first(),
        timeout=40,
        message="the cluster to finish the job set",
    )
    assert finished.status == Status.COMPLETED, finished.status_reason
    assert finished.charge == JobSet.Charge.CHARGED
    assert sandbox_stats()["submits_accepted"] == before + 1
    for job in finished.jobs.all():
        with Image.open(media_root / job.image.name) as image:
            assert image.size == (2048, 1152)

    card = client.get(f"/job-sets/{job_set.pk}/card/").content.decode()
    assert card.count("<img ") == 4
    assert "every 2s" not in card


@pytest.mark.django_db
def test_the_tracking_schedule_exists_once_and_recreating_it_changes_nothing():
    assert Schedule.objects.filter(name=tracker.SCHEDULE_NAME).count() == 1
    tracker.ensure_schedule()
    tracker.ensure_schedule()
    schedule = Schedule.objects.get(name=tracker.SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == ("generations.tasks.track", "I", 1)
