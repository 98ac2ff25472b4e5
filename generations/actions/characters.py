"""Registering a team's characters (existing Soul characters, by their UUID) and removing them."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from generations.models import Character, Team


class CharacterTaken(Exception):
    """The team has a character with that name or that UUID already."""


def create(team: Team, by, *, name: str, upstream_id, thumbnail=None) -> Character:
    character = Character(team=team, created_by=by, name=name, upstream_id=upstream_id)
    if thumbnail:
        character.thumbnail = thumbnail
    try:
        with transaction.atomic():
            character.save()
    except IntegrityError as exc:
        raise CharacterTaken("Your team already has a character with that name or that UUID.") from exc
    return character


def delete(character: Character) -> None:
    """Remove ``character``; job sets made with it keep its id."""
    character.delete()
