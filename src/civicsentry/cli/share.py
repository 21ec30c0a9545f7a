"""civicsentry share / partners / communities: STIX 2.1 and MISP exports under TLP 2.0,
the TAXII 2.1 server, partners' feeds and the community keys that pseudonymise accounts
(docs/sharing.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..service import share as service
from .app import DEFAULT_WS, JsonOpt, WorkspaceOpt, app, emit_json, out, workspace

share_app = typer.Typer(
    help="Share findings with partners: STIX 2.1 or MISP under TLP 2.0, pseudonymised, "
    "over TAXII 2.1.",
    no_args_is_help=True,
)
collections_app = typer.Typer(
    help="Our TAXII collections (one per partner group).", no_args_is_help=True
)
exempt_app = typer.Typer(
    help="Accounts shared as themselves (public figures, state media).", no_args_is_help=True
)
disarm_app = typer.Typer(
    help="Which DISARM techniques our detections suggest (editable).", no_args_is_help=True
)
partners_app = typer.Typer(
    help="Partner organisations: tokens, rights, feeds.", no_args_is_help=True
)
communities_app = typer.Typer(
    help="Sharing communities and their pseudonymisation keys.", no_args_is_help=True
)
app.add_typer(share_app, name="share")
share_app.add_typer(collections_app, name="collections")
share_app.add_typer(exempt_app, name="exempt")
share_app.add_typer(disarm_app, name="disarm")
app.add_typer(partners_app, name="partners")
app.add_typer(communities_app, name="communities")


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        out.print("none")
        return
    t = Table(*columns)
    for r in rows:
        t.add_row(*(escape("" if r.get(c) is None else str(r.get(c))) for c in columns))
    out.print(t)


@share_app.command("export")
def export(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    fmt: Annotated[str, typer.Option("--format", help="stix or misp.")] = "stix",
    cluster: Annotated[int | None, typer.Option(help="Cluster id (`clusters list`).")] = None,
    run: Annotated[
        int | None, typer.Option(help="Detection run of --cluster (default: latest).")
    ] = None,
    case: Annotated[
        str | None,
        typer.Option(
            help="Case name: a set of clusters shared as one campaign; --cluster adds to it."
        ),
    ] = None,
    alert: Annotated[int | None, typer.Option(help="Alert id (its cluster).")] = None,
    tlp: Annotated[
        str, typer.Option(help="clear, green, amber or amber+strict (red never leaves).")
    ] = "amber",
    community: Annotated[
        str | None, typer.Option(help="Sharing community whose key pseudonymises accounts.")
    ] = None,
    include_text: Annotated[
        bool,
        typer.Option(
            "--include-text",
            help="Include example post text (hostile content; mentions pseudonymised).",
        ),
    ] = False,
    collection: Annotated[
        str | None, typer.Option(help="Publish to this TAXII collection.")
    ] = None,
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the bundle/event here ('-': stdout).")
    ] = None,
    technique: Annotated[
        list[str] | None, typer.Option(help="Add a DISARM technique (repeatable).")
    ] = None,
    title: Annotated[str | None, typer.Option(help="Campaign / event title.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Export a cluster, a case or an alert as a STIX 2.1 bundle (or a MISP event), checked
    (stix2-validator and our own checks), recorded in the share log and the audit log."""
    to_stdout = (out_path is not None and str(out_path) == "-") or (
        out_path is None and collection is None
    )
    with workspace(workspace_path) as ws:
        result = service.export_share(
            ws,
            fmt=fmt,
            cluster=cluster,
            run_id=run,
            case=case,
            alert=alert,
            tlp_level=tlp,
            community=community,
            include_text=include_text,
            collection=collection,
            out=None if to_stdout else out_path,
            techniques=technique or [],
            title=title,
        )
    if to_stdout:
        sys.stdout.write(json.dumps(result.document, indent=2, ensure_ascii=False) + "\n")
        return
    if as_json:
        emit_json(result.as_dict())
        return
    where = (
        f"collection {result.recipient} ({result.published} new versions)"
        if result.channel == "collection"
        else result.path
    )
    out.print(
        escape(
            f"share {result.share_id}: {result.subject} as {result.format}, TLP:{result.tlp.upper()}, "
            f"community {result.community} key v{result.key_version}, {result.objects} objects -> {where}; "
            f"checks passed ({len(result.checks['warnings'])} validator warnings)"
        )
    )


