"""civicsentry serve / users / report / audit: the dashboard and REST API, its users and
tokens, incident reports, and the audit log."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import InvalidParams
from ..service import report as _report
from ..service import users as _users
from .app import DEFAULT_WS, JsonOpt, WorkspaceOpt, app, console, emit_json, out, workspace

users_app = typer.Typer(
    help="Dashboard and API users (roles admin, analyst, partner) and their API tokens.",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")


@app.command("serve")
def serve(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback by default: this is sensitive).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    secure_cookies: Annotated[
        bool,
        typer.Option(help="Mark cookies Secure (behind a TLS-terminating proxy)."),
    ] = False,
) -> None:
    """Start the dashboard and REST API (OpenAPI at /api/openapi.json, reference at
    /api/docs; TAXII 2.1 under /taxii2/ when sharing is set up). Create the first admin
    with `civicsentry users add NAME --role admin` before. The server holds the workspace
    open: stop it before running other commands on the same file."""
    import uvicorn

    from ..web.app import create_app

    if not _is_loopback(host):
        console.print(
            f"[yellow]Listening on {escape(host)}: anyone who can reach it sees the log-in page. "
            "Put it behind TLS (a reverse proxy) and use --secure-cookies.[/]"
        )
    application = create_app(workspace_path, secure_cookies=secure_cookies)
    console.print(f"CivicSentry on http://{escape(host)}:{port}/ (Ctrl-C stops it)")
    uvicorn.run(application, host=host, port=port, log_level="warning", server_header=False)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Log-in name.")],
    role: Annotated[str, typer.Option(help="admin, analyst or partner.")] = "analyst",
    group: Annotated[
        str | None, typer.Option(help="Partners: the partner id whose shares they see.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    as_json: JsonOpt = False,
) -> None:
    """Create a user (asks for the password twice; at least 10 characters). The first
    user should be an admin, who can add the others in the dashboard."""
    password = _password(password_stdin)
    with workspace(workspace_path) as ws:
        user = _users.add_user(ws, username, role=role, password=password, partner_group=group)
    if as_json:
        emit_json(user)
    else:
        out.print(escape(f"user {user['username']} ({user['role']}) created"))


@users_app.command("list")
def users_list(workspace_path: WorkspaceOpt = DEFAULT_WS, as_json: JsonOpt = False) -> None:
    """Every user with role, partner group, state and last log-in."""
    with workspace(workspace_path) as ws:
        rows = _users.list_users(ws)
    if as_json:
        emit_json(rows)
        return
    t = Table("user", "role", "group", "state", "created", "last log-in")
    for u in rows:
        t.add_row(
            escape(u["username"]),
            u["role"],
            escape(u["partner_group"] or ""),
            "disabled" if u["disabled"] else "active",
            str(u["created_at"])[:19],
            str(u["last_login"] or "")[:19],
        )
    out.print(t)


@users_app.command("disable")
def users_disable(
    username: str, workspace_path: WorkspaceOpt = DEFAULT_WS, as_json: JsonOpt = False
) -> None:
    """Disable a user: no log-in, no token works, open sessions end."""
    with workspace(workspace_path) as ws:
        user = _users.set_disabled(ws, username, True)
    emit_json(user) if as_json else out.print(escape(f"user {username} disabled"))


@users_app.command("enable")
def users_enable(
    username: str, workspace_path: WorkspaceOpt = DEFAULT_WS, as_json: JsonOpt = False
) -> None:
    """Enable a disabled user again."""
    with workspace(workspace_path) as ws:
        user = _users.set_disabled(ws, username, False)
    emit_json(user) if as_json else out.print(escape(f"user {username} enabled"))


@users_app.command("password")
def users_password(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    workspace_path: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Set a new password (the user's sessions end)."""
    password = _password(password_stdin)
    with workspace(workspace_path) as ws:
        _users.set_password(ws, username, password)
    out.print(escape(f"password of {username} changed"))


