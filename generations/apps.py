from django.apps import AppConfig


class GenerationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "generations"
    verbose_name = "Generations"

    def ready(self) -> None:
        from django.conf import settings
        from django.core import checks
        from django.db.models.signals import post_migrate
        from PIL import Image

        from generations import checks as deploy_checks
        from generations.queries import search

        # Pillow refuses a "decompression bomb" (a small file claiming a huge pixel count) above
        # this; set to the upload limit on purpose rather than left at Pillow's ~89 megapixels, so
        # every Image.open in the process (uploads, downloaded results) has the same ceiling.
        # Results are at most 2048 × 2048, far below it.
        Image.MAX_IMAGE_PIXELS = settings.SOUL_UPLOAD_MAX_PIXELS
        checks.register(deploy_checks.production_gateway, checks.Tags.security, deploy=True)
        # A migration that makes SQLite rebuild the job set table drops the search index's
        # triggers with the old table: after every migrate they are made again where missing.
        post_migrate.connect(
            search.after_migrate, sender=self, dispatch_uid="generations.search.after_migrate"
        )
