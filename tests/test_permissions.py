"""docs/PERMISSIONS.md, cell by cell: every action tried as every kind of person, by a real request.

The table is read from the document itself (one source: people read it, this test holds the
code to it). Each row names its request (method and URL name); CASES says how to make it in
a small world of two teams, and how to tell whether it was done. A "yes" must be done, a
"no" or "login" must change nothing, and every answer must be the one the table gives.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone

from generations.actions import teams as team_actions
from generations.models import (
    Budget,
    Character,
    CollectionItem,
    Favourite,
    GatewayState,
    Job,
    JobSet,
    Membership,
    ReferenceUpload,
)
from generations.upstream import references
from tests import permission_cases_explore, permission_cases_queue
from tests.factories import make_finished, make_job_set, png

pytestmark = pytest.mark.django_db

TABLE = Path(__file__).resolve().parent.parent / "docs" / "PERMISSIONS.md"
COLUMNS = {
    "Anonymous": "anonymous",
    "Member": "member",
    "Manager": "manager",
    "Admin": "admin",
    "Other team": "other",
}
ROLES = tuple(COLUMNS.values())
CELL = re.compile(r"(?P<kind>yes|no) (?P<status>[1-5]\d\d)|(?P<login>login)|(?P<none>—)")
REQUEST = re.compile(r"`(?P<method>GET|POST) (?P<name>[\w:-]+)`")


@dataclass(frozen=True)
class Row:
    action: str
    method: str
    url_name: str
    cells: dict[str, str]  # role -> "yes 200", "no 404", "login" or "—"


def read_table(text: str) -> dict[str, Row]:
    """The rows of the document's table, by action; a malformed row is an error, not a skip."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == ["Action", "Request", *COLUMNS], header
    rows = {}
    for line in lines[1:]:
        action, request, *cells = (cell.strip() for cell in line.strip().strip("|").split("|"))
        wanted = REQUEST.fullmatch(request)
        assert wanted, f"{action}: the request must read like `GET name`, not {request!r}"
        assert len(cells) == len(COLUMNS), f"{action}: {len(cells)} cells"
        for cell in cells:
            assert CELL.fullmatch(cell), f"{action}: cannot read the cell {cell!r}"
        assert action not in rows, f"two rows for {action!r}"
        rows[action] = Row(action, wanted["method"], wanted["name"], dict(zip(ROLES, cells, strict=True)))
    return rows


ROWS = read_table(TABLE.read_text())


# --- The world: two teams, and someone of each kind -----------------------------------------------


@dataclass
class World:
    users: dict
    team_a: object
    tess: object  # another member of the team: the teammate whose things the rows are about
    finished: JobSet  # tess's, with two stored images
    things: dict = field(default_factory=dict)

    @property
    def jobs(self) -> list[Job]:
        return list(self.finished.jobs.order_by("index"))


@pytest.fixture
def world(settings, django_user_model, alice, bob, team_a):
    settings.SOUL_PUBLIC_URL = "https://soul.example.com"
    carol = django_user_model.objects.create_user("carol", password="carol-password-1")
    team_actions.add_member(team_a, carol, Membership.Role.MANAGER)
    tess = django_user_model.objects.create_user("tess", password="tess-password-1")
    team_actions.add_member(team_a, tess)
    admin = django_user_model.objects.create_superuser("dave", password="dave-password-1")
    django_user_model.objects.create_user("erin")
    users = {"anonymous": None, "member": alice, "manager": carol, "admin": admin, "other": bob}
    return World(users=users, team_a=team_a, tess=tess, finished=make_finished(tess, batch_size=4))


@dataclass
class Call:
    """One request, and how to tell afterwards that it did what it asks (None: the answer says all)."""

    method: str
    path: str
    data: dict | None = None
    done: Callable[[HttpResponse], bool] | None = None
    headers: dict = field(default_factory=dict)
    multipart: bool = True  # False: data is the raw body


CASES: dict[str, Callable[[World, str], Call]] = {}


def case(action: str):
    def register(make: Callable[[World, str], Call]):
        assert action in ROWS, f"no row in docs/PERMISSIONS.md for {action!r}"
        CASES[action] = make
        return make

    return register


def get(name: str, *args, query: dict | None = None, done=None) -> Call:
    path = reverse(name, args=args)
    if query:
        path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return Call("GET", path, done=done)


def post(name: str, *args, data: dict | None = None, done=None) -> Call:
    return Call("POST", reverse(name, args=args), data or {}, done)


