import re

from django.contrib import admin, messages
from django.core.exceptions import BadRequest
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from generations.actions import jobsets, styles
from generations.models import (
    Attempt,
    Budget,
    Character,
    Exploration,
    GatewayState,
    Job,
    JobSet,
    Lease,
    Membership,
    Price,
    Style,
    Team,
)
from generations.upstream.client import SoulError

_ID = re.compile(r"[0-9]{1,18}")  # as generations.web.parsing.ID_DIGITS (admin may not import web)


class HistoryAdmin(SimpleHistoryAdmin):
    """django-simple-history's admin, refusing what its revert view would turn into a 500.

    Its views hand the URL's text to the query as is (a word there), and when a revert form
    comes back with a word for a related row, the admin's autocomplete widget queries with it
    while drawing the form again. Nothing is saved in either case.
    """

    def history_view(self, request, object_id, extra_context=None):
        if not _ID.fullmatch(str(object_id)):
            raise Http404("No such record.")
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if not all(_ID.fullmatch(str(value)) for value in (object_id, version_id)):
            raise Http404("No such version.")
        try:
            return super().history_form_view(request, object_id, version_id, extra_context)
        except ValueError as exc:  # raised before any query is sent
            raise BadRequest("A related row was not given by its id.") from exc


@admin.register(Style)
class StyleAdmin(admin.ModelAdmin):
    list_display = ["preview_thumbnail", "name", "id", "is_active", "position"]
    list_display_links = ["name"]
    list_filter = ["is_active"]
    list_editable = ["is_active", "position"]
    search_fields = ["name", "id", "description"]
    change_list_template = "admin/generations/style/change_list.html"

    def has_delete_permission(self, request, obj=None):
        # Old job sets keep their style's name: deactivate instead.
        return False

    @admin.display(description="Preview")
    def preview_thumbnail(self, style):
        return format_html(
            '<img src="{}" alt="" style="height:40px;border-radius:4px">',
            reverse("style-preview", args=[style.pk]),
        )

    def get_urls(self):
        sync = path("sync/", self.admin_site.admin_view(self.sync_view), name="generations_style_sync")
        return [sync, *super().get_urls()]

    def sync_view(self, request):
        """Refresh the catalogue from the gateway's styles endpoint (a POST from the list's button)."""
        if request.method == "POST" and self.has_change_permission(request):
            try:
                result = styles.sync()
            except SoulError as exc:
                self.message_user(request, f"Could not sync styles: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"Styles synced: {result}.", messages.SUCCESS)
        return redirect("admin:generations_style_changelist")


@admin.register(Price)
class PriceAdmin(HistoryAdmin):
    list_display = ["quality", "batch_size", "amount", "effective_from"]
    list_filter = ["quality", "batch_size"]
    date_hierarchy = "effective_from"


class JobInline(admin.TabularInline):
    model = Job
    extra = 0
    can_delete = False
    fields = [
        "thumbnail",
        "index",
        "status",
        "upstream_id",
        "raw_url",
        "finished_at",
        "downloaded_at",
        "download_error",
    ]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Image")
    def thumbnail(self, job):
        if not job.preview and not job.image:
            return "—"
        url = reverse("image", args=[job.pk, "min"])
        full = reverse("image", args=[job.pk, "raw"])
        return format_html(
            '<a href="{}" target="_blank"><img src="{}" alt="" style="height:72px"></a>', full, url
        )


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    fields = ["at", "kind", "status_code", "ok", "asked", "answer", "duration_ms"]
    readonly_fields = fields
    verbose_name_plural = "Attempt history"

    def has_add_permission(self, request, obj=None):
        return False


def _who(request) -> str:
    return f"admin {request.user.get_username()}"


@admin.register(JobSet)
class JobSetAdmin(admin.ModelAdmin):
    actions = ["poll_now", "retry_download", "mark_failed", "settle_charged", "settle_not_charged"]
    list_display = [
        "id",
        "short_prompt",
        "user",
        "status",
        "quality",
        "batch_size",
        "width_and_height",
        "price",
        "charge",
        "created_at",
        "finished_at",
    ]
    list_filter = [
        "status",
        "charge",
        "quality",
        "batch_size",
        "width_and_height",
        "style",
        "user",
        "created_at",
    ]
    search_fields = ["prompt", "upstream_id", "=id"]
    date_hierarchy = "created_at"
    list_select_related = ["user", "team"]
    inlines = [JobInline, AttemptInline]
    fieldsets = [
        ("Request", {"fields": ["user", *JobSet.PARAMETER_FIELDS]}),
        ("State", {"fields": ["status", "status_reason", "price", "charge"]}),
        ("Upstream", {"fields": ["upstream_id", "idempotency_key", "input_params"]}),
        (
            "Tracking",
            {
                "fields": [
                    "created_at",
                    "sent_at",
                    "finished_at",
                    "due_at",
                    "send_attempts",
                    "polls",
                    "poll_errors",
                    "claimed_by",
                    "claimed_until",
                ]
            },
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        # A record of what was asked and what happened: changed only through the actions below.
        return [name for _, options in self.fieldsets for name in options["fields"]]

    @admin.display(description="Prompt")
    def short_prompt(self, job_set):
        return job_set.prompt if len(job_set.prompt) <= 60 else job_set.prompt[:59] + "…"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # A job set is a record of money spent: it is settled or marked, never deleted here.
        return False

    def _report(self, request, done: int, total: int, what: str) -> None:
        level = messages.SUCCESS if done else messages.WARNING
        self.message_user(request, f"{what}: {done} of {total} selected job sets.", level)

    @admin.action(description="Poll now (in flight only)")
    def poll_now(self, request, queryset):
        self._report(request, sum(jobsets.poll_now(js) for js in queryset), queryset.count(), "Polling now")

    @admin.action(description="Retry failed downloads")
    def retry_download(self, request, queryset):
        done = sum(bool(jobsets.retry_downloads(js)) for js in queryset)
        self._report(request, done, queryset.count(), "Downloading again")

    @admin.action(description="Mark failed (pending or unconfirmed only)")
    def mark_failed(self, request, queryset):
        done = sum(jobsets.mark_failed(js, _who(request)) for js in queryset)
        self._report(request, done, queryset.count(), "Marked failed")

    @admin.action(description="Settle unconfirmed: it went through (charged)")
    def settle_charged(self, request, queryset):
        done = sum(jobsets.settle_unconfirmed(js, True, _who(request)) for js in queryset)
        self._report(request, done, queryset.count(), "Settled as charged")

    @admin.action(description="Settle unconfirmed: it did not go through (not charged)")
    def settle_not_charged(self, request, queryset):
        done = sum(jobsets.settle_unconfirmed(js, False, _who(request)) for js in queryset)
        self._report(request, done, queryset.count(), "Settled as not charged")


@admin.register(GatewayState)
class GatewayStateAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "paused_status",
        "paused_reason",
        "paused_at",
        "last_probe_at",
        "concurrency_limit",
        "concurrency_limit_until",
    ]
    readonly_fields = [
        "paused",
        "paused_status",
        "paused_reason",
        "paused_at",
        "last_probe_at",
        "concurrency_limit",
        "concurrency_limit_until",
    ]
    actions = ["resume_sending"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Resume sending (after fixing the key or the subscription)")
    def resume_sending(self, request, queryset):
        jobsets.resume_sending()
        self.message_user(request, "Sending resumed; waiting job sets go out now.", messages.SUCCESS)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "job_set", "index", "status", "downloaded_at", "download_attempts"]
    list_filter = ["status"]
    search_fields = ["upstream_id", "job_set__upstream_id", "job_set__prompt"]
    readonly_fields = [
        "job_set",
        "index",
        "upstream_id",
        "raw_url",
        "min_url",
        "image",
        "preview",
        "width",
        "height",
        "finished_at",
        "downloaded_at",
        "download_attempts",
    ]

    def has_add_permission(self, request):
        return False


@admin.register(Lease)
class LeaseAdmin(admin.ModelAdmin):
    list_display = ["name", "holder", "expires_at"]
    readonly_fields = ["name", "holder", "expires_at"]

    def has_add_permission(self, request):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "member_count", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]

    @admin.display(description="Members")
    def member_count(self, team):
        return team.memberships.count()


@admin.register(Membership)
class MembershipAdmin(HistoryAdmin):
    list_display = ["user", "team", "role", "created_at"]
    list_filter = ["team", "role"]
    search_fields = ["user__username", "user__email", "team__name"]
    autocomplete_fields = ["user", "team"]


class ChangeLogAdmin(admin.ModelAdmin):
    """Who changed what, when, old → new: a read-only list over django-simple-history's records."""

    list_display = ["history_date", "history_user", "change", "record", "differences"]
    list_filter = ["history_type", "history_date"]
    date_hierarchy = "history_date"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Change")
    def change(self, record):
        return {"+": "added", "~": "changed", "-": "removed"}[record.history_type]

    @admin.display(description="Record")
    def record(self, record):
        return str(record.instance)

    @admin.display(description="Old → new")
    def differences(self, record):
        previous = record.prev_record
        if previous is None:
            return "—"
        delta = record.diff_against(previous)
        return "; ".join(f"{change.field}: {change.old} → {change.new}" for change in delta.changes) or "—"


@admin.register(Budget)
class BudgetAdmin(HistoryAdmin):
    list_display = ["team", "user", "monthly_limit"]
    list_filter = ["team"]
    autocomplete_fields = ["team", "user"]


admin.site.register(Budget.history.model, ChangeLogAdmin)
admin.site.register(Membership.history.model, ChangeLogAdmin)
admin.site.register(Price.history.model, ChangeLogAdmin)


@admin.register(Character)
class CharacterAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "upstream_id", "created_by", "created_at"]
    list_filter = ["team"]
    search_fields = ["name", "upstream_id"]


