"""The data of every page, as one dict per page: the HTML route renders it with a
template, its JSON twin under ``/api`` returns it as it is. Only service calls here;
what is missing (no detection yet, no alerts module, no account signals) comes back as
``{"computed": False, "message": ...}`` so the page can say so.
"""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from ..errors import CivicSentryError, InvalidParams, NotFound, PermissionDenied, WorkspaceError
from ..service import clusters as _clusters
from ..service import explore, shared
from ..service import report as _report
from ..service import summary as _summary
from ..service import users as _users
from ..service.handles import with_handles
from ..store import Workspace
from .auth import User
from .deps import Paging, audited, page, window

OPEN_STATUSES = ("new", "triaged", "escalated")


def optional(name: str) -> ModuleType | None:
    """A service module of a stage that may not be installed in this version."""
    try:
        return importlib.import_module(f"civicsentry.service.{name}")
    except ImportError:
        return None


def not_computed(message: str) -> dict[str, Any]:
    return {"computed": False, "message": message}


# -- overview --------------------------------------------------------------------------


def overview(ws: Workspace) -> dict[str, Any]:
    info = _summary.workspace_info(ws)
    alerts = optional("alerts")
    open_alerts: dict[str, Any] = not_computed("Alerts are not computed yet (`civicsentry warn`).")
    if alerts is not None and explore.has_rows(ws, "alerts"):
        open_alerts = {
            "computed": True,
            "total": alerts.count_alerts(ws, status=list(OPEN_STATUSES)),
            "items": alerts.list_alerts(ws, status=list(OPEN_STATUSES), limit=10),
        }
    try:
        clusters: dict[str, Any] = {
            "computed": True,
            "items": _clusters.top_clusters(ws, limit=10),
        }
    except (InvalidParams, WorkspaceError) as e:
        clusters = not_computed(str(e))
    return {
        "workspace": {
            "posts": info.posts,
            "accounts": info.accounts,
            "actions": info.actions,
            "quarantined": info.quarantined,
            "platforms": list(info.platforms),
        },
        "volume": explore.volume(ws),
        "open_alerts": open_alerts,
        "clusters": clusters,
    }


# -- alerts ----------------------------------------------------------------------------


def _alerts() -> ModuleType:
    alerts = optional("alerts")
    if alerts is None:
        raise NotFound("Alerts are not available in this version of CivicSentry.")
    return alerts


def alert_list(
    request: Request,
    ws: Workspace,
    p: Paging,
    *,
    status: list[str] | None,
    severity: list[str] | None,
    rule: str | None,
) -> dict[str, Any]:
    alerts = optional("alerts")
    missing = "No alerts yet: alert rules run with `civicsentry warn`."
    if alerts is None:
        return not_computed(missing) | page(request, [], 0, p)
    filters: dict[str, Any] = {"status": status or None, "severity": severity or None, "rule": rule}
    items = alerts.list_alerts(ws, **filters, limit=p.limit, offset=p.offset)
    # Asked only when the page is empty: a row found proves the table is not.
    if not items and not explore.has_rows(ws, "alerts"):
        return not_computed(missing) | page(request, [], 0, p)
    total = counted(items, p) or alerts.count_alerts(ws, **filters)
    return page(request, items, total, p) | {
        "computed": True,
        "filters": filters,
        "statuses": list(alerts.STATUSES),
        "severities": list(alerts.SEVERITIES),
    }


def counted(items: list[Any], p: Paging) -> int | None:
    """How many match in all, when one page tells: a page that is neither empty nor
    full is the last (None: count them)."""
    return p.offset + len(items) if 0 < len(items) < p.limit else None


def alert_detail(ws: Workspace, alert_id: int, user: User) -> dict[str, Any]:
    alerts = _alerts()
    if user.is_partner:
        shared.check_partner_access(ws, user.partner_group, "alert", alert_id)
    try:
        alert = alerts.get_alert(ws, alert_id)
    except InvalidParams as e:
        raise NotFound(str(e)) from e
    transitions = getattr(alerts, "TRANSITIONS", {}).get(alert["status"], ())
    return {
        "alert": alert,
        "transitions": [] if user.is_partner else list(transitions),
        "cluster": _alert_cluster(ws, alert),
        "share": share_targets(ws, user),
    }


def _alert_cluster(ws: Workspace, alert: dict[str, Any]) -> dict[str, Any] | None:
    """The cluster an alert's evidence names, if it still exists."""
    ev = alert.get("evidence") or {}
    cid = ev.get("cluster_id") if isinstance(ev, dict) else None
    if cid is None:
        return None
    try:
        return explore.cluster_summary(ws, int(cid), ev.get("run_id"))
    except (CivicSentryError, ValueError, TypeError):
        return None


