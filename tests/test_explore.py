"""Exploring through the site: the live label, the all-or-none send, the budget at its exact boundary,
the limit, clear errors for bad input, the contact sheet and its actions, spend, who sees what."""

from __future__ import annotations

import csv
import html
import io
import threading
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from generations.models import Budget, Exploration, Favourite, Job, JobSet, Style
from generations.web import sheet_png
from tests.factories import make_job_set, png

pytestmark = pytest.mark.django_db

FORM = {"prompt": "a fox in the snow", "width_and_height": "1536x2048", "quality": "720p", "batch_size": "1"}


def three_styles() -> list[Style]:
    """Three active styles, in the catalogue's order (the order the form offers them and the rows follow)."""
    return list(Style.objects.filter(is_active=True)[:3])


def explore_form(**extra) -> dict:
    styles = extra.pop("styles", three_styles())
    return {**FORM, "explore_styles": [str(style.pk) for style in styles], "seeds": "11, 12", **extra}


def post(client, data):
    return client.post("/generate/", data, HTTP_HX_REQUEST="true")


def text(response) -> str:
    """The page with its entities read back (Django escapes ' as &#x27;, Jinja2 as &#39;)."""
    return html.unescape(response.content.decode())


# --- Know before sending ---------------------------------------------------------------------------


def test_the_generate_button_says_how_many_requests_and_their_total_as_the_fields_change(client, alice):
    client.force_login(alice)
    query = "&".join(f"explore_styles={style.pk}" for style in three_styles())
    label = client.get(f"/generate/price/?quality=720p&batch_size=1&seeds=11,+12&{query}").content.decode()
    assert "Generate · <span data-requests>6 requests</span> · $0.90" in label
    # 1080p, 4 images each: 6 × $0.37.
    label = client.get(f"/generate/price/?quality=1080p&batch_size=4&seeds=11-12&{query}").content.decode()
    assert "6 requests</span> · $2.22" in label
    # Two qualities: three styles × two qualities, each quality's price three times.
    label = client.get(
        f"/generate/price/?quality=720p&batch_size=1&explore_qualities=720p&explore_qualities=1080p&{query}"
    ).content.decode()
    assert "6 requests</span> · $1.20" in label  # 3 × 0.15 + 3 × 0.25
    # Alternatives in the prompt count too, and a plain request says what it always said.
    label = client.get("/generate/price/?quality=720p&batch_size=1&prompt=a+{red|blue}+fox").content.decode()
    assert "2 requests</span> · $0.30" in label
    assert "Generate · $0.15" in client.get("/generate/price/?quality=720p&batch_size=1").content.decode()


def test_the_label_says_what_is_wrong_while_it_is_typed(client, alice, settings):
    client.force_login(alice)
    said = client.get("/generate/price/?quality=720p&batch_size=1&seeds=a-b").content.decode()
    assert "“a-b” is not a seed or a range" in said
    said = client.get("/generate/price/?quality=720p&batch_size=1&seeds=1-10000").content.decode()
    assert "10,000 requests" in said and "at most 48" in said


def test_the_label_says_by_how_much_an_exploration_is_over_the_budget(client, alice, team_a):
    Budget.objects.create(team=team_a, user=alice, monthly_limit=Decimal("0.89"))
    client.force_login(alice)
    query = "&".join(f"explore_styles={style.pk}" for style in three_styles())
    said = client.get(f"/generate/price/?quality=720p&batch_size=1&seeds=11,12&{query}").content.decode()
    assert "this costs $0.90 ($0.01 over)" in said


# --- Sending -----------------------------------------------------------------------------------------


def test_three_styles_by_two_seeds_make_six_job_sets_each_charged_on_its_own(client, alice, team_a):
    client.force_login(alice)
    styles = three_styles()
    response = post(client, explore_form(styles=styles))
    assert response.status_code == 200, response.content.decode()[:2000]
    exploration = Exploration.objects.get()
    job_sets = list(exploration.job_sets.order_by("exploration_index"))
    assert len(job_sets) == 6 and exploration.count == 6
    assert [(js.style_id, js.seed) for js in job_sets] == [(s.pk, seed) for s in styles for seed in (11, 12)]
    assert {js.price for js in job_sets} == {Decimal("0.15")}
    assert exploration.price == Decimal("0.90")
    assert all(js.status == JobSet.Status.WAITING and js.team == team_a for js in job_sets)
    assert job_sets[0].exploration_label == f"{styles[0].name} · seed 11"
    assert exploration.title == "Style × Seed"
    assert len({js.idempotency_key for js in job_sets}) == 6  # six requests of their own
    # The gallery's answer is one group card, not six cards.
    page = response.content.decode()
    assert f'id="exploration-{exploration.pk}"' in page and 'id="job-set-' not in page


