"""Small helpers to make job sets in tests."""

from generations import services, teams

DEFAULTS = {
    "prompt": "a red fox in fresh snow",
    "width_and_height": "1536x2048",
    "quality": "720p",
    "batch_size": 1,
    "seed": None,
    "enhance_prompt": False,
    "style": None,
    "style_strength": None,
}


def make_job_set(user, **fields):
    fields.setdefault("team", teams.current_team(user))
    return services.create_job_set(user, {**DEFAULTS, **fields})