def triage(
    ws: Workspace, alert_id: int, user: User, status: str, note: str | None
) -> dict[str, Any]:
    alerts = _alerts()
    try:
        alerts.get_alert(ws, alert_id)
    except InvalidParams as e:
        raise NotFound(str(e)) from e
    return alerts.triage(ws, alert_id, status=status, actor=user.username, note=note or None)


# -- clusters --------------------------------------------------------------------------


def cluster_list(
    request: Request,
    ws: Workspace,
    p: Paging,
    *,
    run_id: int | None,
    min_size: int,
    min_suspicion: float,
    modality: str | None,
) -> dict[str, Any]:
    filters = {"min_size": min_size, "min_suspicion": min_suspicion, "modality": modality}
    try:
        rows, total = _clusters.cluster_page(ws, run_id, limit=p.limit, offset=p.offset, **filters)
    except (InvalidParams, WorkspaceError) as e:
        return not_computed(str(e)) | page(request, [], 0, p)
    return page(request, rows, total, p) | {
        "computed": True,
        "run_id": rows[0]["run_id"] if rows else run_id,
    }


def cluster_detail(
    request: Request, ws: Workspace, cluster_id: int, run_id: int | None, p: Paging, user: User
) -> dict[str, Any]:
    cluster_access(ws, cluster_id, run_id, user)
    # One read of `runs` checks the run and gives the methods; handles are looked up
    # for the page of members shown only.
    try:
        rid, read = _clusters.clustered_runs(ws, run_id)
    except InvalidParams as e:
        raise NotFound(str(e)) from e
    # Recorded from here on, an unknown cluster id too: the log keeps who asked for what.
    with audited(ws, "view.cluster", {"run_id": rid, "cluster_id": cluster_id}, user.username):
        try:
            c = _clusters.cluster_row(ws, rid, cluster_id)
        except InvalidParams as e:
            raise NotFound(str(e)) from e
        members = _clusters.members_of(ws, rid, cluster_id, handles=False)
        return {
            "cluster": c,
            "delay_histogram": explore.delay_histogram(ws, c["run_id"], cluster_id),
            "methods": run_params(ws, c["run_id"], c.get("clustering_run_id"), read=read),
            "share": share_targets(ws, user),
            "members": page(request, with_handles(ws, window(members, p)), len(members), p),
        }


