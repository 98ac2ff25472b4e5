"""Refusing, before any view runs, what no view could store: a NUL byte in a request's values."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from generations.web.parsing import has_nul

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class RefuseNulBytes:
    """A 400 for a NUL byte in the path or in any name or value of the query string or form.

    PostgreSQL cannot store or even compare text holding one ("A string literal cannot contain
    NUL characters"), so such a value reaching a query was a 500; no browser sends one from a
    form. Checked here once, rather than in every view that reads text. Form bodies are read as
    the CSRF check reads them anyway; an uploaded file's bytes are not looked at.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._has_nul(request):
            return render(
                request,
                "generations/refused.html",
                {
                    "reason": "The request held a character that cannot be stored (a NUL byte). "
                    "Remove it and try again."
                },
                status=400,
            )
        return self.get_response(request)

    @staticmethod
    def _has_nul(request: HttpRequest) -> bool:
        if "\x00" in request.path_info:
            return True
        if has_nul(request.GET.keys()) or has_nul(v for values in request.GET.lists() for v in values[1]):
            return True
        if request.method == "POST" and request.content_type in FORM_TYPES:
            data = request.POST
            return has_nul(data.keys()) or has_nul(v for values in data.lists() for v in values[1])
        return False
