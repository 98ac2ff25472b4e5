"""Exploring, the pure part (generations.models.exploring): alternatives, seeds, the product, the limit.

No database: each case is a row of a table, the way the form and the price endpoint use it.
"""

from __future__ import annotations

import pytest

from generations.models import SoulRequest
from generations.models import exploring as e

BASE = SoulRequest(prompt="a fox", width_and_height="1536x2048", quality="720p", batch_size=1)
STYLES3 = (("s1", "Realistic"), ("s2", "Anime"), ("s3", "Film"))


def request(**changes) -> SoulRequest:
    from dataclasses import replace

    return replace(BASE, **changes)


# --- Alternatives -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a fox", ["a fox"]),
        ("a {red|blue} fox", ["a red fox", "a blue fox"]),
        ("{a|b} and {c|d}", ["a and c", "a and d", "b and c", "b and d"]),
        ("a {red | blue | green} fox", ["a red fox", "a blue fox", "a green fox"]),
        ("a {big|} fox", ["a big fox", "a fox"]),  # an empty alternative leaves the word out
        ("{solo}", ["solo"]),
    ],
)
def test_alternatives_in_braces_expand_into_each_prompt(prompt, expected):
    plan = e.plan(request(prompt=prompt), e.Choices(), limit=48)
    assert [c.request.prompt for c in plan.combinations] == expected


@pytest.mark.parametrize(
    ("prompt", "words"),
    [
        ("a {red|{dark|light} blue} fox", "cannot be nested"),
        ("a red} fox", "closes nothing"),
        ("a {red|blue fox", "never closed"),
        ("a {} fox", "are empty"),
    ],
)
def test_braces_that_do_not_pair_are_refused_beside_the_prompt(prompt, words):
    with pytest.raises(e.Refused, match=words) as refused:
        e.plan(request(prompt=prompt), e.Choices(), limit=48)
    assert refused.value.field == "prompt"


def test_a_thousand_alternatives_are_counted_and_refused_over_the_limit_without_being_expanded():
    prompt = "{" + "|".join(f"word{n}" for n in range(1000)) + "}"
    with pytest.raises(e.TooMany) as refused:
        e.plan(request(prompt=prompt), e.Choices(), limit=48)
    assert (refused.value.count, refused.value.limit, refused.value.field) == (1000, 48, None)
    assert "1,000 requests" in refused.value.message and "at most 48" in refused.value.message


# --- Seeds ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seeds"),
    [
        ("11, 12", [11, 12]),
        ("11-14", [11, 12, 13, 14]),
        ("11 - 13", [11, 12, 13]),
        ("11–13", [11, 12, 13]),  # an en dash, as typed on a Mac
        ("1, 5-7; 9", [1, 5, 6, 7, 9]),
        ("12 11", [12, 11]),  # the order typed
        ("5, 5-7, 6", [5, 6, 7]),  # each seed once
        ("1000000", [1_000_000]),
        ("", []),
    ],
)
def test_seed_lists_and_ranges(text, seeds):
    spans = e.seed_spans(text)
    assert e.seed_values(spans) == seeds
    assert e.seed_count(spans) == len(seeds)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("11-9999999999", "Seed 9,999,999,999 is out of range: seeds go from 1 to 1,000,000."),
        ("0", "Seed 0 is out of range"),
        ("a-b", "“a-b” is not a seed or a range"),
        ("-5", "“-5” is not a seed or a range"),
        ("14-11", "The range 14-11 runs backwards: write it 11-14."),
        ("1" * 600, "at most 500 characters"),
        ("9" * 60, "out of range"),
    ],
)
def test_bad_seeds_are_refused_beside_the_seeds_field(text, words):
    with pytest.raises(e.Refused, match=words.replace("(", r"\(")) as refused:
        e.seed_spans(text)
    assert refused.value.field == "seeds"


def test_ten_thousand_seeds_are_counted_not_listed_and_refused_over_the_limit():
    spans = e.seed_spans("1-10000")
    assert e.seed_count(spans) == 10_000
    with pytest.raises(e.TooMany, match="10,000 requests"):
        e.plan(BASE, e.Choices(seeds=spans), limit=48)
    assert e.seed_count(e.seed_spans("1-1000000, 5-10")) == 1_000_000  # overlaps once


# --- The product and its labels ----------------------------------------------------------------


def test_three_styles_by_two_seeds_is_six_combinations_in_three_rows_of_two():
    plan = e.plan(BASE, e.Choices(styles=STYLES3, seeds=e.seed_spans("11, 12")), limit=48)
    assert plan.count == 6
    assert [(a.key, a.labels) for a in plan.axes] == [
        ("style", ("Realistic", "Anime", "Film")),
        ("seed", ("11", "12")),
    ]
    pairs = [(c.request.style_id, c.request.seed) for c in plan.combinations]
    assert pairs == [("s1", 11), ("s1", 12), ("s2", 11), ("s2", 12), ("s3", 11), ("s3", 12)]
    assert [c.label for c in plan.combinations][:2] == ["Realistic · seed 11", "Realistic · seed 12"]


def test_sizes_and_qualities_vary_the_request_and_label_it():
    plan = e.plan(BASE, e.Choices(sizes=("1536x2048", "2048x1152"), qualities=("720p", "1080p")), limit=48)
    assert plan.count == 4
    assert [(c.request.width_and_height, c.request.quality) for c in plan.combinations] == [
        ("1536x2048", "720p"),
        ("1536x2048", "1080p"),
        ("2048x1152", "720p"),
        ("2048x1152", "1080p"),
    ]
    assert [a.title for a in plan.axes] == ["Size", "Quality"]
    assert plan.combinations[1].label == "1536×2048 · 1080p"


def test_repeat_sends_the_same_request_again_with_a_random_seed():
    plan = e.plan(BASE, e.Choices(repeat=3), limit=48)
    assert plan.count == 3
    assert {c.request for c in plan.combinations} == {BASE}
    assert [c.label for c in plan.combinations] == ["#1", "#2", "#3"]


def test_repeat_with_a_fixed_seed_is_refused_as_it_would_make_the_same_image():
    with pytest.raises(e.Refused, match="same image again") as refused:
        e.plan(request(seed=7), e.Choices(repeat=2), limit=48)
    assert refused.value.field == "repeat"


def test_everything_at_once_multiplies_and_the_rows_are_the_first_axis():
    choices = e.Choices(styles=STYLES3[:2], seeds=e.seed_spans("1-2"), qualities=("720p", "1080p"), repeat=1)
    plan = e.plan(request(prompt="a {red|blue} fox"), choices, limit=48)
    assert plan.count == 2 * 2 * 2 * 2
    assert [a.title for a in plan.axes] == ["Prompt", "Style", "Seed", "Quality"]
    assert plan.combinations[0].label == "red · Realistic · seed 1 · 720p"
    assert e.count("a {red|blue} fox", choices) == 16


@pytest.mark.parametrize(("limit", "refused"), [(6, False), (5, True)])
def test_the_limit_is_inclusive(limit, refused):
    choices = e.Choices(styles=STYLES3, seeds=e.seed_spans("11, 12"))
    if refused:
        with pytest.raises(e.TooMany):
            e.plan(BASE, choices, limit=limit)
    else:
        assert e.plan(BASE, choices, limit=limit).count == 6


def test_nothing_varying_is_one_combination_without_axes():
    plan = e.plan(BASE, e.Choices(), limit=48)
    assert (plan.count, plan.axes, plan.combinations[0].request) == (1, (), BASE)