def run_params(
    ws: Workspace, *run_ids: int | None, read: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The ``runs`` rows (parameters, versions) that made a result (``read``: rows of
    ``runs`` already read, as ``explore.runs`` takes them)."""
    return explore.runs(ws, [int(r) for r in run_ids if r is not None], read=read)


# -- accounts --------------------------------------------------------------------------


def account_list(
    request: Request,
    ws: Workspace,
    p: Paging,
    *,
    min_score: float | None = None,
    platform: str | None = None,
    foreign_only: bool = False,
) -> dict[str, Any]:
    accounts = optional("accounts")
    missing = "Account signals are not computed yet (`civicsentry accounts score`)."
    if accounts is None:
        return not_computed(missing) | page(request, [], 0, p)
    filters: dict[str, Any] = {
        "min_score": min_score,
        "platform": platform,
        "foreign_only": foreign_only,
    }
    # One read of `runs` gives the latest signals run here and in top_accounts.
    runs = explore.read_runs(ws, [accounts.RUN_STEP])
    run_id = accounts.latest_signals_run_id(ws, runs=runs)
    rows = explore.signals_page(ws, run_id, limit=p.limit, offset=p.offset, **filters)
    # Asked only when the page is empty: a row found proves the table is not.
    if not rows and not explore.has_rows(ws, "account_signals"):
        return not_computed(missing) | page(request, [], 0, p)
    scores = [s for _, s in rows]
    # The page's lowest score is a filter DuckDB applies while scanning, so only the
    # page's rows are read whole (the id list alone is checked row by row afterwards).
    bound = min(scores) if scores and None not in scores else min_score
    items = (
        accounts.top_accounts(
            ws,
            account_ids=[a for a, _ in rows],
            limit=None,
            runs=runs,
            **(filters | {"min_score": bound}),
        )
        if rows
        else []
    )
    total = explore.count_signals(ws, run_id, **filters)
    return page(request, items, total, p) | {"computed": True, "filters": filters}


def account_detail(
    request: Request, ws: Workspace, account_id: str, p: Paging, user: User
) -> dict[str, Any]:
    # One read of the account's posts gives the page and, when it holds them all, the
    # activity figures and rhythm; one read of `runs` gives the clustered detection run
    # and the signals run (docs/benchmarks.md, `web`).
    accounts = optional("accounts")
    steps = ["detect", _clusters.RUN_STEP] + ([accounts.RUN_STEP] if accounts else [])
    runs = explore.read_runs(ws, steps)
    # Recorded while the view is built, an unknown account id too: the log keeps who
    # looked for whom.
    with audited(ws, "view.account", {"account_id": account_id}, user.username):
        data = explore.account_overview(
            ws, account_id, posts_limit=p.limit, posts_offset=p.offset, runs=runs
        )
        return _with_signals(request, ws, account_id, data, runs, accounts, p)


def _with_signals(
    request: Request,
    ws: Workspace,
    account_id: str,
    data: dict[str, Any],
    runs: list[dict[str, Any]],
    accounts: ModuleType | None,
    p: Paging,
) -> dict[str, Any]:
    """The account view's data with its signals and its page of posts."""
    posts = data.pop("posts")
    signals: dict[str, Any] = not_computed("Account signals are not computed yet.")
    if accounts is not None:
        try:
            # The overview counted the posts per weekday and hour already (the rhythm's
            # UTC grid); the profile fields and timeline of account_profile are not shown.
            hours = [n for day in data["rhythm"]["counts"] for n in day]
            profile = accounts.signals_profile(ws, account_id, hour_counts=hours, runs=runs)
            signals = {"computed": True} | {
                k: profile[k]
                for k in (
                    "run",
                    "score",
                    "rank",
                    "coverage",
                    "top_signals",
                    "signals",
                    "schedule",
                    "rhythm",
                )
            }
        except CivicSentryError as e:
            # Asked only now: a signals row found proves the table is not empty.
            if explore.has_rows(ws, "account_signals"):
                signals = not_computed(str(e))
    total = int(data["activity"]["posts"])
    return data | {"signals": signals, "posts": page(request, posts, total, p)}


# -- posts -------------------------------------------------------------------------------


def search(
    request: Request, ws: Workspace, p: Paging, user: User, **filters: Any
) -> dict[str, Any]:
    items = explore.search_posts(ws, **filters, limit=p.limit, offset=p.offset)
    total = counted(items, p) or explore.count_posts(ws, **filters)
    if filters.get("q"):
        ws.audit("search.posts", {"q": filters["q"], "matches": total}, user.username)
    return page(request, items, total, p) | {"filters": filters}


# -- narratives and claims ---------------------------------------------------------------


def narrative_list(request: Request, ws: Workspace, p: Paging, *, sort: str) -> dict[str, Any]:
    mod = optional("narratives")
    if mod is None or not explore.has_rows(ws, "narratives"):
        return not_computed("Narratives are not computed yet (`civicsentry narratives`).") | page(
            request, [], 0, p
        )
    rows = mod.list_narratives(ws, limit=None, sort=sort)  # a few hundred per run at most
    return page(request, window(rows, p), len(rows), p) | {
        "computed": True,
        "sort": sort,
        "sorts": list(mod.SORTS),
    }


def narrative_detail(ws: Workspace, narrative_id: int, run_id: int | None) -> dict[str, Any]:
    mod = optional("narratives")
    if mod is None or not explore.has_rows(ws, "narratives"):
        raise NotFound("Narratives are not computed yet (`civicsentry narratives`).")
    try:
        return {"narrative": mod.narrative_detail(ws, narrative_id, run_id, posts=50)}
    except InvalidParams as e:
        raise NotFound(str(e)) from e


def claim_list(
    request: Request, ws: Workspace, p: Paging, *, claim_id: str | None, method: str | None
) -> dict[str, Any]:
    mod = optional("claims")
    if mod is None or not explore.has_rows(ws, "claim_matches"):
        return not_computed("No claim matches yet (`civicsentry claims match`).") | page(
            request, [], 0, p
        )
    filters = {"claim_id": claim_id, "method": method}
    rows = mod.list_matches(ws, limit=p.offset + p.limit, **filters)[p.offset :]
    total = explore.count_matches(ws, mod.latest_match_run(ws), **filters)
    return page(request, rows, total, p) | {"computed": True, "filters": filters}


# -- sharing -----------------------------------------------------------------------------


def sharing(request: Request, ws: Workspace, p: Paging, user: User) -> dict[str, Any]:
    group = user.partner_group if user.is_partner else None
    if not shared.available(ws):
        return not_computed("Nothing has been shared yet (`civicsentry share export`).") | page(
            request, [], 0, p
        )
    items = shared.shared(ws, group=group, limit=p.limit, offset=p.offset)
    total = shared.count_shared(ws, group=group)
    return page(request, items, total, p) | {"computed": True, "group": group}


# -- admin -------------------------------------------------------------------------------


def users_page(request: Request, ws: Workspace, p: Paging) -> dict[str, Any]:
    items = _users.list_users(ws, limit=p.limit, offset=p.offset)
    return page(request, items, _users.count_users(ws), p) | {
        "roles": list(_users.ROLES),
        "tokens": _users.list_tokens(ws),
    }


def audit_page(request: Request, ws: Workspace, p: Paging, **filters: Any) -> dict[str, Any]:
    items = _users.audit_entries(ws, **filters, limit=p.limit, offset=p.offset)
    return page(request, items, _users.count_audit(ws, **filters), p) | {"filters": filters}


def my_tokens(ws: Workspace, user: User) -> dict[str, Any]:
    return {"user": user.as_dict(), "tokens": _users.list_tokens(ws, username=user.username)}


def own_token(ws: Workspace, user: User, token_id: int) -> None:
    """Refuse to touch another user's token (admins may)."""
    rows = _users.list_tokens(ws, token_id=token_id)
    if not rows:
        raise NotFound(f"No token {token_id}.")
    if user.role != "admin" and rows[0]["username"] != user.username:
        raise PermissionDenied("That token belongs to another user.")


def cluster_access(ws: Workspace, cluster_id: int, run_id: int | None, user: User) -> None:
    """Partners only see clusters shared with their group (of that detection run)."""
    if user.is_partner:
        try:
            rid = _clusters.clustered_run_id(ws, run_id)
        except (InvalidParams, WorkspaceError):
            rid = run_id
        shared.check_partner_access(ws, user.partner_group, "cluster", cluster_id, rid)


# -- reports -----------------------------------------------------------------------------


def report_response(
    ws: Workspace, kind: str, object_id: int, run_id: int | None, fmt: str, user: User
) -> Response:
    """The incident report as a download; served HTML carries a CSP that lets only its
    own style block apply (it has no script)."""
    if kind not in ("clusters", "alerts"):
        raise NotFound(f"No report kind {kind!r}: use clusters or alerts.")
    target = {"cluster_id": object_id} if kind == "clusters" else {"alert_id": object_id}
    name = f"civicsentry-{kind[:-1]}-{object_id}"
    if fmt == "pdf":
        with tempfile.TemporaryDirectory(prefix="civicsentry-report-") as tmp:
            out = Path(tmp) / f"{name}.pdf"
            _report.write_report(ws, out, run_id=run_id, fmt="pdf", actor=user.username, **target)
            data = out.read_bytes()
        return Response(
            data,
            media_type="application/pdf",
            headers={"content-disposition": f'attachment; filename="{name}.pdf"'},
        )
    html, _ = _report.render_report(ws, run_id=run_id, actor=user.username, **target)
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{name}.html"',
            "content-security-policy": _report.style_csp(),
        },
    )


