"""Requests too large to read are refused whole, with a page that says what the limits are.

Django refuses an oversized request by raising ``RequestDataTooBig``, ``TooManyFieldsSent`` or
``TooManyFilesSent`` when the body or the query is first read, which it answers with a bare
400. This middleware reads them first (as CSRF checking would a moment later) and answers with
the "too large" page, status 413 (414 for a query string), listing the limits in words. A body
whose declared length is over ``SOUL_REQUEST_MAX_BYTES`` is refused before a byte of it is read.

A picture over its own limit but within the request's is not refused here: the form refuses it
beside its field (generations/upstream/pictures.py).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, UnreadablePostError
from django.shortcuts import render
from django.utils.html import format_html
from django.utils.text import capfirst

from generations.upstream import pictures
from soulwire import params

TOO_LARGE = (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)
MB = 1024 * 1024


def limits() -> list[str]:
    """Every limit a person can run into, in words, for the page."""
    return [
        f"a picture: at most {pictures.limits_in_words()}",
        f"everything sent at once, pictures included: at most {settings.SOUL_REQUEST_MAX_BYTES / MB:g} MB",
        f"a prompt: at most {params.PROMPT_MAX_LENGTH:,} characters",
        f"images picked at once: about {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} at most",
    ]


def too_large(request: HttpRequest, status: int = 413) -> HttpResponse:
    if request.headers.get("HX-Request"):
        # A short note at the top of whatever the request was to replace (the generate form, say);
        # base.html tells htmx to swap 413 answers.
        response = HttpResponse(
            format_html(
                '<p class="form-error" role="alert">This was too large to send, so nothing was saved '
                "or sent. {}. Make it smaller and try again.</p>",
                capfirst("; ".join(limits())),
            ),
            status=status,
        )
        response["HX-Reswap"] = "afterbegin"
        return response
    return render(request, "413.html", {"limits": limits()}, status=status)


class PictureField(forms.FileField):
    """An uploaded picture, checked by the one picture check (bytes before reading, then pixels and
    format); in place of Django's ImageField, which reads the whole file and lets a decompression
    bomb below Pillow's own ceiling through."""

    widget = forms.ClearableFileInput(attrs={"accept": ",".join(pictures.FORMATS.values())})

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.help_text = self.help_text or pictures.help_text()

    def to_python(self, data):
        file = super().to_python(data)
        if file is not None:
            pictures.check_picture(file)
        return file


class RequestSizeMiddleware:
    """Answers the "too large" page instead of Django's bare 400 (see the module's docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > settings.SOUL_REQUEST_MAX_BYTES:
            return too_large(request)
        try:
            request.GET  # noqa: B018 - parsing it counts its fields
        except TOO_LARGE:
            return too_large(request, status=414)
        try:
            request.POST  # noqa: B018 - parsing it counts its fields and files and measures its size
        except TOO_LARGE:
            return too_large(request)
        except UnreadablePostError:
            pass  # the client went away while sending: left to whoever reads the body next, as before
        return self.get_response(request)
