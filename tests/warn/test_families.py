"""Each rule family on a hand-built scenario, with the alerts it must raise written
beside it; and the same situation found again updates its alert."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from civicsentry.service import alerts as service
from civicsentry.store import Workspace
from civicsentry.warn import load_rules
from tests.warn.scenario import add_accounts, add_clustered_run, add_posts, alerts, at


def evaluate(ws: Workspace, *rules: str, now=None):  # type: ignore[no-untyped-def]
    return service.evaluate(ws, only=list(rules), now=now, notify=False)


def result(summary, rule: str):  # type: ignore[no-untyped-def]
    return next(r for r in summary.rules if r.rule == rule)


# -- clusters -----------------------------------------------------------------------------

CELL = ["x:a", "x:b", "x:c", "x:d"]


def test_new_cluster_is_raised_once_and_followed_across_runs(ws: Workspace) -> None:
    add_posts(ws, [{"post_id": "x:p1", "account_id": "x:z", "created_at": at(1)}])
    add_posts(
        ws,
        [
            {
                "post_id": f"x:r{i}",
                "account_id": a,
                "created_at": at(2),
                "kind": "repost",
                "parent_post_id": "x:p1",
            }
            for i, a in enumerate(CELL)
        ],
    )
    add_clustered_run(
        ws,
        [
            {
                "members": CELL,
                "suspicion": 0.8,
                "top_objects": {
                    "repost": [
                        {"object": "x:p1", "members": 4, "shares": 4, "label": "=HYPERLINK()"}
                    ]
                },
            },
            {"members": ["x:e", "x:f", "x:g"], "suspicion": 0.3},  # below min_suspicion 0.5
            {"members": ["x:h", "x:i"], "suspicion": 0.9},  # below min_size 3
        ],
    )
    s = evaluate(ws, "cluster-new")
    assert (result(s, "cluster-new").findings, s.raised) == (1, 1)
    (a,) = alerts(ws, "cluster-new")
    ev = a["evidence"]
    assert ev["accounts"] == CELL and ev["accounts_total"] == 4
    assert ev["posts"] == ["x:r0", "x:r1", "x:r2", "x:r3"]  # members' reposts of the top object
    assert ev["objects"][0]["id"] == "x:p1" and ev["numbers"]["size"] == 4
    assert a["severity"] == "high"  # suspicion 0.8 >= 0.75
    assert a["title"].startswith("Coordinated cluster of 4 accounts")

    # The next detection run finds the cell again with a new member and another id:
    # the same situation, so the same alert, updated.
    add_clustered_run(ws, [{"members": ["x:new", *CELL], "suspicion": 0.7}])
    s = evaluate(ws, "cluster-new")
    assert (s.raised, result(s, "cluster-new").updated) == (0, 1)
    (a,) = alerts(ws, "cluster-new")
    assert a["count"] == 2 and a["evidence"]["accounts_total"] == 5
    # An unrelated cluster is a new situation.
    add_clustered_run(ws, [{"members": ["x:p", "x:q", "x:r"], "suspicion": 0.6}])
    assert evaluate(ws, "cluster-new").raised == 1
    assert len(alerts(ws, "cluster-new")) == 2


def test_new_clusters_of_a_watch_pass_recent_activity_only_each_once(ws: Workspace) -> None:
    # A watch pass detects on 72 h of evidence, then on the last 24 h (service.watch).
    add_posts(ws, [{"post_id": "x:p1", "account_id": "x:z", "created_at": at(72)}])
    until = at(72).isoformat()
    evidence = {"trigger": "watch", "until": until, "lookback_s": 259200.0, "recent_s": 86400.0}
    add_clustered_run(
        ws,
        [
            {"members": CELL, "last_t": at(70)},  # also found by the recent window
            {"members": ["x:p", "x:q", "x:r"], "last_t": at(40)},  # co-acted 32 h ago
            {"members": ["x:k", "x:l", "x:m"], "last_t": at(50)},  # 22 h ago: recent
        ],
        scope=evidence,
    )
    add_clustered_run(
        ws,
        [{"members": [*CELL, "x:new"], "last_t": at(71)}, {"members": ["x:s", "x:t", "x:u"]}],
        scope={"trigger": "watch", "until": until, "lookback_s": 86400.0},
    )
    s = evaluate(ws, "cluster-new")
    assert (result(s, "cluster-new").findings, s.raised) == (3, 3)
    found = sorted(tuple(a["evidence"]["accounts"]) for a in alerts(ws, "cluster-new"))
    # The cell once (as the recent window saw it), the recent cluster of the evidence
    # window, the recent window's other cluster; not the one whose activity has ended.
    assert found == [("x:a", "x:b", "x:c", "x:d", "x:new"), ("x:k", "x:l", "x:m"), ("x:s", "x:t", "x:u")]  # fmt: skip


def test_cluster_growth_between_runs_of_the_same_scope(ws: Workspace) -> None:
    add_posts(ws, [{"post_id": "x:p1", "account_id": "x:z", "created_at": at(1)}])
    add_clustered_run(ws, [{"members": CELL, "objects": 4}])
    s = evaluate(ws, "cluster-growth")
    assert "no earlier clustered run" in result(s, "cluster-growth").skipped
    grown = [*CELL, "x:e", "x:f", "x:g", "x:h", "x:i", "x:j"]  # 6 new: >= 5 and 10/4 >= 1.5
    add_clustered_run(ws, [{"members": grown, "objects": 4}, {"members": ["x:k", "x:l", "x:m"]}])
    s = evaluate(ws, "cluster-growth")
    assert result(s, "cluster-growth").findings == 1  # x:k.. has no earlier cluster
    (a,) = alerts(ws, "cluster-growth")
    n = a["evidence"]["numbers"]
    assert (n["size"], n["previous_size"], n["new_members"], n["growth"]) == (10, 4, 6, 2.5)
    assert a["evidence"]["accounts_new"] == ["x:e", "x:f", "x:g", "x:h", "x:i", "x:j"]
    assert a["title"].startswith("Coordinated cluster grew from 4 to 10 accounts")
    # A run of another scope (a watch window) is not compared with full runs.
    add_clustered_run(ws, [{"members": CELL}], scope={"lookback_s": 86400})
    s = evaluate(ws, "cluster-growth")
    assert "no earlier clustered run of the same scope" in result(s, "cluster-growth").skipped


def test_foreign_schedule_cluster_and_its_skip_reasons(ws: Workspace) -> None:
    add_posts(ws, [{"post_id": "x:p1", "account_id": "x:z", "created_at": at(1)}])
    s = evaluate(ws, "foreign-schedule-cluster")
    assert "no cluster schedules yet" in result(s, "foreign-schedule-cluster").skipped
    rid = add_clustered_run(ws, [{"members": CELL}, {"members": ["x:e", "x:f", "x:g"]}])
    for cid, foreign, conf in ((1, True, 0.9), (2, False, 0.9)):
        ws.con.execute(
            "INSERT INTO cluster_schedules (signals_run_id, run_id, cluster_id, members, utc_offset, "
            'confidence, workday_share, population_offset, offset_gap, "foreign", explanation) '
            "VALUES (7, ?, ?, 4, 3, ?, 0.92, -5, 8, ?, '{}')",
            [rid, cid, conf, foreign],
        )
    s = evaluate(ws, "foreign-schedule-cluster")
    assert s.raised == 1
    (a,) = alerts(ws, "foreign-schedule-cluster")
    assert a["evidence"]["accounts"] == CELL and a["evidence"]["numbers"]["offset_gap_h"] == 8
    assert a["title"] == "Cluster of 4 accounts keeps office hours at UTC+3 (population UTC-5)"
    assert a["severity"] == "high"
    ws.con.execute("DROP TABLE cluster_schedules")  # a workspace without the signals stage
    s = evaluate(ws, "foreign-schedule-cluster")
    assert result(s, "foreign-schedule-cluster").skipped == (
        "needs the table cluster_schedules, which this workspace lacks"
    )


# -- account creation bursts ----------------------------------------------------------------


def test_account_creation_burst_against_the_days_before(ws: Workspace) -> None:
    # 30 days with 3 accounts a day, then two days with 25 and 20: one burst of 45.
    accounts = [(f"x:o{d}-{k}", at(days=d, hours=k)) for d in range(30) for k in range(3)]
    accounts += [(f"x:b{k}", at(days=30, hours=k % 24)) for k in range(25)]
    accounts += [(f"x:c{k}", at(days=31, hours=k % 24)) for k in range(20)]
    accounts += [(f"x:o32-{k}", at(days=32, hours=k)) for k in range(4)]  # ordinary again
    add_accounts(ws, accounts)
    add_posts(ws, [{"post_id": "x:p1", "account_id": "x:b0", "created_at": at(days=33)}])
    s = evaluate(ws, "account-creation-burst")
    assert s.raised == 1
    (a,) = alerts(ws, "account-creation-burst")
    n = a["evidence"]["numbers"]
    assert (n["accounts"], n["peak"], n["baseline_median"], n["buckets"]) == (45, 25, 3.0, 2)
    assert a["evidence"]["posts"] == ["x:p1"]
    assert str(a["evidence_from"]) == "2024-11-27 00:00:00+00:00"
    assert a["title"].startswith("45 accounts created in 2 day(s) from 2024-11-27")
    assert evaluate(ws, "account-creation-burst").raised == 0  # same burst, same alert


# -- volume on the watch-list ------------------------------------------------------------------


def _hourly(ws: Workspace, days: int, per_hour, tag: str = "vote", start: int = 0) -> None:  # type: ignore[no-untyped-def]
    posts = []
    for d in range(days):
        for h in range(24):
            for k in range(per_hour(h)):
                posts.append(
                    {
                        "post_id": f"x:{tag}-{d}-{h}-{k}-{start}",
                        "account_id": f"x:u{k}",
                        "created_at": at(days=start + d, hours=h) + timedelta(minutes=k),
                        "hashtags": [tag],
                        "text": f"get out and #{tag}",
                    }
                )
    add_posts(ws, posts)


def test_volume_is_judged_against_the_same_hour(ws: Workspace) -> None:
    # Ten days: 30 posts with #vote at 20:00 every evening, 1 an hour otherwise.
    _hourly(ws, 10, lambda h: 30 if h == 20 else 1)
    # Day 11: the usual evening (32 at 20:00) and 32 at 04:00, when it is usually 1.
    posts = [
        {
            "post_id": f"x:night{k}",
            "account_id": f"x:n{k}",
            "created_at": at(days=10, hours=4) + timedelta(minutes=k),
            "hashtags": ["vote"],
        }
        for k in range(32)
    ] + [
        {
            "post_id": f"x:eve{k}",
            "account_id": f"x:n{k}",
            "created_at": at(days=10, hours=20) + timedelta(minutes=k),
            "hashtags": ["vote"],
        }
        for k in range(32)
    ]
    add_posts(ws, posts)
    s = evaluate(ws, "watchlist-volume", now=at(days=10, hours=21))
    assert s.raised == 1  # 04:00 fires; 20:00 with the same count does not
    (a,) = alerts(ws, "watchlist-volume")
    ev = a["evidence"]
    assert ev["key"] == "hashtag:vote" and ev["baseline"]["kind"] == "hour_of_day"
    assert ev["numbers"]["peak_count"] == 32 and ev["numbers"]["baseline_median"] == 1
    assert str(a["evidence_from"]) == "2024-11-07 04:00:00+00:00"
    assert ev["posts"][:2] == ["x:night0", "x:night1"]
    assert a["title"].startswith("hashtag '#vote': 32 posts in 60 min at 2024-11-07 04:00 UTC")
    # Evaluated again an hour later: the same spike, the same alert.
    s = evaluate(ws, "watchlist-volume", now=at(days=10, hours=22))
    assert s.raised == 0 and len(alerts(ws)) == 1


def test_terms_match_whole_words_and_are_data_not_patterns(ws: Workspace) -> None:
    rules = load_rules()
    rule = rules.get("watchlist-volume")
    watch = {"terms": ["mail-in", "a.b"], "hashtags": [], "domains": [], "accounts": [], "urls": []}
    custom = type(rule)(**{**rule.__dict__, "params": {**rule.params, "watch": watch, "min_history": 1, "trailing": 2}})  # fmt: skip
    texts = ["Mail-in ballots!", "emailing", "a.b here", "axb here"]
    posts = [{"post_id": f"x:q{i}-{k}", "account_id": "x:u", "created_at": at(hours=2) + timedelta(seconds=i * 60 + k), "text": t} for i, t in enumerate(texts) for k in range(12)]  # fmt: skip
    add_posts(ws, posts)
    add_posts(ws, [{"post_id": "x:old", "account_id": "x:u", "created_at": at(hours=0), "text": "x"}])  # fmt: skip
    from civicsentry.warn.rules import RuleSet

    s = service.evaluate(ws, rules=RuleSet((custom,), {}, ("test",)), now=at(hours=3), notify=False)
    keys = sorted(a["evidence"]["key"] for a in alerts(ws))
    assert keys == ["term:a.b", "term:mail-in"], s
    counts = {a["evidence"]["key"]: a["evidence"]["numbers"]["peak_count"] for a in alerts(ws)}
    assert counts == {"term:a.b": 12, "term:mail-in": 12}  # not "emailing", not "axb"


def test_a_spike_driven_by_one_post_is_one_alert(ws: Workspace) -> None:
    _hourly(ws, 8, lambda h: 1, tag="vote")
    _hourly(ws, 8, lambda h: 1, tag="electionday")
    seed = {"post_id": "x:viral", "account_id": "x:star", "created_at": at(days=8, hours=3), "hashtags": ["vote", "electionday"]}  # fmt: skip
    reposts = [
        {
            "post_id": f"x:rt{k}",
            "account_id": f"x:f{k}",
            "created_at": at(days=8, hours=3) + timedelta(minutes=1 + k % 50),
            "kind": "repost",
            "parent_post_id": "x:viral",
            "hashtags": ["vote", "electionday"],
        }
        for k in range(40)
    ]
    add_posts(ws, [seed, *reposts])
    s = evaluate(ws, "watchlist-volume", now=at(days=8, hours=5))
    assert s.raised == 1
    (a,) = alerts(ws)
    ev = a["evidence"]
    assert ev["key"] == "post:x:viral" and ev["one_post"] == {"post_id": "x:viral", "share": 1.0}
    assert sorted(i["value"] for i in ev["items"]) == ["electionday", "vote"]
    assert ev["numbers"]["items"] == 2
    # Nobody coordinated drives it: a viral post is news more often than an operation.
    assert ev["numbers"]["coordinated_accounts"] == 0 and a["severity"] == "low"


# -- narratives and claims ------------------------------------------------------------------


def test_claim_and_narrative_rules_are_skipped_until_their_stage_ran(ws: Workspace) -> None:
    add_posts(ws, [{"post_id": "x:p1", "account_id": "x:z", "created_at": at(1)}])
    s = evaluate(ws, "debunked-claim-spreading", "narrative-accelerating")
    skipped = {r.rule: r.skipped for r in s.rules}
    assert skipped == {
        "debunked-claim-spreading": "no claim matches yet (`civicsentry claims match`)",
        "narrative-accelerating": "no narratives yet (`civicsentry narratives`)",
    }
    ws.con.execute("DROP TABLE claim_matches")  # a workspace from before that stage
    s = evaluate(ws, "debunked-claim-spreading")
    assert s.rules[0].skipped == "needs the table claim_matches, which this workspace lacks"
    assert s.raised == 0


def test_debunked_claim_spreading(ws: Workspace) -> None:
    ws.con.execute(
        "INSERT INTO claims (claim_id, claim_text, rating, rating_value) VALUES "
        "('c1', 'Dead voters voted', 'Pants on Fire', NULL), ('c2', 'Polls open at 7', 'True', 1.0), "
        "('c3', 'Ballots were shredded', 'Mostly wrong', 0.1)"
    )
    # A week with 1 match a day, then 15 in the last day; c2 spreads too but is true,
    # c3 is debunked by its normalised rating and spread all week (not new).
    posts = [
        {"post_id": f"x:old{d}", "account_id": "x:u", "created_at": at(days=d)} for d in range(7)
    ] + [
        {"post_id": f"x:new{k}", "account_id": f"x:v{k % 5}", "created_at": at(days=7, hours=k)}
        for k in range(15)
    ]
    add_posts(ws, posts)
    matches = [["c1", p["post_id"]] for p in posts] + [["c2", p["post_id"]] for p in posts]
    matches += [["c3", f"x:old{d}"] for d in range(7)] * 1
    ws.con.executemany("INSERT INTO claim_matches (run_id, claim_id, post_id, score, method) VALUES (1, ?, ?, 0.9, 'hybrid')", matches)  # fmt: skip
    s = evaluate(ws, "debunked-claim-spreading", now=at(days=7, hours=15))
    assert s.raised == 1
    (a,) = alerts(ws)
    n = a["evidence"]["numbers"]
    assert (n["posts"], n["accounts"], n["baseline_per_window"], n["ratio"]) == (15, 5, 1.0, 15.0)
    assert a["evidence"]["claim"]["rating"] == "Pants on Fire"
    assert "Dead voters voted" in a["title"]


def test_narrative_accelerating(ws: Workspace) -> None:
    posts = [
        {"post_id": f"x:n{k}", "account_id": f"x:v{k % 7}", "created_at": at(days=7, hours=k % 20)}
        for k in range(60)
    ] + [{"post_id": f"x:o{d}", "account_id": "x:u", "created_at": at(days=d)} for d in range(7)]
    add_posts(ws, posts)
    ws.con.execute(
        "INSERT INTO narratives (run_id, narrative_id, label, posts) "
        "VALUES (3, 1, 'ballots · shredded', 67), (3, 2, 'weather · rain', 7)"
    )
    ws.con.executemany(
        "INSERT INTO narrative_posts (run_id, narrative_id, post_id) VALUES (3, ?, ?)",
        [[1, p["post_id"]] for p in posts[:60]] + [[2, p["post_id"]] for p in posts[60:]],
    )
    s = evaluate(ws, "narrative-accelerating", now=at(days=7, hours=21))
    assert s.raised == 1
    (a,) = alerts(ws)
    assert a["evidence"]["key"] == "narrative:ballots · shredded"
    assert a["evidence"]["numbers"]["posts"] == 60
    assert a["title"].startswith("Narrative accelerating: 60 posts")


def test_foreign_schedule_on_the_signals_stage_for_real(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import csv

    import civicsentry
    from civicsentry.service.accounts import compute_signals
    from civicsentry.simulate import simulate

    sim = simulate(tmp_path / "sim", posts=20000, seed=2, campaigns="foreign_schedule:1")
    with Path(sim.paths["truth"]).open(encoding="utf-8") as f:
        members = {r["account_id"] for r in csv.DictReader(f)}
    with civicsentry.open(tmp_path / "ws.duckdb") as ws:
        ws.ingest([sim.paths["posts"], sim.paths["accounts"]])
        ws.detect()
        compute_signals(ws)
        s = evaluate(ws, "foreign-schedule-cluster")
        assert s.raised == 1
        (a,) = alerts(ws, "foreign-schedule-cluster")
    # The planted cell (UTC+3 office hours, posing as Americans) is the alert's cluster.
    assert set(a["evidence"]["accounts"]) == members
    assert a["evidence"]["numbers"]["utc_offset"] == 3
    assert a["evidence"]["numbers"]["offset_gap_h"] == 9
