"""The lifecycle's rules as plain functions: no database, no gateway, no clock.

None of these tests is marked ``django_db``: a rule that reached for the database
would fail here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from generations.lifecycle import policy
from generations.models import JobSet

Status = JobSet.Status
Charge = JobSet.Charge
USUAL = policy.Durations(early=4.0, typical=6.0, late=9.0)


def test_the_policy_imports_no_django_and_no_http_only_the_status_names_of_the_models():
    tree = ast.parse(Path(policy.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    assert not {name for name in imported if name.startswith(("django", "requests"))}
    assert {name for name in imported if name.startswith("generations")} == {"generations.models"}


@pytest.mark.parametrize("status", Status.values)
def test_only_a_job_set_still_waiting_here_may_be_canceled(status):
    assert policy.may_cancel(status) is (status == Status.WAITING)


@pytest.mark.parametrize("status", Status.values)
def test_pending_and_unconfirmed_job_sets_may_be_marked_failed_and_finished_ones_may_not(status):
    expected = status in JobSet.PENDING or status == Status.UNCONFIRMED
    assert policy.may_mark_failed(status) is expected


def test_only_job_sets_the_gateway_has_accepted_may_be_polled_now():
    assert [s for s in Status.values if policy.may_poll_now(s)] == [Status.SUBMITTED, Status.IN_PROGRESS]


def test_only_an_unconfirmed_job_set_still_reserved_may_be_settled():
    assert policy.may_settle(Status.UNCONFIRMED, Charge.RESERVED)
    assert not policy.may_settle(Status.UNCONFIRMED, Charge.CHARGED)
    assert not policy.may_settle(Status.FAILED, Charge.RESERVED)


def test_the_status_sets_fit_together():
    assert set(JobSet.PENDING) | set(JobSet.TERMINAL) == set(Status.values)
    assert not set(JobSet.PENDING) & set(JobSet.TERMINAL)
    assert set(JobSet.POLLED) < set(JobSet.IN_FLIGHT) < set(JobSet.PENDING)
    assert set(JobSet.UNSUCCESSFUL) == set(JobSet.TERMINAL) - {Status.COMPLETED}
    assert not any(policy.is_tracked(s) for s in (Status.WAITING, *JobSet.TERMINAL))


def test_a_job_set_is_queued_upstream_until_one_of_its_jobs_moves_on():
    assert policy.pending_status(["queued", "queued"]) == Status.SUBMITTED
    assert policy.pending_status(["queued", "in_progress"]) == Status.IN_PROGRESS
    assert policy.pending_status(["completed", "queued"]) == Status.IN_PROGRESS


def test_a_batch_with_any_image_finished_is_completed_and_says_what_else_happened():
    status, reason = policy.outcome(["completed", "completed", "failed", "nsfw"])
    assert status == Status.COMPLETED
    assert reason == "2 of 4 images finished (1 failed, 1 nsfw)."
    assert policy.outcome(["completed"]) == (Status.COMPLETED, "")


def test_images_that_could_not_be_stored_are_counted_with_the_first_error():
    status, reason = policy.outcome(["completed", "completed"], ["The CDN answered 503.", ""])
    assert status == Status.COMPLETED
    assert reason == "2 image(s) could not be downloaded (The CDN answered 503.); use “Retry download”."
    assert "(unknown error)" in policy.outcome(["completed"], [""])[1]


@pytest.mark.parametrize(
    ("jobs", "status"),
    [
        (["nsfw", "nsfw"], Status.NSFW),
        (["canceled"], Status.CANCELED),
        (["failed", "nsfw"], Status.FAILED),
        (["failed"], Status.FAILED),
    ],
)
def test_a_batch_without_a_finished_image_says_why_and_that_nothing_was_charged(jobs, status):
    outcome, reason = policy.outcome(jobs)
    assert outcome == status
    assert reason.endswith("Nothing was charged.")
    assert policy.charge_for(outcome, jobs) == Charge.RELEASED


def test_a_price_stays_reserved_until_the_end_and_while_a_submit_is_unconfirmed():
    assert policy.charge_for(Status.IN_PROGRESS, ["completed"]) == Charge.RESERVED
    assert policy.charge_for(Status.UNCONFIRMED, []) == Charge.RESERVED
    assert policy.charge_for(Status.COMPLETED, ["completed", "failed"]) == Charge.CHARGED
    assert policy.charge_for(Status.CANCELED, []) == Charge.RELEASED


def test_a_refusal_says_what_an_admin_must_fix_and_that_nothing_was_charged():
    key = policy.refusal("Invalid key", key_refused=True)
    access = policy.refusal("Out of credits", access_denied=True)
    other = policy.refusal("prompt is required")
    assert "SOUL_API_KEY" in key and "(Invalid key)" in key
    assert "out of credits" in access and "admin resumes it" in access
    assert other == "The gateway refused the request: prompt is required. Nothing was charged."
    assert all(text.endswith("Nothing was charged.") for text in (key, access, other))


def test_it_gives_up_only_once_the_time_allowed_has_passed():
    assert not policy.gave_up(60.0, 60)
    assert policy.gave_up(60.5, 60)
    assert policy.expired_reason(7200) == (
        "The gateway did not finish it within 2 hours, so soulsite stopped checking."
    )


def test_without_history_polls_come_every_second_then_thin_out():
    assert policy.poll_delay(2, None, gap=1.5) == pytest.approx(policy.EARLY_INTERVAL)
    assert policy.poll_delay(30, None, gap=1.5) == pytest.approx(3.0)
    assert policy.poll_delay(300, None, gap=1.5) == pytest.approx(policy.LATE_INTERVAL)


def test_polls_wait_for_the_quickest_tenth_then_come_every_gap_then_thin_out():
    assert policy.poll_delay(1, USUAL, gap=1.5) == pytest.approx(3.0)
    assert policy.poll_delay(4, USUAL, gap=1.5) == pytest.approx(1.5)
    assert policy.poll_delay(10, USUAL, gap=1.5) == pytest.approx(1.5)
    assert policy.poll_delay(30, USUAL, gap=1.5) == pytest.approx(3.0)
    assert policy.poll_delay(300, USUAL, gap=1.5) == pytest.approx(policy.LATE_INTERVAL)


def test_one_job_set_in_five_is_a_probe_that_polls_first_at_half_the_usual_time():
    assert [pk for pk in range(1, 11) if policy.is_probe(pk)] == [5, 10]
    assert policy.poll_delay(0, USUAL, gap=1.5, probe=True) == pytest.approx(2.0)
    assert policy.poll_delay(2.1, USUAL, gap=1.5, probe=True) == pytest.approx(1.9)


def test_when_callbacks_arrive_polls_are_only_a_slow_fallback():
    assert policy.poll_delay(1, USUAL, gap=1.5, called_back=True) == pytest.approx(9.8)
    assert policy.poll_delay(25, USUAL, gap=1.5, called_back=True) == pytest.approx(
        policy.WEBHOOK_FALLBACK_INTERVAL
    )
