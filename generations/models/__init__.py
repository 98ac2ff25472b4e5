"""soulsite's models, one module per subject."""

from generations.models.catalogue import Price, Style
from generations.models.explorations import Exploration
from generations.models.jobs import Attempt, Job, JobSet, result_path
from generations.models.keeping import Collection, CollectionItem, Favourite
from generations.models.references import Character, ReferenceUpload
from generations.models.request import SoulRequest
from generations.models.spend import SpendDay
from generations.models.system import GatewayState, Lease
from generations.models.teams import Budget, Membership, Profile, Team
from generations.models.webhooks import WebhookDelivery

__all__ = [
    "Attempt",
    "Budget",
    "Character",
    "Collection",
    "Exploration",
    "CollectionItem",
    "Favourite",
    "GatewayState",
    "Job",
    "JobSet",
    "Lease",
    "Membership",
    "Price",
    "Profile",
    "ReferenceUpload",
    "SoulRequest",
    "SpendDay",
    "Style",
    "Team",
    "WebhookDelivery",
    "result_path",
]
