"""The login form: Django's, with the username's length checked before anyone looks it up.

Django's AuthenticationForm sets the username field's max_length after the field is built,
so only the browser's maxlength holds it: a longer username reached authenticate(), and
django-axes then stored it in a 255-character column (a 500 on PostgreSQL). Here it is
refused beside the field, before authenticate() and before any failed attempt is recorded.
"""

from __future__ import annotations

from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator


class LoginForm(AuthenticationForm):
    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(field.max_length))
