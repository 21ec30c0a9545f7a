"""civicsentry accounts build / list / show / schedules."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import InvalidParams
from ..service import accounts as service
from ..service.detect import DEFAULT_MEMORY_LIMIT
from ..signals.flags import signed
from .app import DEFAULT_WS, JsonOpt, WorkspaceOpt, app, emit_json, out, progress_bar, workspace

accounts_app = typer.Typer(
    help="Explained account signals: automation, inauthenticity and foreign schedules.",
    no_args_is_help=True,
)
app.add_typer(accounts_app, name="accounts")

SignalsRunOpt = Annotated[
    int | None,
    typer.Option("--signals-run", help="Signals run id (default: the latest)."),
]
CAVEAT = "Scores are triage aids relative to this workspace, not proof (docs/signals.md)."


def _weights(items: list[str] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidParams(f"--weight takes NAME=VALUE, e.g. pile_on_share=3, not {item!r}.")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise InvalidParams(f"--weight {item!r}: {value!r} is not a number.") from None
    return out


@accounts_app.command("build")
def build(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    run: Annotated[
        int | None,
        typer.Option("--run", help="Detection run for cluster features (default: the latest)."),
    ] = None,
    min_posts: Annotated[
        int, typer.Option(help="Posts an account needs for ratio, timing and rhythm signals.")
    ] = 5,
    schedule_min_posts: Annotated[
        int, typer.Option(help="Posts an account needs for its UTC offset to be inferred.")
    ] = 10,
    min_confidence: Annotated[
        float, typer.Option(help="Schedule confidence from which an offset may be flagged.")
    ] = 0.8,
    foreign_gap: Annotated[
        int, typer.Option(help="Hours from the population's offset that flag a schedule.")
    ] = 3,
    max_population_share: Annotated[
        float,
        typer.Option(help="Flag only if less of the population keeps the same clock (±1 h)."),
    ] = 0.2,
    min_rhythm_fit: Annotated[
        float, typer.Option(help="Gain per post over a flat week a schedule needs to count.")
    ] = 0.0,
    temperature: Annotated[
        float, typer.Option(help="Tempering of the schedule posterior (1 = plain Bayes).")
    ] = 2.0,
    pile_on_seconds: Annotated[
        float, typer.Option(help="A share within this many seconds of the previous piles on.")
    ] = 10.0,
    viral_shares: Annotated[
        int, typer.Option(help="Objects with this many shares are left out of pile-ons.")
    ] = 1000,
    population_min_objects: Annotated[
        int, typer.Option(help="Objects needed to use an account's own population.")
    ] = 3,
    weight: Annotated[
        list[str] | None,
        typer.Option("--weight", help="Override a signal's weight: NAME=VALUE. Repeatable."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="DuckDB threads (default: all cores).")
    ] = None,
    memory_limit: Annotated[
        str, typer.Option(help="DuckDB memory before spilling to disk.")
    ] = DEFAULT_MEMORY_LIMIT,
    as_json: JsonOpt = False,
) -> None:
    """Compute every account's signals, schedule and explained score, store them as a new
    run (`account_signals`, `cluster_schedules`) and print the most suspicious accounts."""
    with workspace(workspace_path) as ws, progress_bar() as bar:
        task = bar.add_task("signals", total=None)

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=f"signals: {step}", completed=done, total=total)

        summary = service.compute_signals(
            ws,
            run_id=run,
            min_posts=min_posts,
            schedule_min_posts=schedule_min_posts,
            min_confidence=min_confidence,
            foreign_gap=foreign_gap,
            max_population_share=max_population_share,
            min_rhythm_fit=min_rhythm_fit,
            temperature=temperature,
            pile_on_seconds=pile_on_seconds,
            viral_shares=viral_shares,
            population_min_objects=population_min_objects,
            weights=_weights(weight),
            threads=threads,
            memory_limit=memory_limit,
            progress=progress,
        )
        top = [] if as_json else service.top_accounts(ws, signals_run_id=summary.run_id, limit=10)
    if as_json:
        emit_json(summary.as_dict())
        return
    pop = summary.population
    out.print(
        f"signals run {summary.run_id}: {summary.accounts:,} accounts "
        f"({summary.posting_accounts:,} posting), {summary.schedules:,} schedules "
        f"({summary.confident_schedules:,} confident); population mostly at "
        f"{signed(pop.get('offset'))}; {summary.foreign_schedule_accounts:,} accounts on a "
        f"foreign schedule; {summary.seconds:.1f} s"
    )
    for note in summary.notes:
        out.print(f"note: {escape(note)}")
    for c in summary.foreign_clusters:
        out.print(
            f"cluster {c['cluster_id']} of run {summary.detection_run_id} ({c['members']} "
            f"accounts) keeps {signed(c['utc_offset'])} hours in a population at "
            f"{signed(c['population_offset'])}: `civicsentry accounts schedules`"
        )
    print_accounts(top)


def print_accounts(rows: list[dict[str, Any]]) -> None:
    if not rows:
        out.print("no accounts")
        return
    t = Table(
        "rank", "account", "handle", "score", "posts", "offset", "top signals (pct → contrib)"
    )
    for r in rows:
        sig = "; ".join(
            f"{s['name']} {_pct(s['percentile'])} → {s['contribution']:.3f}"
            for s in r["top_signals"]
        )
        offset = signed(r["utc_offset"]) if r["utc_offset"] is not None else "-"
        if r["foreign_schedule"]:
            offset += " (foreign)"
        t.add_row(
            str(r["rank"]),
            escape(r["account_id"]),
            escape(r["handle"] or ""),
            f"{r['score']:.3f}",
            str(int(r["posts"] or 0)),
            offset,
            sig,
        )
    out.print(t)
    out.print(CAVEAT)


def _pct(p: float | None) -> str:
    return "-" if p is None else f"p{100 * p:.0f}"


def _value(v: Any, unit: str) -> str:
    if v is None:
        return "-"
    text = f"{v:.3g}" if isinstance(v, float) else str(v)
    return f"{text} {unit}".strip()


@accounts_app.command("list")
def list_accounts(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    signals_run: SignalsRunOpt = None,
    limit: Annotated[int, typer.Option(help="How many (0 = all).")] = 20,
    offset: Annotated[int, typer.Option(help="Skip this many first (paging).")] = 0,
    order_by: Annotated[
        str, typer.Option(help="score, a signal, <signal>_pct, schedule_confidence, ...")
    ] = "score",
    ascending: Annotated[bool, typer.Option(help="Lowest first.")] = False,
    foreign: Annotated[bool, typer.Option(help="Only accounts on a foreign schedule.")] = False,
    min_score: Annotated[float | None, typer.Option(help="Only scores from here.")] = None,
    min_posts: Annotated[
        int | None, typer.Option(help="Only accounts with this many posts.")
    ] = None,
    platform: Annotated[str | None, typer.Option(help="Only this platform.")] = None,
    cluster: Annotated[int | None, typer.Option(help="Only members of this cluster.")] = None,
    utc_offset: Annotated[int | None, typer.Option(help="Only this inferred UTC offset.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Accounts of a signals run, most suspicious first, each with the signals that
    contribute most to its score (value percentile → contribution)."""
    with workspace(workspace_path, read_only=True) as ws:
        rows = service.top_accounts(
            ws,
            signals_run_id=signals_run,
            limit=limit or None,
            offset=offset,
            order_by=order_by,
            ascending=ascending,
            foreign_only=foreign,
            min_score=min_score,
            min_posts=min_posts,
            platform=platform,
            cluster_id=cluster,
            utc_offset=utc_offset,
        )
    if as_json:
        emit_json(rows)
    else:
        print_accounts(rows)


