"""civicsentry warn / watch / alerts list, show, triage, rules."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..detect.windows import parse_duration
from ..errors import InvalidParams
from ..normalise import parse_time
from ..service import alerts as service
from ..service.notifications import notifications
from ..service.watch import watch as watch_service
from ..store import _os_user
from ..warn import load_rules
from .app import DEFAULT_WS, JsonOpt, WorkspaceOpt, app, emit_json, out, workspace

alerts_app = typer.Typer(
    help="Alerts raised by the early-warning rules: list, show, triage (docs/alerts.md).",
    no_args_is_help=True,
)
app.add_typer(alerts_app, name="alerts")

RulesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--rules",
        help="YAML rules file overriding the shipped rules by id (repeatable; docs/alerts.md).",
    ),
]


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if hasattr(value, "strftime") else "-"


def print_alerts(rows: list[dict[str, Any]], total: int | None = None) -> None:
    if not rows:
        out.print("no alerts")
        return
    t = Table("id", "severity", "status", "rule", "raised", "data time (UTC)", "title")
    for a in rows:
        t.add_row(
            str(a["alert_id"]),
            a["severity"],
            a["status"],
            escape(a["rule"]),
            str(a["count"]),
            f"{_when(a['evidence_from'])} .. {_when(a['evidence_to'])}",
            escape(a["title"] or ""),
        )
    out.print(t)
    if total is not None and total > len(rows):
        out.print(f"{len(rows)} of {total} alerts (--limit, --offset for more)")


@alerts_app.command("list")
def list_cmd(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    status: Annotated[
        list[str] | None,
        typer.Option(help="new, triaged, escalated, dismissed, closed (repeatable)."),
    ] = None,
    severity: Annotated[
        list[str] | None, typer.Option(help="low, medium, high, critical (repeatable).")
    ] = None,
    rule: Annotated[list[str] | None, typer.Option(help="Rule id (repeatable).")] = None,
    limit: Annotated[int, typer.Option(help="How many.")] = 50,
    offset: Annotated[int, typer.Option(help="Skip this many first.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Alerts, most recently raised first, with severity, status, how often the same
    situation was raised, its data time range and title."""
    with workspace(workspace_path, read_only=True) as ws:
        rows = service.list_alerts(
            ws, status=status, severity=severity, rule=rule, limit=limit, offset=offset
        )
        total = service.count_alerts(ws, status=status, severity=severity, rule=rule)
    if as_json:
        emit_json({"total": total, "alerts": rows})
    else:
        print_alerts(rows, total)


@alerts_app.command("show")
def show(
    alert_id: Annotated[int, typer.Argument(help="Alert id (from `alerts list`).")],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    as_json: JsonOpt = False,
) -> None:
    """One alert: its evidence (post ids, accounts, objects, time range, the numbers that
    fired the rule), DISARM suggestions and its history."""
    with workspace(workspace_path, read_only=True) as ws:
        a = service.get_alert(ws, alert_id)
        sent = notifications(ws, alert_id=alert_id)
    if as_json:
        emit_json(a | {"notifications": sent})
        return
    ev = a["evidence"] or {}
    out.print(
        f"[bold]alert {a['alert_id']}[/] {a['severity']} · {a['status']} · rule {escape(a['rule'])}"
    )
    out.print(escape(a["title"] or ""))
    out.print(
        f"data time {_when(a['evidence_from'])} .. {_when(a['evidence_to'])} UTC; raised "
        f"{a['count']} time(s), first {_when(a['first_seen'])}, last {_when(a['last_seen'])}"
    )
    if ev.get("numbers"):
        out.print("numbers: " + escape(", ".join(f"{k} {v}" for k, v in ev["numbers"].items())))
    for t in a["disarm"] or []:
        out.print(f"DISARM {t}: {a['disarm_names'].get(t) or '(see the DISARM framework)'}")
    accounts = ev.get("accounts") or []
    if accounts:
        more = ev.get("accounts_total", len(accounts)) - min(len(accounts), 20)
        out.print(
            "accounts: "
            + escape(", ".join(accounts[:20]))
            + (f" ... {more} more" if more > 0 else "")
        )
    for o in (ev.get("objects") or [])[:10]:
        label = f"  {str(o.get('label'))[:100]!r}" if o.get("label") else ""
        out.print(escape(f"object {o.get('type')} {o.get('id')}{label}"))
    if ev.get("posts"):
        out.print("posts: " + escape(", ".join(ev["posts"][:20])))
    if ev.get("caveat"):
        out.print(escape(ev["caveat"]))
    t = Table("when", "who", "event", "status", "note")
    for e in a["events"]:
        change = (
            f"{e['from_status']} -> {e['to_status']}" if e["from_status"] else e["to_status"] or ""
        )
        t.add_row(
            _when(e["ts"]), escape(e["actor"] or ""), e["event"], change, escape(e["note"] or "")
        )
    out.print(t)
    for n in sent:
        out.print(
            f"notification {n['notification_id']} to {escape(n['channel'])}: {n['status']}"
            + (f" ({escape(n['error'])})" if n["error"] else "")
        )


