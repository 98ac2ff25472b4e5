"""The spend page's numbers: one period, one scope, every breakdown, and the daily chart."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from generations.ledger.budgets import COUNTED, ZERO, Totals, cents
from generations.models import JobSet, SpendDay

CHARGED = Q(charge=JobSet.Charge.CHARGED)
RESERVED = Q(charge=JobSet.Charge.RESERVED)
MAX_DAYS = 366  # the longest period a page shows (generations.web.query_forms parses the request)


@dataclass(frozen=True)
class Period:
    first: date  # inclusive, local dates
    last: date

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.first, time.min))

    @property
    def end(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.last + timedelta(days=1), time.min))

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def query_string(self) -> str:
        return f"from={self.first.isoformat()}&to={self.last.isoformat()}"


@dataclass
class Row:
    label: str
    totals: Totals
    count: int
    share: float = 0.0  # of the largest row, for the bar


@dataclass
class Report:
    period: Period
    totals: Totals
    count: int
    released: int
    delivered_images: int
    kept_images: int
    daily: list[tuple[date, Decimal, Decimal]]
    breakdowns: dict[str, list[Row]] = field(default_factory=dict)

    @property
    def cost_per_image(self) -> Decimal | None:
        if not self.delivered_images:
            return None
        return (self.totals.charged / self.delivered_images).quantize(Decimal("0.001"))

    @property
    def cost_per_kept_image(self) -> Decimal | None:
        if not self.kept_images:
            return None
        return (self.totals.charged / self.kept_images).quantize(Decimal("0.001"))


def build(scope: dict, period: Period, by_team: bool = False) -> Report:
    """The report for the job sets ``scope`` picks (``user=``, ``team=``, or nothing for every team).

    Totals, counts, the daily chart and the person and team breakdowns read the
    daily roll-up (generations.ledger.rollup): a row per day and person, however
    many job sets. Quality, batch size and style are not in the roll-up (they
    would multiply its rows), so those two breakdowns are one grouped query over
    the period's job sets.
    """
    days = SpendDay.objects.filter(**scope, day__gte=period.first, day__lte=period.last)
    sums = days.aggregate(
        charged=Sum("charged"),
        reserved=Sum("reserved"),
        count=Sum("job_sets"),
        released=Sum("released"),
        delivered=Sum("delivered_images"),
        kept=Sum("kept_images"),
    )
    report = Report(
        period=period,
        totals=Totals(cents(sums["charged"]), cents(sums["reserved"])),
        count=sums["count"] or 0,
        released=sums["released"] or 0,
        delivered_images=sums["delivered"] or 0,
        kept_images=sums["kept"] or 0,
        daily=_daily(days, period),
    )
    report.breakdowns["person"] = _ranked(_by(days, F("user__username")))
    if by_team:
        report.breakdowns["team"] = _ranked(_by(days, F("team__name")))
    in_period = JobSet.objects.filter(**scope, created_at__gte=period.start, created_at__lt=period.end)
    report.breakdowns.update(_by_request(in_period))
    return report


def job_sets(scope: dict, period: Period) -> QuerySet[JobSet]:
    """The job sets behind a report's numbers (``scope`` as for ``build``), with who, style and team."""
    in_period = JobSet.objects.filter(**scope, created_at__gte=period.start, created_at__lt=period.end)
    return in_period.select_related("user", "style", "team")


def counted(job_set: JobSet) -> Decimal:
    """What ``job_set`` adds to the totals: its price if charged or reserved, else nothing."""
    return job_set.price if job_set.charge in COUNTED else ZERO


def _daily(days: QuerySet[SpendDay], period: Period) -> list[tuple[date, Decimal, Decimal]]:
    by_day = {
        row["day"]: (cents(row["charged"]), cents(row["reserved"]))
        for row in days.values("day").annotate(charged=Sum("charged"), reserved=Sum("reserved"))
    }
    return [(day, *by_day.get(day, (ZERO, ZERO))) for day in period.days]