def test_a_plain_request_is_sent_as_before_without_an_exploration(client, alice):
    client.force_login(alice)
    assert post(client, FORM).status_code == 200
    job_set = JobSet.objects.get()
    assert job_set.exploration_id is None and not Exploration.objects.exists()


def test_one_exploration_is_limited_by_the_setting(client, alice, settings):
    client.force_login(alice)
    settings.SOUL_EXPLORE_LIMIT = 5
    response = post(client, explore_form())
    assert response.status_code == 422
    assert "This would send 6 requests; one exploration may send at most 5." in response.content.decode()
    assert not JobSet.objects.exists() and not Exploration.objects.exists()
    settings.SOUL_EXPLORE_LIMIT = 6
    assert post(client, explore_form()).status_code == 200
    assert JobSet.objects.count() == 6


def test_the_default_limit_is_48(client, alice, settings):
    assert settings.SOUL_EXPLORE_LIMIT == 48
    client.force_login(alice)
    assert post(client, {**FORM, "seeds": "1-49"}).status_code == 422
    assert post(client, {**FORM, "seeds": "1-48"}).status_code == 200
    assert JobSet.objects.count() == 48


@pytest.mark.parametrize(
    ("limit", "sent"),
    [("0.91", True), ("0.90", True), ("0.89", False)],
    ids=["fits-by-one-cent", "fits-exactly", "over-by-one-cent"],
)
def test_the_budget_holds_the_whole_exploration_or_none_of_it(client, alice, team_a, limit, sent):
    Budget.objects.create(team=team_a, monthly_limit=Decimal(limit))
    client.force_login(alice)
    response = post(client, explore_form())
    if sent:
        assert response.status_code == 200
        assert JobSet.objects.count() == 6
        return
    assert response.status_code == 422
    said = text(response)
    assert "This exploration would go over Alpha's monthly budget" in said
    assert "its 6 requests cost $0.90" in said and "$0.89 is left" in said and "$0.01 over" in said
    assert "Nothing was sent." in said
    assert not JobSet.objects.exists() and not Exploration.objects.exists()


def test_what_is_already_spent_counts_against_the_whole_exploration(client, alice, team_a):
    Budget.objects.create(team=team_a, user=alice, monthly_limit=Decimal("1.05"))
    make_job_set(alice)  # $0.15 spent: $0.90 left, exactly the exploration
    client.force_login(alice)
    assert post(client, explore_form()).status_code == 200
    assert JobSet.objects.count() == 7
    # Now nothing is left: the next one is over by its whole price.
    response = post(client, explore_form())
    assert response.status_code == 422 and "$0.90 over" in response.content.decode()
    assert JobSet.objects.count() == 7


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"seeds": "11-9999999999"}, "seeds", "Seed 9,999,999,999 is out of range"),
        ({"seeds": "a-b"}, "seeds", "is not a seed or a range"),
        ({"seeds": "1-10000"}, None, "This would send 30,000 requests"),
        ({"seeds": ", ".join(str(n) for n in range(1, 200))}, "seeds", "at most 500 characters"),
        ({"prompt": "a {red|blue fox"}, "prompt", "is never closed"),
        ({"prompt": "a {red|{dark|light}} fox"}, "prompt", "cannot be nested"),
        ({"prompt": "{" + "|".join(f"w{n}" for n in range(1000)) + "}"}, None, "at most 48"),
        ({"repeat": "0"}, "repeat", ""),
        ({"repeat": "lots"}, "repeat", ""),
        ({"repeat": "2"}, "repeat", "same image again"),  # with the seeds listed
        ({"seed": "5"}, "seeds", "not both"),
        ({"explore_styles": ["not-a-uuid"]}, "explore_styles", "Pick one of the choices shown."),
        ({"explore_sizes": ["1x1"]}, "explore_sizes", "Pick one of the choices shown."),
        ({"explore_qualities": ["4k"]}, "explore_qualities", "Pick one of the choices shown."),
    ],
)
def test_every_bad_exploration_is_refused_with_a_clear_error_beside_its_field(
    client, alice, changes, field, words
):
    client.force_login(alice)
    response = post(client, explore_form(**changes))
    assert response.status_code == 422
    page = text(response)
    if field:
        assert f'id="id_{field}_error"' in page
    assert words in page
    assert not JobSet.objects.exists()


def test_an_alternative_that_empties_the_prompt_is_refused_naming_it(client, alice):
    client.force_login(alice)
    response = post(client, {**FORM, "prompt": "{fox|}"})
    assert response.status_code == 422
    assert "With “(nothing)”: Prompt is required" in response.content.decode()


