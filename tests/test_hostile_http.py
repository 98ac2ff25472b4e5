"""Hostile values from outside, over real HTTP: no 5xx and no dropped connection, as each role.

tests/test_hostile_input.py walks every URL through Django's test client; this sends the worst
of its values to a running server the way a script on the network would, CSRF token and all.
"""

from __future__ import annotations

import pytest
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from generations.actions import teams as team_actions
from generations.models import Membership, Team
from tests.factories import make_finished
from tests.test_hostile_input import APP_NAMES, ROUTES, _example_path

VALUES = (
    "99999999999999999999",
    "²",
    "-1",
    "1e400",
    "NaN",
    "2026-13-45",
    "9999-12-31",
    "\x00",
    "x" * 3000,
    "a" * 250 + "@example.com",
)


class _World:
    def __init__(self, ids):
        self.ids, self.pks = ids, {}


def _session_for(user, live_server) -> requests.Session:
    """A requests session logged in as ``user`` (None: anonymous), with a CSRF token to send."""
    session = requests.Session()
    if user is not None:
        client = Client()
        client.force_login(user)
        name = settings.SESSION_COOKIE_NAME
        session.cookies.set(name, client.cookies[name].value)
    session.get(f"{live_server.url}/accounts/login/", timeout=10)  # sets the CSRF cookie
    session.headers["X-CSRFToken"] = session.cookies.get("csrftoken", "")
    return session


@pytest.mark.django_db(transaction=True)
def test_hostile_values_over_http_get_no_server_error_and_no_dropped_connection(live_server, media_root):
    User = get_user_model()
    team = Team.objects.create(name="Alpha")
    member = User.objects.create_user("member", "member@example.com", "member-password-1")
    manager = User.objects.create_user("manager", "manager@example.com", "manager-password-1")
    admin = User.objects.create_superuser("admin", "admin@example.com", "admin-password-1")
    team_actions.add_member(team, member)
    team_actions.add_member(team, manager, Membership.Role.MANAGER)
    job_set = make_finished(member)
    world = _World([str(job_set.pk)])
    paths = [_example_path(route, world) for route in ROUTES if not route.regex.startswith("admin/")]
    paths += ["/admin/", "/admin/generations/jobset/", f"/admin/generations/jobset/{job_set.pk}/change/"]
    failures = []
    roles = (("anonymous", None), ("member", member), ("manager", manager), ("admin", admin))
    session = _session_for(member, live_server)
    switched = session.post(f"{live_server.url}/team/switch/", {"team": team.pk}, allow_redirects=False)
    assert switched.status_code == 302  # logged in, and past the CSRF check: the views are reached
    for r, (role, user) in enumerate(roles):
        for p, path in enumerate(paths):
            session = _session_for(user, live_server)  # again for each page: one may log out
            # Three values a path and role, by turns, so that every value meets every role and page.
            for n in range(3):
                value = VALUES[(r + p * 3 + n) % len(VALUES)]
                data = {name: value for name in APP_NAMES}
                method = ("get", "post")[(p + n) % 2]
                send = {"data": data} if method == "post" else {"params": data}
                said = f"{method.upper()} {path} as {role} with {value[:20]!r}"
                try:
                    # A new connection each time, closed after the answer, as curl makes them (a
                    # pooled one the server had closed would be counted as dropped by mistake).
                    response = requests.request(
                        method,
                        f"{live_server.url}{path}",
                        cookies=session.cookies,
                        headers={**session.headers, "Connection": "close"},
                        allow_redirects=False,
                        timeout=30,
                        **send,
                    )
                except requests.ConnectionError as exc:
                    failures.append(f"{said}: connection dropped ({exc})")
                    continue
                if response.status_code >= 500:
                    failures.append(f"{said}: {response.status_code}")
    assert not failures, "\n".join(failures[:20])
