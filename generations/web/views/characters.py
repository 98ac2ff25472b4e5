"""A team's saved characters (existing Soul characters, registered by their UUID)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from generations import teams
from generations.models import Character


class CharacterForm(forms.ModelForm):
    class Meta:
        model = Character
        fields = ["name", "upstream_id", "thumbnail"]
        help_texts = {"upstream_id": "The character's UUID from Higgsfield (create characters there)."}


@require_http_methods(["GET", "POST"])
def characters(request: HttpRequest) -> HttpResponse:
    team = teams.current_team(request.user)
    form = CharacterForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and team is not None and form.is_valid():
        character = form.save(commit=False)
        character.team, character.created_by = team, request.user
        try:
            with transaction.atomic():
                character.save()
        except IntegrityError:
            form.add_error(None, "Your team already has a character with that name or that UUID.")
        else:
            messages.success(
                request, f"Saved “{character.name}”. Pick it under More options when generating."
            )
            return redirect("characters")
    listed = Character.objects.filter(team=team) if team else Character.objects.none()
    return render(request, "generations/characters.html", {"form": form, "characters": listed, "team": team})


@require_POST
def delete_character(request: HttpRequest, pk: int) -> HttpResponse:
    team = teams.current_team(request.user)
    character = get_object_or_404(Character, pk=pk, team=team)
    character.delete()
    messages.success(request, f"Removed “{character.name}”. Job sets made with it keep its id.")
    return redirect("characters")


@require_GET
def thumbnail(request: HttpRequest, pk: int) -> HttpResponse:
    """A character's picture, only to its team."""
    from generations.web.views.media import _file_response

    character = get_object_or_404(Character, pk=pk, team__memberships__user=request.user)
    if not character.thumbnail:
        raise Http404("No picture.")
    response = _file_response(character.thumbnail.name)
    response["Cache-Control"] = "private, max-age=3600"
    return response