# --- The contact sheet -------------------------------------------------------------------------------


def finish(job_set: JobSet, color=(200, 80, 40)) -> None:
    """As the lifecycle leaves a completed job set: images stored, charged."""
    name = default_storage.save(f"results/test/explore-{job_set.pk}.png", ContentFile(png(color, (64, 64))))
    Job.objects.create(
        job_set=job_set, index=0, upstream_id=f"e{job_set.pk}", status="completed", image=name, preview=name
    )
    JobSet.objects.filter(pk=job_set.pk).update(
        status=JobSet.Status.COMPLETED, charge=JobSet.Charge.CHARGED, finished_at=timezone.now()
    )


def test_the_sheet_is_three_rows_by_two_columns_labelled_and_fills_in(client, alice):
    client.force_login(alice)
    styles = three_styles()
    post(client, explore_form(styles=styles))
    exploration = Exploration.objects.get()
    page = client.get(f"/explorations/{exploration.pk}/").content.decode()
    assert page.count('<tr><th scope="row">') == 3
    for style in styles:
        assert f'<th scope="row">{style.name}</th>' in page
    assert '<th scope="col">11</th><th scope="col">12</th>' in page
    assert 'hx-trigger="every 2s"' in page  # pending: it asks again
    assert "0 of 6 done" in page and "Cancel the rest (6 waiting)" in page

    for job_set in exploration.job_sets.all():
        finish(job_set)
    fragment = client.get(f"/explorations/{exploration.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.count("<img ") == 6 and "6 of 6 done" in fragment
    assert "every 2s" not in fragment  # nothing pending: it stops asking
    assert fragment.count('name="job"') == 6  # star all, hide all and the zip take every image
    assert "Cancel the rest" not in fragment


def test_the_gallery_shows_an_exploration_as_one_live_group_card(client, alice):
    client.force_login(alice)
    post(client, explore_form())
    make_job_set(alice, prompt="a plain one")
    exploration = Exploration.objects.get()
    gallery = client.get("/").content.decode()
    assert gallery.count(f'id="exploration-{exploration.pk}"') == 1
    assert gallery.count('id="job-set-') == 1  # only the plain one has a card of its own
    card = client.get(f"/explorations/{exploration.pk}/card/").content.decode()
    # Pending: it rides the page's one refresh (static/js/refresh.js), it does not poll itself.
    assert "Style × Seed" in card and "0 of 6 done" in card
    assert f'data-refresh-exploration="{exploration.pk}"' in card and "hx-trigger" not in card
    assert card.count('<th scope="row">') == 3


def test_cancel_the_rest_cancels_only_what_still_waits(client, alice):
    client.force_login(alice)
    post(client, explore_form())
    exploration = Exploration.objects.get()
    first, second, *_ = exploration.job_sets.order_by("exploration_index")
    finish(first)
    JobSet.objects.filter(pk=second.pk).update(status=JobSet.Status.SUBMITTED, upstream_id="sent")
    response = client.post(f"/explorations/{exploration.pk}/cancel/")
    assert response.status_code == 302
    statuses = list(exploration.job_sets.order_by("exploration_index").values_list("status", "charge"))
    assert statuses[0] == ("completed", "charged") and statuses[1] == ("submitted", "reserved")
    assert statuses[2:] == [("canceled", "released")] * 4


def test_star_all_from_the_sheet_stars_every_image(client, alice):
    client.force_login(alice)
    post(client, explore_form())
    exploration = Exploration.objects.get()
    for job_set in exploration.job_sets.all():
        finish(job_set)
    jobs = [str(pk) for pk in Job.objects.values_list("pk", flat=True)]
    next_url = f"/explorations/{exploration.pk}/"
    response = client.post("/bulk/", {"action": "star", "job": jobs, "next": next_url})
    assert response.status_code == 302 and response["Location"] == next_url
    assert alice.favourites.count() == 6


def test_the_png_export_draws_the_sheet_with_its_labels(client, alice):
    client.force_login(alice)
    post(client, explore_form())
    exploration = Exploration.objects.get()
    for job_set in list(exploration.job_sets.order_by("exploration_index"))[:3]:
        finish(job_set)
    response = client.get(f"/explorations/{exploration.pk}/sheet.png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert "attachment" in response["Content-Disposition"]
    with Image.open(io.BytesIO(response.content)) as picture:
        columns, rows = 2, 3
        assert picture.size == (
            sheet_png.LABEL_WIDTH + columns * (sheet_png.CELL + sheet_png.GAP) + sheet_png.GAP,
            sheet_png.TITLE + sheet_png.HEADER + rows * (sheet_png.CELL + sheet_png.GAP) + sheet_png.GAP,
        )
        # The first cell holds its preview (the colour drawn), a pending one the grey of an empty cell.
        first = (
            sheet_png.LABEL_WIDTH + sheet_png.GAP + sheet_png.CELL // 2,
            sheet_png.TITLE + sheet_png.HEADER + 128,
        )
        assert picture.convert("RGB").getpixel(first) == (200, 80, 40)
        last = (first[0] + sheet_png.CELL + sheet_png.GAP, first[1] + 2 * (sheet_png.CELL + sheet_png.GAP))
        assert picture.convert("RGB").getpixel(last) in {sheet_png.EMPTY, (120, 120, 120)}
        # The labels are drawn: the label column is not blank.
        label_area = picture.convert("L").crop(
            (0, sheet_png.TITLE + sheet_png.HEADER, sheet_png.LABEL_WIDTH, 400)
        )
        assert label_area.getextrema()[0] < 100


def test_another_team_never_sees_an_exploration(client, alice, bob):
    client.force_login(alice)
    post(client, explore_form())
    pk = Exploration.objects.get().pk
    client.force_login(bob)
    for url in (f"/explorations/{pk}/", f"/explorations/{pk}/card/", f"/explorations/{pk}/sheet.png"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/explorations/{pk}/cancel/").status_code == 404
    assert JobSet.objects.filter(status="waiting").count() == 6


def test_a_team_mate_sees_the_sheet_but_may_not_cancel_the_rest(client, alice, team_a, django_user_model):
    from generations.actions import teams

    carol = django_user_model.objects.create_user("carol")
    teams.add_member(team_a, carol)
    client.force_login(alice)
    post(client, explore_form())
    pk = Exploration.objects.get().pk
    client.force_login(carol)
    page = client.get(f"/explorations/{pk}/").content.decode()
    assert "Style × Seed" in page and "Cancel the rest" not in page
    assert client.post(f"/explorations/{pk}/cancel/").status_code == 404
    assert JobSet.objects.filter(status="waiting").count() == 6


# --- Spend ------------------------------------------------------------------------------------------


def test_the_spend_page_shows_each_combination_and_the_explorations_total(client, alice):
    client.force_login(alice)
    styles = three_styles()
    post(client, explore_form(styles=styles))
    exploration = Exploration.objects.get()
    page = client.get("/spend/?scope=mine").content.decode()
    assert '<span class="stat-value" id="period-total">$0.90</span>' in page
    assert f'id="exploration-total-{exploration.pk}"' in page
    row = page[page.index(f'id="exploration-total-{exploration.pk}"') :][:400]
    assert "$0.90" in row and "6 requests" in row
    for style in styles:
        assert f"{style.name} · seed 11" in page and f"{style.name} · seed 12" in page
    # The export says which exploration each row belongs to and which combination it tried.
    rows = list(csv.DictReader(io.StringIO(client.get("/spend/export.csv?scope=mine").content.decode())))
    assert {row["exploration"] for row in rows} == {str(exploration.pk)}
    assert sorted(row["combination"] for row in rows) == sorted(
        f"{style.name} · seed {seed}" for style in styles for seed in (11, 12)
    )
    plain = make_job_set(alice, prompt="not explored")
    rows = csv.DictReader(io.StringIO(client.get("/spend/export.csv?scope=mine").content.decode()))
    assert [(row["exploration"], row["combination"]) for row in rows if row["job_set"] == str(plain.pk)] == [
        ("", "")
    ]


def test_a_single_axis_runs_across_one_row(client, alice):
    client.force_login(alice)
    post(client, {**FORM, "seeds": "21-24"})
    exploration = Exploration.objects.get()
    assert (exploration.title, exploration.row_labels) == ("Seed", [""])
    assert exploration.column_labels == ["21", "22", "23", "24"]
    page = text(client.get(f"/explorations/{exploration.pk}/"))
    assert page.count('<tr><th scope="row">') == 1
    assert "".join(f'<th scope="col">{seed}</th>' for seed in (21, 22, 23, 24)) in page


def test_without_htmx_an_exploration_goes_to_its_sheet(client, alice):
    client.force_login(alice)
    response = client.post("/generate/", explore_form())
    exploration = Exploration.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/explorations/{exploration.pk}/"
    page = text(client.get(response["Location"]))
    assert "Sent 6 requests to the queue." in page


def test_the_png_is_drawn_without_a_system_font_too(client, alice, monkeypatch):
    monkeypatch.setattr(sheet_png, "FONT_FILE", "no-such-font.ttf")
    sheet_png._font.cache_clear()
    try:
        assert sheet_png._said("Style × Size: 1536×2048 — a fox") == "Style x Size: 1536x2048 - a fox"
        client.force_login(alice)
        post(client, explore_form())
        response = client.get(f"/explorations/{Exploration.objects.get().pk}/sheet.png")
        assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    finally:
        sheet_png._font.cache_clear()


@pytest.mark.django_db(transaction=True)
def test_explorations_racing_for_the_budget_never_overrun_it_and_none_is_sent_in_part(alice, team_a):
    from django.db import close_old_connections, connection

    from generations.actions import explore
    from generations.models import SoulRequest
    from generations.models import exploring as e

    Budget.objects.create(team=team_a, monthly_limit=Decimal("2.00"))  # two of $0.90 fit, not three
    base = SoulRequest(prompt="a race", width_and_height="1536x2048", quality="720p", batch_size=1)
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def press_generate(n: int):
        close_old_connections()
        try:
            plan = e.plan(base, e.Choices(seeds=e.seed_spans(f"{n * 10 + 1}-{n * 10 + 6}")), limit=48)
            start.wait()
            explore.create(alice, team_a, plan, base.prompt)
            outcomes.append("sent")
        except explore.OverBudget:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=press_generate, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["refused", "refused", "sent", "sent"]
    assert JobSet.objects.count() == 12 and Exploration.objects.count() == 2
    assert all(exploration.job_sets.count() == 6 for exploration in Exploration.objects.all())


@pytest.mark.parametrize("sort", ["", "oldest", "starred"])
def test_an_exploration_longer_than_a_page_is_drawn_once_however_the_gallery_pages(
    client, alice, team_a, sort
):
    before = [make_job_set(alice, prompt=f"plain before {n}") for n in range(3)]
    exploration = Exploration.objects.create(
        user=alice, team=team_a, prompt="a lighthouse", count=50, price=Decimal("7.50")
    )
    members = [make_job_set(alice, prompt=f"a lighthouse, take {n}") for n in range(50)]
    JobSet.objects.filter(pk__in=[js.pk for js in members]).update(exploration=exploration)
    after = [make_job_set(alice, prompt=f"plain after {n}") for n in range(3)]
    if sort == "starred":
        finish(members[5])
        Favourite.objects.create(user=alice, job=members[5].jobs.get())
    client.force_login(alice)
    group = f'id="exploration-{exploration.pk}"'
    pages, urls, url = [], [], f"/?sort={sort}"
    while url:
        page = client.get(url, HTTP_HX_REQUEST="true" if pages else "").content.decode()
        pages.append(page)
        urls.append(url)
        more = [part.split('"')[0] for part in page.split('hx-get="?')[1:] if "before=" in part.split('"')[0]]
        url = "/?" + html.unescape(more[0]) if more else ""
    assert len(pages) >= 3  # 56 job sets: the exploration fills a whole page of its own
    # That page, opened whole (the "Show older" link without JavaScript), draws no card and does
    # not say the gallery is empty: it goes on to older ones.
    for url in urls[1:]:
        whole = client.get(url).content.decode()
        assert "Nothing here yet" not in whole and "Nothing matches" not in whole, url
    assert sum(page.count(group) for page in pages) == 1
    shown = "".join(pages)
    for job_set in [*before, *after]:
        assert shown.count(f">{job_set.prompt}</p>") == 1, job_set.prompt


def test_admins_read_an_exploration_and_its_job_sets_but_neither_add_nor_delete_one(
    admin_client, alice, team_a
):
    exploration = Exploration.objects.create(
        user=alice, team=team_a, prompt="a lighthouse at dusk", count=2, price=Decimal("0.30")
    )
    for index, label in enumerate(("Realistic · seed 11", "Realistic · seed 12")):
        job_set = make_job_set(alice, prompt="a lighthouse at dusk")
        JobSet.objects.filter(pk=job_set.pk).update(
            exploration=exploration, exploration_index=index, exploration_label=label
        )
    listing = text(admin_client.get("/admin/generations/exploration/?q=lighthouse"))
    assert "a lighthouse at dusk" in listing and "Repeat" in listing
    page = text(admin_client.get(f"/admin/generations/exploration/{exploration.pk}/change/"))
    assert "Realistic · seed 11" in page and "Realistic · seed 12" in page
    assert admin_client.get("/admin/generations/exploration/add/").status_code == 403
    deleted = admin_client.post(f"/admin/generations/exploration/{exploration.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 403 and Exploration.objects.filter(pk=exploration.pk).exists()
