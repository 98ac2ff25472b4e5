"""The poll timetable learned from recent durations: pure arithmetic, table-tested, then simulated.

None of these tests touches the database: the schedule is a function of plain numbers
(generations.lifecycle.policy), and the simulation runs it in virtual time
(soulbench.tracking).
"""

from __future__ import annotations

import random
import statistics

import pytest

from generations.lifecycle import policy
from soulbench import tracking

GAP = 1.5


def recent(low: float, high: float, n: int = 40, seed: int = 1) -> tuple[float, ...]:
    rng = random.Random(seed)
    return tuple(sorted(rng.uniform(low, high) for _ in range(n)))


def usual(low: float, high: float, **kwargs) -> policy.Durations:
    return policy.summarize(recent(low, high, **kwargs))


def polls(durations: policy.Durations, until: float, *, gap: float = GAP, probe: bool = False) -> list[float]:
    """The times a job set still running at ``until`` is polled, as the tracker would."""
    at, times = 0.0, []
    while at < until:
        at += policy.poll_delay(at, durations, gap=gap, probe=probe)
        times.append(at)
    return times


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]


SPREADS = [(2, 10), (30, 50), (5, 140), (3, 3.5), (60, 600)]


def test_the_summary_keeps_the_durations_sorted_beside_the_deciles_and_the_median():
    summary = policy.summarize([7.0, 2.0, 5.0, 11.0, 3.0, 9.0, 4.0, 10.0, 6.0, 8.0])
    assert summary.recent == (2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0)
    assert summary.early == pytest.approx(2.9) and summary.typical == pytest.approx(6.5)
    assert summary.late == pytest.approx(10.1)


@pytest.mark.parametrize(("low", "high"), SPREADS)
def test_after_the_first_poll_no_gap_is_longer_than_the_bound_and_none_shorter_than_the_floor(low, high):
    times = polls(usual(low, high), until=3 * high + 60)
    assert all(policy.MIN_GAP - 1e-9 <= gap <= policy.MAX_GAP + 1e-9 for gap in gaps(times))


@pytest.mark.parametrize(("low", "high"), [(2, 10), (30, 50), (5, 140), (60, 600)])
def test_while_job_sets_usually_finish_no_gap_is_longer_than_twice_the_widest_usual_gap(low, high):
    durations = usual(low, high)
    times = [t for t in polls(durations, until=high) if t <= durations.recent[-1]]
    assert max(gaps(times)) <= max(policy.LONGER) * policy.WIDEST + 1e-9


def test_a_gap_set_below_the_floor_is_raised_to_it():
    times = polls(usual(2, 10), until=12, gap=0.1)
    assert min(gaps(times)) >= policy.MIN_GAP - 1e-9


@pytest.mark.parametrize(("low", "high"), [(2, 10), (30, 50), (60, 600)])
def test_nothing_is_polled_before_the_quickest_could_be_done(low, high):
    durations = usual(low, high)
    first = policy.poll_delay(0.0, durations, gap=GAP)
    # The quickest recent one, less the half gap it may have waited, less one spacing.
    spacing = (durations.recent[-1] - durations.recent[0]) / (len(durations.recent) - 1)
    assert first >= durations.recent[0] - GAP / 2 - max(spacing, policy.MIN_GAP)
    assert first <= durations.recent[0] + GAP


@pytest.mark.parametrize(("low", "high"), [(2, 10), (30, 50), (5, 140)])
def test_polls_come_steadily_where_job_sets_usually_finish(low, high):
    durations = usual(low, high)
    times = polls(durations, until=high)
    middle = [gap for t, gap in zip(times[1:], gaps(times), strict=True) if low + 2 < t < high - 2]
    usual_gap = statistics.mode(round(gap, 2) for gap in middle)
    assert GAP - 0.002 <= usual_gap <= policy.WIDEST + 0.002
    # A few others at most: longer where fewer finish, shorter just past the slowest.
    assert sum(gap == pytest.approx(usual_gap, abs=0.002) for gap in middle) >= 0.8 * len(middle)


def test_polls_are_dense_at_the_two_usual_times_and_sparse_between_them():
    rng = random.Random(3)
    two_peaks = tuple(
        sorted([rng.uniform(10, 14) for _ in range(20)] + [rng.uniform(60, 64) for _ in range(20)])
    )
    times = polls(policy.summarize(two_peaks), until=65)
    near_peaks = [gap for t, gap in zip(times[1:], gaps(times), strict=True) if 11 < t < 14 or 61 < t < 64]
    between = [gap for t, gap in zip(times[1:], gaps(times), strict=True) if 20 < t < 55]
    assert max(near_peaks) <= GAP + 0.002
    assert min(between) >= max(policy.LONGER) * GAP - 0.002
    assert len(between) < (55 - 20) / GAP / 1.9


def test_a_wide_spread_widens_the_gap_until_it_costs_no_more_than_a_plain_poller():
    wide, narrow = usual(5, 140), usual(30, 50)
    wide_times = list(policy.timetable(wide.recent, GAP))
    narrow_times = list(policy.timetable(narrow.recent, GAP))
    # 135 s of spread at one poll every 1.5 s would cost more than one every 2 s from the start.
    assert GAP + policy.WIDEN - 0.002 <= min(gaps(wide_times)) <= policy.WIDEST + 0.002
    # 20 s after a 30 s wait is cheap at 1.5 s whatever a plain poller does.
    assert min(gaps(narrow_times)) == pytest.approx(GAP, abs=0.002)