def _by(days: QuerySet[SpendDay], key) -> list[Row]:
    rows = days.values(label=key).annotate(
        charged=Sum("charged"), reserved=Sum("reserved"), count=Sum("job_sets")
    )
    return [
        Row(
            str(row["label"]) if row["label"] is not None else "(no team)",
            Totals(cents(row["charged"]), cents(row["reserved"])),
            row["count"],
        )
        for row in rows
    ]


def _by_request(in_period: QuerySet[JobSet]) -> dict[str, list[Row]]:
    """By quality and batch, and by style: one pass over the period's job sets, folded two ways."""
    groups = in_period.values("quality", "batch_size", style_name=F("style__name")).annotate(
        charged=Sum("price", filter=CHARGED), reserved=Sum("price", filter=RESERVED), count=Count("id")
    )
    by_size: dict[str, Row] = {}
    by_style: dict[str, Row] = {}
    for group in groups:
        totals, count = Totals(cents(group["charged"]), cents(group["reserved"])), group["count"]
        size = f"{group['quality']} × {group['batch_size']}"
        style = group["style_name"] or "General (default)"  # job sets without a style were made in it
        for folded, label in ((by_size, size), (by_style, style)):
            seen = folded.get(label)
            folded[label] = (
                Row(label, seen.totals + totals, seen.count + count) if seen else Row(label, totals, count)
            )
    return {"quality and batch": _ranked(list(by_size.values())), "style": _ranked(list(by_style.values()))}


def _ranked(rows: list[Row]) -> list[Row]:
    """Largest first, each with its bar's share of the largest."""
    rows.sort(key=lambda r: (-r.totals.total, r.label))
    top = max((r.totals.total for r in rows), default=ZERO)
    for row in rows:
        row.share = float(row.totals.total / top) if top else 0.0
    return rows


def chart(daily: list[tuple[date, Decimal, Decimal]], width: int = 720, height: int = 180) -> dict:
    """Bar positions for a server-rendered SVG: charged below, reserved stacked on top."""
    top = max((charged + reserved for _, charged, reserved in daily), default=ZERO)
    scale_top = _nice(top)
    step = width / max(1, len(daily))
    bars = []
    for index, (day, charged, reserved) in enumerate(daily):
        charged_h = float(charged / scale_top) * height if scale_top else 0
        reserved_h = float(reserved / scale_top) * height if scale_top else 0
        bars.append(
            {
                "x": round(index * step + step * 0.1, 2),
                "width": round(step * 0.8, 2),
                "charged_y": round(height - charged_h, 2),
                "charged_h": round(charged_h, 2),
                "reserved_y": round(height - charged_h - reserved_h, 2),
                "reserved_h": round(reserved_h, 2),
                "day": day,
                "charged": charged,
                "reserved": reserved,
                "label": day.strftime("%-d %b") if index % max(1, len(daily) // 6) == 0 else "",
                # The first label starts at its bar: centred, it would be cut off at the edge.
                "label_x": round(index * step + (step * 0.1 if index == 0 else step / 2), 2),
                "label_anchor": "start" if index == 0 else "middle",
            }
        )
    gridlines = (
        [
            {
                "y": round(height - height * f, 2),
                "value": (scale_top * Decimal(str(f))).quantize(Decimal("0.01")),
            }
            for f in (0.5, 1.0)
        ]
        if scale_top
        else []
    )
    return {"bars": bars, "width": width, "height": height, "top": scale_top, "gridlines": gridlines}


def _nice(value: Decimal) -> Decimal:
    """A round upper bound for the axis: 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return ZERO
    magnitude = Decimal(10) ** (len(str(int(value))) - 1) if value >= 1 else Decimal("0.1")
    while magnitude > value:
        magnitude /= 10
    for factor in (1, 2, 5, 10):
        if magnitude * factor >= value:
            return magnitude * factor
    return magnitude * 10
