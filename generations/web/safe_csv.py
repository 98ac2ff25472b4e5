"""The one way soulsite writes CSV: text a spreadsheet would run as a formula is written as text.

Every CSV the site hands out (the spend export, the zip's ``metadata.csv``) is written through
:func:`writer` or :class:`DictWriter`, so a prompt such as ``=HYPERLINK("http://…","x")`` opens
as the words it is, not as a link or a command (CSV or "formula" injection).

The neutralising is defusedcsv's (the same interface as the ``csv`` module): a cell that starts
with ``= + - @ | %`` gets a leading apostrophe, which spreadsheets show as a text marker and
do not run; ``|`` inside such a cell is escaped. Two more starts are added here, the tab and
the carriage return, which OWASP lists too and defusedcsv lets through. What is not touched:

- numbers (``int``, ``Decimal``, ``float``) are written as numbers, whatever their sign;
- text that is just a number, such as ``-0.15`` or ``1,234.50``, stays as it is (defusedcsv
  leaves ``^-?[0-9,.]+$`` alone): a money column written as text still reads as a number.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from defusedcsv import csv as defused

# Starts of a cell that some spreadsheet reads as the start of a formula, beyond defusedcsv's.
_MORE_TRIGGERS = ("\t", "\r")


def _neutral(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_MORE_TRIGGERS):
        return "'" + value
    return value


class _Writer:
    """A csv writer whose cells are neutralised before defusedcsv neutralises its own cases."""

    def __init__(self, inner):
        self._inner = inner

    def writerow(self, row: Iterable[Any]):
        return self._inner.writerow([_neutral(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]):
        for row in rows:
            self.writerow(row)


def writer(file, **options) -> _Writer:
    """Like ``csv.writer(file)``, for a file or an HttpResponse."""
    return _Writer(defused.writer(file, **options))


class DictWriter(defused.DictWriter):
    """Like ``csv.DictWriter``, with every cell neutralised."""

    def __init__(self, file, fieldnames, **options):
        super().__init__(file, fieldnames, **options)
        self.writer = _Writer(self.writer)