class ExplorationJobSetInline(admin.TabularInline):
    """An exploration's job sets, one per combination, in the order they were made."""

    model = JobSet
    fk_name = "exploration"
    extra = 0
    can_delete = False
    fields = ["exploration_index", "exploration_label", "status", "price", "charge", "finished_at"]
    readonly_fields = fields
    ordering = ["exploration_index"]
    show_change_link = True
    verbose_name_plural = "Job sets (one per combination)"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Exploration)
class ExplorationAdmin(admin.ModelAdmin):
    """A record of what was tried several ways at once: read here, managed through its job sets."""

    list_display = ["id", "title", "short_prompt", "user", "team", "count", "price", "created_at"]
    list_filter = ["team", "user", "created_at"]
    search_fields = ["prompt", "=id"]
    date_hierarchy = "created_at"
    list_select_related = ["user", "team"]
    fields = ["user", "team", "created_at", "prompt", "title", "axes", "count", "price", "request"]
    readonly_fields = fields
    inlines = [ExplorationJobSetInline]

    @admin.display(description="Prompt")
    def short_prompt(self, exploration):
        prompt = exploration.prompt
        return prompt if len(prompt) <= 60 else prompt[:59] + "…"

    @admin.display(description="What varies")
    def title(self, exploration):
        return exploration.title

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # Its job sets are records of money spent (JobSetAdmin deletes none either).
        return False