# `top` reads better for the default ordering; the same command.
accounts_app.command("top", hidden=True, help="The same as `accounts list`.")(list_accounts)


@accounts_app.command("show")
def show(
    account_id: Annotated[str, typer.Argument(help="Account id, e.g. x:u123.")],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    signals_run: SignalsRunOpt = None,
    posts: Annotated[int, typer.Option(help="Recent posts to list.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """One account's full profile: every signal with value, percentile, weight and
    contribution; its schedule and why it is or is not flagged; its hour × weekday
    rhythm; and its timeline of posts."""
    with workspace(workspace_path, read_only=True) as ws:
        prof = service.account_profile(ws, account_id, signals_run_id=signals_run, posts=posts)
    if as_json:
        emit_json(prof)
        return
    acc = prof["account"] or {}
    out.print(
        f"[bold]{escape(account_id)}[/] {escape(acc.get('handle') or '')}: score "
        f"{prof['score']:.3f}, rank {prof['rank']:,} of {prof['run']['accounts']:,} "
        f"(signals run {prof['run']['run_id']}; coverage {prof['coverage']:.0%})"
    )
    facts = [
        f"{k} {escape(str(acc[k]))}"
        for k in ("display_name", "created_at", "followers", "following", "location")
        if acc.get(k) is not None
    ]
    if facts:
        out.print("profile: " + "; ".join(facts))
    if prof["cluster_id"] is not None:
        out.print(
            f"member of cluster {prof['cluster_id']} of detection run "
            f"{prof['run']['detection_run_id']}"
        )
    t = Table("signal", "value", "pct", "suspicious when", "weight", "contribution", "meaning")
    for s in prof["signals"]:
        contrib = "-" if s["contribution"] is None else f"{s['contribution']:.3f}"
        t.add_row(
            s["name"],
            _value(s["value"], s["unit"]),
            _pct(s["percentile"]),
            s["direction"],
            f"{s['weight']:g}",
            contrib,
            escape(s["means"]),
        )
    out.print(t)
    sch = prof["schedule"]
    out.print(
        ("[bold red]foreign schedule:[/] " if sch["foreign_schedule"] else "schedule: ")
        + escape(sch["reason"])
    )
    rh = prof["rhythm"]
    grid, label = (
        (rh["local"], f"local time at {signed(rh['utc_offset'])}")
        if rh["local"]
        else (rh["utc"], "UTC")
    )
    out.print(f"posts by weekday × hour ({label}; each digit a count, + for ≥ 10):")
    out.print("      " + "".join(f"{h:<6d}" for h in range(0, 24, 6)).rstrip())
    for day, row in zip(rh["weekdays"], grid, strict=True):
        out.print(
            f"  {day} " + "".join("." if n == 0 else ("+" if n >= 10 else str(n)) for n in row)
        )
    tl = prof["timeline"]
    if tl["days"]:
        out.print("posts per day: " + ", ".join(f"{d['day']} {d['posts']}" for d in tl["days"]))
    p = Table("time (UTC)", "kind", "post", "text")
    for post in tl["posts"]:
        text = (post["text"] or "").replace("\n", " ")
        p.add_row(
            str(post["created_at"])[:19], post["kind"], escape(post["post_id"]), escape(text[:120])
        )
    out.print(p)
    out.print(CAVEAT)


@accounts_app.command("schedules")
def schedules(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    signals_run: SignalsRunOpt = None,
    foreign: Annotated[bool, typer.Option(help="Only clusters on a foreign schedule.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The schedule of every cluster a signals run saw: the members' inferred UTC offset
    and work pattern against the population acting on the same objects."""
    with workspace(workspace_path, read_only=True) as ws:
        rows = service.cluster_schedules(ws, signals_run_id=signals_run, foreign_only=foreign)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        out.print("no cluster schedules (run `civicsentry detect`, then `accounts build`)")
        return
    t = Table(
        "cluster",
        "members",
        "posts",
        "offset",
        "conf",
        "pattern",
        "population",
        "gap",
        "foreign",
        "why",
    )
    for r in rows:
        t.add_row(
            str(r["cluster_id"]),
            str(r["members"]),
            str(r["posts"]),
            signed(r["utc_offset"]) if r["utc_offset"] is not None else "-",
            "-" if r["confidence"] is None else f"{r['confidence']:.2f}",
            r["template"] or "-",
            signed(r["population_offset"]) if r["population_offset"] is not None else "-",
            "-" if r["offset_gap"] is None else f"{r['offset_gap']} h",
            "yes" if r["foreign"] else "no",
            escape((r["explanation"] or {}).get("reason", "")),
        )
    out.print(t)
