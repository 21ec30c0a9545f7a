"""The Python API: a ``Workspace`` whose methods are the service verbs, for notebooks.

>>> import civicsentry
>>> ws = civicsentry.open("civicsentry.duckdb")
>>> report = ws.ingest(["tweets.jsonl.gz"])
>>> ws.table("posts").arrow()        # any table, as a DuckDB relation
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import store
from .errors import InvalidParams
from .service import ingest as _ingest
from .service import summary as _summary


class Workspace(store.Workspace):
    """A workspace with the verbs of the CLI as methods (same service functions)."""

    def ingest(
        self,
        paths: Sequence[str | Path] | str | Path,
        *,
        format: str | None = None,
        mapping: Mapping[str, str] | None = None,
        platform: str | None = None,
        encoding: str = "utf-8",
        strict: bool = False,
    ) -> _ingest.IngestReport:
        """Ingest files, folders or globs; see ``civicsentry ingest``."""
        if isinstance(paths, str | Path):
            paths = [paths]
        return _ingest.ingest_files(
            self,
            paths,
            format=format,
            mapping=mapping,
            platform=platform,
            encoding=encoding,
            strict=strict,
        )

    def info(self) -> _summary.WorkspaceInfo:
        """Counts per platform, source and kind; see ``civicsentry info``."""
        return _summary.workspace_info(self)

    def quarantine(
        self, *, source: str | None = None, limit: int | None = 50
    ) -> list[dict[str, Any]]:
        """Quarantined records with where and why; see ``civicsentry quarantine``."""
        return _summary.quarantined(self, source=source, limit=limit)

    def detect(self, *, cluster: bool = True, **params: Any) -> Any:
        """Detect coordination (``civicsentry detect``; parameters as
        ``service.detect.detect_coordination``) and, by default, cluster the result.
        ``engine="spark"`` (with ``spark_master``, ``spark_conf``, ``spark_input``,
        ``spark_dir``) runs it on Apache Spark (docs/distributed.md). Returns the run's
        ``DetectionSummary``."""
        from .service.detect import detect_coordination

        summary = detect_coordination(self, **params)
        if cluster:
            self.cluster(summary.run_id)
        return summary

    def cluster(self, run_id: int | None = None, **params: Any) -> Any:
        """Leiden clusters of a detection run (default: the latest); see
        ``civicsentry clusters build``."""
        from .service.clusters import cluster_run

        return cluster_run(self, run_id, **params)

    def clusters(self, run_id: int | None = None, *, limit: int = 10) -> list[dict[str, Any]]:
        """The most suspicious clusters of a run, with their explained scores."""
        from .service.clusters import top_clusters

        return top_clusters(self, run_id, limit=limit)

    def network(
        self, run_id: int | None = None, *, library: str = "networkx", **params: Any
    ) -> Any:
        """A run's coordination network as a networkx (default) or igraph graph, with
        cluster and account attributes on the nodes."""
        from .export.network import to_igraph, to_networkx

        if library not in ("networkx", "igraph"):
            raise InvalidParams(f"library is 'networkx' or 'igraph', not {library!r}.")
        make = to_networkx if library == "networkx" else to_igraph
        return make(self, run_id, **params)

    # -- early warning (docs/alerts.md) ----------------------------------------------------
    def warn(
        self, *, rules: Sequence[str | Path] = (), now: Any = None, notify: bool = True
    ) -> Any:
        """Evaluate the alert rules now (``civicsentry warn``); returns a WarnSummary."""
        from .service.alerts import evaluate

        return evaluate(self, rules=rules, now=now, notify=notify)

    def alerts(
        self,
        *,
        status: str | Sequence[str] | None = None,
        severity: str | Sequence[str] | None = None,
        rule: str | Sequence[str] | None = None,
        limit: int | None = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Alerts, most recently raised first (``civicsentry alerts list``)."""
        from .service.alerts import list_alerts

        return list_alerts(
            self, status=status, severity=severity, rule=rule, limit=limit, offset=offset
        )

    def alert(self, alert_id: int) -> dict[str, Any]:
        """One alert with its evidence and history (``civicsentry alerts show``)."""
        from .service.alerts import get_alert

        return get_alert(self, alert_id)

    def triage(
        self, alert_id: int, status: str, *, actor: str, note: str | None = None
    ) -> dict[str, Any]:
        """Move an alert along its lifecycle (``civicsentry alerts triage``)."""
        from .service.alerts import triage

        return triage(self, alert_id, status=status, actor=actor, note=note)

    def watch(self, folders: Sequence[str | Path] = (), **params: Any) -> Any:
        """Follow folders and streams (``civicsentry watch``; parameters as
        ``service.watch.watch``, e.g. ``streams=[url], once=True``)."""
        from .service.watch import watch

        return watch(self, folders=folders, **params)

    def share(self, **params: Any) -> Any:
        """Export a cluster, case or alert as STIX 2.1 or MISP under TLP 2.0, pseudonymised
        (``civicsentry share export``; parameters as ``service.share.export_share``, e.g.
        ``cluster=4, community="eu", tlp_level="amber", collection="eu-partners"``)."""
        from .service.share import export_share

        return export_share(self, **params)

    def share_log(
        self, *, partner: str | None = None, limit: int | None = 50
    ) -> list[dict[str, Any]]:
        """What went to whom (``civicsentry share log``)."""
        from .service.share import share_log

        return share_log(self, partner=partner, limit=limit)

    def pull_partners(self, partner_id: str | None = None) -> Any:
        """Pull partners' TAXII feeds and correlate them (``civicsentry partners pull``)."""
        from .service.share import pull_partners

        return pull_partners(self, partner_id)

    # -- dashboard, users, reports, data protection (docs/web.md) -------------------------
    def report(
        self,
        path: str | Path,
        *,
        cluster: int | None = None,
        alert: int | None = None,
        run_id: int | None = None,
        tlp: str = "AMBER",
    ) -> Any:
        """Write a self-contained HTML (or .pdf) incident report (``civicsentry report``)."""
        from .service.report import write_report

        return write_report(self, path, cluster_id=cluster, alert_id=alert, run_id=run_id, tlp=tlp)

    def search_posts(self, q: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        """Posts whose text contains ``q`` (any case), newest first; filters as
        ``service.explore.search_posts`` (account_id, platform, since, until, limit)."""
        from .service.explore import search_posts

        return search_posts(self, q=q, **filters)

    def add_user(
        self, username: str, *, role: str, password: str, partner_group: str | None = None
    ) -> dict[str, Any]:
        """Create a dashboard user (``civicsentry users add``)."""
        from .service.users import add_user

        return add_user(self, username, role=role, password=password, partner_group=partner_group)

    def create_token(self, username: str, *, name: str = "") -> str:
        """A new API token for ``username``, returned once (``civicsentry users token``)."""
        from .service.users import create_token

        return create_token(self, username, name=name)[0]

    def audit_log(self, **filters: Any) -> list[dict[str, Any]]:
        """Who did what, newest first (``civicsentry audit``; actor, action, since, limit)."""
        from .service.users import audit_entries

        return audit_entries(self, **filters)

    def export_account(self, account_id: str, path: str | Path) -> dict[str, int]:
        """Everything held about one account, as JSON (``civicsentry privacy export``)."""
        from .service.privacy import export_account

        return export_account(self, account_id, path)

    def erase_account(self, account_id: str) -> dict[str, int]:
        """Erase one account's data (``civicsentry privacy erase``)."""
        from .service.privacy import erase_account

        return erase_account(self, account_id)

    def build_narratives(self, **params: Any) -> Any:
        """Cluster posts into narratives (``civicsentry narratives build``; parameters as
        ``service.narratives.build_narratives``). Returns a ``NarrativeSummary``."""
        from .service.narratives import build_narratives

        return build_narratives(self, **params)

    def narratives(
        self, run_id: int | None = None, *, limit: int | None = 20, sort: str = "posts"
    ) -> list[dict[str, Any]]:
        """Narratives of a run (default: the latest), by posts, growth or coordinated share."""
        from .service.narratives import list_narratives

        return list_narratives(self, run_id, limit=limit, sort=sort)

    def import_claims(
        self, paths: Sequence[str | Path] | str | Path, *, format: str | None = None
    ) -> Any:
        """Import fact-checks (``civicsentry claims import``): ClaimReview JSON-LD or HTML,
        Fact Check Tools API responses, ClaimReview data feeds."""
        from .service.claims import import_claims

        if isinstance(paths, str | Path):
            paths = [paths]
        return import_claims(self, paths, format=format)

    def match_claims(self, **params: Any) -> Any:
        """Match posts against the imported claims (``civicsentry claims match``; parameters
        as ``service.claims.match_claims``). Returns a ``MatchSummary``."""
        from .service.claims import match_claims

        return match_claims(self, **params)

    def claim_matches(self, run_id: int | None = None, **filters: Any) -> list[dict[str, Any]]:
        """Posts repeating fact-checked claims, best first (claim_id, method, limit)."""
        from .service.claims import list_matches

        return list_matches(self, run_id, **filters)

    def signals(self, *, run_id: int | None = None, **params: Any) -> Any:
        """Score every account (``civicsentry accounts build``; parameters as
        ``signals.SignalParams``, plus ``run_id``, the detection run for the cluster
        features). Returns a ``SignalsSummary``."""
        from .service.accounts import compute_signals

        return compute_signals(self, run_id=run_id, **params)

    def accounts(self, **filters: Any) -> list[dict[str, Any]]:
        """Accounts of the latest signals run, most suspicious first, each with the
        signals that make its score (filters as ``service.accounts.top_accounts``:
        limit, offset, order_by, foreign_only, min_score, platform, cluster_id, ...)."""
        from .service.accounts import top_accounts

        return top_accounts(self, **filters)

    def account(self, account_id: str, **params: Any) -> dict[str, Any]:
        """One account's explained profile: every signal, its schedule and why it is (not)
        flagged, its hour × weekday rhythm and timeline (``civicsentry accounts show``)."""
        from .service.accounts import account_profile

        return account_profile(self, account_id, **params)