@share_app.command("log")
def log(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    partner: Annotated[
        str | None, typer.Option(help="Only what this partner received or can read.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many (0 = all).")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """What went to whom: every export and every TAXII pull, with TLP and recipient."""
    with workspace(workspace_path, read_only=True) as ws:
        rows = service.share_log(ws, partner=partner, limit=limit or None)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        r["to"] = (
            r["recipient"] + (f" (read by {', '.join(r['readers'])})" if r.get("readers") else "")
            if r["recipient"]
            else ""
        )
    _table(
        rows,
        [
            "share_id",
            "created_at",
            "channel",
            "format",
            "subject",
            "tlp",
            "community",
            "to",
            "objects",
            "actor",
        ],
    )


@share_app.command("check")
def check(
    path: Annotated[Path, typer.Argument(help="STIX 2.1 bundle (JSON).")],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    as_json: JsonOpt = False,
) -> None:
    """Validate a bundle: stix2-validator 3.2.0 plus our checks (TLP ids, dangling
    references, DISARM ids, observable ids, no raw ids of this workspace's ordinary
    accounts). Exits 1 when there is an error."""
    with workspace(workspace_path, read_only=True) as ws:
        result = service.check_file(ws, path)
    if as_json:
        emit_json(result)
    else:
        for e in result["errors"]:
            out.print(escape(f"ERROR {e}"))
        for w in result["warnings"]:
            out.print(escape(f"warning {w}"))
        out.print(f"{result['objects']} objects: {'ok' if result['ok'] else 'FAILED'}")
    if not result["ok"]:
        raise typer.Exit(1)


@share_app.command("serve")
def serve(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 9000,
) -> None:
    """Serve the TAXII 2.1 endpoints alone (discovery at /taxii2/); the dashboard serves
    them too. Put it behind TLS: TAXII requires HTTPS between organisations."""
    import uvicorn

    from ..share.taxii_server import create_taxii_app

    uvicorn.run(create_taxii_app(workspace_path), host=host, port=port, log_level="warning")


@share_app.command("producer")
def producer(
    name: Annotated[str, typer.Option(help="Our organisation's name in exports.")],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    contact: Annotated[str | None, typer.Option(help="Contact information.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set the producer identity that signs our exports."""
    with workspace(workspace_path) as ws:
        result = service.set_producer(ws, name=name, contact=contact)
    emit_json(result) if as_json else out.print(escape(f"producer: {name}"))


@share_app.command("correlations")
def correlations(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    partner: Annotated[str | None, typer.Option(help="Only this partner's.")] = None,
    limit: Annotated[int, typer.Option(help="How many (0 = all).")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Partner findings that match ours (accounts, URLs, domains, techniques)."""
    with workspace(workspace_path, read_only=True) as ws:
        rows = service.list_correlations(ws, partner=partner, limit=limit or None)
    if as_json:
        emit_json(rows)
    else:
        _table(
            rows,
            [
                "created_at",
                "partner_id",
                "container_id",
                "kind",
                "local_ref",
                "local_cluster_id",
                "alert_id",
            ],
        )


# -- collections, exemptions, DISARM mapping ------------------------------------------------


@collections_app.command("add")
def collections_add(
    alias: Annotated[str, typer.Argument(help="Short name, e.g. eu-partners.")],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    title: Annotated[str | None, typer.Option(help="Title shown to partners.")] = None,
    description: Annotated[str | None, typer.Option(help="Description.")] = None,
    community: Annotated[str | None, typer.Option(help="The group's sharing community.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a TAXII collection for a partner group."""
    with workspace(workspace_path) as ws:
        c = service.add_collection(
            ws, alias, title=title, description=description, community=community
        )
    emit_json(c) if as_json else out.print(escape(f"collection {alias}: {c['collection_id']}"))


@collections_app.command("list")
def collections_list(workspace_path: WorkspaceOpt = DEFAULT_WS, as_json: JsonOpt = False) -> None:
    """Collections, their object versions and who may read (r) or write (w)."""
    with workspace(workspace_path, read_only=True) as ws:
        rows = service.list_collections(ws)
    emit_json(rows) if as_json else _table(
        rows, ["alias", "collection_id", "community", "object_versions", "access"]
    )


@exempt_app.command("add")
def exempt_add(
    account_id: Annotated[str, typer.Argument(help="Platform-qualified account id, e.g. x:12345.")],
    category: Annotated[str, typer.Option(help="public-figure, state-media or official.")],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    note: Annotated[str | None, typer.Option(help="Why.")] = None,
) -> None:
    """Share this account as itself instead of by pseudonym."""
    with workspace(workspace_path) as ws:
        service.exempt(ws, account_id, category, note)
    out.print(escape(f"{account_id}: exempt ({category})"))


@exempt_app.command("remove")
def exempt_remove(
    account_id: Annotated[str, typer.Argument()], workspace_path: WorkspaceOpt = DEFAULT_WS
) -> None:
    """Pseudonymise this account again."""
    with workspace(workspace_path) as ws:
        service.unexempt(ws, account_id)
    out.print(escape(f"{account_id}: pseudonymised again"))


@exempt_app.command("list")
def exempt_list(workspace_path: WorkspaceOpt = DEFAULT_WS, as_json: JsonOpt = False) -> None:
    """The exemption list."""
    with workspace(workspace_path, read_only=True) as ws:
        rows = service.exemptions(ws)
    emit_json(rows) if as_json else _table(
        rows, ["account_id", "category", "note", "added_at", "added_by"]
    )


@disarm_app.command("list")
def disarm_list(workspace_path: WorkspaceOpt = DEFAULT_WS, as_json: JsonOpt = False) -> None:
    """Detection -> DISARM v1.6 techniques in force (shipped suggestion or override)."""
    with workspace(workspace_path, read_only=True) as ws:
        table = service.disarm_mapping(ws)
    if as_json:
        emit_json(table)
        return
    rows = [
        {
            "detection": d,
            "techniques": ", ".join(
                f"{t} {n}" for t, n in zip(v["techniques"], v["names"], strict=True)
            ),
            "source": v["source"],
        }
        for d, v in table.items()
    ]
    _table(rows, ["detection", "techniques", "source"])


@disarm_app.command("set")
def disarm_set(
    detection: Annotated[str, typer.Argument(help="e.g. co-repost, account-creation-burst.")],
    techniques: Annotated[list[str], typer.Argument(help="DISARM technique ids, e.g. T0049.003.")],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    note: Annotated[str | None, typer.Option(help="Why.")] = None,
) -> None:
    """Override the techniques a detection suggests."""
    with workspace(workspace_path) as ws:
        row = service.set_disarm_mapping(ws, detection, techniques, note)
    out.print(escape(f"{detection}: {', '.join(row['techniques'])}"))


@disarm_app.command("reset")
def disarm_reset(
    detection: Annotated[str, typer.Argument()], workspace_path: WorkspaceOpt = DEFAULT_WS
) -> None:
    """Back to the shipped suggestion."""
    with workspace(workspace_path) as ws:
        service.reset_disarm_mapping(ws, detection)
    out.print(escape(f"{detection}: shipped suggestion"))


# -- partners ---------------------------------------------------------------------------------


@partners_app.command("add")
def partners_add(
    partner_id: Annotated[str, typer.Argument(help="Short name, e.g. ee-cert.")],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    name: Annotated[str | None, typer.Option(help="Organisation.")] = None,
    community: Annotated[str | None, typer.Option(help="Their sharing community.")] = None,
    max_tlp: Annotated[
        str, typer.Option(help="Clearance: clear, green, amber or amber+strict.")
    ] = "amber",
    contact: Annotated[str | None, typer.Option(help="Contact.")] = None,
    read: Annotated[
        list[str] | None, typer.Option(help="Collection they may read (repeatable).")
    ] = None,
    write: Annotated[
        list[str] | None, typer.Option(help="Collection they may write (repeatable).")
    ] = None,
    feed: Annotated[
        list[str] | None, typer.Option(help="Their TAXII collection URL to pull (repeatable).")
    ] = None,
    feed_token: Annotated[
        str | None,
        typer.Option(envvar="CIVICSENTRY_FEED_TOKEN", help="Credential for their feeds."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a partner and print its TAXII API token (shown once; we keep a hash)."""
    with workspace(workspace_path) as ws:
        result = service.add_partner(
            ws,
            partner_id,
            name=name,
            community=community,
            max_tlp=max_tlp,
            contact=contact,
            read=read or [],
            write=write or [],
            feeds=feed or [],
            feed_token=feed_token,
        )
    if as_json:
        emit_json(result)
    else:
        out.print(
            escape(
                f"partner {partner_id} (clearance TLP:{result['max_tlp'].upper()}); API token, shown once:"
            )
        )
        sys.stdout.write(result["token"] + "\n")


@partners_app.command("list")
def partners_list(workspace_path: WorkspaceOpt = DEFAULT_WS, as_json: JsonOpt = False) -> None:
    """Partners, their clearance, collections (r/w) and feeds."""
    with workspace(workspace_path, read_only=True) as ws:
        rows = service.list_partners(ws)
    emit_json(rows) if as_json else _table(
        rows, ["partner_id", "name", "community", "max_tlp", "collections", "feeds", "last_pull_at"]
    )


@partners_app.command("grant")
def partners_grant(
    partner_id: Annotated[str, typer.Argument()],
    collection: Annotated[str, typer.Argument(help="Collection alias or id.")],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    read: Annotated[bool, typer.Option("--read/--no-read", help="May read.")] = True,
    write: Annotated[bool, typer.Option("--write/--no-write", help="May add objects.")] = False,
) -> None:
    """Set a partner's rights on a collection (--no-read --no-write revokes)."""
    with workspace(workspace_path) as ws:
        service.grant(ws, partner_id, collection, read=read, write=write)
    out.print(escape(f"{partner_id} on {collection}: read={read} write={write}"))


@partners_app.command("token")
def partners_token(
    partner_id: Annotated[str, typer.Argument()], workspace_path: WorkspaceOpt = DEFAULT_WS
) -> None:
    """Issue a new API token (the old one stops working) and print it once."""
    with workspace(workspace_path) as ws:
        result = service.reissue_token(ws, partner_id)
    sys.stdout.write(result["token"] + "\n")


@partners_app.command("pull")
def partners_pull(
    partner_id: Annotated[
        str | None, typer.Argument(help="Only this partner (default: all).")
    ] = None,
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    as_json: JsonOpt = False,
) -> None:
    """Fetch what partners' collections added since the last pull (taxii2-client),
    validate and store it with provenance and TLP, and correlate it with our findings."""
    with workspace(workspace_path) as ws:
        results = service.pull_partners(ws, partner_id)
    if as_json:
        emit_json([r.__dict__ for r in results])
        return
    for r in results:
        out.print(
            escape(
                f"{r.partner_id} {r.url}: {r.objects} objects ({r.new} new, {r.invalid} invalid)"
            )
        )
        for c in r.correlations:
            found = ", ".join(
                f"{len(c[k])} {k}" for k in ("accounts", "urls", "domains", "techniques") if c[k]
            )
            alert = f" -> alert {c['alert_id']}" if c.get("alert_id") else ""
            out.print(escape(f"  in common with {c['container_id']}: {found}{alert}"))


# -- communities ------------------------------------------------------------------------------


@communities_app.command("create")
def communities_create(
    community: Annotated[str, typer.Argument(help="Community name, e.g. eu-elections.")],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    as_json: JsonOpt = False,
) -> None:
    """Generate a key for a new community (hand it to members with `communities export`)."""
    with workspace(workspace_path) as ws:
        result = service.create_community(ws, community)
    emit_json(result) if as_json else out.print(
        escape(f"{community}: key v{result['key_version']}")
    )


@communities_app.command("rotate")
def communities_rotate(
    community: Annotated[str, typer.Argument()],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    as_json: JsonOpt = False,
) -> None:
    """A new key version; later exports no longer link to earlier ones."""
    with workspace(workspace_path) as ws:
        result = service.rotate_community(ws, community)
    emit_json(result) if as_json else out.print(
        escape(f"{community}: key v{result['key_version']}")
    )


@communities_app.command("import")
def communities_import(
    community: Annotated[str, typer.Argument()],
    key: Annotated[
        str,
        typer.Option(
            envvar="CIVICSENTRY_COMMUNITY_KEY", help="The key, hex, as exported by a member."
        ),
    ],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    version: Annotated[int | None, typer.Option(help="Its version (default: next).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Hold the same key as the other members of a community."""
    with workspace(workspace_path) as ws:
        result = service.create_community(ws, community, key=key, version=version)
    emit_json(result) if as_json else out.print(
        escape(f"{community}: key v{result['key_version']} imported")
    )


@communities_app.command("export")
def communities_export(
    community: Annotated[str, typer.Argument()],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    as_json: JsonOpt = False,
) -> None:
    """Print the current key (secret: pass it to members over a secure channel)."""
    with workspace(workspace_path) as ws:
        result = service.export_community_key(ws, community)
    emit_json(result) if as_json else sys.stdout.write(result["key"] + "\n")


@communities_app.command("list")
def communities_list(workspace_path: WorkspaceOpt = DEFAULT_WS, as_json: JsonOpt = False) -> None:
    """Communities and key versions (not the keys)."""
    with workspace(workspace_path, read_only=True) as ws:
        rows = service.communities(ws)
    emit_json(rows) if as_json else _table(
        rows, ["community", "key_version", "origin", "created_at", "retired_at"]
    )
