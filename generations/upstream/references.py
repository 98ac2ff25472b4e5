"""Uploaded reference images and the signed, expiring public links the gateway fetches them by.

The gateway needs a URL it can reach, so an upload is handed over as
``SOUL_PUBLIC_URL/references/<signed token>/``: the token names one upload and
carries its signing time, so the link serves only that file and only until it
expires. Without ``SOUL_PUBLIC_URL`` there is no address the gateway could
reach, so uploads are refused (URLs still work).
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.urls import reverse

from generations.models import ReferenceUpload
from generations.upstream import pictures

SALT = "soulsite.reference-link"


def uploads_possible() -> bool:
    return bool(settings.SOUL_PUBLIC_URL)


def check_upload(file: UploadedFile) -> str:
    """The upload's content type, or a ValidationError saying why it cannot be used."""
    if not uploads_possible():
        raise ValidationError(
            "Uploads are turned off on this site: the gateway could not fetch the image from it. "
            "Paste an image URL instead, or ask an admin to turn uploads on."
        )
    return pictures.check_picture(file)


def store_upload(user, team, file: UploadedFile, content_type: str) -> ReferenceUpload:
    return ReferenceUpload.objects.create(user=user, team=team, file=file, content_type=content_type)


def public_link(upload: ReferenceUpload) -> str:
    token = signing.TimestampSigner(salt=SALT).sign(str(upload.key))
    return settings.SOUL_PUBLIC_URL + reverse("reference-link", args=[token])


def placeholder_link() -> str:
    """A link of the real shape, to validate a request before the upload is stored."""
    return settings.SOUL_PUBLIC_URL + reverse("reference-link", args=["pending"])


def resolve(token: str) -> ReferenceUpload | None:
    """The upload a link names, if the link is genuine and not expired."""
    try:
        key = signing.TimestampSigner(salt=SALT).unsign(token, max_age=settings.SOUL_REFERENCE_LINK_SECONDS)
    except signing.BadSignature:  # SignatureExpired is a BadSignature too
        return None
    return ReferenceUpload.objects.filter(key=key).first()
