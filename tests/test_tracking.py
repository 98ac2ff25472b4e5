"""Sending and tracking job sets in-process against the sandbox over real HTTP."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from PIL import Image

from generations.lifecycle import claims, policy, poll, send, shutdown, timing, tracker
from generations.models import Attempt, JobSet, Lease
from generations.upstream import client as soul_client
from tests.factories import make_finished_upstream, make_job_set
from tests.servers import SilentServer

pytestmark = pytest.mark.django_db(transaction=True)
Status = JobSet.Status


def run_tracker_until_idle(seconds: float = 20.0) -> None:
    tracker.run(max_seconds=seconds)


def test_it_sends_tracks_and_stores_a_batch_of_four(alice, sandbox_stats, media_root):
    job_set = make_job_set(alice, batch_size=4, seed=42)
    before = sandbox_stats()["submits_accepted"]

    run_tracker_until_idle()

    job_set.refresh_from_db()
    assert job_set.status == Status.COMPLETED, job_set.status_reason
    assert job_set.charge == JobSet.Charge.CHARGED
    assert str(job_set.price) == "0.19"
    assert job_set.upstream_id and job_set.input_params["seed"] == 42
    stats = sandbox_stats()
    assert stats["submits_accepted"] == before + 1
    assert stats["by_idempotency_key"][str(job_set.idempotency_key)] == 1
    jobs = list(job_set.jobs.all())
    assert [job.index for job in jobs] == [0, 1, 2, 3]
    for job in jobs:
        assert job.status == "completed" and job.downloaded_at
        with Image.open(media_root / job.image.name) as image:
            assert image.size == (1536, 2048)
        with Image.open(media_root / job.preview.name) as preview:
            assert max(preview.size) < 1536
        assert job.raw_url.startswith("http://127.0.0.1")  # the upstream URL is kept


def test_it_polls_until_every_job_is_terminal_and_stops_when_nothing_is_pending(alice, sandbox_stats):
    job_set = make_job_set(alice)
    run_tracker_until_idle()
    job_set.refresh_from_db()
    assert job_set.status == Status.COMPLETED
    polls = sandbox_stats()["polls"]

    # Nothing pending: the tracker makes no upstream request at all.
    assert tracker.run(max_seconds=2) == "sent 0, polled 0"
    assert sandbox_stats()["polls"] == polls


@pytest.mark.parametrize(
    ("prompt", "status", "charge"),
    [
        ("a nsfw test", Status.NSFW, JobSet.Charge.RELEASED),
        ("this should fail please", Status.FAILED, JobSet.Charge.RELEASED),
    ],
)
def test_it_ends_blocked_and_failed_generations_with_a_reason_and_no_charge(alice, prompt, status, charge):
    job_set = make_job_set(alice, prompt=prompt, batch_size=4)
    run_tracker_until_idle()
    job_set.refresh_from_db()
    assert job_set.status == status
    assert job_set.charge == charge
    assert "Nothing was charged" in job_set.status_reason


def test_a_partly_finished_batch_is_completed_charged_and_says_what_failed(alice):
    job_set = make_job_set(alice, prompt="partial success", batch_size=4)
    run_tracker_until_idle()
    job_set.refresh_from_db()
    assert job_set.status == Status.COMPLETED
    assert job_set.charge == JobSet.Charge.CHARGED
    assert "2 of 4 images finished" in job_set.status_reason
    assert sorted(job_set.jobs.values_list("status", flat=True)) == [
        "completed",
        "completed",
        "failed",
        "failed",
    ]


def test_a_submit_that_times_out_after_sending_is_unconfirmed_and_never_resent(alice, settings):
    silent = SilentServer()
    settings.SOUL_API_BASE_URL = silent.url
    settings.SOUL_READ_TIMEOUT = 0.5
    soul_client.reset_client()
    try:
        job_set = make_job_set(alice)
        send.send_waiting("test")
        job_set.refresh_from_db()
        assert job_set.status == Status.UNCONFIRMED
        assert "may have accepted" in job_set.status_reason
        assert job_set.charge == JobSet.Charge.RESERVED  # it may well have been charged

        send.send_waiting("test")
        assert silent.requests == 1
    finally:
        silent.stop()


def test_it_never_has_more_job_sets_in_flight_than_the_cap(alice, settings):
    settings.SOUL_MAX_IN_FLIGHT = 2
    job_sets = [make_job_set(alice, prompt=f"picture {n}") for n in range(5)]

    assert send.send_waiting("test") == 2

    statuses = [JobSet.objects.get(pk=js.pk).status for js in job_sets]
    assert statuses[:2] == [Status.SUBMITTED, Status.SUBMITTED]  # oldest first
    assert statuses[2:] == [Status.WAITING] * 3
    from generations.queries.queue import queue_positions

    waiting = list(JobSet.objects.filter(status=Status.WAITING))
    assert sorted(queue_positions(waiting).values()) == [1, 2, 3]


def test_two_workers_never_claim_the_same_job_set_and_expired_claims_are_taken_over(alice):
    job_sets = [make_job_set(alice, prompt=f"p{n}") for n in range(4)]
    JobSet.objects.filter(pk__in=[js.pk for js in job_sets]).update(
        status=Status.SUBMITTED, due_at=timezone.now() - timedelta(seconds=1)
    )

    first = claims.claim_due("worker-a", 3)
    second = claims.claim_due("worker-b", 3)
    assert len(first) == 3 and len(second) == 1
    assert not set(first) & set(second)

    # worker-a dies: once its claims expire, worker-b takes them over.
    JobSet.objects.filter(pk__in=first).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert sorted(claims.claim_due("worker-b", 10)) == sorted(first)


def test_a_send_interrupted_by_a_crash_becomes_unconfirmed(alice):
    job_set = make_job_set(alice)
    JobSet.objects.filter(pk=job_set.pk).update(
        status=Status.SENDING, claimed_by="dead", claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert send.recover_abandoned_sends() == 1
    job_set.refresh_from_db()
    assert job_set.status == Status.UNCONFIRMED
    assert "cannot tell" in job_set.status_reason


def test_a_job_set_the_gateway_never_finishes_expires_with_a_reason(alice, settings):
    job_set = make_job_set(alice)
    send.send_waiting("test")
    settings.SOUL_POLL_GIVE_UP = 60
    JobSet.objects.filter(pk=job_set.pk).update(
        sent_at=timezone.now() - timedelta(seconds=61), due_at=timezone.now(), status=Status.SUBMITTED
    )
    JobSet.objects.filter(pk=job_set.pk).update(
        claimed_by="w", claimed_until=timezone.now() + timedelta(seconds=60)
    )
    # The jobs are not terminal yet as far as we know (we never polled).
    poll.track(job_set.pk, "w")
    job_set.refresh_from_db()
    assert job_set.status == Status.EXPIRED
    assert "did not finish it" in job_set.status_reason


USUAL = policy.Durations(early=4.0, typical=6.0, late=9.0)


def test_polls_wait_for_the_quick_ones_then_come_steadily_then_thin_out(alice, monkeypatch):
    now = timezone.now()
    job_set = make_job_set(alice)
    job_set.pk = 11  # not one of the probes (see the next test)
    monkeypatch.setattr(timing, "durations", lambda quality, batch: USUAL)

    def delay_after(seconds: float) -> float:
        job_set.sent_at = now - timedelta(seconds=seconds)
        return timing.next_poll_delay(job_set, now)

    assert delay_after(1) == pytest.approx(3.0)  # the quickest tenth are done at 4 s
    assert delay_after(4) == pytest.approx(settings.SOUL_POLL_GAP)
    assert delay_after(9.5) == pytest.approx(settings.SOUL_POLL_GAP)  # still in the usual range
    assert delay_after(30) == pytest.approx(3.0)  # late: gaps grow with the time taken
    assert delay_after(300) == pytest.approx(policy.LATE_INTERVAL)


def test_the_gap_between_polls_is_a_setting(alice, monkeypatch, settings):
    settings.SOUL_POLL_GAP = 1.7
    job_set = make_job_set(alice)
    job_set.pk = 11
    monkeypatch.setattr(timing, "durations", lambda quality, batch: USUAL)
    now = timezone.now()
    job_set.sent_at = now - timedelta(seconds=5)
    assert timing.next_poll_delay(job_set, now) == pytest.approx(1.7)


def test_one_job_set_in_five_probes_early_so_a_faster_gateway_is_noticed(alice, monkeypatch):
    now = timezone.now()
    monkeypatch.setattr(timing, "durations", lambda quality, batch: USUAL)
    probe, other = make_job_set(alice), make_job_set(alice)
    probe.pk, other.pk = 10, 11
    probe.sent_at = other.sent_at = now
    assert timing.next_poll_delay(probe, now) == pytest.approx(2.0)  # half the usual first 4 s
    assert timing.next_poll_delay(other, now) == pytest.approx(4.0)
    probe.sent_at = now - timedelta(seconds=2.1)  # the probe found it running: back to the usual
    assert timing.next_poll_delay(probe, now) == pytest.approx(1.9)


def test_without_history_it_polls_every_second_then_less(alice, monkeypatch):
    now = timezone.now()
    job_set = make_job_set(alice)
    monkeypatch.setattr(timing, "durations", lambda quality, batch: None)
    job_set.sent_at = now - timedelta(seconds=2)
    assert timing.next_poll_delay(job_set, now) == pytest.approx(1.0)
    job_set.sent_at = now - timedelta(seconds=30)
    assert timing.next_poll_delay(job_set, now) == pytest.approx(3.0)


def test_durations_are_learned_from_recent_job_sets_of_the_same_kind(alice):
    timing.forget_typical()
    now = timezone.now()
    for seconds in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11):
        job_set = make_job_set(alice, quality="1080p", batch_size=4)
        JobSet.objects.filter(pk=job_set.pk).update(
            status=Status.COMPLETED, sent_at=now - timedelta(seconds=seconds), finished_at=now
        )
    usual = timing.durations("1080p", 4)
    assert usual.early == pytest.approx(2.9) and usual.typical == pytest.approx(6.5)
    assert usual.late == pytest.approx(10.1)
    assert timing.durations("720p", 1) is None  # another kind has no history yet
    timing.forget_typical()


def test_with_webhooks_polls_are_only_a_slow_fallback(alice, monkeypatch, settings):
    settings.SOUL_PUBLIC_URL = "https://soul.example.com"
    now = timezone.now()
    called_back = make_job_set(alice)
    job_set = make_job_set(alice)
    job_set.pk = 11  # not a probe
    job_set.sent_at = now - timedelta(seconds=1)
    monkeypatch.setattr(timing, "durations", lambda quality, batch: USUAL)
    monkeypatch.setattr(timing, "_callbacks_seen", (0.0, False))
    assert timing.next_poll_delay(job_set, now) == pytest.approx(3.0)  # no callback has ever come: poll
    Attempt.objects.create(job_set=called_back, kind=Attempt.Kind.WEBHOOK, asked="callback received")
    monkeypatch.setattr(timing, "_callbacks_seen", (0.0, False))
    assert timing.next_poll_delay(job_set, now) == pytest.approx(9.8)  # the callback comes first
    job_set.sent_at = now - timedelta(seconds=25)
    assert timing.next_poll_delay(job_set, now) == pytest.approx(15.0)


def test_it_stops_when_nothing_is_pending_even_if_each_send_takes_a_moment(monkeypatch):
    # On PostgreSQL the send thread opens a connection before it finds nothing to send; a loop
    # that only stopped when it saw that send already done would run until its deadline.
    send_waiting = send.send_waiting

    def slow_send(worker, *bounds):
        time.sleep(0.3)
        return send_waiting(worker, *bounds)

    monkeypatch.setattr(send, "send_waiting", slow_send)
    started = time.monotonic()
    assert tracker.run(max_seconds=30) == "sent 0, polled 0"
    assert time.monotonic() - started < 10  # it stopped by itself, long before its deadline


def test_the_images_of_a_batch_are_fetched_at_the_same_time(alice, monkeypatch, media_root):
    import threading

    from generations.upstream import downloads

    # Each fetch waits for all four to be under way: fetched one after another, they never would be.
    together = threading.Barrier(4, timeout=10)
    fetching_threads = set()

    def fetch(job, url, kind):
        fetching_threads.add(threading.current_thread().name)
        together.wait()
        return downloads.Stored(f"results/test/{job.index}-{kind}.png", 48, 64)

    monkeypatch.setattr(downloads, "fetch", fetch)
    job_set = make_finished_upstream(alice)
    poll.track(job_set.pk, "w")
    job_set.refresh_from_db()
    assert job_set.status == Status.COMPLETED
    assert sorted(job_set.jobs.values_list("image", flat=True)) == [
        f"results/test/{index}-raw.png" for index in range(4)
    ]
    assert len(fetching_threads) == 4


def test_one_image_that_fails_to_download_does_not_hold_back_the_others(alice, monkeypatch, media_root):
    from generations.upstream import downloads

    def fetch(job, url, kind):
        if job.index == 2:
            raise soul_client.Unavailable("The CDN answered 503.")
        return downloads.Stored(f"results/test/{job.index}-{kind}.png", 48, 64)

    monkeypatch.setattr(downloads, "fetch", fetch)
    job_set = make_finished_upstream(alice)
    poll.track(job_set.pk, "w")
    jobs = {job.index: job for job in JobSet.objects.get(pk=job_set.pk).jobs.all()}
    assert [bool(jobs[index].image) for index in range(4)] == [True, True, False, True]
    assert jobs[2].download_error and jobs[2].download_attempts == 1
    failed = Attempt.objects.get(job_set=job_set, kind="download", ok=False)
    assert "503" in failed.answer


def test_an_unexpected_storage_error_is_raised_after_the_other_images_are_recorded(
    alice, monkeypatch, media_root
):
    from generations.upstream import downloads

    def fetch(job, url, kind):
        if job.index == 0:
            raise OSError("No space left on device")
        return downloads.Stored(f"results/test/{job.index}-{kind}.png", 48, 64)

    monkeypatch.setattr(downloads, "fetch", fetch)
    job_set = make_finished_upstream(alice)
    with pytest.raises(OSError, match="No space"):
        poll.track(job_set.pk, "w")
    stored = set(JobSet.objects.get(pk=job_set.pk).jobs.exclude(image="").values_list("index", flat=True))
    assert stored == {1, 2, 3}


# --- Bounded background work ------------------------------------------------------------------


class Killed(BaseException):
    """A worker killed on the spot: no ``except Exception`` runs, as with SIGKILL."""


def test_one_call_sends_at_most_a_batch_and_leaves_the_rest_waiting(alice, settings):
    settings.SOUL_MAX_IN_FLIGHT = 10
    job_sets = [make_job_set(alice, prompt=f"picture {n}") for n in range(8)]
    assert send.send_waiting("test") == send.SEND_BATCH
    statuses = [JobSet.objects.get(pk=js.pk).status for js in job_sets]
    assert statuses.count(Status.WAITING) == 8 - send.SEND_BATCH
    assert send.send_waiting("test", limit=10, until=time.monotonic()) == 0  # past its deadline: none


def test_a_batch_ends_well_inside_the_task_timeout_even_if_every_send_times_out():
    worst = send.SEND_BATCH * (settings.SOUL_CONNECT_TIMEOUT + settings.SOUL_READ_TIMEOUT)
    assert worst < settings.Q_CLUSTER["timeout"] - 10
    # The tracker's own loop plus the one send it may still start before its deadline.
    loop = tracker.LOOP_SECONDS + settings.SOUL_CONNECT_TIMEOUT + settings.SOUL_READ_TIMEOUT
    assert loop < settings.Q_CLUSTER["timeout"]


def test_the_send_task_sends_one_batch_and_wakes_the_tracker_for_the_rest(alice, settings, monkeypatch):
    from generations import tasks

    settings.SOUL_MAX_IN_FLIGHT = 10
    woken = []
    monkeypatch.setattr(tracker, "wake", lambda *args: woken.append(args))
    for n in range(8):
        make_job_set(alice, prompt=f"picture {n}")
    assert tasks.send_waiting() == f"sent {send.SEND_BATCH}"
    assert woken and JobSet.objects.filter(status=Status.WAITING).count() == 8 - send.SEND_BATCH


@pytest.mark.parametrize(
    "where",
    ["preparing the request", "a bug preparing the request", "the request just sent", "the answer stored"],
)
def test_a_sender_killed_at_any_line_leaves_nothing_claimed_and_sends_nothing_twice(
    alice, monkeypatch, sandbox_stats, faults, where
):
    faults(queue_seconds=5, complete_seconds=10)
    first, second, third = (make_job_set(alice, prompt=f"picture {n}") for n in range(3))
    real_body, real_record = send.request_body, send.record_submitted
    real_submit = soul_client.get_client().submit

    def body(job_set):
        if job_set.pk == second.pk and where == "preparing the request":
            raise Killed
        if job_set.pk == second.pk and where == "a bug preparing the request":
            raise RuntimeError("a bug")
        return real_body(job_set)

    def submit(payload, key):
        result = real_submit(payload, key)
        if key == str(second.idempotency_key) and where == "the request just sent":
            raise Killed
        return result

    def record(pk, result):
        if pk == second.pk and where == "the answer stored":
            raise Killed
        return real_record(pk, result)

    monkeypatch.setattr(send, "request_body", body)
    monkeypatch.setattr(soul_client.get_client(), "submit", submit)
    monkeypatch.setattr(send, "record_submitted", record)
    with contextlib.suppress(Killed):
        send.send_waiting("doomed", limit=10)
    # The dead worker's claims run out (at once, once it is known dead), and the sends it
    # left are recovered.
    claims.expire_claims_of("doomed")
    send.recover_abandoned_sends()
    monkeypatch.undo()
    send.send_waiting("survivor", limit=10)

    rows = {js.pk: js for js in JobSet.objects.all()}
    assert not [js for js in rows.values() if js.status == Status.SENDING or js.claimed_by]
    assert rows[first.pk].status in JobSet.POLLED
    expected = {
        "preparing the request": Status.UNCONFIRMED,  # a kill leaves no trace of how far it got
        "a bug preparing the request": Status.WAITING,  # known not sent: back in line, no claim
        "the request just sent": Status.UNCONFIRMED,
        "the answer stored": Status.SUBMITTED,  # the upstream id was kept: tracked on
    }[where]
    assert rows[second.pk].status == expected, rows[second.pk].status_reason
    if expected == Status.UNCONFIRMED:
        assert "cannot tell whether it was accepted" in rows[second.pk].status_reason
    if where != "a bug preparing the request":
        assert rows[third.pk].status in JobSet.POLLED
    accepted = sandbox_stats()["by_idempotency_key"]
    assert all(count == 1 for count in accepted.values())


def test_a_send_left_by_a_dead_process_is_recovered_without_waiting_for_its_claim(alice):
    gone = subprocess.Popen(["true"])
    gone.wait()
    job_set = make_job_set(alice)
    JobSet.objects.filter(pk=job_set.pk).update(
        status=Status.SENDING,
        sent_at=timezone.now(),
        claimed_by=f"{socket.gethostname()}:{gone.pid}:abcdef12",
        claimed_until=timezone.now() + timedelta(seconds=60),
    )
    run_tracker_until_idle(seconds=5)
    job_set.refresh_from_db()
    assert job_set.status == Status.UNCONFIRMED and not job_set.claimed_by


def test_the_tracker_stops_within_moments_when_the_cluster_is_stopping_and_frees_its_lease(
    alice, faults, monkeypatch
):
    faults(queue_seconds=30, complete_seconds=60)  # plenty to do for the whole loop
    for n in range(3):
        make_job_set(alice, prompt=f"picture {n}")
    asked_at = time.monotonic() + 1.0
    monkeypatch.setattr(shutdown, "requested", lambda: time.monotonic() > asked_at)
    started = time.monotonic()
    said = tracker.run(max_seconds=30)
    assert time.monotonic() - started < 1.0 + tracker.STOPPING_WAIT + 1
    assert "the cluster is stopping" in said
    assert not Lease.objects.get(name=tracker.LEASE).holder
    assert tracker.run(max_seconds=30) == "the cluster is stopping"  # a task started late does nothing
    assert JobSet.objects.filter(status=Status.SENDING).count() == 0
