from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .models import Job, JobSet, Lease, Price, Style


@admin.register(Style)
class StyleAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "is_active", "position"]
    list_filter = ["is_active"]
    list_editable = ["is_active", "position"]
    search_fields = ["name", "id", "description"]


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
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


@admin.register(JobSet)
class JobSetAdmin(admin.ModelAdmin):
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
    list_select_related = ["user"]
    inlines = [JobInline]
    readonly_fields = [
        "user",
        "upstream_id",
        "idempotency_key",
        "input_params",
        "price",
        "charge",
        "created_at",
        "sent_at",
        "finished_at",
        "send_attempts",
        "polls",
        "poll_errors",
        "claimed_by",
        "claimed_until",
        "due_at",
        "prompt",
        "width_and_height",
        "quality",
        "batch_size",
        "seed",
        "enhance_prompt",
        "style",
        "style_strength",
        "custom_reference_id",
        "custom_reference_strength",
        "image_reference_image_url",
    ]
    fieldsets = [
        (
            "Request",
            {
                "fields": [
                    "user",
                    "prompt",
                    "width_and_height",
                    "quality",
                    "batch_size",
                    "seed",
                    "enhance_prompt",
                    "style",
                    "style_strength",
                    "custom_reference_id",
                    "custom_reference_strength",
                    "image_reference_image_url",
                ]
            },
        ),
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

    @admin.display(description="Prompt")
    def short_prompt(self, job_set):
        return job_set.prompt if len(job_set.prompt) <= 60 else job_set.prompt[:59] + "…"

    def has_add_permission(self, request):
        return False


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
