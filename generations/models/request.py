"""The request value: what a person asks Soul for, built once and read everywhere.

A ``SoulRequest`` is made from the generate form's cleaned data
(``GenerateForm.soul_request``) or from a stored job set (``from_job_set``, for
"submit again"). From it come the three things that used to be spelled out
separately: the upstream parameters (``parameters``, which ``soulwire.params``
validates and the client sends), the price (``price``) and the new job set's
fields (``job_set_fields``).

It holds the person's parameters only. What soulsite adds when the request goes
out (the webhook fields, the signed link to an uploaded reference) is added by
generations.lifecycle.send, because it is not part of what was asked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from generations.models.catalogue import Price
from soulwire import params

IMAGE_URL = "image_url"  # the one image reference type the API has


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _number(value: Decimal | None) -> float | None:
    # JSON has no decimals: a strength goes out as a number (0.42), as the API documents.
    return None if value is None else float(value)


@dataclass(frozen=True)
class SoulRequest:
    """One generateSoul request's parameters, named as in the API.

    A value read from a form that did not validate may miss what did not parse
    (``None``); one a job set is created from is complete.
    """

    prompt: str | None
    width_and_height: str | None
    quality: str | None
    batch_size: int | None
    seed: int | None = None
    enhance_prompt: bool = False
    style_id: str | None = None  # the style's upstream UUID
    style_strength: Decimal | None = None
    custom_reference_id: str | None = None  # the character's upstream UUID
    character_id: int | None = None  # the saved character it was picked by, for its name
    custom_reference_strength: Decimal | None = None
    image_reference_type: str | None = None
    image_reference_image_url: str = ""  # empty for an uploaded reference: its link is made at send time
    reference_upload_id: int | None = None

    @classmethod
    def from_job_set(cls, job_set) -> SoulRequest:
        """What a stored (or unsaved) job set asked for."""
        has_reference = bool(job_set.image_reference_image_url or job_set.reference_upload_id)
        return cls(
            prompt=job_set.prompt,
            width_and_height=job_set.width_and_height,
            quality=job_set.quality,
            batch_size=job_set.batch_size,
            seed=job_set.seed,
            enhance_prompt=job_set.enhance_prompt,
            style_id=str(job_set.style_id) if job_set.style_id else None,
            style_strength=_decimal(job_set.style_strength),
            custom_reference_id=str(job_set.custom_reference_id) if job_set.custom_reference_id else None,
            character_id=job_set.character_id,
            custom_reference_strength=_decimal(job_set.custom_reference_strength),
            image_reference_type=IMAGE_URL if has_reference else None,
            image_reference_image_url=job_set.image_reference_image_url or "",
            reference_upload_id=job_set.reference_upload_id,
        )

    def with_upload(self, upload_id: int) -> SoulRequest:
        """The same request referring to an uploaded image (stored once the request is accepted)."""
        return replace(self, image_reference_image_url="", reference_upload_id=upload_id)

    def without_team_references(self) -> SoulRequest:
        """The same request without what belongs to one team: its characters and its uploads."""
        return replace(
            self,
            custom_reference_id=None,
            character_id=None,
            custom_reference_strength=None,
            image_reference_type=IMAGE_URL if self.image_reference_image_url else None,
            reference_upload_id=None,
        )

    def parameters(self, reference_link: str | None = None) -> dict:
        """The upstream parameters, in the API's order, leaving out what is not set.

        ``reference_link``: the public link of the uploaded reference image (the signed
        one when sending; one of the same shape when validating a form before it is stored).
        """
        body: dict[str, Any] = {
            "prompt": self.prompt,
            "width_and_height": self.width_and_height,
            "quality": self.quality,
            "batch_size": self.batch_size,
            "enhance_prompt": self.enhance_prompt,
            "seed": self.seed,
            params.STYLE_FIELD: self.style_id,
            "style_strength": _number(self.style_strength),
            "custom_reference_id": self.custom_reference_id,
            "custom_reference_strength": _number(self.custom_reference_strength),
            "image_reference_type": self.image_reference_type,
            "image_reference_image_url": reference_link or self.image_reference_image_url or None,
        }
        return {name: value for name, value in body.items() if value is not None}

    def errors(self, reference_link: str | None = None) -> dict[str, str]:
        """What the contract refuses in these parameters (``soulwire.params.validate``)."""
        return params.validate(self.parameters(reference_link))

    def price(self) -> Decimal:
        """What this request costs today (raises Price.DoesNotExist when no price is set)."""
        return Price.current(self.quality, self.batch_size)

    def job_set_fields(self) -> dict:
        """The request's fields of a new JobSet."""
        return {
            "prompt": self.prompt,
            "width_and_height": self.width_and_height,
            "quality": self.quality,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "enhance_prompt": self.enhance_prompt,
            "style_id": self.style_id,
            "style_strength": self.style_strength,
            "custom_reference_id": self.custom_reference_id,
            "character_id": self.character_id,
            "custom_reference_strength": self.custom_reference_strength,
            "image_reference_image_url": self.image_reference_image_url,
            "reference_upload_id": self.reference_upload_id,
        }
