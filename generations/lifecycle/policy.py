"""The charge rule, in one place.

A job set's price is *reserved* from submission until it finishes. It is
*charged* if at least one of its jobs completed, and *released* if none did:
failed, nsfw and canceled generations are not charged upstream. An
unconfirmed submission (sent, no answer) stays reserved until a person
settles it, because the gateway may well have charged it.
"""

from __future__ import annotations

from collections.abc import Iterable

from generations.models import JobSet


def charge_for(status: str, job_statuses: Iterable[str]) -> str:
    if status == JobSet.Status.UNCONFIRMED:
        return JobSet.Charge.RESERVED
    if status not in JobSet.TERMINAL:
        return JobSet.Charge.RESERVED
    if any(job_status == "completed" for job_status in job_statuses):
        return JobSet.Charge.CHARGED
    return JobSet.Charge.RELEASED
