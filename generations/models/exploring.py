"""Exploring: one form send expanded into every combination of what the person chose to vary.

Pure (no database, no HTTP): the form and the price endpoint parse with it, the action stores
what it plans, and tests/test_explore_expansion.py runs it as a table. What varies:

- alternatives in the prompt, ``a {red|blue} fox`` (each pair of braces is an axis of its own),
- several styles, sizes and qualities,
- a list or range of seeds, ``11, 12`` or ``11-14``,
- a repeat count (the same request again, for a new random seed each time).

Every combination becomes one ``SoulRequest``, so one job set: its own record and charge. The
number of combinations is counted before anything is made (a range of a million seeds is
counted, never listed), and refused over the limit (``SOUL_EXPLORE_LIMIT``).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from generations.models.request import SoulRequest
from soulwire import params

# Longest seed list a person may type; a few hundred characters already lists hundreds of seeds.
SEEDS_MAX_LENGTH = 500
# A seed has at most this many digits (SEED_MAX is 1,000,000): more is out of range without parsing it.
SEED_DIGITS = len(str(params.SEED_MAX))
LIST_EXAMPLE = "write seeds like 11, 12 or a range like 11-14"


class Refused(ValueError):
    """Something a person typed cannot be explored; ``field`` is where to say so (None: above the form)."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


class TooMany(Refused):
    def __init__(self, count: int, limit: int):
        super().__init__(
            None,
            f"This would send {count:,} requests; one exploration may send at most {limit:,}. "
            "Choose fewer styles, seeds, sizes, qualities, alternatives or repeats.",
        )
        self.count, self.limit = count, limit


# --- Alternatives in the prompt -------------------------------------------------------------

Segment = str | tuple[str, ...]  # text as typed, or the alternatives of one pair of braces


def alternatives(prompt: str) -> list[Segment]:
    """The prompt cut into plain text and ``{a|b}`` groups; Refused("prompt") when braces do not pair."""
    segments: list[Segment] = []
    text_start = 0
    opened: int | None = None
    for at, char in enumerate(prompt):
        if char == "{":
            if opened is not None:
                raise Refused(
                    "prompt",
                    f"Alternatives cannot be nested: a “{{” at character {at + 1} is inside the braces "
                    f"opened at character {opened + 1}. Write them side by side: {{a|b}} {{c|d}}.",
                )
            opened = at
        elif char == "}":
            if opened is None:
                raise Refused(
                    "prompt",
                    f"The “}}” at character {at + 1} closes nothing: alternatives look like {{red|blue}}.",
                )
            if prompt[text_start:opened]:
                segments.append(prompt[text_start:opened])
            options = tuple(option.strip() for option in prompt[opened + 1 : at].split("|"))
            if options == ("",):
                raise Refused(
                    "prompt",
                    f"The braces at character {opened + 1} are empty: alternatives look like {{red|blue}}.",
                )
            segments.append(options)
            text_start, opened = at + 1, None
    if opened is not None:
        raise Refused(
            "prompt",
            f"The “{{” at character {opened + 1} is never closed: alternatives look like {{red|blue}}.",
        )
    if prompt[text_start:]:
        segments.append(prompt[text_start:])
    return segments


def groups(segments: Sequence[Segment]) -> list[tuple[str, ...]]:
    return [segment for segment in segments if isinstance(segment, tuple)]


def written(segments: Sequence[Segment], chosen: Sequence[str]) -> str:
    """The prompt with one alternative chosen for each group, in order (spaces tidied where one was empty)."""
    picks = iter(chosen)
    text = "".join(segment if isinstance(segment, str) else next(picks) for segment in segments)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


# --- Seeds ----------------------------------------------------------------------------------

Span = tuple[int, int]  # first and last seed, both included


def seed_spans(text: str) -> list[Span]:
    """``11, 12`` or ``11-14`` (or both, ``1, 5-7``) as spans; Refused("seeds") for anything else."""
    text = (text or "").strip()
    if len(text) > SEEDS_MAX_LENGTH:
        raise Refused(
            "seeds", f"A seed list can be at most {SEEDS_MAX_LENGTH} characters; use ranges (11-14)."
        )
    text = re.sub(r"\s*[-–]\s*", "-", text)  # "11 - 14" and "11–14" are ranges too
    spans = []
    for token in re.split(r"[,;\s]+", text):
        if not token:
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", token)
        if match is None:
            raise Refused("seeds", f"“{token}” is not a seed or a range: {LIST_EXAMPLE}.")
        first, last = (_seed(match.group(1)), _seed(match.group(2) or match.group(1)))
        if last < first:
            raise Refused("seeds", f"The range {token} runs backwards: write it {last}-{first}.")
        spans.append((first, last))
    return spans


def _seed(digits: str) -> int:
    value = int(digits) if len(digits) <= SEED_DIGITS else None
    if value is None or not params.SEED_MIN <= value <= params.SEED_MAX:
        shown = f"{int(digits):,}" if len(digits) <= 30 else f"{digits[:12]}…"
        raise Refused(
            "seeds",
            f"Seed {shown} is out of range: seeds go from {params.SEED_MIN} to {params.SEED_MAX:,}.",
        )
    return value


