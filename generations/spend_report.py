"""The spend page's numbers: one period, one scope, every breakdown, and the daily chart."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from .models import Favourite, Job, JobSet
from .spend import ZERO, Totals, cents

CHARGED = Q(charge=JobSet.Charge.CHARGED)
RESERVED = Q(charge=JobSet.Charge.RESERVED)
MAX_DAYS = 366


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


def period_from(params, today: date | None = None) -> tuple[Period, str | None]:
    """The period asked for (30 or 90 days back, or from/to dates); an error in words if the dates are bad."""
    today = today or timezone.localdate()
    if params.get("from") or params.get("to"):
        try:
            first = date.fromisoformat(params.get("from", ""))
            last = date.fromisoformat(params.get("to", ""))
        except ValueError:
            return Period(today - timedelta(days=29), today), "Dates must look like 2026-11-24."
        if first > last:
            return Period(today - timedelta(days=29), today), "The first day comes after the last."
        if (last - first).days >= MAX_DAYS:
            return Period(
                last - timedelta(days=MAX_DAYS - 1), last
            ), "At most a year at a time: showing the last year."
        return Period(first, last), None
    days = 90 if params.get("days") == "90" else 30
    return Period(today - timedelta(days=days - 1), today), None


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


def build(job_sets: QuerySet[JobSet], period: Period, by_team: bool = False) -> Report:
    in_period = job_sets.filter(created_at__gte=period.start, created_at__lt=period.end)
    sums = in_period.aggregate(
        charged=Sum("price", filter=CHARGED),
        reserved=Sum("price", filter=RESERVED),
        count=Count("id"),
        released=Count("id", filter=Q(charge=JobSet.Charge.RELEASED)),
    )
    delivered_jobs = Job.objects.filter(job_set__in=in_period, status="completed").exclude(image="")
    delivered = delivered_jobs.count()
    # Kept: someone starred it or downloaded it full size.
    kept = delivered_jobs.filter(
        Q(kept_at__isnull=False) | Exists(Favourite.objects.filter(job=OuterRef("pk")))
    )
    report = Report(
        period=period,
        totals=Totals(cents(sums["charged"]), cents(sums["reserved"])),
        count=sums["count"],
        released=sums["released"],
        delivered_images=delivered,
        kept_images=kept.count(),
        daily=_daily(in_period, period),
    )
    report.breakdowns["person"] = _rows(in_period, F("user__username"))
    if by_team:
        report.breakdowns["team"] = _rows(in_period, F("team__name"))
    report.breakdowns["quality and batch"] = _rows(in_period, F("quality"), F("batch_size"))
    report.breakdowns["style"] = _rows(in_period, style=True)
    return report


def _daily(in_period: QuerySet[JobSet], period: Period) -> list[tuple[date, Decimal, Decimal]]:
    # Grouped here rather than in SQL: SQLite converts each row's time zone in Python anyway,
    # and a plain scan of three columns is several times faster than that.
    by_day: dict[date, list[Decimal]] = {}
    zone = timezone.get_current_timezone()
    rows = in_period.filter(charge__in=(JobSet.Charge.CHARGED, JobSet.Charge.RESERVED)).values_list(
        "created_at", "price", "charge"
    )
    for created_at, price, charge in rows.iterator(chunk_size=5000):
        sums = by_day.setdefault(created_at.astimezone(zone).date(), [ZERO, ZERO])
        sums[0 if charge == JobSet.Charge.CHARGED else 1] += price
    return [(day, *(cents(v) for v in by_day.get(day, (ZERO, ZERO)))) for day in period.days]


def _rows(in_period: QuerySet[JobSet], *keys, style: bool = False) -> list[Row]:
    names = [f"k{n}" for n in range(len(keys))]
    if style:
        # Job sets without a style were made in the General style.
        rows = in_period.values(k0=F("style__name"))
    else:
        rows = in_period.values(**dict(zip(names, keys, strict=True)))
    rows = rows.annotate(
        charged=Sum("price", filter=CHARGED), reserved=Sum("price", filter=RESERVED), count=Count("id")
    )
    result = []
    for row in rows:
        if style:
            label = row["k0"] or "General (default)"
        elif len(names) == 2:
            label = f"{row['k0']} × {row['k1']}"
        else:
            label = str(row["k0"]) if row["k0"] is not None else "(no team)"
        result.append(Row(label, Totals(cents(row["charged"]), cents(row["reserved"])), row["count"]))
    result.sort(key=lambda r: (-r.totals.total, r.label))
    top = max((r.totals.total for r in result), default=ZERO)
    for row in result:
        row.share = float(row.totals.total / top) if top else 0.0
    return result


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
                "label_x": round(index * step + step / 2, 2),
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