def owner(w: World, role: str):
    """Whose thing a row is about: the person's own ("you asked for", "you added"), else the teammate's."""
    return w.users[role] if role in ("member", "manager") else w.users["member"]


# Seeing

for action, name in (
    ("See a job set's details", "details"),
    ("See a job set's card", "card"),
    ("Fill the form with a job set's settings", "reuse"),
):
    case(action)(lambda w, role, name=name: get(name, w.finished.pk))

case("See the gallery")(lambda w, role: get("gallery"))
case("See an image")(lambda w, role: get("image", w.jobs[0].pk, "raw"))
case("Open an image in the lightbox")(lambda w, role: get("lightbox", w.jobs[0].pk))
case("Compare two images")(lambda w, role: _compare(w))
case("See the queue")(lambda w, role: get("queue"))
case("See the price before generating")(lambda w, role: get("price"))
case("See what you spent (the header's chip)")(lambda w, role: get("spend-chip"))
case("Refresh a page's pending cards, queue and chip (one request a tab)")(
    lambda w, role: get("refresh", query={"card": w.finished.pk})
)
case("See a style's preview")(lambda w, role: get("style-preview", "464ea177-8d40-4940-8d9d-b438bab269c7"))


def _compare(w: World) -> Call:
    first, second = w.jobs[:2]
    return Call("GET", f"{reverse('compare')}?job={first.pk}&job={second.pk}")


# Generating

FORM = {"prompt": "asked for by the permissions table", "width_and_height": "1536x2048", "quality": "720p"}
FORM |= {"batch_size": "1"}


@case("Generate")
def _generate(w: World, role: str) -> Call:
    return post("generate", data=FORM, done=lambda r: JobSet.objects.filter(prompt=FORM["prompt"]).exists())


@case("Generate from an uploaded reference image")
def _generate_with_upload(w: World, role: str) -> Call:
    data = {**FORM, "image_reference_type": "image_url"}
    data["image_reference_upload"] = SimpleUploadedFile("ref.png", png(), content_type="image/png")
    return post("generate", data=data, done=lambda r: ReferenceUpload.objects.exists())


@case("Let the gateway fetch an uploaded reference (by its signed link)")
def _reference_link(w: World, role: str) -> Call:
    upload = ReferenceUpload.objects.create(
        team=w.team_a,
        user=w.tess,
        content_type="image/png",
        file=SimpleUploadedFile("r.png", png(), content_type="image/png"),
    )
    return Call("GET", urlsplit(references.public_link(upload)).path)


@case("Submit a job set again")
def _submit_again(w: World, role: str) -> Call:
    before = JobSet.objects.count()
    return post("submit-again", w.finished.pk, done=lambda r: JobSet.objects.count() > before)


def _cancel(w: World, by) -> Call:
    waiting = make_job_set(by, prompt="waiting to be canceled")
    return post("cancel", waiting.pk, done=lambda r: _status(waiting) == JobSet.Status.CANCELED)


def _status(job_set: JobSet) -> str:
    return JobSet.objects.values_list("status", flat=True).get(pk=job_set.pk)


case("Cancel a waiting job set you asked for")(lambda w, role: _cancel(w, owner(w, role)))
case("Cancel a teammate's waiting job set")(lambda w, role: _cancel(w, w.tess))


# The queue's controls (issue 21): tests/permission_cases_queue.py, to keep this file short.
permission_cases_queue.register(case, post, owner, _status)
# Explorations (issue 24): tests/permission_cases_explore.py.
permission_cases_explore.register(case, get, post, owner)


def _retry_download(w: World, by) -> Call:
    job_set = make_finished(by, prompt="a download that failed")
    job = job_set.jobs.first()
    Job.objects.filter(pk=job.pk).update(image="", download_error="gone", download_attempts=5)
    job.refresh_from_db()
    return post("retry-download", job_set.pk, done=lambda r: not Job.objects.get(pk=job.pk).download_error)


case("Retry the downloads of a job set you asked for")(lambda w, role: _retry_download(w, owner(w, role)))
case("Retry the downloads of a teammate's job set")(lambda w, role: _retry_download(w, w.tess))


# Keeping


@case("Star an image")
def _star(w: World, role: str) -> Call:
    job = w.jobs[0]
    return post("star", job.pk, done=lambda r: Favourite.objects.filter(job=job).exists())


def _bulk(w: World, action: str, done, **extra) -> Call:
    return post(
        "bulk", data={"action": action, "job": [j.pk for j in w.jobs], "next": "/", **extra}, done=done
    )


