"""soulsite's models, one module per subject."""

from .catalogue import Price, Style
from .jobs import Attempt, Job, JobSet, result_path
from .keeping import Collection, CollectionItem, Favourite
from .references import Character, ReferenceUpload
from .spend import SpendDay
from .system import GatewayState, Lease
from .teams import Budget, Membership, Profile, Team

__all__ = [
    "Attempt",
    "Budget",
    "Character",
    "Collection",
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
    "SpendDay",
    "Style",
    "Team",
    "result_path",
]