# -- sharing with partners -----------------------------------------------------------------

TLP_CHOICES = ("clear", "green", "amber", "amber+strict")


def share_targets(ws: Workspace, user: User) -> dict[str, Any] | None:
    """The collections a staff user can publish to (None: sharing is not set up)."""
    mod = optional("share")
    if mod is None or user.is_partner:
        return None
    colls = shared.collections(ws)
    return {"collections": colls, "tlp": list(TLP_CHOICES)} if colls else None


def share(
    ws: Workspace,
    user: User,
    *,
    kind: str,
    object_id: int,
    run_id: int | None,
    collection: str,
    tlp: str,
) -> dict[str, Any]:
    """Publish a cluster or an alert to a partner collection (STIX 2.1, pseudonymised,
    under ``tlp``) through the sharing stage, which checks, records and audits it."""
    mod = optional("share")
    if mod is None:
        raise NotFound("Sharing is not available in this version of CivicSentry.")
    if kind not in ("cluster", "alert"):
        raise InvalidParams(f"Share a cluster or an alert, not {kind!r}.")
    target = {"cluster": object_id, "run_id": run_id} if kind == "cluster" else {"alert": object_id}
    result = mod.export_share(
        ws, **target, collection=collection, tlp_level=tlp, actor=user.username
    )
    keep = ("share_id", "scope", "subject", "tlp", "community", "recipient", "objects", "published")
    return {k: getattr(result, k) for k in keep}
