"""A team's saved characters (existing Soul characters, registered by their UUID)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from generations.actions import characters as character_actions
from generations.models import Character
from generations.queries import access, characters, teams
from generations.web import limits
from generations.web.files import file_response


class CharacterForm(forms.ModelForm):
    class Meta:
        model = Character
        fields = ["name", "upstream_id", "thumbnail"]
        help_texts = {"upstream_id": "The character's UUID from Higgsfield (create characters there)."}
        # The same picture check as reference uploads: size, pixels and format, refused beside the field.
        field_classes = {"thumbnail": limits.PictureField}


@require_http_methods(["GET", "POST"])
def characters_page(request: HttpRequest) -> HttpResponse:
    team = teams.current_team(request.user)
    form = CharacterForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and team is not None and form.is_valid():
        try:
            character = character_actions.create(team, request.user, **form.cleaned_data)
        except character_actions.CharacterTaken:
            _say_which_is_taken(form, team)
        else:
            messages.success(
                request, f"Saved “{character.name}”. Pick it under More options when generating."
            )
            return redirect("characters")
    listed = list(characters.of_team(team))
    membership = teams.current_membership(request.user)
    deletable = {c.pk for c in listed if access.may_delete_character(request.user, c, membership)}
    context = {"form": form, "characters": listed, "deletable": deletable, "team": team}
    # A form sent and not saved (errors, or no team to save it in) is answered 422.
    status = 422 if request.method == "POST" else 200
    return render(request, "generations/characters.html", context, status=status)


def _say_which_is_taken(form: CharacterForm, team) -> None:
    """Beside the name or the UUID, whichever the team has already."""
    name, upstream_id = form.cleaned_data["name"], form.cleaned_data["upstream_id"]
    same = characters.of_team(team)
    if same.filter(name=name).exists():
        form.add_error("name", f"Your team already has a character named “{name}”: choose another name.")
    else:
        saved = same.filter(upstream_id=upstream_id).first()
        form.add_error(
            "upstream_id", f"Your team saved this character already, as “{saved.name if saved else '?'}”."
        )


@require_POST
def delete_character(request: HttpRequest, pk: int) -> HttpResponse:
    membership = teams.current_membership(request.user)
    character = get_object_or_404(characters.of_team(membership.team if membership else None), pk=pk)
    if not access.may_delete_character(request.user, character, membership):
        # As for a job set one may see but not stop: the same answer as for one that is not there.
        raise Http404("Only whoever added a character and the team's managers may remove it.")
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
