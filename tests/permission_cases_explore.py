"""docs/PERMISSIONS.md's rows for explorations (issue 24): how tests/test_permissions.py makes each
request and tells whether it was done (kept apart so that file stays short)."""

from __future__ import annotations

from generations.actions import explore
from generations.models import Exploration, JobSet, SoulRequest, Style, exploring
from generations.queries import teams


def make_exploration(by) -> Exploration:
    """Two styles of one prompt, both still waiting here."""
    styles = [(str(style.pk), style.name) for style in Style.objects.filter(is_active=True)[:2]]
    base = SoulRequest(
        prompt="explored by the table", width_and_height="1536x2048", quality="720p", batch_size=1
    )
    plan = exploring.plan(base, exploring.Choices(styles=styles), limit=48)
    return explore.create(by, teams.current_team(by), plan, base.prompt)


def register(case, get, post, owner) -> None:
    """Add the explorations' rows to test_permissions.CASES (its ``case``, ``get``, ``post``, ``owner``)."""

    def _teammates(w) -> Exploration:
        if "exploration" not in w.things:
            w.things["exploration"] = make_exploration(w.tess)
        return w.things["exploration"]

    case("See an exploration's contact sheet")(lambda w, role: get("exploration", _teammates(w).pk))
    case("See an exploration's group card")(lambda w, role: get("exploration-card", _teammates(w).pk))
    case("Download an exploration's sheet as a PNG")(lambda w, role: get("exploration-png", _teammates(w).pk))

    def _cancel_rest(w, by):
        exploration = make_exploration(by)

        def done(response) -> bool:
            statuses = set(JobSet.objects.filter(exploration=exploration).values_list("status", flat=True))
            return statuses == {JobSet.Status.CANCELED}

        return post("exploration-cancel", exploration.pk, done=done)

    case("Cancel the rest of an exploration you asked for")(lambda w, role: _cancel_rest(w, owner(w, role)))
    case("Cancel the rest of a teammate's exploration")(lambda w, role: _cancel_rest(w, w.tess))
