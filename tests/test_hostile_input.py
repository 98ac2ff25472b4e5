"""Hostile input against every URL the site answers: never a 5xx, and a refusal changes nothing.

The URL patterns are read from the resolver (admin and accounts included), so a new view is
covered without editing this file. Each pattern is called as anonymous, member, manager and
admin (staff), by GET and POST, with its path filled with existing ids and with values its
pattern merely accepts, and with hostile values for every query parameter and form field:
the names the views' forms declare, the fields of an admin's model, and the names the views
read from ``request.GET``/``request.POST`` (listed below).

The same cases run every time (derandomised, about a minute on SQLite). ``HOSTILE_DEPTH=30``
makes thirty times as many random calls a pattern, different on each run, to look further.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pkgutil
import re
import traceback
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import pytest
from django import forms
from django.conf import settings as django_settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.forms.formsets import BaseFormSet
from django.test import Client
from django.urls import NoReverseMatch, URLResolver, get_resolver, reverse
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from generations import catalogue
from generations.actions import keeping
from generations.actions import teams as team_actions
from generations.models import Budget, Character, Collection, Job, JobSet, Membership, Price, Style, Team
from generations.queries import teams as team_queries
from tests.factories import make_finished, make_job_set

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "member", "manager", "admin")

# What people and scripts send that a form never would (the "hostile values" of issue 20).
HOSTILE = (
    "",
    " ",
    "0",
    "-0",
    "-1",
    "1.5",
    "1e400",
    "NaN",
    "-Infinity",
    "99999999999999999999",  # beyond 64 bits
    "9223372036854775808",  # 2**63
    "2147483648",  # 2**31
    "99999999999",  # more dollars than a budget holds
    "²",  # str.isdigit() says yes, int() says no
    "١٢",
    "abc",
    "2026-13-45",
    "0001-01-01",
    "9999-12-31",
    "\x00",
    "a\x00b",
    "😀\u202e",
    "<script>alert(1)</script>",
    "%00",
    "$-1",
    "0.001",
    "1,000",
    "[]",
    "x" * 5000,
    "a" * 250 + "@example.com",  # an address over 254 characters
    "a@b",
    "//evil.example/",
    "https://example.com/" + "a" * 3000,
)

# What the views read by name from request.GET and request.POST (grep for them), besides their forms'
# fields; kept by hand because a view reading a raw parameter declares it nowhere else.
READ_BY_VIEWS = (
    "before",
    "seed",
    "scope",
    "days",
    "from",
    "to",
    "page",
    "view",
    "member",
    "q",
    "status",
    "style",
    "size",
    "quality",
    "fav",
    "collection",
    "hidden",
    "job",
    "action",
    "all_matching",
    "filters",
    "new_collection",
    "shared",
    "next",
    "role",
    "team",
    "team_budget",
    "who",
    "confirm_duplicate",
    "download",
    "batch_size",
    "card",  # the page's refresh (generations/web/views/refresh.py)
    "exploration",
    "queue",
)
# What Django's admin reads besides a model's fields.
ADMIN_NAMES = (
    *("q", "o", "p", "e", "all", "_popup", "_to_field", "_changelist_filters", "action", "_selected_action"),
    *("select_across", "index", "post", "_save", "_continue", "_addanother"),
    *("app_label", "model_name", "field_name", "term"),  # the autocomplete view's
)


@dataclass
class Route:
    regex: str  # the whole path, anchors removed
    name: str | None  # namespaced, for reverse()
    callback: object
    fields: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return "/" + re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", self.regex).replace("\\", "")

    @property
    def groups(self) -> list[str]:
        return re.findall(r"\(\?P<(\w+)>", self.regex)

    @property
    def positional(self) -> int:
        """How many unnamed groups the pattern has (reversed with args, not kwargs)."""
        return re.compile(self.regex).groups - len(self.groups)

    @property
    def model_admin(self):
        return getattr(self.callback, "model_admin", None)


def _bare(regex: str) -> str:
    return regex.removeprefix("^").removesuffix("\\Z").removesuffix("$")


def _form_fields(form_class) -> tuple[str, ...]:
    return tuple(getattr(form_class, "base_fields", {}))


def _fields_of(callback) -> tuple[str, ...]:
    """The form fields a view declares: its class's form, or its admin's model."""
    names: list[str] = []
    form_class = getattr(getattr(callback, "view_class", None), "form_class", None)
    if form_class:
        names += _form_fields(form_class)
    model_admin = getattr(callback, "model_admin", None)
    if model_admin is not None:
        opts = model_admin.model._meta
        names += [f.name for f in opts.get_fields() if f.concrete] + list(ADMIN_NAMES)
        names += [f"{f.name}__exact" for f in opts.fields] + [f"{f.attname}" for f in opts.fields]
    return tuple(names)


def _walk(patterns, prefix: str = "", namespace: str = "") -> list[Route]:
    routes = []
    for pattern in patterns:
        regex = prefix + _bare(pattern.pattern.regex.pattern)
        if isinstance(pattern, URLResolver):
            inner = ":".join(filter(None, (namespace, pattern.namespace)))
            routes += _walk(pattern.url_patterns, regex, inner)
        else:
            name = ":".join(filter(None, (namespace, pattern.name))) if pattern.name else None
            routes.append(Route(regex, name, pattern.callback, _fields_of(pattern.callback)))
    return routes


def _app_form_fields() -> tuple[str, ...]:
    """Every field of every form the site's own web layer declares."""
    import generations.web as web

    names: set[str] = set()
    for module_info in pkgutil.walk_packages(web.__path__, "generations.web."):
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, forms.BaseForm):
                names.update(_form_fields(value))
    return tuple(sorted(names))