def seed_count(spans: Sequence[Span]) -> int:
    """How many different seeds the spans name (overlaps counted once), without listing them."""
    count, reached = 0, 0
    for first, last in sorted(spans):
        first = max(first, reached + 1)
        if last >= first:
            count += last - first + 1
            reached = last
    return count


def seed_values(spans: Sequence[Span]) -> list[int]:
    """The seeds in the order typed, each once; call only once seed_count is known to be small."""
    seen: dict[int, None] = {}
    for first, last in spans:
        seen.update(dict.fromkeys(range(first, last + 1)))
    return list(seen)


# --- The plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choices:
    """What the person chose to vary (one value each: nothing varies)."""

    styles: Sequence[tuple[str | None, str]] = ((None, "General"),)  # (upstream id, name)
    sizes: Sequence[str] = (params.DEFAULT_SIZE,)
    qualities: Sequence[str] = (params.DEFAULT_QUALITY,)
    seeds: Sequence[Span] = ()  # empty: the request's own seed (or a random one)
    repeat: int = 1


@dataclass(frozen=True)
class Axis:
    key: str
    title: str  # "Style", "Seed", "Prompt"
    labels: tuple[str, ...]  # one per value, as the sheet's rows or columns say them
    words: tuple[str, ...]  # the same, as a job set's label says them ("seed 11")


@dataclass(frozen=True)
class Combination:
    request: SoulRequest
    words: tuple[str, ...]  # one per varying axis

    @property
    def label(self) -> str:
        """'Realistic · seed 11': what this combination tried."""
        return " · ".join(self.words)


@dataclass(frozen=True)
class Plan:
    axes: tuple[Axis, ...]  # only those that vary, in grid order
    combinations: tuple[Combination, ...]

    @property
    def count(self) -> int:
        return len(self.combinations)

    def axes_json(self) -> list[dict]:
        return [{"key": axis.key, "title": axis.title, "labels": list(axis.labels)} for axis in self.axes]


def count(prompt: str, choices: Choices) -> int:
    """How many combinations, counted (never listed); Refused for a prompt whose braces do not pair."""
    sizes = [len(options) for options in groups(alternatives(prompt or ""))]
    seeds = seed_count(choices.seeds) or 1
    return (
        math.prod(sizes)
        * len(choices.styles)
        * len(choices.sizes)
        * len(choices.qualities)
        * seeds
        * choices.repeat
    )


def plan(base: SoulRequest, choices: Choices, limit: int) -> Plan:
    """Every combination of ``base`` with the choices, row by row; TooMany over ``limit``.

    The rows are the first axis that varies, the columns the others together, in this order:
    the prompt's alternatives, style, seed, size, quality, repeat (so "3 styles × 2 seeds"
    is a sheet of three rows and two columns).
    """
    segments = alternatives(base.prompt or "")
    total = count(base.prompt or "", choices)
    if total > limit:
        raise TooMany(total, limit)
    if choices.repeat > 1 and (base.seed is not None or seed_count(choices.seeds)):
        raise Refused(
            "repeat",
            "Repeating with a fixed seed makes the same image again: clear the seed, or list several seeds.",
        )
    # Each axis: (key, title, [(label, words, change to the request)]).
    axes: list[tuple[str, str, list[tuple[str, str, dict]]]] = []
    prompt_groups = groups(segments)
    for number, options in enumerate(prompt_groups, 1):
        title = "Prompt" if len(prompt_groups) == 1 else f"Prompt {number}"
        axes.append(
            (f"prompt{number}", title, [(o or "(nothing)", o or "(nothing)", {"alt": o}) for o in options])
        )
    axes.append(("style", "Style", [(name, name, {"style_id": pk}) for pk, name in choices.styles]))
    seeds = seed_values(choices.seeds) if choices.seeds else [base.seed]
    axes.append(("seed", "Seed", [(str(s or "random"), f"seed {s or 'random'}", {"seed": s}) for s in seeds]))
    axes.append(
        (
            "size",
            "Size",
            [(s.replace("x", "×"), s.replace("x", "×"), {"width_and_height": s}) for s in choices.sizes],
        )
    )
    axes.append(("quality", "Quality", [(q, q, {"quality": q}) for q in choices.qualities]))
    repeats = range(1, choices.repeat + 1)
    axes.append(("repeat", "Repeat", [(f"#{n}", f"#{n}", {}) for n in repeats]))

    varying = [len(values) > 1 for _, _, values in axes]
    combinations = []
    for picks in itertools.product(*(values for _, _, values in axes)):
        changes: dict = {}
        chosen: list[str] = []
        for _, _, change in picks:
            if "alt" in change:
                chosen.append(change["alt"])
            else:
                changes.update(change)
        request = replace(base, prompt=written(segments, chosen), **changes)
        words = tuple(words for (_, words, _), varies in zip(picks, varying, strict=True) if varies)
        combinations.append(Combination(request, words))
    shown_axes = tuple(
        Axis(key, title, tuple(label for label, _, _ in values), tuple(words for _, words, _ in values))
        for (key, title, values), varies in zip(axes, varying, strict=True)
        if varies
    )
    return Plan(shown_axes, tuple(combinations))
