"""The DISARM Red framework (disinformation tactics and techniques), v1.6, as shipped data.

``data/disarm-1.6.json`` is derived from DISARMFoundation/DISARMframeworks'
``generated_files/DISARM_STIX/DISARM.json`` (CC BY-SA 4.0, see ``data/NOTICE``) by
``build_framework``; regenerate it with

    python -m civicsentry.share.disarm ../shared/data/disarm/DISARM.json

Techniques are keyed on their external id (``T0049``), never on DISARM's STIX ids, which
change between releases. MISP's ``disarm-techniques`` galaxy is DISARM v1.4 and tags by
technique *name*; ``data/disarm-misp-galaxy-1.4.json`` holds its id → name table, so the
crosswalk is by id (see docs/sharing.md for what differs).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import InvalidParams

DATA = Path(__file__).parent / "data"
FRAMEWORK_FILE = DATA / "disarm-1.6.json"
GALAXY_FILE = DATA / "disarm-misp-galaxy-1.4.json"
#: kill_chain_name used on attack-patterns, as OpenCTI's DISARM connector rewrites it.
KILL_CHAIN = "disarm"
#: MISP galaxy cluster uuids are uuid5(this, external id); stable across galaxy versions.
GALAXY_NAMESPACE = uuid.UUID("9d6bd9d2-2cd3-4900-b61a-06cd64df3996")
GALAXY_TAG = 'misp-galaxy:disarm-techniques="{}"'
#: Tag for a technique that MISP's v1.4 galaxy lacks (a plain tag, no cluster).
FALLBACK_TAG = 'disarm:technique="{}"'


@dataclass(frozen=True)
class Technique:
    id: str
    name: str
    tactic_id: str
    tactic: str
    phase_name: str
    parent_id: str | None
    url: str
    description: str


@dataclass(frozen=True)
class Framework:
    name: str
    version: str
    source: str
    techniques: Mapping[str, Technique]
    tactics: Mapping[str, tuple[str, str]]  # TA17 -> (name, phase_name)


def build_framework(disarm_json: Path) -> dict[str, Any]:
    """The compact framework table derived from DISARM's STIX bundle (data only; the
    upstream generator code is not used)."""
    bundle = json.loads(Path(disarm_json).read_text(encoding="utf-8"))
    objs = bundle["objects"]
    tactics = {}
    for o in objs:
        if o["type"] == "x-mitre-tactic":
            tactics[o["x_mitre_shortname"]] = (
                o["external_references"][0]["external_id"],
                o["name"],
            )
    techniques = []
    for o in objs:
        if o["type"] != "attack-pattern":
            continue
        ext = o["external_references"][0]
        phase = o["kill_chain_phases"][0]["phase_name"]
        tid = ext["external_id"]
        desc = o.get("description", "").replace("<br />", "\n").replace("<br>", "\n")
        techniques.append(
            {
                "id": tid,
                "name": o["name"],
                "tactic_id": tactics[phase][0],
                "tactic": tactics[phase][1],
                "phase_name": phase,
                "parent_id": tid.split(".")[0] if "." in tid else None,
                "url": ext["url"],
                "description": desc.strip(),
                "stix_id_v1_6": o["id"],
            }
        )
    techniques.sort(key=lambda t: [int(x) for x in t["id"][1:].split(".")])
    return {
        "framework": "DISARM Red Framework",
        "version": "1.6",
        "source": "DISARMFoundation/DISARMframeworks generated_files/DISARM_STIX/DISARM.json "
        f"({bundle['id']})",
        "licence": "CC BY-SA 4.0, DISARM Foundation; modified: reformatted (see NOTICE)",
        "tactics": [
            {"id": tid, "name": name, "phase_name": phase}
            for phase, (tid, name) in sorted(tactics.items(), key=lambda kv: kv[1][0])
        ],
        "techniques": techniques,
    }


@cache
def framework() -> Framework:
    data = json.loads(FRAMEWORK_FILE.read_text(encoding="utf-8"))
    techniques = {
        t["id"]: Technique(
            t["id"],
            t["name"],
            t["tactic_id"],
            t["tactic"],
            t["phase_name"],
            t["parent_id"],
            t["url"],
            t["description"],
        )
        for t in data["techniques"]
    }
    tactics = {t["id"]: (t["name"], t["phase_name"]) for t in data["tactics"]}
    return Framework(data["framework"], data["version"], data["source"], techniques, tactics)


def version() -> str:
    return framework().version


def is_known(tid: str) -> bool:
    return tid in framework().techniques


def technique(tid: str) -> Technique:
    try:
        return framework().techniques[tid]
    except KeyError:
        raise InvalidParams(
            f"{tid!r} is not a DISARM v{version()} technique id (e.g. T0049, T0049.003)."
        ) from None


def check_ids(ids: list[str] | tuple[str, ...]) -> list[str]:
    """The ids, upper-cased and checked; unknown ids raise InvalidParams."""
    out = []
    for tid in ids:
        t = technique(tid.strip().upper())
        if t.id not in out:
            out.append(t.id)
    return out


# -- MISP's DISARM galaxy (v1.4) -------------------------------------------------------


@cache
def galaxy() -> dict[str, str]:
    """External id -> cluster value (the technique's name in MISP's v1.4 galaxy)."""
    return dict(json.loads(GALAXY_FILE.read_text(encoding="utf-8"))["techniques"])


def galaxy_info() -> dict[str, Any]:
    data = json.loads(GALAXY_FILE.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if k != "techniques"}


def misp_cluster(tid: str) -> tuple[str, str] | None:
    """(cluster value, cluster uuid) of a technique in MISP's galaxy, None if absent."""
    name = galaxy().get(tid)
    return None if name is None else (name, str(uuid.uuid5(GALAXY_NAMESPACE, tid)))