ROUTES = _walk(get_resolver().url_patterns)
APP_NAMES = tuple(dict.fromkeys(READ_BY_VIEWS + _app_form_fields()))


@dataclass
class World:
    users: dict
    clients: dict
    ids: list[str]
    pks: dict = field(default_factory=dict)  # model -> its existing primary keys, as text
    values: list[str] = field(default_factory=list)  # valid values of the parameters
    before: dict | None = None  # the tables as the last refused call left them
    sessions: dict = field(default_factory=dict)  # role -> the session cookie its login left


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, media_root) -> World:
    """People, job sets, a collection, a character and a budget, made once for the whole module.

    Each test runs inside its own savepoint (pytest-django's ``db``), so what one test's calls
    change is gone before the next; making this world per test took a quarter of the time.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        yield _make_world()
        transaction.set_rollback(True)


def _make_world() -> World:
    catalogue.install(Price, Style)
    User = get_user_model()
    team_a, team_b = Team.objects.create(name="Alpha"), Team.objects.create(name="Bravo")
    member = User.objects.create_user("member", "member@example.com", "member-password-1")
    manager = User.objects.create_user("manager", "manager@example.com", "manager-password-1")
    admin = User.objects.create_superuser("admin", "admin@example.com", "admin-password-1")
    outsider = User.objects.create_user("outsider", "outsider@example.com", "outsider-password-1")
    team_actions.add_member(team_a, member)
    team_actions.add_member(team_a, manager, Membership.Role.MANAGER)
    team_actions.add_member(team_b, admin, Membership.Role.MANAGER)
    team_actions.add_member(team_b, outsider)
    for user in (member, manager, admin, outsider):
        team_queries.current_membership(user)  # the profile a first visit would make
    make_finished(member, prompt="a kept picture")
    make_finished(manager, prompt="four of them", batch_size=4)
    make_job_set(manager)
    make_finished(outsider, prompt="not for Alpha")
    keeping.collection_named(team_a, member, "Keepers", shared=True)
    Character.objects.create(
        team=team_a, name="Ada", upstream_id="3f2b6a52-1c54-4c84-9a43-0e0f8b7f4c11", created_by=member
    )
    Budget.objects.create(team=team_a, user=None, monthly_limit=50)
    users = {"anonymous": None, "member": member, "manager": manager, "admin": admin}
    clients = {role: Client(raise_request_exception=False) for role in ROLES}
    pks = {}
    for model in (JobSet, Job, Membership, Character, Collection, Team, User, Style, Budget):
        pks[model] = [str(pk) for pk in model.objects.values_list("pk", flat=True)]
    ids = sorted({pk for values in pks.values() for pk in values if pk.isdigit()}, key=int)
    values = ids + pks[Style][:2] + [
        "1536x2048", "720p", "1080p", "1", "4", "mine", "team", "all", "30", "90", "2026-01-01",
        "completed", "pending", "failed", "star", "unstar", "hide", "unhide", "file", "zip", "member",
        "manager", "on", "1", "keep", "raw", "min", "new.person@example.com", "member", "/", "image_url",
        "https://example.com/a.png", "10", "0.50",
    ]  # fmt: skip
    return World(users, clients, ids, pks, values)


# The tables whose rows a refused request must leave alone: all but the ones a refusal is meant
# to write (a failed login is recorded by django-axes) or that every request may touch (sessions).
IGNORED_TABLES = re.compile(r"^(django_session|axes_.*)$")


def snapshot() -> dict[str, str]:
    digests = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            if IGNORED_TABLES.match(table):
                continue
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 (table names)
            rows = sorted(repr(row) for row in cursor.fetchall())
            digests[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return digests


def refused(response) -> bool:
    """A 4xx, a form shown again with errors, or an error message for the next page."""
    if response.status_code >= 400:
        return True
    request = response.wsgi_request
    stored = getattr(request, "_messages", None)
    if stored is not None and any(m.level >= messages.WARNING for m in stored._queued_messages):
        return True
    for context in response.context or []:
        for value in context.flatten().values() if hasattr(context, "flatten") else context.values():
            if isinstance(value, forms.BaseForm) and value.is_bound and value.errors:
                return True
            if isinstance(value, BaseFormSet) and value.is_bound and not value.is_valid():
                return True
    return False


def _path_strategy(route: Route, world: World):
    """Paths the route matches: with existing ids (when it can be reversed), or any matching text."""
    hostile = st.from_regex(re.compile(route.regex), fullmatch=True).map(
        lambda text: "/" + quote(text, safe="/")
    )
    if not route.groups and not route.positional:
        return st.just("/" + route.regex.replace("\\", ""))
    if route.name is None:
        return hostile
    model_admin = route.model_admin
    ids = world.pks.get(model_admin.model, world.ids) if model_admin else world.ids
    pools = {name: ids + ["raw", "min", "generations", "auth", "abc"] for name in route.groups}

    def reversed_path(kwargs):
        try:
            if route.positional:
                return reverse(route.name, args=list(kwargs.values()))
            return reverse(route.name, kwargs=kwargs)
        except NoReverseMatch:
            return None

    if route.positional:
        pools = {n: ids + ["abc"] for n in range(route.positional)}
    valid = st.fixed_dictionaries({name: st.sampled_from(pool) for name, pool in pools.items()}).map(
        reversed_path
    )
    return st.one_of(valid.filter(lambda path: path is not None), hostile)


def _value_strategy(world: World):
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.sampled_from(world.values),
        st.text(max_size=40),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
    )


def _names(route: Route, world: World) -> tuple[str, ...]:
    budget_fields = tuple(f"budget_{pk}" for pk in world.pks[get_user_model()])
    return tuple(dict.fromkeys(APP_NAMES + route.fields + budget_fields))


def _short(data: dict[str, list[str]]) -> str:
    return repr({name: [value[:40] for value in values] for name, values in data.items()})[:1500]


def _error(response) -> str:
    """The exception behind a 5xx, and the last line of the site's own code it passed through."""
    if not response.exc_info:
        return "no exception"
    _, exc, tb = response.exc_info
    ours = [frame for frame in traceback.extract_tb(tb) if "site-packages" not in frame.filename]
    where = f" at {ours[-1].filename}:{ours[-1].lineno}" if ours else ""
    return f"{type(exc).__name__}: {str(exc)[:200]}{where}"


