"""The gallery's filters and pages: every filter lives in the URL, pages run on a stable cursor.

A query string becomes ``Filters`` in generations.web.query_forms (the one place that parses
requests); here they are only read.

The cursor is the id of the last card seen (``before``): new arrivals get
larger ids, so loading older cards never repeats or skips one, however many
images arrive meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, prefetch_related_objects
from django.utils import timezone

from generations.models import Collection, CollectionItem, Favourite, Job, JobSet, Style, Team
from generations.queries import search
from generations.queries.access import visible_job_sets
from soulwire import params

# A screenful or two (a batch-4 card holds four images); older ones load as you scroll.
PAGE_SIZE = 24
STATUS_GROUPS = {
    "pending": JobSet.PENDING,
    "completed": (JobSet.Status.COMPLETED,),
    "failed": JobSet.UNSUCCESSFUL,
}


@dataclass(frozen=True)
class Filters:
    team: Team | None
    mine: bool = False
    member: int | None = None
    q: str = ""
    status: str = ""
    style: str = ""
    size: str = ""
    quality: str = ""
    first: date | None = None
    last: date | None = None
    favourites: bool = False
    collection: int | None = None
    hidden: bool = False
    sort: str = ""  # "" newest first, "oldest" first, or "starred" (yours) first: see _parts

    def params(self) -> dict[str, str]:
        """The URL parameters that say this view (without the cursor)."""
        values = {
            "view": "mine" if self.mine else ("" if self.member else "team"),
            "member": str(self.member or ""),
            "q": self.q,
            "status": self.status,
            "style": self.style,
            "size": self.size,
            "quality": self.quality,
            "from": self.first.isoformat() if self.first else "",
            "to": self.last.isoformat() if self.last else "",
            "fav": "1" if self.favourites else "",
            "collection": str(self.collection or ""),
            "hidden": "1" if self.hidden else "",
            "sort": self.sort,
        }
        return {key: value for key, value in values.items() if value}

    def query_string(self) -> str:
        return urlencode(self.params())

    @property
    def narrowed(self) -> bool:
        """Anything beyond whose work it is."""
        return any(
            (
                self.q,
                self.status,
                self.style,
                self.size,
                self.quality,
                self.first,
                self.last,
                self.favourites,
                self.collection,
                self.hidden,
            )
        )

    def without(self, *names: str) -> Filters:
        return replace(self, **{name: Filters.__dataclass_fields__[name].default for name in names})


def styles() -> QuerySet[Style]:
    """Every style, retired ones too (old images carry them); the generate form offers the active ones."""
    return Style.objects.all()


def visible_collections(user, team: Team | None) -> QuerySet[Collection]:
    if team is None:
        return Collection.objects.none()
    return Collection.objects.filter(Q(owner=user) | Q(shared=True), team=team)


def visible_collection(user, team: Team | None, pk: int) -> Collection | None:
    return visible_collections(user, team).filter(pk=pk).first()


def collection_names(job: Job) -> list[str]:
    """The names of the collections ``job`` is filed in (the lightbox lists them)."""
    return [collection.name for collection in Collection.objects.filter(items__job=job).distinct()]


def job_sets(user, filters: Filters) -> QuerySet[JobSet]:
    """The job sets a view shows, newest first (without paging)."""
    query = visible_job_sets(user).filter(team=filters.team)
    if filters.mine:
        query = query.filter(user=user)
    elif filters.member:
        query = query.filter(user_id=filters.member)
    if filters.q:
        query = search.narrow(query, filters.q)
    if filters.status:
        query = query.filter(status__in=STATUS_GROUPS[filters.status])
    if filters.style:
        general = filters.style == params.GENERAL_STYLE_ID
        query = query.filter(
            Q(style_id=filters.style) | Q(style__isnull=True) if general else Q(style_id=filters.style)
        )
    if filters.size:
        query = query.filter(width_and_height=filters.size)
    if filters.quality:
        query = query.filter(quality=filters.quality)
    if filters.first:
        query = query.filter(created_at__gte=timezone.make_aware(datetime.combine(filters.first, time.min)))
    if filters.last:
        end = timezone.make_aware(datetime.combine(filters.last + timedelta(days=1), time.min))
        query = query.filter(created_at__lt=end)
    if filters.favourites:
        query = query.filter(Exists(Favourite.objects.filter(user=user, job__job_set=OuterRef("pk"))))
    if filters.collection:
        items = CollectionItem.objects.filter(
            collection__in=visible_collections(user, filters.team).filter(pk=filters.collection),
            job__job_set=OuterRef("pk"),
        )
        query = query.filter(Exists(items))
    if filters.hidden:
        # Any hidden image: its job set shows here with just those images.
        query = query.filter(Exists(Job.objects.filter(job_set=OuterRef("pk"), hidden_at__isnull=False)))
    else:
        # Kept current by generations.actions.hiding: reading it costs nothing per job set.
        query = query.filter(hidden=False)
    return query.order_by("-id")


# The columns a card reads (templates/jinja2/generations/card.jinja and what it calls). The rest
# of a row (the request as sent, the tracker's bookkeeping, webhook secrets, the owner's password
# hash) stays in the database: converting it cost about 1 ms a page on PostgreSQL. A card that
# reads a column not listed here costs a query per card; tests/test_gallery.py would see it.
CARD_FIELDS = (
    "user__username",
    "team_id",
    "prompt",
    "width_and_height",
    "quality",
    "batch_size",
    "seed",
    "style__name",
    "status",
    "status_reason",
    "slot_freed_at",  # a sent one given up: the card says so (issue 21)
    "slot_freed_by_id",
    "price",
    "charge",
    "hidden",
    "created_at",
    "sent_at",
    "finished_at",
    "exploration_id",  # one of an exploration's: drawn as its group card (issue 24)
)
CARD_JOB_FIELDS = ("job_set_id", "index", "status", "image", "preview", "raw_url", "download_error")


def page(user, filters: Filters, before: int | None = None, size: int = PAGE_SIZE) -> list[JobSet]:
    """One page of the view in its sort, after the card ``before`` (the last one seen, whatever the sort)."""
    found: list[JobSet] = []
    parts = _parts(user, job_sets(user, filters), filters, before, size)
    part = next(parts, None)
    while part is not None:
        rows = list(part.select_related("style", "user").only(*CARD_FIELDS)[: size - len(found)])
        found += rows
        if len(found) == size:
            break
        part = _next_part(parts, len(rows))
    # The images of the whole page in one query, whichever parts its cards came from.
    prefetch_related_objects(found, card_jobs(hidden=filters.hidden))
    return found


def _next_part(parts: search.Parts, found: int) -> QuerySet[JobSet] | None:
    try:
        return parts.send(found)
    except StopIteration:
        return None


def drawn_before(user, filters: Filters, page_job_sets: list[JobSet], before: int | None) -> set[int]:
    """The explorations among ``page_job_sets`` whose group card an earlier page of the view drew.

    An exploration's job sets show as one group card, drawn where the first of them comes in the
    view's order; a page after the cursor ``before`` leaves out those that came before it (one
    query, none on the first page or without explorations).
    """
    ids = {job_set.exploration_id for job_set in page_job_sets if job_set.exploration_id}
    if before is None or not ids:
        return set()
    earlier = Q(id__lt=before) if filters.sort == "oldest" else Q(id__gt=before)
    if filters.sort == "starred":
        # The starred part comes first (see _parts): past it, every starred job set came earlier.
        mine = Favourite.objects.filter(user=user).values("job__job_set_id")
        if _in_starred_part(user, before):
            earlier = Q(pk__in=mine, id__gt=before)
        else:
            earlier = Q(pk__in=mine) | Q(id__gt=before)
    shown = job_sets(user, filters).filter(earlier, exploration_id__in=ids)
    return set(shown.values_list("exploration_id", flat=True).distinct())


def _in_starred_part(user, cursor: int) -> bool:
    """Is the job set ``cursor`` in the "starred first" sort's first part (one the person starred)?"""
    return Favourite.objects.filter(user=user, job__job_set_id=cursor).exists()