def misp_tag(tid: str) -> str:
    """The MISP tag for a technique: the galaxy tag by its v1.4 name, or a plain tag by id
    when the v1.4 galaxy lacks it."""
    cluster = misp_cluster(tid)
    return GALAXY_TAG.format(cluster[0]) if cluster else FALLBACK_TAG.format(tid)


def crosswalk() -> dict[str, Any]:
    """What differs between DISARM v1.6 (ours) and MISP's v1.4 galaxy."""
    ours, theirs = framework().techniques, galaxy()
    return {
        "v1_6_techniques": len(ours),
        "galaxy_techniques": len(theirs),
        "missing_in_galaxy": sorted(set(ours) - set(theirs), key=_order),
        "only_in_galaxy": sorted(set(theirs) - set(ours), key=_order),
        "renamed": {
            tid: {"v1.6": ours[tid].name, "galaxy": theirs[tid]}
            for tid in sorted(set(ours) & set(theirs), key=_order)
            if ours[tid].name != theirs[tid]
        },
    }


def _order(tid: str) -> list[int]:
    return [int(x) for x in tid[1:].split(".")]


# -- our detections -> techniques (shipped suggestion; analysts override in the store) --


@dataclass(frozen=True)
class Suggestion:
    techniques: tuple[str, ...]
    why: str


#: Detection name -> suggested techniques. Cluster modalities appear as ``co-<type>``;
#: alert rules and account signals use their own names. Override with
#: ``civicsentry share disarm set``.
SUGGESTIONS: dict[str, Suggestion] = {
    "co-repost": Suggestion(
        ("T0049.003", "T0118"), "accounts reposting the same posts within seconds, repeatedly"
    ),
    "co-quote": Suggestion(("T0118", "T0049.001"), "coordinated quoting of the same posts"),
    "co-reply": Suggestion(("T0116.001",), "coordinated replies to the same posts"),
    "co-url": Suggestion(("T0049",), "the same links pushed by the network in bursts"),
    "co-domain": Suggestion(("T0049",), "the same sites pushed by the network in bursts"),
    "co-hashtag": Suggestion(("T0049.002",), "the same hashtags flooded in bursts"),
    "co-text": Suggestion(("T0084.001",), "identical text posted by several accounts"),
    "co-simtext": Suggestion(("T0084.001",), "near-duplicate text posted by several accounts"),
    "co-media": Suggestion(("T0084",), "the same media re-posted by several accounts"),
    "co-post": Suggestion(("T0049",), "accounts posting in synchronised bursts"),
    "account-creation-burst": Suggestion(
        ("T0150.008", "T0150.001"), "member accounts created within a short burst"
    ),
    "automation": Suggestion(("T0146.007",), "accounts with automated posting behaviour"),
    "foreign-schedule": Suggestion(
        ("T0130.001",), "posting on another time zone's work-day schedule than claimed"
    ),
    "default-handles": Suggestion(
        ("T0150.008",), "handles of the platform's default name+digits form"
    ),
    "claim-spreading": Suggestion(("T0118",), "a debunked claim spreading again"),
    "narrative-acceleration": Suggestion(("T0118",), "a narrative accelerating"),
    "watchlist-spike": Suggestion(("T0049",), "volume spike on watch-listed terms"),
    "new-cluster": Suggestion(("T0049",), "a new coordinated cluster"),
    "cluster-growth": Suggestion(("T0049",), "a coordinated cluster growing or accelerating"),
}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m civicsentry.share.disarm DISARM.json\n")
        return 2
    data = build_framework(Path(argv[0]))
    FRAMEWORK_FILE.write_text(
        json.dumps(data, ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8"
    )
    sys.stdout.write(f"{len(data['techniques'])} techniques -> {FRAMEWORK_FILE}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
