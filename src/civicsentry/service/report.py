"""civicsentry report: a self-contained HTML incident report (and PDF) for a cluster or
an alert: summary, evidence tables, charts and the network picture, and the methods and
parameters that produced them.

Self-contained means one file with no script and no external reference: styles inline,
charts and the network as inline SVG, links to posts written as text. Post text,
handles and URLs are escaped by the template engine (autoescape). When the dashboard
serves a report it sends a Content-Security-Policy allowing only this file's own style
block (by hash), so nothing in it can run or fetch.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from .. import __version__
from ..errors import BackendUnavailable, InvalidParams, NotFound
from ..store import Workspace
from . import charts, explore
from . import clusters as _clusters

#: Most members drawn in the network picture (the strongest are kept, the cut is said).
PICTURE_NODES = 1500
FORMATS = ("html", "pdf")
CAVEATS = (
    "Apparent coordination may be coincidence: accounts that share popular content at "
    "the same time co-act without any plan. The significance test controls for each "
    "account's activity and each object's popularity, not for every explanation.",
    "The suspicion score is a triage aid, not proof: read the evidence before acting.",
    "Times are UTC. Post texts, handles and links are reproduced as found and may be "
    "hostile; links are shown as text and were not visited.",
)

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;color:#111827;margin:2rem auto;max-width:60rem;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:1px solid #d1d5db;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #e5e7eb;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#f3f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.tlp{display:inline-block;padding:.1rem .5rem;background:#111827;color:#fbbf24;font-weight:700}
.muted{color:#6b7280}.text{white-space:pre-wrap;word-break:break-word;max-width:32rem}
pre{background:#f9fafb;border:1px solid #e5e7eb;padding:.5rem;white-space:pre-wrap;word-break:break-word}
svg{max-width:100%;height:auto}
@media print{body{margin:0}h2{break-after:avoid}table{break-inside:auto}}
""".strip()

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{ title }}</title><style>{{ style }}</style></head><body>
<p><span class="tlp">TLP:{{ tlp }}</span></p>
<h1>{{ title }}</h1>
<p class="muted">Generated {{ generated }} by {{ actor }} with CivicSentry {{ version }}
from workspace {{ workspace }}.</p>
{% if alert %}
<h2>Alert</h2>
<table>
<tr><th>alert</th><td>{{ alert.alert_id }}</td></tr>
<tr><th>title</th><td>{{ alert.title }}</td></tr>
<tr><th>rule</th><td>{{ alert.rule }}</td></tr>
<tr><th>severity</th><td>{{ alert.severity }}</td></tr>
<tr><th>status</th><td>{{ alert.status }}</td></tr>
<tr><th>first raised</th><td>{{ alert.first_seen }}</td></tr>
<tr><th>last raised</th><td>{{ alert.last_seen }} ({{ alert.count }} times)</td></tr>
<tr><th>evidence time range</th><td>{{ alert.evidence_from }} – {{ alert.evidence_to }}</td></tr>
<tr><th>DISARM techniques</th><td>{% for t, name in (alert.disarm_names or {}).items() %}{{ t }} {{ name }}{% if not loop.last %}; {% endif %}{% endfor %}</td></tr>
</table>
<h3>Evidence</h3>
<pre>{{ alert_evidence }}</pre>
<h3>History</h3>
<table><tr><th>when</th><th>who</th><th>event</th><th>from</th><th>to</th><th>note</th></tr>
{% for e in alert.events %}<tr><td>{{ e.ts }}</td><td>{{ e.actor }}</td><td>{{ e.event }}</td>
<td>{{ e.from_status or "" }}</td><td>{{ e.to_status or "" }}</td><td class="text">{{ e.note or "" }}</td></tr>{% endfor %}
</table>
{% endif %}
{% if cluster %}
<h2>Cluster {{ cluster.cluster_id }} of detection run {{ cluster.run_id }}</h2>
<p>{{ cluster.size }} accounts, {{ cluster.edges }} edges between them (density
{{ "%.2f"|format(cluster.density or 0) }}), {{ cluster.external_edges }} edges to accounts
outside, {{ cluster.objects }} objects co-acted on, active from {{ cluster.first_t }} to
{{ cluster.last_t }}. Suspicion <b>{{ "%.2f"|format(cluster.suspicion or 0) }}</b>
(a triage aid, not proof).</p>
<table><tr><th>component</th><th>value</th><th>weight</th><th>contribution</th><th>raw</th><th>meaning</th></tr>
{% for name, c in (cluster.suspicion_components or {}).items() %}
<tr><td>{{ name }}</td><td class="num">{{ "-" if c.value is none else "%.2f"|format(c.value) }}</td>
<td class="num">{{ "%.2f"|format(c.weight) }}</td><td class="num">{{ "%.3f"|format(c.contribution) }}</td>
<td>{{ c.raw }}</td><td>{{ c.means }}</td></tr>{% endfor %}
</table>
<h3>Network</h3>
<p class="muted">Node size: strength inside the cluster; colour: co-action share (blue low,
red high). {{ picture_note }}</p>
{{ network_svg }}
<h3>Timeline (posts by members per hour, UTC)</h3>
{{ timeline_svg }}
<h3>Delays between co-acting accounts</h3>
{{ delay_svg }}
<h3>Top objects</h3>
<table><tr><th>type</th><th>object</th><th>members</th><th>shares</th><th>label</th></tr>
{% for kind, items in (cluster.top_objects or {}).items() %}{% for o in items %}
<tr><td>{{ kind }}</td><td class="text">{{ o.object }}</td><td class="num">{{ o.members }}</td>
<td class="num">{{ o.shares }}</td><td class="text">{{ o.label or "" }}</td></tr>{% endfor %}{% endfor %}
</table>
<h3>Members{% if members|length < cluster.size %} (the {{ members|length }} strongest of {{ cluster.size }}){% endif %}</h3>
<table><tr><th>account</th><th>handle</th><th>degree</th><th>strength</th><th>co-action share</th></tr>
{% for m in members %}<tr><td>{{ m.account_id }}</td><td>{{ m.handle or "" }}</td>
<td class="num">{{ m.degree }}</td><td class="num">{{ "%g"|format(m.strength or 0) }}</td>
<td class="num">{{ "-" if m.coaction_share is none else "%.2f"|format(m.coaction_share) }}</td></tr>{% endfor %}
</table>
<h3>Posts by members in the active period (first {{ posts|length }})</h3>
<table><tr><th>time</th><th>account</th><th>post</th><th>text</th><th>links (not visited)</th></tr>
{% for p in posts %}<tr><td>{{ p.created_at }}</td><td>{{ p.handle or p.account_id }}</td>
<td>{{ p.post_id }}</td><td class="text">{{ p.text or "" }}</td>
<td class="text">{{ (p.urls or [])|join(" ") }}</td></tr>{% endfor %}
</table>
{% endif %}
<h2>Methods and parameters</h2>
{% for r in methods %}
<h3>Run {{ r.run_id }}: {{ r.step }} / {{ r.name }}</h3>
<p class="muted">CivicSentry {{ r.civicsentry_version }}, started {{ r.started_at }}.</p>
<pre>{{ r.params_json }}</pre>
{% else %}<p>No run recorded.</p>{% endfor %}
<h2>Caveats</h2>
<ul>{% for c in caveats %}<li>{{ c }}</li>{% endfor %}</ul>
</body></html>
"""

_env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_template = _env.from_string(TEMPLATE)


@dataclass(frozen=True)
class ReportSummary:
    path: str
    format: str
    subject: str  # "cluster 3 of run 1" / "alert 7"
    bytes: int


def style_csp() -> str:
    """The Content-Security-Policy a served report needs: its own style block, nothing
    else (no script, no fetch, no frame)."""
    digest = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _layout(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> dict[str, Any]:
    """Fruchterman–Reingold positions (igraph), deterministic: seeded on a circle."""
    import igraph as ig

    index = {n["id"]: i for i, n in enumerate(nodes)}
    pairs = [
        (index[e["source"]], index[e["target"]])
        for e in edges
        if e["source"] in index and e["target"] in index
    ]
    g = ig.Graph(n=len(nodes), edges=pairs)
    seed = [
        [
            math.cos(2 * math.pi * i / max(1, len(nodes))),
            math.sin(2 * math.pi * i / max(1, len(nodes))),
        ]
        for i in range(len(nodes))
    ]
    coords = g.layout_fruchterman_reingold(seed=seed, niter=300) if len(nodes) > 1 else [[0, 0]]
    return {n["id"]: (float(coords[i][0]), float(coords[i][1])) for i, n in enumerate(nodes)}


def _cluster_parts(ws: Workspace, cluster_id: int, run_id: int | None) -> dict[str, Any]:
    try:
        c = _clusters.cluster_detail(ws, cluster_id, run_id)
    except InvalidParams as e:
        raise NotFound(str(e)) from e
    members = c.pop("members")
    net = explore.cluster_network(ws, cluster_id, c["run_id"])
    nodes = sorted(net["nodes"], key=lambda n: -(n["strength"] or 0))[:PICTURE_NODES]
    keep = {n["id"] for n in nodes}
    edges = [e for e in net["edges"] if e["source"] in keep and e["target"] in keep]
    note = (
        f"{len(nodes)} of {len(net['nodes'])} members, {len(edges)} of {net['edges_total']} edges."
    )
    timeline = sorted((c.get("timeline") or {}).items())
    delays = explore.cluster_delays(ws, cluster_id, c["run_id"])
    return {
        "cluster": c,
        "members": members[:500],
        "posts": explore.cluster_posts(ws, cluster_id, c["run_id"], limit=100),
        "picture_note": note,
        "network_svg": Markup(
            charts.network_svg(nodes, edges, _layout(nodes, edges), title=f"cluster {cluster_id}")
        ),
        "timeline_svg": Markup(
            charts.bar_chart(
                [(str(t)[:13].replace("T", " "), n) for t, n in timeline], title="posts per hour"
            )
        ),
        "delay_svg": Markup(
            charts.bar_chart(
                [(lab, n) for lab, n in delays["bins"]],
                title="internal edges by typical delay",
                color=charts.PALETTE[3],
                max_labels=12,
            )
        ),
        "run_ids": [c["run_id"], c.get("clustering_run_id")],
    }


def render_report(
    ws: Workspace,
    *,
    cluster_id: int | None = None,
    alert_id: int | None = None,
    run_id: int | None = None,
    actor: str | None = None,
    tlp: str = "AMBER",
) -> tuple[str, str]:
    """(HTML, subject) of the report on a cluster or an alert (with the cluster its
    evidence names, if any)."""
    if (cluster_id is None) == (alert_id is None):
        raise InvalidParams("Report on one thing: give a cluster id or an alert id.")
    ctx: dict[str, Any] = {"alert": None, "cluster": None}
    run_ids: list[int | None] = []
    if alert_id is not None:
        from . import alerts as _alerts

        try:
            alert = _alerts.get_alert(ws, alert_id)
        except InvalidParams as e:
            raise NotFound(str(e)) from e
        ev = alert.get("evidence") or {}
        ctx["alert"] = alert
        ctx["alert_evidence"] = json.dumps(ev, indent=2, default=str, ensure_ascii=False)
        run_ids.append(alert.get("run_id"))
        subject = f"alert {alert_id}"
        if isinstance(ev, dict) and ev.get("cluster_id") is not None:
            try:
                parts = _cluster_parts(ws, int(ev["cluster_id"]), ev.get("run_id"))
            except (NotFound, InvalidParams):
                parts = {}
            ctx |= parts
            run_ids += parts.get("run_ids", [])
        title = f"Incident report: alert {alert_id} — {alert.get('title') or alert['rule']}"
    else:
        assert cluster_id is not None
        parts = _cluster_parts(ws, cluster_id, run_id)
        ctx |= parts
        run_ids += parts["run_ids"]
        subject = f"cluster {cluster_id} of run {parts['cluster']['run_id']}"
        title = f"Incident report: coordinated cluster {cluster_id}"
    methods = explore.runs(ws, sorted({int(r) for r in run_ids if r is not None}))
    for r in methods:
        r["params_json"] = json.dumps(r.get("params"), indent=2, sort_keys=True, default=str)
    html = _template.render(
        ctx,
        title=title,
        tlp=tlp.upper(),
        style=Markup(STYLE),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        actor=actor or "CivicSentry",
        version=__version__,
        workspace=Path(ws.path).name,
        methods=methods,
        caveats=CAVEATS,
    )
    ws.audit("export.report", {"subject": subject, "format": "html"}, actor)
    return html, subject


def write_report(
    ws: Workspace,
    path: str | Path,
    *,
    cluster_id: int | None = None,
    alert_id: int | None = None,
    run_id: int | None = None,
    fmt: str | None = None,
    actor: str | None = None,
    tlp: str = "AMBER",
) -> ReportSummary:
    """Write the report as HTML or PDF (format from ``fmt`` or the file's suffix; PDF is
    printed by headless Chromium)."""
    out = Path(path)
    fmt = fmt or (out.suffix.lstrip(".").lower() or "html")
    if fmt not in FORMATS:
        raise InvalidParams(f"Report format is html or pdf, not {fmt!r}.")
    html, subject = render_report(
        ws, cluster_id=cluster_id, alert_id=alert_id, run_id=run_id, actor=actor, tlp=tlp
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "html":
        out.write_text(html, encoding="utf-8")
    else:
        html_to_pdf(html, out)
    return ReportSummary(str(out), fmt, subject, out.stat().st_size)


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(html: str, pdf: Path) -> None:
    """Print HTML to PDF with headless Chromium (Debian: `apt-get install chromium`)."""
    browser = find_chromium()
    if browser is None:
        raise BackendUnavailable(
            "PDF reports are printed by Chromium, which is not installed: "
            "`apt-get install chromium`, or write .html."
        )
    with tempfile.TemporaryDirectory(prefix="civicsentry-pdf-") as tmp:
        src = Path(tmp) / "report.html"
        src.write_text(html, encoding="utf-8")
        cmd = [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp}/profile",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf.resolve()}",
            src.as_uri(),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0 or not pdf.exists():
            raise BackendUnavailable(
                f"Chromium could not print the report (exit {done.returncode}): "
                f"{done.stderr.strip()[-300:]}"
            )
