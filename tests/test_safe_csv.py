"""Every CSV soulsite writes opens safely in a spreadsheet: a formula is written as text."""

from __future__ import annotations

import csv
import io
import zipfile
from decimal import Decimal

import pytest

from generations.models import JobSet
from generations.web import safe_csv
from tests.factories import make_finished, make_job_set

FORMULA = '=HYPERLINK("http://x","x")'


def write(*rows) -> list[list[str]]:
    table = io.StringIO()
    writer = safe_csv.writer(table)
    for row in rows:
        writer.writerow(row)
    return list(csv.reader(io.StringIO(table.getvalue())))


@pytest.mark.parametrize(
    "cell",
    [FORMULA, "+1+1", "-1+cmd|' /C calc'!A0", "@SUM(A1:A2)", "\t=1+1", "\r=1+1", "%0A=1"],
    ids=["equals", "plus", "minus", "at", "tab", "carriage-return", "percent"],
)
def test_a_cell_a_spreadsheet_would_run_starts_with_an_apostrophe(cell):
    [[written]] = write([cell])
    assert written.startswith("'") and written[1] == cell[0]


@pytest.mark.parametrize(
    "value, expected",
    [
        (Decimal("-0.15"), "-0.15"),
        ("-0.15", "-0.15"),
        ("0.25", "0.25"),
        (-3, "-3"),
        ("1,234.50", "1,234.50"),
        ("a fox = a dog", "a fox = a dog"),
        ("", ""),
    ],
)
def test_numbers_and_plain_text_are_written_as_they_are(value, expected):
    assert write([value]) == [[expected]]


@pytest.mark.django_db
def test_the_spend_csv_writes_a_formula_prompt_as_text_and_money_as_numbers(client, alice):
    job_set = make_job_set(alice, prompt=FORMULA)
    JobSet.objects.filter(pk=job_set.pk).update(charge=JobSet.Charge.CHARGED)
    client.force_login(alice)
    response = client.get("/spend/export.csv?days=30")
    [row] = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert row["prompt"] == "'" + FORMULA
    assert row["price"] == "0.15" and row["counted"] == "0.15"


@pytest.mark.django_db
def test_the_zips_metadata_csv_writes_a_formula_prompt_as_text(client, alice):
    finished = make_finished(alice, FORMULA)
    client.force_login(alice)
    response = client.post("/bulk/", {"action": "zip", "job": [finished.jobs.get().pk], "next": "/"})
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    [row] = list(csv.DictReader(io.StringIO(archive.read("metadata.csv").decode())))
    assert row["prompt"] == "'" + FORMULA
    assert row["price"] == "0.15"