@users_app.command("token")
def users_token(
    username: Annotated[str, typer.Argument(help="Whose rights the token carries.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "",
    expires_days: Annotated[int | None, typer.Option(help="Expire after N days.")] = None,
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    as_json: JsonOpt = False,
) -> None:
    """Create an API token and print it (only now: only its hash is stored). Send it as
    `Authorization: Bearer <token>`."""
    with workspace(workspace_path) as ws:
        token, row = _users.create_token(ws, username, name=name, expires_days=expires_days)
    if as_json:
        emit_json(row | {"token": token})
    else:
        sys.stdout.write(token + "\n")
        console.print(f"token {row['token_id']} for {escape(username)}: shown once, keep it safe")


@users_app.command("tokens")
def users_tokens(
    username: Annotated[str | None, typer.Argument(help="Only this user's.")] = None,
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    as_json: JsonOpt = False,
) -> None:
    """API tokens (never the tokens themselves): id, user, name, prefix, dates."""
    with workspace(workspace_path) as ws:
        rows = _users.list_tokens(ws, username=username)
    if as_json:
        emit_json(rows)
        return
    t = Table("id", "user", "name", "starts with", "created", "expires", "revoked")
    for r in rows:
        t.add_row(
            str(r["token_id"]),
            escape(r["username"]),
            escape(r["name"] or ""),
            r["prefix"] + "…",
            str(r["created_at"])[:19],
            str(r["expires_at"] or "")[:19],
            str(r["revoked_at"] or "")[:19],
        )
    out.print(t)


@users_app.command("revoke")
def users_revoke(
    token_id: Annotated[int, typer.Argument(help="Token id (from `users tokens`).")],
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    as_json: JsonOpt = False,
) -> None:
    """Revoke an API token; it is refused from then on."""
    with workspace(workspace_path) as ws:
        row = _users.revoke_token(ws, token_id)
    emit_json(row) if as_json else out.print(f"token {token_id} revoked")


@app.command("report")
def report(
    path: Annotated[Path, typer.Argument(help="Output file: .html or .pdf.")],
    cluster: Annotated[int | None, typer.Option(help="Report on this cluster.")] = None,
    alert: Annotated[int | None, typer.Option(help="Report on this alert.")] = None,
    run: Annotated[
        int | None, typer.Option("--run", help="Detection run of the cluster (default: latest).")
    ] = None,
    tlp: Annotated[str, typer.Option(help="TLP marking printed on the report.")] = "AMBER",
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    as_json: JsonOpt = False,
) -> None:
    """Write a self-contained incident report on a cluster or an alert: summary,
    evidence tables, charts, the network picture, methods and parameters. PDF is printed
    by headless Chromium."""
    if (cluster is None) == (alert is None):
        raise InvalidParams("Give --cluster ID or --alert ID.")
    with workspace(workspace_path) as ws:
        summary = _report.write_report(
            ws, path, cluster_id=cluster, alert_id=alert, run_id=run, tlp=tlp
        )
    if as_json:
        emit_json(summary)
    else:
        out.print(
            escape(f"report on {summary.subject} -> {summary.path} ({summary.bytes:,} bytes)")
        )


@app.command("audit")
def audit(
    workspace_path: WorkspaceOpt = DEFAULT_WS,
    actor: Annotated[str | None, typer.Option(help="Only this user.")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only actions starting with this, e.g. export.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The audit log: who viewed, changed, exported or shared what, and when."""
    with workspace(workspace_path, read_only=True) as ws:
        rows = _users.audit_entries(ws, actor=actor, action=action, limit=limit)
    if as_json:
        emit_json(rows)
        return
    t = Table("when", "who", "action", "detail")
    for r in rows:
        t.add_row(
            str(r["ts"])[:19],
            escape(r["actor"] or ""),
            escape(r["action"]),
            escape(str(r["detail"])),
        )
    out.print(t)
