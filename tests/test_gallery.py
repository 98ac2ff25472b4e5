"""Browsing, filtering, keeping and sorting; the queue; constant query counts."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations.models import Collection, Favourite, Job, JobSet, Style
from generations.queries import gallery as browse
from tests.factories import make_finished, make_job_set

pytestmark = pytest.mark.django_db


def cards(html: str) -> int:
    return html.count('class="card status-')


def queries_for(client, url: str, **headers) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, **headers).status_code == 200
    return len(captured)


def bulk_seed(user, count: int) -> None:
    """Many job sets fast: batch 4 every fourth, with their jobs."""
    team = user.memberships.first().team
    now = timezone.now()
    job_sets = JobSet.objects.bulk_create(
        [
            JobSet(
                user=user,
                team=team,
                prompt=f"bulk {n}",
                width_and_height="1536x2048",
                quality="720p",
                batch_size=4 if n % 4 == 0 else 1,
                price="0.15",
                status="completed",
                charge="charged",
                created_at=now - timedelta(minutes=n),
            )
            for n in range(count)
        ]
    )
    Job.objects.bulk_create(
        [
            Job(
                job_set=js,
                index=i,
                upstream_id=f"{js.pk}-{i}",
                status="completed",
                image="results/x.png",
                preview="results/x.png",
            )
            for js in job_sets
            for i in range(js.batch_size)
        ]
    )


def test_the_gallery_and_its_fragment_make_as_many_queries_for_10_as_for_1000_job_sets(client, alice):
    client.force_login(alice)
    client.get("/")  # the first visit creates the profile: not what is measured
    bulk_seed(alice, 10)
    small_page = queries_for(client, "/")
    small_fragment = queries_for(client, "/?view=team&before=999999", HTTP_HX_REQUEST="true")
    bulk_seed(alice, 990)
    assert queries_for(client, "/") == small_page
    assert queries_for(client, "/?view=team&before=999999", HTTP_HX_REQUEST="true") == small_fragment


def every_kind_of_card(alice, teammate) -> None:
    """One card of each status, with and without a style, seed, owner and stored image."""
    realistic = Style.objects.get(name="Realistic")
    make_finished(alice, "stored", style=realistic, seed=42)
    make_finished(teammate, "a teammate's", batch_size=4)
    failed_download = make_finished(alice, "lost on the way")
    Job.objects.filter(job_set=failed_download).update(image="", preview="", download_error="HTTP 503")
    make_job_set(alice, prompt="waits its turn")
    in_flight = make_job_set(alice, prompt="in flight", batch_size=4)
    JobSet.objects.filter(pk=in_flight.pk).update(status="in_progress", sent_at=timezone.now())
    for status in ("failed", "nsfw", "canceled", "unconfirmed", "expired"):
        job_set = make_job_set(alice, prompt=f"ended {status}")
        JobSet.objects.filter(pk=job_set.pk).update(
            status=status, charge="released", status_reason=f"why {status}", finished_at=timezone.now()
        )


def test_cards_of_every_kind_read_only_what_the_page_loaded(client, alice, team_a, django_user_model):
    # The page loads only the columns a card reads (browse.CARD_FIELDS): a card reading any
    # other would cost a query per card, and twice the cards would make more queries.
    from generations.actions import teams

    teammate = django_user_model.objects.create_user("carol")
    teams.add_member(team_a, teammate)
    client.force_login(alice)
    client.get("/")
    every_kind_of_card(alice, teammate)
    client.get("/")  # the waiting cards' estimate reads recent durations once, then briefly cached
    once = queries_for(client, "/")
    every_kind_of_card(alice, teammate)
    page = client.get("/").content.decode()
    assert queries_for(client, "/") == once
    assert cards(page) == 2 * 10
    for shown in ("by carol", "Download failed", "Retry download", "Cancel", "seed 42", "Realistic"):
        assert shown in page, shown
    assert "Try again" in page and "why expired" in page


def test_the_gallery_reads_the_styles_once_and_never_through_a_server_side_cursor(client, alice):
    # On PostgreSQL, Django's form choices would go through a cursor: three round trips for a
    # dozen styles. The form and the filters share one read of the styles.
    client.force_login(alice)
    client.get("/")  # the first visit remembers the team: not what is measured
    make_finished(alice, "a lighthouse")
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/").status_code == 200
    sql = [query["sql"] for query in captured]
    assert not [s for s in sql if s.lstrip().upper().startswith(("DECLARE", "FETCH", "CLOSE"))]
    assert sum('FROM "generations_style"' in s for s in sql) == 1
    # The chosen team comes with the memberships, not from a query of the profile.
    assert not [s for s in sql if s.startswith('SELECT "generations_profile"')]
    # Older cards come without the form and the filters, so without styles.
    with CaptureQueriesContext(connection) as captured:
        client.get("/?view=team&before=999999", HTTP_HX_REQUEST="true")
    assert not [query for query in captured if 'FROM "generations_style"' in query["sql"]]


def test_pages_follow_a_stable_cursor_that_new_arrivals_do_not_shift(client, alice):
    client.force_login(alice)
    size = browse.PAGE_SIZE
    bulk_seed(alice, size + 12)
    first = client.get("/").content.decode()
    assert cards(first) == size
    last_id = JobSet.objects.order_by("-id")[size - 1].pk
    make_job_set(alice, prompt="arrived meanwhile")
    older = client.get(f"/?view=team&before={last_id}", HTTP_HX_REQUEST="true").content.decode()
    assert cards(older) == 12 and "arrived meanwhile" not in older


def test_each_filter_narrows_the_gallery_and_lives_in_the_url(client, alice, team_a, django_user_model):
    from generations.actions import teams

    carol = django_user_model.objects.create_user("carol")
    teams.add_member(team_a, carol)
    realistic = Style.objects.get(name="Realistic")
    make_finished(alice, "a blue whale", quality="1080p")
    make_finished(alice, "a red fox", style=realistic, width_and_height="2048x1152")
    make_finished(carol, "carol's heron")
    failed = make_job_set(alice, prompt="a broken one")
    JobSet.objects.filter(pk=failed.pk).update(status="failed", charge="released")
    old = make_finished(alice, "an old owl")
    JobSet.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    fox_job = JobSet.objects.get(prompt="a red fox").jobs.get()
    Favourite.objects.create(user=alice, job=fox_job)
    collection = Collection.objects.create(team=team_a, owner=alice, name="Birds", shared=True)
    collection.items.create(job=JobSet.objects.get(prompt="carol's heron").jobs.get())
    client.force_login(alice)

    def shown(query: str) -> set[str]:
        html = unescape(client.get(f"/?{query}").content.decode())
        return {
            prompt
            for prompt in ("a blue whale", "a red fox", "carol's heron", "a broken one", "an old owl")
            if f">{prompt}</p>" in html
        }

    assert shown("view=team") == {
        "a blue whale",
        "a red fox",
        "carol's heron",
        "a broken one",
        "an old owl",
    }
    assert shown("view=mine") == {"a blue whale", "a red fox", "a broken one", "an old owl"}
    assert shown(f"member={carol.pk}") == {"carol's heron"}
    assert shown("q=FOX") == {"a red fox"}
    assert shown("status=failed") == {"a broken one"}
    assert shown(f"style={realistic.pk}") == {"a red fox"}
    assert shown("size=2048x1152") == {"a red fox"}
    assert shown("quality=1080p") == {"a blue whale"}
    today = timezone.localdate()
    assert "an old owl" not in shown(f"from={today - timedelta(days=7)}&to={today}")
    assert shown(f"from={today - timedelta(days=45)}&to={today - timedelta(days=30)}") == {"an old owl"}
    assert shown("fav=1") == {"a red fox"}
    assert shown(f"collection={collection.pk}") == {"carol's heron"}
    page = client.get("/?q=fox&quality=720p&fav=1").content.decode()
    assert (
        'value="fox"' in page and 'name="fav" value="1" checked' in page
    )  # the form shows the URL's filters
    assert "must look like" in client.get("/?from=yesterday").content.decode()


def test_a_filter_asked_for_by_htmx_gets_the_gallery_alone_and_a_history_restore_the_whole_page(
    client, alice
):
    make_finished(alice, "a red fox")
    make_finished(alice, "a blue whale")
    client.force_login(alice)
    full = client.get("/?q=fox").content.decode()
    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "gallery-section"}
    section = client.get("/?q=fox", **htmx).content.decode()
    assert 'id="gallery-section"' in section and cards(section) == cards(full) == 1
    assert ">a red fox</p>" in section and 'value="fox"' in section  # the cards and the filters as set
    assert 'id="generate-form"' in full and 'id="generate-form"' not in section
    assert "<html" not in section
    # The filters' errors are drawn beside them in the fragment too.
    assert "must look like" in client.get("/?from=yesterday", **htmx).content.decode()
    # Going back to a page htmx no longer holds asks for it whole.
    restored = client.get("/?q=fox", **htmx, HTTP_HX_HISTORY_RESTORE_REQUEST="true").content.decode()
    assert 'id="generate-form"' in restored


def test_bulk_star_file_hide_and_undo(client, alice, team_a):
    job_sets = [make_finished(alice, f"image {n}") for n in range(3)]
    ids = [js.jobs.get().pk for js in job_sets]
    client.force_login(alice)
    client.post("/bulk/", {"action": "star", "job": ids[:2], "next": "/"})
    assert set(Favourite.objects.values_list("job_id", flat=True)) == set(ids[:2])
    client.post(
        "/bulk/", {"action": "file", "job": ids, "new_collection": "Keepers", "shared": "1", "next": "/"}
    )
    keepers = Collection.objects.get(name="Keepers")
    assert keepers.shared and keepers.items.count() == 3
    client.post("/bulk/", {"action": "file", "job": ids[:1], "collection": keepers.pk, "next": "/"})
    assert keepers.items.count() == 3  # filing twice changes nothing

    response = client.post("/bulk/", {"action": "hide", "job": ids[:2], "next": "/"}, follow=True)
    html = response.content.decode()
    assert "Hid 2 images" in html and "Undo" in html
    assert "image 0" not in html and "image 2" in html
    assert "image 0" in client.get("/?hidden=1").content.decode()
    client.post("/bulk/undo-hide/", {"next": "/"})
    assert not Job.objects.filter(hidden_at__isnull=False).exists()


def test_a_job_set_leaves_the_gallery_only_when_every_image_is_hidden(client, alice, team_a):
    batch = make_finished(alice, "four of a kind", batch_size=4)
    pending = make_job_set(alice, prompt="still waiting")  # no images yet: always shown
    ids = list(batch.jobs.order_by("index").values_list("pk", flat=True))
    client.force_login(alice)

    client.post("/bulk/", {"action": "hide", "job": ids[:3], "next": "/"})
    batch.refresh_from_db()
    assert not batch.hidden
    page = client.get("/").content.decode()
    assert "four of a kind" in page and "still waiting" in page

    client.post("/bulk/", {"action": "hide", "job": ids[3:], "next": "/"})
    batch.refresh_from_db()
    assert batch.hidden
    page = client.get("/").content.decode()
    assert "four of a kind" not in page and "still waiting" in page
    pending.delete()
    assert "Every image here is hidden" in client.get("/").content.decode()
    hidden_view = client.get("/?hidden=1").content.decode()
    assert "four of a kind" in hidden_view

    client.post("/bulk/undo-hide/", {"next": "/"})  # undoes the last hide: one image back
    batch.refresh_from_db()
    assert not batch.hidden and "four of a kind" in client.get("/").content.decode()
    client.post("/bulk/", {"action": "unhide", "all_matching": "1", "filters": "hidden=1", "next": "/"})
    assert not Job.objects.filter(hidden_at__isnull=False).exists()
    assert not JobSet.objects.filter(hidden=True).exists()


def test_select_all_matching_acts_on_the_filtered_view_only(client, alice, bob):
    make_finished(alice, "cat one")
    make_finished(alice, "cat two", batch_size=4)
    make_finished(alice, "dog")
    theirs = make_finished(bob, "cat of another team")
    client.force_login(alice)
    client.post("/bulk/", {"action": "star", "all_matching": "1", "filters": "view=team&q=cat", "next": "/"})
    starred = Favourite.objects.filter(user=alice)
    assert starred.count() == 5 and not starred.filter(job__job_set=theirs).exists()
    client.post(
        "/bulk/", {"action": "star", "job": [theirs.jobs.get().pk], "next": "/"}
    )  # not visible: ignored
    assert Favourite.objects.filter(job__job_set=theirs).count() == 0


def test_the_zip_holds_the_images_and_a_metadata_sidecar(client, alice):
    first = make_finished(alice, "zip me", batch_size=4, seed=7)
    second = make_finished(alice, "and me")
    client.force_login(alice)
    ids = [job.pk for job in first.jobs.all()] + [second.jobs.get().pk]
    response = client.post("/bulk/", {"action": "zip", "job": ids, "next": "/"})
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    assert len([n for n in names if n.endswith(".png")]) == 5
    rows = list(csv.DictReader(io.StringIO(archive.read("metadata.csv").decode())))
    records = json.loads(archive.read("metadata.json"))
    assert len(rows) == len(records) == 5
    assert {row["prompt"] for row in rows} == {"zip me", "and me"}
    assert rows[0]["file"] in names and rows[0]["seed"] == "7" and rows[0]["who"] == "alice"
    assert Job.objects.filter(kept_at__isnull=False).count() == 5  # downloaded means kept


def test_the_lightbox_and_compare_show_every_parameter(client, alice):
    left = make_finished(alice, "left one", quality="1080p", seed=1)
    right = make_finished(alice, "right one", quality="720p", seed=1)
    client.force_login(alice)
    box = client.get(f"/images/{left.jobs.get().pk}/lightbox/").content.decode()
    for text in ("left one", "1080p", "Copy prompt", "Download full size", "Use these settings", "up-"):
        assert text in box
    page = client.get(f"/compare/?job={left.jobs.get().pk}&job={right.jobs.get().pk}").content.decode()
    assert page.count('class="differs"') == 2  # prompt and quality differ; seed is the same


def test_the_queue_shows_place_in_line_estimates_and_failures(client, alice, settings):
    settings.SOUL_MAX_IN_FLIGHT = 1
    waiting = [make_job_set(alice, prompt=f"in line {n}") for n in range(2)]
    flying = make_job_set(alice, prompt="with soul")
    JobSet.objects.filter(pk=flying.pk).update(status="in_progress", sent_at=timezone.now())
    failed = make_job_set(alice, prompt="went wrong")
    JobSet.objects.filter(pk=failed.pk).update(status="failed", status_reason="The gateway said no.")
    client.force_login(alice)
    html = client.get("/queue/").content.decode()
    first, second = (
        '<strong class="place">1st</strong> · in line 0',
        '<strong class="place">2nd</strong> · in line 1',
    )
    assert first in html and second in html
    assert "with soul" in html and "went wrong" in html and "The gateway said no." in html
    assert "data-refresh-queue" in html  # the page's one refresh asks for the list again
    client.post(f"/job-sets/{waiting[0].pk}/cancel/")
    assert '<strong class="place">1st</strong> · in line 1' in client.get("/queue/").content.decode()


def test_cost_per_kept_image_counts_starred_and_downloaded_images(client, alice):
    kept = make_finished(alice, "kept", batch_size=4, quality="1080p")  # 0.37 for 4 images
    jobs = list(kept.jobs.all())
    client.force_login(alice)
    client.post(f"/images/{jobs[0].pk}/star/")
    client.get(f"/images/{jobs[1].pk}/raw/?download=1")
    html = client.get("/spend/").content.decode()
    assert 'id="cost-per-kept">$0.185<' in html  # 0.37 over 2 kept images


def test_the_gallerys_javascript_and_css_stay_under_150_kb_compressed(client, alice):
    import gzip
    import re

    from django.contrib.staticfiles import finders

    client.force_login(alice)
    html = client.get("/").content.decode()
    assets = re.findall(r'(?:src|href)="/static/([^"]+\.(?:js|css))"', html)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    total = 0
    for asset in assets:
        with open(finders.find(asset), "rb") as source:
            total += len(gzip.compress(source.read()))
    assert total < 150 * 1024, f"{total / 1024:.0f} KB compressed"


def test_a_retired_style_can_still_filter_the_gallery_but_is_no_longer_offered(client, alice):
    retired = Style.objects.get(name="Realistic")
    make_finished(alice, "from the old days", style=retired)
    Style.objects.filter(pk=retired.pk).update(is_active=False)
    client.force_login(alice)
    page = unescape(client.get("/").content.decode())
    assert f'<option value="{retired.pk}">Realistic</option>' in page
    assert f'name="style_id" value="{retired.pk}"' not in page
    assert f'name="style_id" value="{Style.objects.filter(is_active=True).first().pk}"' in page
    assert "from the old days" in unescape(client.get(f"/?style={retired.pk}").content.decode())


def test_the_form_offers_the_active_styles_it_was_given_and_still_checks_a_choice_in_the_database(db):
    from generations.web.forms import GenerateForm

    retired = Style.objects.get(name="Realistic")
    Style.objects.filter(pk=retired.pk).update(is_active=False)
    styles = list(Style.objects.all())
    form = GenerateForm(styles=styles)
    with CaptureQueriesContext(connection) as captured:
        offered = [value for value, _ in form.fields["style_id"].choices]
        assert len(form.fields["style_id"].choices) == len(offered)
    assert not captured
    assert str(retired.pk) not in [str(value) for value in offered]
    assert len(offered) == Style.objects.filter(is_active=True).count()
    sent = GenerateForm({"prompt": "a fox", "style_id": str(retired.pk)}, styles=styles)
    assert not sent.is_valid() and "style_id" in sent.errors


def test_the_whose_work_tabs_name_my_teammates_only_and_mark_the_one_shown(
    client, alice, bob, team_a, django_user_model
):
    from generations.actions import teams

    carol = django_user_model.objects.create_user("carol", password="carol-password-1")
    dave = django_user_model.objects.create_user("dave", password="dave-password-1")
    teams.add_member(team_a, dave)
    teams.add_member(team_a, carol)
    client.force_login(alice)
    html = client.get(f"/?member={dave.pk}").content.decode()
    tabs = re.findall(r'<a href="\?member=(\d+)"[^>]*?( aria-current="page")?>([^<]+)</a>', html)
    # By name, without me (my work is "Mine") and without bob, who is in another team.
    assert tabs == [(str(carol.pk), "", "carol"), (str(dave.pk), ' aria-current="page"', "dave")]