def _session(client: Client) -> str | None:
    morsel = client.cookies.get(django_settings.SESSION_COOKIE_NAME)
    return morsel.value if morsel else None


def call(
    world: World, role: str, method: str, path: str, data: dict[str, list[str]], htmx: bool, multipart=False
):
    client = world.clients[role]
    logged_in = role in world.sessions and _session(client) == world.sessions[role]
    if world.users[role] is not None and not logged_in:
        # Again whenever an earlier call logged this client out or in as someone else, and at each
        # test's start (its savepoint takes the session away, while the client keeps the cookie).
        client.force_login(world.users[role])
        world.sessions[role] = _session(client)
        world.before = None  # logging in records the time
    # Most calls are refused, and the tables a refusal leaves are still the next call's "before".
    before = world.before or snapshot()
    headers = {"HX-Request": "true"} if htmx else {}
    if method == "GET":
        response = client.get(path, data, headers=headers)
    elif multipart:
        response = client.post(path, data, headers=headers)
    else:  # as most forms send it, and four times quicker to read than multipart
        body = urlencode(data, doseq=True)
        response = client.post(path, body, "application/x-www-form-urlencoded", headers=headers)
    where = f"{method} {path[:200]} as {role} with {_short(data)}"
    assert response.status_code < 500, f"{response.status_code} ({_error(response)}) for {where}"
    if refused(response):
        after = snapshot()
        changed = [table for table in before if before[table] != after.get(table)]
        assert not changed, f"{where} was refused ({response.status_code}) yet changed {changed}"
        world.before = after
    else:
        world.before = None
    return response


