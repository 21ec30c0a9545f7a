"""A tiny hand-built case for the web tests, with hostile content in every field an
attacker controls, and the answers the tests expect written beside it.

Accounts x:c1..x:c4 repost each of the five posts x:p1..x:p5 of x:o1 within 15 s of
one another (windows 60 s): with CooRTweet semantics on reposts they form one cluster
of exactly four accounts, 6 edges. x:o2 reposts x:p1 half an hour later (organic, not
coordinated). x:c2 is the attacker: a handle with quotes and markup, a post whose text
is a script, an image with an onerror handler and a spreadsheet formula, and URLs that
try to break out of attributes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
COORDINATED = ("x:c1", "x:c2", "x:c3", "x:c4")
HOSTILE_HANDLE = "evil\"handle'<b>bold</b>"
XSS_TEXT = (
    '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
    '<svg onload="window.__xss=3"></svg> vote early!'
)
FORMULA_TEXT = '=HYPERLINK("http://evil.example/steal","click me")'
HOSTILE_URLS = ["javascript:alert(1)", 'https://evil.example/"><script>window.__xss=4</script>']
HANDLES = {
    "x:c1": "c1_bot",
    "x:c2": HOSTILE_HANDLE,
    "x:c3": "c3",
    "x:c4": "c4",
    "x:o1": "news_desk",
    "x:o2": "citizen",
}

#: Known answers.
POSTS = 5 + 5 * 4 + 1 + 2  # originals + coordinated reposts + organic repost + hostile posts
CLUSTER_SIZE = 4
CLUSTER_EDGES = 6


def posts() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(
        pid: str,
        acc: str,
        t: datetime,
        kind: str = "post",
        parent: str | None = None,
        text: str = "",
        urls: list[str] | None = None,
    ) -> None:
        rows.append(
            {
                "post_id": pid,
                "platform": "x",
                "account_id": acc,
                "handle": HANDLES[acc],
                "created_at": t.isoformat(),
                "kind": kind,
                "parent_post_id": parent,
                "text": text,
                "urls": " ".join(urls or []),
            }
        )

    for k in range(1, 6):
        t = T0 + timedelta(hours=k)
        add(f"x:p{k}", "x:o1", t, text=f"Polling stations open at {6 + k}am (news {k})")
        for i, acc in enumerate(COORDINATED):
            add(
                f"x:r{k}{i}",
                acc,
                t + timedelta(seconds=10 + 5 * i),
                "repost",
                f"x:p{k}",
                f"RT news {k}",
            )
    add("x:r99", "x:o2", T0 + timedelta(hours=1, minutes=30), "repost", "x:p1", "RT news 1")
    add("x:h1", "x:c2", T0 + timedelta(hours=2, minutes=5), text=XSS_TEXT, urls=HOSTILE_URLS)
    add("x:h2", "x:c2", T0 + timedelta(hours=2, minutes=6), text=FORMULA_TEXT)
    return rows


def write_posts(path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for r in posts():
            f.write(json.dumps(r) + "\n")
    return path


#: Dashboard users: (name, role, partner group). Every password is PASSWORD.
PASSWORD = "correct horse battery"
USERS = (
    ("admin", "admin", None),
    ("ana", "analyst", None),
    ("pat", "partner", "ee-cert"),
    ("olga", "partner", "other-cert"),
)
#: Shares (scope, subject, TLP, recipient). pat may see cluster 1 of run 1 only: alert 1
#: went to ee-cert as TLP:RED, alert 2 to other-cert.
SHARES = (
    ("cluster", "cluster 1 of run 1", "amber", "ee-cert"),
    ("alert", "alert 1", "red", "ee-cert"),
    ("alert", "alert 2", "green", "other-cert"),
)
RAW_HOSTILE_URL = 'https://evil.example/"><script>window.__xss=5</script>'
NARRATIVE_LABEL = "ballots · <script>window.__xss=6</script> · fraud"
CLAIM_TEXT = 'Ballots were <img src=x onerror="window.__xss=7"> shredded'


def build(path: Path) -> None:
    """The whole case in a workspace at ``path``: ingest, detect, cluster, alerts, users,
    shares. Raw SQL only where the stage that would write it is another's (shares)."""
    import civicsentry
    from civicsentry.schema import SHARES as SHARES_TABLE
    from civicsentry.service import alerts
    from civicsentry.service import users as users_service

    with civicsentry.open(path) as ws:
        ws.ingest([write_posts(path.with_suffix(".jsonl"))])
        # An adapter that kept a URL as given: the views must still render it inert.
        ws.con.execute(
            "UPDATE posts SET urls = list_append(urls, ?) WHERE post_id = 'x:h1'",
            [RAW_HOSTILE_URL],
        )
        summary = ws.detect(semantics="coortweet", windows="60s", object_types=["repost"])
        assert summary.run_id == 1
        from civicsentry.service import accounts

        accounts.compute_signals(ws)  # run 3 (run 2 clustered run 1)
        evidence = {
            "cluster_id": 1,
            "run_id": 1,
            "accounts": list(COORDINATED),
            "time_range": {"from": T0.isoformat(), "to": (T0 + timedelta(hours=6)).isoformat()},
            "note": XSS_TEXT,
        }
        alerts.raise_alert(
            ws,
            rule="new_cluster",
            fingerprint="cluster-1",
            severity="high",
            title=f"New coordinated cluster {XSS_TEXT}",
            evidence=evidence,
        )
        alerts.raise_alert(
            ws,
            rule="burst",
            fingerprint="burst-1",
            severity="low",
            title="Account burst",
            evidence={"accounts": ["x:o2"]},
        )
        alerts.raise_alert(
            ws,
            rule="burst",
            fingerprint="burst-2",
            severity="medium",
            title="Another burst",
            evidence={"accounts": ["x:o1"]},
        )
        for name, role, group in USERS:
            users_service.add_user(ws, name, role=role, password=PASSWORD, partner_group=group)
        # A narratives run and a claim-matching run, as those stages would store them.
        rid = ws.next_id("runs", "run_id")
        ws.con.execute(
            "INSERT INTO runs (run_id, step, name, params, started_at) VALUES "
            "(?, 'narratives', 'narratives', '{}', now()), (?, 'match', 'claims', '{}', now())",
            [rid, rid + 1],
        )
        ws.con.execute(
            "INSERT INTO narratives (run_id, narrative_id, label, languages, posts, texts, "
            "accounts, first_t, last_t, growth_rate, coordinated_share) VALUES "
            "(?, 1, ?, '{\"en\": 2}', 2, 2, 1, ?, ?, 0.5, 1.0)",
            [rid, NARRATIVE_LABEL, T0, T0 + timedelta(hours=3)],
        )
        ws.con.execute(
            "INSERT INTO narrative_posts VALUES (?, 1, 'x:h1', 0.9), (?, 1, 'x:h2', 0.8)",
            [rid, rid],
        )
        ws.con.execute(
            "INSERT INTO claims (claim_id, claim_text, rating, reviewer, review_url) "
            "VALUES ('c1', ?, 'False', 'Fact Desk', ?)",
            [CLAIM_TEXT, RAW_HOSTILE_URL],
        )
        ws.con.execute(
            "INSERT INTO claim_matches (run_id, post_id, claim_id, score, method, matched_span) "
            "VALUES (?, 'x:h2', 'c1', 0.93, 'hybrid', ?)",
            [rid + 1, FORMULA_TEXT],
        )
        ws.con.execute(SHARES_TABLE.ddl())
        for i, (scope, subject, tlp, recipient) in enumerate(SHARES, start=1):
            ws.con.execute(
                "INSERT INTO shares (share_id, channel, format, scope, subject, tlp, recipient, "
                "objects, created_at, actor) VALUES (?, 'collection', 'stix', ?, ?, ?, ?, 3, "
                "now(), 'ana')",
                [i, scope, subject, tlp, recipient],
            )
