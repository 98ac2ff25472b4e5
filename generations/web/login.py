"""Logging in: the login form, and what a request without a login gets.

The form is Django's, with the username's length checked before anyone looks it up.

Django's AuthenticationForm sets the username field's max_length after the field is built,
so only the browser's maxlength holds it: a longer username reached authenticate(), and
django-axes then stored it in a 255-character column (a 500 on PostgreSQL). Here it is
refused beside the field, before authenticate() and before any failed attempt is recorded.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.contrib.auth.views import redirect_to_login
from django.core.validators import MaxLengthValidator
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect


class LoginForm(AuthenticationForm):
    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(field.max_length))


class LoginRequired(LoginRequiredMiddleware):
    """Every page needs a login; a part of a page asked for by htmx sends the whole page to it.

    A card, the spend chip or the page's refresh asked for after the session ended would
    otherwise be answered with the login page, which htmx swaps into the header or a card. Here
    htmx is told to go to the login page instead (HX-Redirect), with the page the person was
    on as where to come back to.
    """

    def handle_no_permission(self, request, view_func):
        if not request.headers.get("HX-Request"):
            return super().handle_no_permission(request, view_func)
        page = request.headers.get("HX-Current-URL", "")
        parts = urlsplit(page)
        # Only a page of this site, as a path: never a way to send someone elsewhere after login.
        same_site = parts.netloc == request.get_host() and parts.scheme in ("http", "https")
        back = (parts.path + (f"?{parts.query}" if parts.query else "")) if same_site else "/"
        login = redirect_to_login(back or "/", resolve_url(self.get_login_url(view_func)))
        return HttpResponseClientRedirect(login["Location"])
