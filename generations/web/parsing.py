"""The one place that turns request text into ids, numbers, dates and money.

Views never call ``int()``, ``Decimal()`` or ``date.fromisoformat()`` on what a request sent:
a hostile value (a word for an id, 99999999999999999999, "²", 2026-13-45, "1e400", "NaN", a NUL
byte) either raised a 500 there or reached the database and overflowed it. Here each kind of
value is parsed once, bounded to what the database and the site accept, and a bad one becomes
``None`` (an id a view may ignore), a ``BadRequest`` (400, for a fragment or an id a request
cannot do without) or a form error in the user's words (the fields below, used by the forms).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django import forms
from django.core.exceptions import BadRequest
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

# 18 digits: every such number fits a 64-bit integer (BigAutoField, SQLite), so a longer "id" is
# refused before a query could overflow. Nineteen digits would allow 9999999999999999999 > 2**63.
ID_DIGITS = 18
_ID = re.compile(rf"[0-9]{{1,{ID_DIGITS}}}")  # ASCII only: str.isdigit() also says yes to "²"

# The days a date filter may name: a year outside these has no work in it, and the first and the
# last day of the calendar overflow when turned into a time zone's range.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)

# What a budget may be: DecimalField(max_digits=10, decimal_places=2) in generations.models.Budget.
MONEY_MAX_DIGITS, MONEY_DECIMALS = 10, 2


class IdConverter:
    """``<id:pk>`` in a URL: an id of at most ``ID_DIGITS`` digits; a longer one is a 404."""

    regex = f"[0-9]{{1,{ID_DIGITS}}}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(value)


def id_from(value) -> int | None:
    """A positive id written in ASCII digits and small enough for the database, else None."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        return None
    number = int(value)
    return number if number > 0 else None


def ids_from(values: Iterable, limit: int | None = None) -> list[int]:
    """The good ids among ``values``, in order, without repeats (at most ``limit``)."""
    found = list(dict.fromkeys(n for n in map(id_from, values) if n is not None))
    return found[:limit] if limit is not None else found


def required_id(value) -> int:
    """An id a request cannot do without: a bad one is a 400."""
    number = id_from(value)
    if number is None:
        raise BadRequest("Not an id.")
    return number


def has_nul(values: Iterable[str]) -> bool:
    return any("\x00" in value for value in values)


def next_url(request: HttpRequest, value, default: str = "/") -> str:
    """Where to go back to (``next=``, a Referer): a page of this site, else ``default``.

    A path, or a whole URL of this host: ``redirect()`` would try a bare word such as "1e400"
    as a URL name, and fail with a 500.
    """
    if (
        isinstance(value, str)
        and value.startswith(("/", "http://", "https://"))
        and "\x00" not in value
        and url_has_allowed_host_and_scheme(
            value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return value
    return default


class IdField(forms.IntegerField):
    """An optional id in a form or a query string: ASCII digits, bounded, else the error given."""

    default_error_messages = {"invalid": "Pick one of the choices shown."}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        number = id_from(str(value).strip())
        if number is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return number


class DayField(forms.DateField):
    """A day written 2026-11-24 (what a date input sends), between FIRST_DAY and LAST_DAY."""

    input_formats = ["%Y-%m-%d"]
    default_error_messages = {"invalid": "The day must look like 2026-11-24."}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

    def to_python(self, value):
        day = super().to_python(value)
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise forms.ValidationError(
                f"Pick a day from {FIRST_DAY.year} to {LAST_DAY.year}.", code="out_of_range"
            )
        return day


class MoneyField(forms.DecimalField):
    """An amount of dollars: "25", "12.50", "$12.50"; never negative, NaN, infinite or too large."""

    default_error_messages = {
        "invalid": "That is not an amount of dollars: enter one like 25 or 12.50.",
        "min_value": "An amount cannot be negative.",
        "max_digits": "That is more than this site can count: at most $99,999,999.99.",
        "max_whole_digits": "That is more than this site can count: at most $99,999,999.99.",
        "max_decimal_places": "Use at most two decimals (cents), like 12.50.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", MONEY_MAX_DIGITS)
        kwargs.setdefault("decimal_places", MONEY_DECIMALS)
        kwargs.setdefault("min_value", Decimal(0))
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal"}))
        super().__init__(**kwargs)

    def to_python(self, value):
        if isinstance(value, str):
            value = value.strip().removeprefix("$").strip()
        amount = super().to_python(value)
        # "-0" is zero, and is shown as 0.00 rather than -0.00.
        return abs(amount) if amount is not None and amount == 0 else amount
