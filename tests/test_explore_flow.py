"""Issue 24 end to end: three styles × seeds "11, 12" from one form send, through a real django-q2
cluster and the sandbox over HTTP: six upstream requests, one per (style, seed), a filled 3 × 2
sheet, and $0.90 on the spend page."""

from __future__ import annotations

import html
from decimal import Decimal

import pytest

from generations.models import Exploration, JobSet, Style
from tests.conftest import wait_until


@pytest.mark.django_db(transaction=True)
def test_three_styles_by_two_seeds_make_exactly_six_upstream_requests(client, alice, cluster, sandbox_stats):
    client.force_login(alice)
    styles = list(Style.objects.filter(is_active=True)[:3])
    form = {
        "prompt": "a lighthouse at dusk",
        "width_and_height": "1536x2048",
        "quality": "720p",
        "batch_size": "1",
        "explore_styles": [str(style.pk) for style in styles],
        "seeds": "11, 12",
    }
    query = "&".join(f"explore_styles={style.pk}" for style in styles)
    label = client.get(f"/generate/price/?quality=720p&batch_size=1&seeds=11,+12&{query}").content.decode()
    assert "6 requests</span> · $0.90" in label  # said before sending
    before = sandbox_stats()

    response = client.post("/generate/", form, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    exploration = Exploration.objects.get()

    def finished():
        job_sets = list(exploration.job_sets.all())
        return len(job_sets) == 6 and all(js.status in JobSet.TERMINAL for js in job_sets) and job_sets

    job_sets = wait_until(finished, timeout=90, message="the cluster to finish the six job sets")
    assert {js.status for js in job_sets} == {JobSet.Status.COMPLETED}, [js.status_reason for js in job_sets]
    after = sandbox_stats()
    assert after["submits_accepted"] - before["submits_accepted"] == 6
    keys = {str(js.idempotency_key) for js in job_sets}
    assert {key: after["submits_by_key"][key] for key in keys} == dict.fromkeys(keys, 1)  # each sent once
    assert sorted((str(js.style_id), js.seed) for js in job_sets) == sorted(
        (str(style.pk), seed) for style in styles for seed in (11, 12)
    )
    assert {js.charge for js in job_sets} == {JobSet.Charge.CHARGED}
    assert sum((js.price for js in job_sets), Decimal("0")) == Decimal("0.90")

    sheet = html.unescape(client.get(f"/explorations/{exploration.pk}/").content.decode())
    assert sheet.count('<tr><th scope="row">') == 3
    assert '<th scope="col">11</th><th scope="col">12</th>' in sheet
    assert sheet.count("<img ") == 6 and "6 of 6 done" in sheet and "every 2s" not in sheet

    spend = html.unescape(client.get("/spend/?scope=mine").content.decode())
    assert '<span class="stat-value" id="period-total">$0.90</span>' in spend
    assert "$0.90 charged" in spend
    row = spend[spend.index(f'id="exploration-total-{exploration.pk}"') :][:500]
    assert "$0.90" in row and "6 requests" in row
