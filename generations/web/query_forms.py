"""Forms for the query strings of the gallery and the spend page.

Each page reads several parameters, so each gets a form: a value that does not parse is
left out of what the page shows and its error is drawn beside its own field of the filter
bar (templates/generations/partials/filters.html, templates/generations/spend.html).
"""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils import timezone

from generations.models import Team
from generations.queries import teams
from generations.queries.gallery import STATUS_GROUPS, Filters
from generations.queries.spend_report import MAX_DAYS, Period
from generations.web.parsing import DayField, IdField
from soulwire import params

Q_MAX_LENGTH = 200  # longer searches are cut, not refused: a pasted prompt still finds itself
CHOOSE = {"invalid_choice": "Pick one of the choices shown."}


class QueryForm(forms.Form):
    def shown_errors(self) -> list[tuple[str, str, str]]:
        """(name, label, words) for each field with an error, to draw beside it."""
        return [
            (name, str(self.fields[name].label or name.capitalize()), " ".join(errors))
            for name, errors in self.errors.items()
            if name in self.fields
        ]


class GalleryFiltersForm(QueryForm):
    """Every filter the gallery's URL can carry (``Filters.params`` writes them)."""

    view = forms.CharField(required=False)
    member = IdField(required=False)
    q = forms.CharField(required=False, label="Search prompts")
    status = forms.ChoiceField(
        required=False,
        label="Status",
        choices=[("", "Any status"), *((k, k) for k in STATUS_GROUPS)],
        error_messages=CHOOSE,
    )
    style = forms.CharField(required=False, label="Style")
    size = forms.ChoiceField(
        required=False,
        label="Size",
        choices=[("", "Any size"), *((s, s) for s in params.SIZES)],
        error_messages=CHOOSE,
    )
    quality = forms.ChoiceField(
        required=False,
        label="Quality",
        choices=[("", "Any quality"), *((q, q) for q in params.QUALITIES)],
        error_messages=CHOOSE,
    )
    from_ = DayField(required=False, label="From")
    to = DayField(required=False, label="To")
    fav = forms.CharField(required=False)
    collection = IdField(required=False, label="Collection")
    hidden = forms.CharField(required=False)
    sort = forms.ChoiceField(
        required=False,
        label="Sort",
        choices=[("", "Newest first"), ("oldest", "Oldest first"), ("starred", "Starred first")],
        error_messages=CHOOSE,
    )

    def __init__(self, data, team: Team | None, **kwargs):
        super().__init__(data, **kwargs)
        self.team = team

    def clean_q(self) -> str:
        return self.cleaned_data["q"].strip()[:Q_MAX_LENGTH]

    def clean_style(self) -> str:
        style = self.cleaned_data["style"]
        if style and not params.is_uuid(style):
            raise forms.ValidationError("Pick one of the styles shown.", code="invalid_choice")
        return style

    def clean_member(self) -> int | None:
        # Someone outside the team (or no one): the view is the whole team's, as before.
        member = self.cleaned_data["member"]
        return member if member and self.team and teams.is_member(self.team, member) else None

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("from"), cleaned.get("to")
        if first and last and first > last:
            self.add_error("to", "The last day comes before the first.")
        return cleaned

    def filters(self) -> Filters:
        """What the page shows: the values that parsed (a bad one is left out, its error shown)."""
        if not hasattr(self, "cleaned_data"):
            self.is_valid()
        data = self.cleaned_data
        member = data.get("member")
        return Filters(
            team=self.team,
            mine=data.get("view") == "mine" and member is None,
            member=member,
            q=data.get("q", ""),
            status=data.get("status", ""),
            style=data.get("style", ""),
            size=data.get("size", ""),
            quality=data.get("quality", ""),
            first=data.get("from"),
            last=data.get("to"),
            favourites=data.get("fav") == "1",
            collection=data.get("collection"),
            hidden=data.get("hidden") == "1",
            sort=data.get("sort", ""),
        )


# "from" is a Python keyword: the field is declared as from_ and renamed to its parameter's name.
GalleryFiltersForm.base_fields["from"] = GalleryFiltersForm.base_fields.pop("from_")


def gallery_filters(team: Team | None, data) -> tuple[Filters, GalleryFiltersForm]:
    """The gallery's filters from a query string, and the form that says what did not parse."""
    form = GalleryFiltersForm(data, team)
    return form.filters(), form


class SpendPeriodForm(QueryForm):
    """The spend page's period: the last 30 or 90 days, or from one day to another."""

    notice = ""  # said above the numbers when the period asked for was cut to a year

    scope = forms.CharField(required=False)
    days = forms.ChoiceField(
        required=False, label="Period", choices=[("30", "30 days"), ("90", "90 days")], error_messages=CHOOSE
    )
    from_ = DayField(required=False, label="From")
    to = DayField(required=False, label="To")

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("from"), cleaned.get("to")
        given = {name for name in ("from", "to") if self.data.get(name)}
        if given == {"from"} and first:
            self.add_error("to", "Give the last day too.")
        elif given == {"to"} and last:
            self.add_error("from", "Give the first day too.")
        elif first and last and first > last:
            self.add_error("to", "The last day comes before the first.")
        return cleaned

    def period(self, today: date | None = None) -> Period:
        """The period asked for; the last 30 days when the dates did not parse."""
        today = today or timezone.localdate()
        if not hasattr(self, "cleaned_data"):
            self.is_valid()
        first, last = self.cleaned_data.get("from"), self.cleaned_data.get("to")
        if self.data.get("from") or self.data.get("to"):
            if not (first and last) or self.errors:
                return Period(today - timedelta(days=29), today)
            if (last - first).days >= MAX_DAYS:
                # Not an error: the page shows the year up to the last day, and says so.
                self.notice = "At most a year at a time: showing the year up to the last day."
                return Period(last - timedelta(days=MAX_DAYS - 1), last)
            return Period(first, last)
        days = 90 if self.cleaned_data.get("days") == "90" else 30
        return Period(today - timedelta(days=days - 1), today)


SpendPeriodForm.base_fields["from"] = SpendPeriodForm.base_fields.pop("from_")