# For the admin's pages, which are Django's own and many: the values most likely to break a lookup.
ADMIN_HOSTILE = ("99999999999999999999", "2026-13-45", "1e400", "x" * 5000)


def _sweep(route: Route, world: World) -> None:
    """Every role and method once plainly, then each hostile value in every name at once.

    Every name at once, because some values only break together (a "from" and a "to" date).
    """
    names = _names(route, world)
    path = _example_path(route, world)
    for role in ROLES:
        for method in ("GET", "POST"):
            call(world, role, method, path, {}, htmx=False)
    admin = route.regex.startswith("admin/")
    for n, value in enumerate(ADMIN_HOSTILE if admin else HOSTILE):
        role = "admin" if admin else ROLES[n % len(ROLES)]
        method = ("GET", "POST")[n // len(ROLES) % 2]
        data = {name: [value] for name in names}
        call(world, role, method, path, data, htmx=n % 3 == 0, multipart=n % 5 == 0)


def _example_path(route: Route, world: World) -> str:
    """The route with existing ids (or, when it cannot be reversed, some text it matches)."""
    if not route.groups and not route.positional:
        return "/" + route.regex.replace("\\", "")
    ids = world.pks.get(route.model_admin.model, world.ids) if route.model_admin else world.ids
    for candidate in (ids[0] if ids else "1", "1"):
        kwargs = {name: candidate for name in route.groups}
        kwargs.update({name: "raw" for name in route.groups if name == "kind"})
        kwargs.update({name: "generations" for name in route.groups if name == "app_label"})
        try:
            if route.name and route.positional:
                return reverse(route.name, args=[candidate] * route.positional)
            if route.name:
                return reverse(route.name, kwargs=kwargs)
        except NoReverseMatch:
            continue
    return "/" + quote(re.sub(r"\([^)]*\)\*?", "1", route.regex).replace("\\", ""), safe="/")


# See the module's docstring.
DEPTH = int(os.environ.get("HOSTILE_DEPTH", "1"))


def _examples(route: Route) -> int:
    return DEPTH * (2 if route.regex.startswith("admin/") else 6)


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.label)
def test_no_url_answers_a_server_error_and_a_refusal_changes_nothing(route, world, db):
    world.sessions.clear()  # the sessions were rolled back with the last test
    world.before = None
    _sweep(route, world)
    names = _names(route, world)

    @settings(
        max_examples=_examples(route),
        deadline=None,
        derandomize=DEPTH == 1,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # calls change the world, so shrinking would not replay
        suppress_health_check=list(HealthCheck),
    )
    @given(
        role=st.sampled_from(ROLES),
        method=st.sampled_from(("GET", "POST")),
        path=_path_strategy(route, world),
        pairs=st.lists(st.tuples(st.sampled_from(names), _value_strategy(world)), max_size=8),
        htmx=st.booleans(),
        multipart=st.booleans(),
    )
    def check(role, method, path, pairs, htmx, multipart):
        data: dict[str, list[str]] = {}
        for name, value in pairs:
            data.setdefault(name, []).append(value)
        call(world, role, method, path, data, htmx, multipart)

    check()


def test_the_walk_covers_the_sites_own_pages_admin_and_accounts():
    labels = {route.label for route in ROUTES}
    assert {"/", "/bulk/", "/team/budgets/", "/job-sets/<pk>/reuse/", "/spend/", "/compare/"} <= labels
    assert any(label.startswith("/admin/") for label in labels)
    assert "/accounts/login/" in labels
