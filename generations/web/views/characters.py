"""A team's saved characters (existing Soul characters, registered by their UUID)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from generations.actions import characters as character_actions
from generations.models import Character
from generations.queries import characters, teams
from generations.web.files import file_response


class CharacterForm(forms.ModelForm):
    class Meta:
        model = Character
        fields = ["name", "upstream_id", "thumbnail"]
        help_texts = {"upstream_id": "The character's UUID from Higgsfield (create characters there)."}


@require_http_methods(["GET", "POST"])
def characters_page(request: HttpRequest) -> HttpResponse:
    team = teams.current_team(request.user)
    form = CharacterForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and team is not None and form.is_valid():
        try:
            character = character_actions.create(team, request.user, **form.cleaned_data)
        except character_actions.CharacterTaken as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request, f"Saved “{character.name}”. Pick it under More options when generating."
            )
            return redirect("characters")
    listed = characters.of_team(team)
    return render(request, "generations/characters.html", {"form": form, "characters": listed, "team": team})


@require_POST
def delete_character(request: HttpRequest, pk: int) -> HttpResponse:
    character = get_object_or_404(characters.of_team(teams.current_team(request.user)), pk=pk)
    character_actions.delete(character)
    messages.success(request, f"Removed “{character.name}”. Job sets made with it keep its id.")
    return redirect("characters")


@require_GET
def thumbnail(request: HttpRequest, pk: int) -> HttpResponse:
    """A character's picture, only to its team."""
    character = get_object_or_404(characters.visible(request.user), pk=pk)
    if not character.thumbnail:
        raise Http404("No picture.")
    response = file_response(character.thumbnail.name)
    response["Cache-Control"] = "private, max-age=3600"
    return response