@alerts_app.command("triage")
def triage(
    alert_id: Annotated[int, typer.Argument(help="Alert id.")],
    status: Annotated[
        str, typer.Argument(help="triaged, escalated, dismissed or closed (or back to triaged).")
    ],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    note: Annotated[str | None, typer.Option(help="Why (kept in the alert's history).")] = None,
    actor: Annotated[
        str | None, typer.Option(help="Who (default: cli:<your OS user name>).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Move an alert along its lifecycle: new -> triaged -> escalated/dismissed -> closed.
    Who, when and why go to the alert's history and the audit log."""
    with workspace(workspace_path) as ws:
        a = service.triage(ws, alert_id, status=status, actor=actor or _os_user(), note=note)
    if as_json:
        emit_json(a)
    else:
        e = a["events"][-1]
        out.print(
            f"alert {a['alert_id']}: {e['from_status']} -> {e['to_status']} by {escape(e['actor'])}"
        )


@alerts_app.command("rules")
def rules_cmd(rules: RulesOpt = None, as_json: JsonOpt = False) -> None:
    """The effective rules (shipped defaults overridden by --rules files), validated, with
    their parameters and DISARM suggestions, and the notification channels."""
    ruleset = load_rules(rules or [])
    if as_json:
        emit_json(
            {
                "sources": list(ruleset.sources),
                "rules": [r.as_dict() for r in ruleset.rules],
                "channels": {
                    n: {"type": c.type, "min_severity": c.min_severity, "rate_max": c.rate_max}
                    for n, c in ruleset.channels.items()
                },
            }
        )
        return
    t = Table("rule", "kind", "on", "severity", "notify", "DISARM", "from")
    for r in ruleset.rules:
        t.add_row(
            r.id,
            r.kind,
            "yes" if r.enabled else "no",
            r.severity + "".join(f" ≥{k}" for k in r.escalate),
            ", ".join(r.notify) or "-",
            ", ".join(r.disarm),
            escape(r.origin),
        )
    out.print(t)
    for n, c in ruleset.channels.items():
        limit = f", at most {c.rate_max} per rule per {c.rate_per_s:g} s" if c.rate_max else ""
        out.print(escape(f"channel {n}: {c.type}, {c.min_severity} and above{limit}"))


def _print_warn(s: service.WarnSummary) -> None:
    if s.run_id is None:
        out.print("no posts yet: nothing to evaluate")
        return
    out.print(f"warn run {s.run_id} at data time {s.now}: {s.raised} new alerts")
    t = Table("rule", "findings", "raised", "updated", "unchanged", "note")
    for r in s.rules:
        note = f"skipped: {r.skipped}" if r.skipped else f"error: {r.error}" if r.error else ""
        t.add_row(
            r.rule, str(r.findings), str(r.raised), str(r.updated), str(r.unchanged), escape(note)
        )
    out.print(t)
    if s.notifications.get("queued") or s.notifications.get("failed"):
        out.print(
            "notifications: " + ", ".join(f"{k} {v}" for k, v in s.notifications.items() if v)
        )


@app.command("warn")
def warn(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    rules: RulesOpt = None,
    rule: Annotated[
        list[str] | None, typer.Option("--rule", help="Evaluate only this rule id (repeatable).")
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(help="Evaluate as of this data time (ISO, UTC); default: the newest post."),
    ] = None,
    notify: Annotated[
        bool, typer.Option(help="Send the notifications of new or escalated alerts.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate the alert rules now over the detection tables: raise new alerts, update
    those of situations already alerted (never twice), notify, and print the alerts
    that are not closed or dismissed."""
    when = parse_time(now) if now else None
    if now and when is None:
        raise InvalidParams(f"--now takes an ISO time such as 2024-11-05T12:00Z, not {now!r}.")
    with workspace(workspace_path) as ws:
        summary = service.evaluate(ws, rules=rules or [], now=when, only=rule, notify=notify)
        open_alerts = service.list_alerts(ws, status=["new", "triaged", "escalated"], limit=20)
        total = service.count_alerts(ws, status=["new", "triaged", "escalated"])
    if as_json:
        emit_json(summary.as_dict())
    else:
        _print_warn(summary)
        print_alerts(open_alerts, total)
    if summary.errors:
        raise typer.Exit(1)


@app.command("watch")
def watch(
    folders: Annotated[
        list[Path] | None,
        typer.Argument(help="Folders to follow (new files, appended JSON Lines)."),
    ] = None,
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    stream: Annotated[
        list[str] | None,
        typer.Option(
            help="Bluesky Jetstream URL, e.g. wss://jetstream2.us-east.bsky.network/subscribe (repeatable)."
        ),
    ] = None,
    rules: RulesOpt = None,
    spool: Annotated[
        Path | None,
        typer.Option(
            help="Where stream frames and appended lines are kept (default: WORKSPACE.watch)."
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="One pass: ingest what is there, update, evaluate, exit.")
    ] = False,
    interval: Annotated[str, typer.Option(help="Time between passes.")] = "60s",
    idle: Annotated[
        str, typer.Option(help="--once: stop reading a stream after this long without a frame.")
    ] = "5s",
    max_frames: Annotated[
        int | None, typer.Option(help="Frames read from a stream per pass at most.")
    ] = None,
    detect: Annotated[
        bool, typer.Option(help="Update coordination detection on the recent window.")
    ] = True,
    lookback: Annotated[
        str,
        typer.Option(help="Recent window, detected on at every pass (back from the newest post)."),
    ] = "24h",
    detect_every: Annotated[
        str, typer.Option(help="Data time between two detections (0: every pass with new posts).")
    ] = "0s",
    evidence: Annotated[
        str,
        typer.Option(
            help="Longer window for slow, small groups; its clusters are alerted only when "
            "they co-acted within --lookback (0: off)."
        ),
    ] = "72h",
    evidence_every: Annotated[
        str, typer.Option(help="Data time between two detections on the --evidence window.")
    ] = "6h",
    notify: Annotated[bool, typer.Option(help="Send notifications.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Follow folders and live streams: ingest new files and appended lines (exactly
    once, across restarts), update detections on the recent window, evaluate the rules
    and notify. Runs until interrupted, or one pass with --once."""

    def echo(event: str, d: dict[str, Any]) -> None:
        if as_json:
            return
        if event == "ingested":
            line = (
                f"ingested {d['chunk']}: {d['read']} read, {d['stored']} stored, "
                f"{d['quarantined']} quarantined" + (f" ({d['error']})" if d["error"] else "")
            )
        elif event == "stream-error":
            line = f"stream {d['source']}: {d['error']}"
        else:
            det = d.get("detection") or {}
            w = d["warn"]
            line = (
                f"updated {d['posts']} new posts up to {d['data_until']}: "
                + (f"detection run {det['run_id']} ({det['clusters']} clusters), " if det else "")
                + f"{w['raised']} new alerts"
            )
            for a in w["alerts"]:
                line += f"\n  alert {a['alert_id']} {a['change']} [{a['severity']}] {a['title']}"
        out.print(escape(line))
        sys.stdout.flush()

    with workspace(workspace_path) as ws:
        summary = watch_service(
            ws,
            folders=folders or [],
            streams=stream or [],
            rules=rules or [],
            spool=spool,
            once=once,
            interval_s=parse_duration(interval),
            idle_s=parse_duration(idle),
            max_frames=max_frames,
            detect=detect,
            lookback_s=parse_duration(lookback),
            detect_every_s=parse_duration(detect_every),
            evidence_s=parse_duration(evidence),
            evidence_every_s=parse_duration(evidence_every),
            notify=notify,
            echo=echo,
        )
    if as_json:
        emit_json(summary.as_dict())
    else:
        out.print(
            f"{summary.chunks} chunks: {summary.rows_read} read, {summary.rows_stored} stored, "
            f"{summary.rows_quarantined} quarantined"
            + (
                f"; {summary.frames} frames ({summary.malformed_frames} malformed)"
                if summary.frames
                else ""
            )
        )
        for source, n in summary.pending_bytes.items():
            out.print(
                escape(f"{source}: {n} bytes of an unterminated last line wait for their newline")
            )
    if summary.failed:
        for f in summary.failed:
            sys.stderr.write(f"Error: {f}\n")
        raise typer.Exit(2)