case("Star images in bulk")(lambda w, role: _bulk(w, "star", lambda r: Favourite.objects.exists()))
case("Hide images")(
    lambda w, role: _bulk(w, "hide", lambda r: Job.objects.filter(hidden_at__isnull=False).exists())
)


@case("Show hidden images again")
def _unhide(w: World, role: str) -> Call:
    Job.objects.filter(job_set=w.finished).update(hidden_at=timezone.now(), hidden_by=w.tess)
    return _bulk(w, "unhide", lambda r: not Job.objects.filter(hidden_at__isnull=False).exists())


case("Undo hiding what you just hid")(lambda w, role: post("undo-hide", data={"next": "/"}))
case("File images in a collection")(
    lambda w, role: _bulk(w, "file", lambda r: CollectionItem.objects.exists(), new_collection="Picks")
)
case("Download images as a zip")(
    lambda w, role: _bulk(w, "zip", lambda r: r.get("Content-Type") == "application/zip")
)


# Team

case("See your team")(lambda w, role: get("team"))
case("See each member's spend on the team page")(
    lambda w, role: get("team", done=lambda r: ">Charged</th>" in r.content.decode())
)


@case("Switch to one of your teams")
def _switch(w: World, role: str) -> Call:
    return post("switch-team", data={"team": w.team_a.pk, "next": "/"})


@case("Add or invite someone")
def _add(w: World, role: str) -> Call:
    done = lambda r: Membership.objects.filter(team=w.team_a, user__username="erin").exists()  # noqa: E731
    return post("add-member", data={"who": "erin", "role": "member"}, done=done)


def _tess_membership(w: World) -> Membership:
    return Membership.objects.get(team=w.team_a, user=w.tess)


@case("Change someone's role")
def _change_role(w: World, role: str) -> Call:
    pk = _tess_membership(w).pk
    done = lambda r: Membership.objects.get(pk=pk).role == Membership.Role.MANAGER  # noqa: E731
    return post("change-role", pk, data={"role": "manager"}, done=done)


@case("Remove someone from the team")
def _remove(w: World, role: str) -> Call:
    pk = _tess_membership(w).pk
    return post("remove-member", pk, done=lambda r: not Membership.objects.filter(pk=pk).exists())


@case("Set the monthly budgets")
def _budgets(w: World, role: str) -> Call:
    return post("set-budgets", data={"team_budget": "10.00"}, done=lambda r: Budget.objects.exists())


# Spend

for scope, page, csv in (
    ("mine", "See your own spend", "Export your own spend as CSV"),
    ("team", "See your team's spend", "Export your team's spend as CSV"),
    ("all", "See every team's spend", "Export every team's spend as CSV"),
):
    case(page)(
        lambda w, role, scope=scope: get(
            "spend", query={"scope": scope}, done=lambda r: bool(r.context) and r.context["scope"] == scope
        )
    )
    case(csv)(
        lambda w, role, scope=scope: get(
            "spend-csv",
            query={"scope": scope},
            done=lambda r: f"soulsite-spend-{scope}-" in r.get("Content-Disposition", ""),
        )
    )


# Characters


def _character(w: World, by, thumbnail: str = "") -> Character:
    return Character.objects.create(
        team=w.team_a, created_by=by, name="Ava", upstream_id=uuid.uuid4(), thumbnail=thumbnail
    )


case("See your team's characters")(lambda w, role: get("characters"))


@case("Add a character")
def _add_character(w: World, role: str) -> Call:
    data = {"name": "Added by the table", "upstream_id": str(uuid.uuid4())}
    return post("characters", data=data, done=lambda r: Character.objects.filter(name=data["name"]).exists())


@case("See a character's picture")
def _thumbnail(w: World, role: str) -> Call:
    return get("character-thumbnail", _character(w, w.tess, thumbnail=w.jobs[0].image.name).pk)


def _delete_character(w: World, by) -> Call:
    pk = _character(w, by).pk
    return post("delete-character", pk, done=lambda r: not Character.objects.filter(pk=pk).exists())


case("Remove a character you added")(lambda w, role: _delete_character(w, owner(w, role)))
case("Remove a character a teammate added")(lambda w, role: _delete_character(w, w.tess))


# Running the site

case("Use the admin site")(lambda w, role: get("admin:index"))


@case("Resume sending after the gateway refused the key")
def _resume(w: World, role: str) -> Call:
    GatewayState.get()
    GatewayState.objects.filter(pk=1).update(paused=True, paused_reason="key refused", paused_status=401)
    data = {"action": "resume_sending", "_selected_action": ["1"]}
    done = lambda r: not GatewayState.objects.get(pk=1).paused  # noqa: E731
    return post("admin:generations_gatewaystate_changelist", data=data, done=done)


