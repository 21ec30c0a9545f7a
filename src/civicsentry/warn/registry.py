"""The rule families, by name: this table is the dispatch (a rule's ``kind``)."""

from __future__ import annotations

from .accounts import ACCOUNT_BURST
from .base import Family
from .clusters import CLUSTER_GROWTH, CLUSTER_NEW, FOREIGN_SCHEDULE
from .narratives import CLAIM_SPREADING, NARRATIVE_ACCELERATING
from .volume import VOLUME_ANOMALY

REGISTRY: dict[str, Family] = {
    f.name: f
    for f in (
        CLUSTER_NEW,
        CLUSTER_GROWTH,
        ACCOUNT_BURST,
        VOLUME_ANOMALY,
        FOREIGN_SCHEDULE,
        CLAIM_SPREADING,
        NARRATIVE_ACCELERATING,
    )
}