def _parts(user, query: QuerySet[JobSet], filters: Filters, after: int | None, size: int) -> search.Parts:
    """``query`` in the order its filters' sort says, from just after the job set ``after``: the
    parts to read in turn (the reader sends how many rows each gave, see ``search.newest_first``).

    Keyset paging on ids in every sort, so cards arriving or being starred meanwhile never make
    a page repeat or skip one already loaded in the same part. "Starred first" is two parts (yours
    starred, then the rest), each newest first: each read walks the id index and stops at a page,
    where one ORDER BY over "is it starred" would have to test every job set of the view first.
    Newest first with a search term, the search may split the read into windows of ids
    (``search.newest_first``).
    """
    sort = filters.sort
    if sort == "oldest":
        yield (query if after is None else query.filter(id__gt=after)).order_by("id")
    elif sort == "starred":
        # The job sets of the person's stars, read once (IN) rather than tested row by row
        # (EXISTS): with a few stars among 100,000 job sets, that test ran for seconds.
        mine = Favourite.objects.filter(user=user).values("job__job_set_id")
        starred, rest = query.filter(pk__in=mine).order_by("-id"), query.exclude(pk__in=mine).order_by("-id")
        if after is None:
            yield starred
            yield rest
        elif _in_starred_part(user, after):
            yield starred.filter(id__lt=after)  # still in the starred part
            yield rest
        else:
            yield rest.filter(id__lt=after)
    else:
        newest = (query if after is None else query.filter(id__lt=after)).order_by("-id")
        if filters.q:
            yield from search.newest_first(newest, filters.q, after, size)
        else:
            yield newest


def card_jobs(hidden: bool = False) -> Prefetch:
    """The images a card shows, as a list in its job set's ``card_jobs``: hidden ones or the rest.

    A list rather than the ``jobs`` manager's cache: filling that makes a queryset per job set,
    about 0.3 ms a page.
    """
    # By index within each job set: Job's default order goes through the job set's
    # creation time, a join the prefetch does not need.
    jobs = Job.objects.filter(hidden_at__isnull=not hidden).order_by("job_set_id", "index")
    return Prefetch("jobs", jobs.only(*CARD_JOB_FIELDS), to_attr="card_jobs")


def starred(user, jobs: list[Job]) -> set[int]:
    """Which of ``jobs`` ``user`` has starred (one query, none for no jobs)."""
    if not jobs:
        return set()
    return set(Favourite.objects.filter(user=user, job__in=jobs).values_list("job_id", flat=True))


def matching_jobs(user, filters: Filters) -> QuerySet[Job]:
    """Every image of every job set the view shows ("select all matching this filter")."""
    jobs = Job.objects.filter(job_set__in=job_sets(user, filters))
    return jobs.filter(hidden_at__isnull=not filters.hidden)