@case("Mark a job set failed, settle an unconfirmed one, poll one now")
def _mark_failed(w: World, role: str) -> Call:
    waiting = make_job_set(w.tess, prompt="to be marked failed")
    data = {"action": "mark_failed", "_selected_action": [str(waiting.pk)]}
    done = lambda r: _status(waiting) == JobSet.Status.FAILED  # noqa: E731
    return post("admin:generations_jobset_changelist", data=data, done=done)


# Accounts

for action, name in (
    ("Log in", "login"),
    ("Change your password", "password_change"),
    ("See that your password was changed", "password_change_done"),
    ("Ask for a password reset", "password_reset"),
    ("See that the reset mail was sent", "password_reset_done"),
    ("See that the new password is set", "password_reset_complete"),
):
    case(action)(lambda w, role, name=name: get(name))
case("Log out")(lambda w, role: post("logout"))
case("Choose a new password from the mailed link")(
    lambda w, role: Call("GET", reverse("password_reset_confirm", args=["MQ", "set-password"]))
)


# Webhooks


def _callback(w: World, signed: bool) -> Call:
    job_set = make_job_set(w.tess, prompt="in flight, called back")
    later = timezone.now() + timedelta(hours=1)
    JobSet.objects.filter(pk=job_set.pk).update(
        status=JobSet.Status.IN_PROGRESS, due_at=later, upstream_id="up"
    )
    body = json.dumps({"id": "up", "jobs": []}).encode()
    headers = {}
    if signed:
        stamp = int(time.time())
        key = base64.b64decode(job_set.webhook_secret.removeprefix("whsec_"))
        digest = hmac.new(key, f"msg_1.{stamp}.".encode() + body, hashlib.sha256).digest()
        headers = {
            "HTTP_WEBHOOK_ID": "msg_1",
            "HTTP_WEBHOOK_TIMESTAMP": str(stamp),
            "HTTP_WEBHOOK_SIGNATURE": "v1," + base64.b64encode(digest).decode(),
        }
    moved = lambda r: JobSet.objects.get(pk=job_set.pk).due_at <= timezone.now()  # noqa: E731
    path = reverse("soul-webhook", args=[job_set.webhook_token])
    return Call("POST", path, body, moved, headers, multipart=False)


case("Tell soulsite a job set changed (the gateway's signed callback)")(lambda w, role: _callback(w, True))
case("The same callback unsigned, wrongly signed or stale")(lambda w, role: _callback(w, False))


# --- The tests ----------------------------------------------------------------------------------


def all_url_names(patterns=None, namespace=""):
    """Every named URL pattern of the site (the admin's own pages aside), as reverse() names them."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue
            yield from all_url_names(entry.url_patterns, entry.namespace or namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}:{entry.name}" if namespace else entry.name


def test_every_page_of_the_site_has_a_row_in_the_permissions_table():
    named = {row.url_name for row in ROWS.values()}
    missing = sorted(set(all_url_names()) - named)
    assert not missing, f"add a row to docs/PERMISSIONS.md for: {missing}"


def test_every_row_of_the_permissions_table_is_tried_and_nothing_else():
    assert set(CASES) == set(ROWS)


CELLS = [(action, role) for action, row in ROWS.items() for role in ROLES if row.cells[role] != "—"]


@pytest.mark.parametrize(("action", "role"), CELLS, ids=[f"{a} as {r}" for a, r in CELLS])
def test_each_cell_of_the_permissions_table_holds(world, action, role):
    row = ROWS[action]
    call = CASES[action](world, role)
    assert call.method == row.method and resolve(urlsplit(call.path).path).view_name == row.url_name, (
        "the case makes another request than the row says"
    )
    client = Client()
    if world.users[role] is not None:
        client.force_login(world.users[role])
    if call.method == "GET":
        response = client.get(call.path, **call.headers)
    elif call.multipart:
        response = client.post(call.path, call.data, **call.headers)
    else:
        response = client.post(call.path, call.data, content_type="application/json", **call.headers)

    want = CELL.fullmatch(row.cells[role])
    seen = (response.status_code, response.get("Location"))
    if want["login"]:
        assert response.status_code == 302, seen
        assert response["Location"].startswith(("/accounts/login/", "/admin/login/")), seen
    else:
        assert response.status_code == int(want["status"]), seen
    if call.done is not None:
        assert call.done(response) == (want["kind"] == "yes"), "done" if want["kind"] != "yes" else "not done"