def test_running_later_than_every_recent_one_the_gap_grows_up_to_the_bound():
    durations = usual(30, 50)
    last = policy.timetable(durations.recent, GAP)[-1]
    assert policy.poll_delay(last + 1, durations, gap=GAP) == pytest.approx(GAP + policy.LATE_GROWTH)
    assert policy.poll_delay(last + 20, durations, gap=GAP) == pytest.approx(GAP + 20 * policy.LATE_GROWTH)
    assert policy.poll_delay(last + 600, durations, gap=GAP) == pytest.approx(policy.MAX_GAP)


def test_a_probe_looks_at_half_the_first_time_then_every_gap_just_before_it():
    durations = usual(30, 50)
    first = policy.poll_delay(0.0, durations, gap=GAP)
    times = polls(durations, until=first, probe=True)
    assert times[0] == pytest.approx(first / 2)
    assert times[1] == pytest.approx(first - policy.PROBE_LEAD * GAP)
    assert gaps(times[1:]) == pytest.approx([GAP] * (len(times) - 2), abs=0.002)
    assert times[-1] == pytest.approx(first)
    # After its first usual poll a probe follows the same timetable as the others.
    assert policy.poll_delay(first + 0.05, durations, gap=GAP, probe=True) == pytest.approx(
        policy.poll_delay(first + 0.05, durations, gap=GAP)
    )


def test_without_history_it_polls_as_it_always_did():
    assert policy.poll_delay(2, None, gap=GAP) == pytest.approx(policy.EARLY_INTERVAL)
    assert policy.poll_delay(30, None, gap=GAP) == pytest.approx(3.0)
    assert policy.poll_delay(300, None, gap=GAP) == pytest.approx(policy.LATE_INTERVAL)


def test_with_callbacks_arriving_polls_stay_a_slow_fallback_whatever_the_history():
    durations = usual(30, 50)
    assert policy.poll_delay(1, durations, gap=GAP, called_back=True) == pytest.approx(
        durations.late * 1.2 - 1
    )
    assert policy.poll_delay(200, durations, gap=GAP, called_back=True) == pytest.approx(
        policy.WEBHOOK_FALLBACK_INTERVAL
    )


def test_the_same_history_always_gives_the_same_timetable():
    durations = usual(5, 140)
    policy.timetable.cache_clear()
    once = policy.timetable(durations.recent, GAP)
    policy.timetable.cache_clear()
    assert policy.timetable(durations.recent, GAP) == once


@pytest.mark.parametrize("name", list(tracking.DISTRIBUTIONS))
def test_simulated_the_schedule_waits_no_longer_than_a_2_s_poller_for_fewer_requests(name):
    low, high = tracking.DISTRIBUTIONS[name]
    ways = tracking.simulate(low, high, gap=GAP)
    ours, plain, fast = ways[tracking.SCHEDULE], ways[tracking.PLAIN_2S], ways["every 0.5 s"]
    assert ours.job_sets == plain.job_sets == tracking.JOB_SETS
    assert ours.delay_p95_s <= plain.delay_p95_s
    assert ours.requests_per_job_set < plain.requests_per_job_set
    # The fast poller is there for scale: it waits least and costs most.
    assert fast.delay_p95_s < ours.delay_p95_s and fast.requests_per_job_set > plain.requests_per_job_set


def test_the_simulated_plain_pollers_wait_as_the_arithmetic_says():
    plain = tracking.simulate(30, 50, gap=GAP, count=500)[tracking.PLAIN_2S]
    # A finished job waits a uniformly random part of 2 s, plus the poll's latency.
    assert plain.delay_p95_s == pytest.approx(0.95 * 2 + tracking.LATENCY, abs=0.05)
    assert plain.delay_max_s <= 2 + tracking.LATENCY


def test_the_benchmark_rows_show_each_way_and_judge_the_schedule_against_the_2_s_poller():
    def way(p95: float, requests: float) -> dict:
        return {
            "job_sets": 10,
            "delay_p50_s": p95 / 2,
            "delay_p95_s": p95,
            "delay_max_s": p95,
            "requests_per_job_set": requests,
        }

    simulated = {
        "2-10": {
            tracking.SCHEDULE: way(1.7, 4.2),
            "every 0.5 s": way(0.5, 13.5),
            tracking.PLAIN_2S: way(1.9, 4.5),
        },
        "30-50": {
            tracking.SCHEDULE: way(2.0, 9.0),
            "every 0.5 s": way(0.5, 80.0),
            tracking.PLAIN_2S: way(1.9, 21.0),
        },
    }
    live = {
        "finished": True,
        "completed": 24,
        "job_sets": 24,
        "images": 24,
        "lag_p50_s": 1.0,
        "lag_p95_s": 2.1,
    }
    live |= {"requests_per_job_set": 11.2, "plain_2s_requests_per_job_set": 23.0}
    results = {"tracking": {"simulated": simulated, "live": live}}
    rows = tracking.rows()
    values = [row.value(results) for row in rows]
    assert values[0] == (
        "0.85 / 1.70 s, 4.2 requests (every 2 s: 1.90 s, 4.5; every 0.5 s: 0.50 s, 13.5)",
        True,
    )
    assert values[1][1] is False  # waits longer than the 2 s poller
    assert values[2] == ("not run", None)
    assert values[3] == ("1.00 / 2.10 s (24 images), 11.2 requests (every 2 s: 23.0)", True)
    assert [row.value({}) for row in rows] == [("not run", None)] * len(rows)
    assert "SOUL_POLL_GAP" in tracking.method(1.5) and "2,000 job sets" in tracking.method(1.5)
