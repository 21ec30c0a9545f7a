"""Evidence → a STIX 2.1 bundle, built with the ``stix2`` library (no custom properties).

Model (docs/sharing.md): the scope (a cluster, a case, an alert) is a ``campaign`` tied
together by a ``report``; each cluster is an ``intrusion-set`` (the network) that owns an
``infrastructure`` (botnet) consisting of ``user-account`` observables; the campaign's
URLs and domains are observables with ``indicator``s; DISARM techniques are
``attack-pattern``s keyed on their external id; ``observed-data`` and ``sighting``s carry
counts and time ranges; a ``note`` carries the method and its parameters. Every object
carries one TLP 2.0 marking. Observables get stix2's deterministic ids; every other id is
minted once by ``mint`` (stored by the caller), so re-exporting updates instead of
duplicating.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import stix2

from . import disarm, tlp
from .evidence import Account, ClusterEvidence, Evidence, ObjectStat

#: The CivicSentry project itself: creator of our account extension (public, TLP:CLEAR).
PROJECT_IDENTITY = "identity--b154c2cb-5c2d-452e-b9a1-a3d3dc617b92"
ACCOUNT_EXTENSION = "extension-definition--0733e333-c9a9-4dc3-abcc-333183915698"
_EPOCH = "2025-01-01T00:00:00.000Z"
ACCOUNT_TYPES = {"x": "twitter", "twitter": "twitter", "facebook": "facebook"}
EXTENSION_SCHEMA = (
    "Property extension for user-account objects shared by CivicSentry. Properties: "
    "platform (string: the platform code, e.g. x, telegram); pseudonymised (boolean: "
    "user_id is HMAC-SHA256 of the platform-qualified account id under the sharing "
    "community's key); community (string); key_version (integer); login_pseudonym "
    "(string: HMAC-SHA256 of the casefolded handle); exemption (string: public-figure, "
    "state-media or official when the account is shared as itself). See CivicSentry "
    "docs/sharing.md."
)


class Mint(Protocol):
    def __call__(
        self, local_key: str, stix_type: str, content: dict[str, Any] | None
    ) -> tuple[str, datetime, datetime]:
        """(id, created, modified) for the object standing for ``local_key``; a changed
        ``content`` bumps ``modified``, None only looks the id up (minting it if new)."""
        ...


@dataclass(frozen=True)
class Producer:
    identity_id: str
    name: str
    contact: str | None = None


@dataclass(frozen=True)
class Rendering:
    """How accounts and text leave the workspace (see ``pseudonym``)."""

    tlp: str
    community: str
    key_version: int
    account: Callable[[Account], dict[str, Any]]  # user-account properties
    text: Callable[[str], str]  # redaction of shared text
    include_text: bool


def account_type(platform: str) -> str:
    """account-type-ov where it has the platform, else a stable lower-case token."""
    return ACCOUNT_TYPES.get(platform, platform.lower())


def content_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def pattern_literal(value: str) -> str:
    """A STIX pattern string literal (hostile values are escaped, never evaluated)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def build_bundle(
    ev: Evidence, *, producer: Producer, render: Rendering, mint: Mint
) -> dict[str, Any]:
    """The bundle for one scope as a dict (JSON-ready)."""
    return _Builder(ev, producer, render, mint).build()


