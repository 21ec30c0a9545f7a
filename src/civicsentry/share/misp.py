"""Evidence → a MISP event (core format, ``{"Event": ...}``), built offline with pymisp.

One event per scope: TLP as the ``tlp:<level>`` tag; DISARM techniques as MISP's
``disarm-techniques`` galaxy tags. That galaxy is DISARM v1.4 and tags by technique name,
so techniques are looked up by id in its table (share.disarm.misp_tag); a v1.6 technique
the galaxy lacks becomes a plain ``disarm:technique="T0150.008"`` tag. Accounts are
platform account objects (twitter-account, telegram-account, ... or user-account) with
the same pseudonyms as the STIX export; URLs and domains are attributes; the method is an
annotation object; post text (only when included) becomes microblog objects.
"""

from __future__ import annotations

import json
from typing import Any

from pymisp import MISPEvent, MISPObject, MISPOrganisation

from . import checks, disarm, tlp
from .evidence import Account, Evidence
from .stix import ACCOUNT_EXTENSION, Producer, Rendering

#: platform -> (template, id relation, handle relation)
ACCOUNT_TEMPLATES = {
    "x": ("twitter-account", "id", "name"),
    "twitter": ("twitter-account", "id", "name"),
    "telegram": ("telegram-account", "id", "username"),
    "facebook": ("facebook-account", "account-id", "account-name"),
}
THREAT_LEVEL_MEDIUM, ANALYSIS_ONGOING, DISTRIBUTION_COMMUNITY, INHERIT = 2, 1, 1, 5


def build_event(ev: Evidence, *, producer: Producer, render: Rendering) -> dict[str, Any]:
    e = MISPEvent()
    e.info = ev.title
    if ev.first_t:
        e.date = ev.first_t.date()
    e.threat_level_id = THREAT_LEVEL_MEDIUM
    e.analysis = ANALYSIS_ONGOING
    e.distribution = DISTRIBUTION_COMMUNITY
    org = MISPOrganisation()
    org.name = producer.name
    org.uuid = producer.identity_id.split("--", 1)[1]
    e.Orgc = org
    e.add_tag(tlp.misp_tag(render.tlp))
    for tid in sorted(ev.techniques):
        e.add_tag(disarm.misp_tag(tid))
    seen: set[str] = set()
    for c in ev.clusters:
        for o in c.objects:
            if o.kind in ("url", "domain") and (o.kind, o.value) not in seen:
                seen.add((o.kind, o.value))  # type: ignore[arg-type]
                e.add_attribute(
                    o.kind,
                    o.value,
                    category="Network activity",
                    to_ids=False,
                    comment=f"shared {o.shares} times by {o.members} members of cluster "
                    f"{c.cluster_id} (run {c.run_id})",
                )
        for h in c.of_kind("hashtag")[:20]:
            e.add_attribute("text", "#" + h.value, category="Social network", to_ids=False,
                            comment="hashtag pushed by the network")  # fmt: skip
        for m in c.members:
            e.add_object(_account_object(m, render))
    note = MISPObject("annotation", strict=True)
    note.add_attribute("text", value=_method_text(ev, render))
    note.add_attribute("type", value="Analysis")
    note.add_attribute("format", value="text")
    e.add_object(note)
    if render.include_text:
        for c in ev.clusters:
            for text in c.texts:
                post = MISPObject("microblog", strict=True)
                post.add_attribute("post", value=render.text(text))
                e.add_object(post)
    for a in e.attributes:
        a.distribution = INHERIT
    for o in e.objects:
        o.distribution = INHERIT
        for a in o.attributes:
            a.distribution = INHERIT
    return json.loads(json.dumps(e.to_feed(with_meta=False, with_distribution=True), default=str))


def _account_object(m: Account, render: Rendering) -> MISPObject:
    props = render.account(m)
    ext = props["extensions"][ACCOUNT_EXTENSION]
    template, id_rel, handle_rel = ACCOUNT_TEMPLATES.get(
        m.platform, ("user-account", "user-id", "username")
    )
    obj = MISPObject(template, strict=True)
    obj.add_attribute(id_rel, value=str(props["user_id"]))
    login = props.get("account_login") or ext.get("login_pseudonym")
    if login:
        obj.add_attribute(handle_rel, value=str(login))
    if template == "user-account":
        obj.add_attribute("account-type", value=props["account_type"])
    if props.get("display_name") and template == "twitter-account":
        obj.add_attribute("displayed-name", value=props["display_name"])
    obj.comment = (
        f"{m.platform} account, shared as itself ({m.exempt})"
        if m.exempt
        else f"{m.platform} account pseudonymised: HMAC-SHA256 under community "
        f"{render.community} key v{render.key_version}"
    )
    return obj


def _method_text(ev: Evidence, render: Rendering) -> str:
    lines = [
        ev.description,
        "",
        f"DISARM Red Framework v{disarm.version()} (CC BY-SA 4.0, DISARM Foundation); MISP "
        "galaxy tags use the v1.4 names.",
    ]
    for tid, why in sorted(ev.techniques.items()):
        lines.append(f"- {tid} {disarm.technique(tid).name}: {', '.join(why)}")
    for c in ev.clusters:
        lines.append(
            f"Cluster {c.cluster_id} of run {c.run_id}: {c.size} accounts, suspicion "
            f"{c.suspicion if c.suspicion is None else round(c.suspicion, 2)}, detections "
            f"{', '.join(c.detections)}; parameters {json.dumps(c.runs, sort_keys=True, default=str)}"
        )
    lines.append(
        f"Accounts pseudonymised per sharing community ({render.community}, key "
        f"v{render.key_version}); post text {'included' if render.include_text else 'excluded'}."
    )
    return "\n".join(lines)


def check_event(document: dict[str, Any], *, forbidden: set[str]) -> checks.CheckReport:
    """The event reloads in pymisp, carries one TLP tag that is not red, only known
    DISARM tags, and no raw identifier of an ordinary account."""
    report = checks.CheckReport(objects=1)
    try:
        e = MISPEvent()
        e.load(json.dumps(document))  # load() consumes a dict it is given
    except Exception as exc:  # pymisp raises several types on malformed input
        report.errors.append(f"pymisp cannot load the event: {exc}")
        return report
    tags = [t.name for t in e.tags]
    tlps = [t for t in tags if t.startswith("tlp:")]
    if len(tlps) != 1 or tlps[0] == "tlp:red":
        report.errors.append(f"needs exactly one TLP tag, not red: {tlps}")
    names = set(disarm.galaxy().values())
    for t in tags:
        if t.startswith("misp-galaxy:disarm-techniques="):
            if t.split("=", 1)[1].strip('"') not in names:
                report.errors.append(f"unknown DISARM galaxy tag {t}")
        elif t.startswith("disarm:technique=") and not disarm.is_known(
            t.split("=", 1)[1].strip('"')
        ):
            report.errors.append(f"unknown DISARM technique tag {t}")
    report.errors += checks.check_pseudonymity(document, forbidden)
    return report