class _Builder:
    def __init__(self, ev: Evidence, producer: Producer, render: Rendering, mint: Mint):
        self.ev, self.producer, self.render, self.mint = ev, producer, render, mint
        self.mark = [tlp.MARKING_IDS[render.tlp]]
        self.objects: dict[str, Any] = {}
        self.ids: dict[str, str] = {}  # local key -> id

    # -- helpers ----------------------------------------------------------------------
    def add(self, obj: Any) -> Any:
        self.objects.setdefault(obj["id"], obj)
        return obj

    def sdo(self, cls: type, local_key: str, **props: Any) -> Any:
        """An SDO/SRO with a minted id: content changes bump ``modified``."""
        props.setdefault("object_marking_refs", self.mark)
        if cls is not stix2.Identity:
            props.setdefault("created_by_ref", self.producer.identity_id)
        stix_type = cls._type  # type: ignore[attr-defined]
        sid, created, modified = self.mint(local_key, stix_type, _jsonable(props))
        self.ids[local_key] = sid
        return self.add(
            cls(id=sid, created=created, modified=modified, allow_custom=False, **props)
        )

    def rel(self, local_key: str, source: Any, kind: str, target: Any, **props: Any) -> Any:
        return self.sdo(
            stix2.Relationship,
            local_key,
            relationship_type=kind,
            source_ref=source["id"],
            target_ref=target["id"],
            **props,
        )

    # -- the bundle -------------------------------------------------------------------
    def build(self) -> dict[str, Any]:
        ev, r = self.ev, self.render
        markings = {r.tlp, "clear"}
        for lv in sorted(markings, key=tlp.rank):
            self.add(stix2.MarkingDefinition(**tlp.marking_definition(lv)))
        clear = [tlp.MARKING_IDS["clear"]]
        self.add(
            stix2.Identity(
                id=PROJECT_IDENTITY,
                created=_EPOCH,
                modified=_EPOCH,
                name="CivicSentry",
                identity_class="system",
                description="Open-source software for detecting coordinated inauthentic "
                "behaviour; creator of the CivicSentry STIX extensions.",
                object_marking_refs=clear,
            )
        )
        self.add(
            stix2.ExtensionDefinition(
                id=ACCOUNT_EXTENSION,
                created=_EPOCH,
                modified=_EPOCH,
                created_by_ref=PROJECT_IDENTITY,
                name="civicsentry-account",
                description="Platform and pseudonymisation facts of a shared social-media account.",
                schema=EXTENSION_SCHEMA,
                version="1.0.0",
                extension_types=["property-extension"],
                object_marking_refs=clear,
            )
        )
        producer = self.sdo(
            stix2.Identity,
            "identity:producer",
            name=self.producer.name,
            identity_class="organization",
            **({"contact_information": self.producer.contact} if self.producer.contact else {}),
        )
        first, last = ev.first_t, ev.last_t
        campaign = self.sdo(
            stix2.Campaign,
            f"{ev.key}:campaign",
            name=ev.title,
            description=ev.description,
            **_span("first_seen", first, "last_seen", last),
        )
        techniques = [self.technique(tid, why) for tid, why in sorted(ev.techniques.items())]
        for ap in techniques:
            tid = ap["external_references"][0]["external_id"]
            self.rel(
                f"{ev.key}:campaign:rel:uses:{tid}",
                campaign,
                "uses",
                ap,
                description="Suggested by: " + "; ".join(ev.techniques[tid]),
            )
        for c in ev.clusters:
            self.cluster(c, campaign, producer, techniques)
        self.method_note(campaign)
        if r.include_text:
            self.text_note(campaign)
        report_refs = [
            o["id"]
            for o in self.objects.values()
            if o["type"] not in ("marking-definition", "extension-definition")
            and o["id"] != PROJECT_IDENTITY
        ]
        self.sdo(
            stix2.Report,
            f"{ev.key}:report",
            name=ev.title,
            description=ev.description,
            report_types=["campaign", "attack-pattern", "indicator", "observed-data"],
            published=self.mint(f"{ev.key}:report", "report", None)[1],
            object_refs=sorted(report_refs),
        )
        bundle = stix2.Bundle(objects=list(self.objects.values()), allow_custom=False)
        return json.loads(bundle.serialize())

    def technique(self, tid: str, why: Iterable[str]) -> Any:
        t = disarm.technique(tid)
        first_para = t.description.split("\n")[0].strip()
        return self.sdo(
            stix2.AttackPattern,
            f"attack-pattern:{tid}",
            name=t.name,
            description=f"{first_para} (DISARM {tid}, DISARM Red Framework v{disarm.version()}, "
            "CC BY-SA 4.0 DISARM Foundation.)",
            external_references=[
                {"source_name": "mitre-attack", "external_id": tid, "url": t.url},
                {
                    "source_name": "DISARM",
                    "external_id": tid,
                    "description": f"DISARM Red Framework v{disarm.version()}",
                },
            ],
            kill_chain_phases=[{"kill_chain_name": disarm.KILL_CHAIN, "phase_name": t.phase_name}],
        )

    def cluster(
        self, c: ClusterEvidence, campaign: Any, producer: Any, techniques: list[Any]
    ) -> None:
        ev, key = self.ev, c.key
        span = _span("first_seen", c.first_t, "last_seen", c.last_t)
        iset = self.sdo(
            stix2.IntrusionSet,
            f"{key}:intrusion-set",
            name=f"Coordinated network: cluster {c.cluster_id} of detection run {c.run_id}",
            description=_cluster_text(c),
            **span,
        )
        infra = self.sdo(
            stix2.Infrastructure,
            f"{key}:infrastructure",
            name=f"Accounts of cluster {c.cluster_id} (run {c.run_id})",
            description=f"{c.size} accounts acting in concert; {len(c.members)} shared.",
            infrastructure_types=["botnet"],
            **span,
        )
        self.rel(f"{ev.key}:campaign:rel:attributed-to:{key}", campaign, "attributed-to", iset)
        self.rel(f"{key}:rel:owns", iset, "owns", infra)
        self.rel(f"{ev.key}:campaign:rel:uses:{key}", campaign, "uses", infra)
        for ap in techniques:
            tid = ap["external_references"][0]["external_id"]
            self.rel(f"{key}:intrusion-set:rel:uses:{tid}", iset, "uses", ap)
        accounts = []
        for m in c.members:
            acct = self.add(
                stix2.UserAccount(
                    object_marking_refs=self.mark, allow_custom=False, **self.render.account(m)
                )
            )
            accounts.append(acct)
            self.rel(f"{key}:rel:consists-of:{acct['id']}", infra, "consists-of", acct)
        observables: list[tuple[ObjectStat, Any]] = []
        for o in c.of_kind("url"):
            observables.append(
                (o, self.add(stix2.URL(value=o.value, object_marking_refs=self.mark)))
            )
        for o in c.of_kind("domain"):
            observables.append(
                (o, self.add(stix2.DomainName(value=o.value, object_marking_refs=self.mark)))
            )
        observed = self.sdo(
            stix2.ObservedData,
            f"{key}:observed-data",
            first_observed=c.first_t or _now(),
            last_observed=c.last_t or c.first_t or _now(),
            number_observed=min(max(c.member_posts, 1), 999_999_999),
            object_refs=[a["id"] for a in accounts] + [o["id"] for _, o in observables],
        )
        self.sdo(
            stix2.Sighting,
            f"{key}:sighting",
            sighting_of_ref=iset["id"],
            observed_data_refs=[observed["id"]],
            where_sighted_refs=[producer["id"]],
            count=min(c.member_posts, 999_999_999),
            summary=False,
            description="Posts by the network's members during its coordinated activity.",
            **_span("first_seen", c.first_t, "last_seen", c.last_t),
        )
        for stat, sco in observables:
            ind = self.indicator(stat)
            self.rel(f"{ev.key}:campaign:rel:indicates:{ind['id']}", ind, "indicates", campaign)
            self.rel(f"{key}:rel:based-on:{ind['id']}", ind, "based-on", observed)
            self.rel(f"{key}:rel:related-to:{sco['id']}", sco, "related-to", iset)
            self.sdo(
                stix2.Sighting,
                f"{key}:sighting:{ind['id']}",
                sighting_of_ref=ind["id"],
                observed_data_refs=[observed["id"]],
                where_sighted_refs=[producer["id"]],
                count=min(stat.shares, 999_999_999),
                description=f"Shared {stat.shares} times by {stat.members} members "
                f"({stat.accounts} accounts in all shared it).",
                **_span("first_seen", stat.first_t, "last_seen", stat.last_t),
            )

    def indicator(self, stat: ObjectStat) -> Any:
        if stat.kind == "url":
            pattern = f"[url:value = {pattern_literal(stat.value)}]"
            name = f"Campaign URL {stat.value}"
        else:
            lit, sub = pattern_literal(stat.value), pattern_literal("%." + stat.value)
            pattern = f"[domain-name:value = {lit}] OR [domain-name:value LIKE {sub}]"
            name = f"Campaign domain {stat.value}"
        return self.sdo(
            stix2.Indicator,
            f"indicator:{stat.kind}:{stat.value}",
            name=name[:250],
            description="Pushed in bursts by a coordinated network (docs/sharing.md).",
            indicator_types=["anomalous-activity"],
            pattern=pattern,
            pattern_type="stix",
            pattern_version="2.1",
            valid_from=stat.first_t,
        )

    def method_note(self, campaign: Any) -> None:
        ev, r = self.ev, self.render
        runs = {f"cluster {c.cluster_id} of run {c.run_id}": c.runs for c in ev.clusters}
        content = {
            "method": "Co-action networks: two accounts co-act when they act on the same "
            "object (repost, link, hashtag, text, ...) within a time window; edges are "
            "tested against a null model that keeps each account's activity and each "
            "object's popularity (Benjamini-Hochberg), and significant edges are clustered "
            "with Leiden. Coordination can be coincidence: the suspicion score is a triage "
            "aid, not proof.",
            "runs": runs,
            "detections": {f"cluster {c.cluster_id}": c.detections for c in ev.clusters},
            "disarm": {
                "framework": f"DISARM Red Framework v{disarm.version()}",
                "licence": "CC BY-SA 4.0, DISARM Foundation",
                "techniques": ev.techniques,
            },
            "pseudonymisation": {
                "scheme": "HMAC-SHA256 of the platform-qualified account id",
                "community": r.community,
                "key_version": r.key_version,
                "exempt_accounts": sum(1 for m in ev.members() if m.exempt),
            },
            "post_text": "included" if r.include_text else "excluded",
            "tlp": r.tlp,
        }
        self.sdo(
            stix2.Note,
            f"{ev.key}:note:method",
            abstract="Method, parameters and caveats",
            content=json.dumps(content, indent=1, sort_keys=True, default=str),
            authors=[self.producer.name],
            object_refs=[campaign["id"]]
            + [self.ids[f"{c.key}:intrusion-set"] for c in ev.clusters],
        )

    def text_note(self, campaign: Any) -> None:
        texts = [self.render.text(t) for c in self.ev.clusters for t in c.texts]
        if texts:
            self.sdo(
                stix2.Note,
                f"{self.ev.key}:note:text",
                abstract="Example posts pushed by the network (hostile content)",
                content="\n---\n".join(texts),
                object_refs=[campaign["id"]],
            )


def _span(a: str, first: datetime | None, b: str, last: datetime | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if first:
        out[a] = first
    if last and (not first or last >= first):
        out[b] = last
    return out


def _cluster_text(c: ClusterEvidence) -> str:
    mods = ", ".join(f"{k} ({v} edges)" for k, v in sorted(c.modalities.items()))
    parts = [
        f"{c.size} accounts co-acting on {c.coacted_objects or 0} objects; networks: {mods}.",
    ]
    if c.suspicion is not None:
        parts.append(f"Suspicion {c.suspicion:.2f} (a triage aid, not proof).")
    if c.median_delay_s is not None:
        parts.append(f"Median delay between co-acting shares {c.median_delay_s:g} s.")
    hashtags = [o.value for o in c.of_kind("hashtag")][:10]
    if hashtags:
        parts.append("Hashtags pushed: " + ", ".join("#" + h for h in hashtags) + ".")
    return " ".join(parts)


def _now() -> datetime:
    return datetime.now(UTC)


def _jsonable(props: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(props, sort_keys=True, default=str))
