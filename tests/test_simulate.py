"""The simulator: reproducible, canonical columns, valid structure, planted campaigns present
and detectable by co-action, innocent viral bursts, and every output format parseable."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from civicsentry.errors import InvalidParams
from civicsentry.simulate import CAMPAIGN_KINDS, CampaignSpec, SimulationSummary, simulate

POSTS_COLUMNS = ["post_id", "platform", "account_id", "created_at", "kind", "parent_post_id",
                 "text", "lang", "urls", "hashtags", "mentions"]  # fmt: skip
ACCOUNT_COLUMNS = ["account_id", "platform", "handle", "display_name", "created_at", "followers",
                   "following", "verified", "description", "location"]  # fmt: skip
ALL_KINDS = ",".join(CAMPAIGN_KINDS)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> SimulationSummary:
    """One parquet run with every campaign kind, shared read-only by the structural tests."""
    return simulate(tmp_path_factory.mktemp("sim"), posts=30_000, seed=11, campaigns=ALL_KINDS)


@pytest.fixture(scope="module")
def con(sim: SimulationSummary) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute(f"CREATE VIEW p AS SELECT * FROM '{sim.paths['posts']}'")
    c.execute(f"CREATE VIEW t AS SELECT * FROM read_csv('{sim.paths['truth']}')")
    return c


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a = simulate(tmp_path / "a", posts=4_000, seed=5)
    b = simulate(tmp_path / "b", posts=4_000, seed=5)
    c = simulate(tmp_path / "c", posts=4_000, seed=6)
    for role in ("posts", "accounts", "truth", "campaigns"):
        assert a.paths[role].read_bytes() == b.paths[role].read_bytes(), role
    assert a.paths["posts"].read_bytes() != c.paths["posts"].read_bytes()


def test_columns_and_types(sim: SimulationSummary) -> None:
    posts = pq.read_schema(sim.paths["posts"])
    assert posts.names == POSTS_COLUMNS
    assert str(posts.field("created_at").type) == "timestamp[us, tz=UTC]"
    for name in ("urls", "hashtags", "mentions"):
        assert str(posts.field(name).type) == "list<element: string>"
    assert pq.read_schema(sim.paths["accounts"]).names == ACCOUNT_COLUMNS


def test_counts_ids_kinds_and_parents(
    sim: SimulationSummary, con: duckdb.DuckDBPyConnection
) -> None:
    n, distinct, bad_id, bad_acc = con.execute(
        r"""SELECT count(*), count(DISTINCT post_id),
                   count(*) FILTER (WHERE NOT regexp_full_match(post_id, 'x:\d+')),
                   count(*) FILTER (WHERE NOT regexp_full_match(account_id, 'x:u\d+')) FROM p"""
    ).fetchone()
    assert n == distinct == sim.posts == 30_000 and bad_id == bad_acc == 0
    kinds = dict(con.execute("SELECT kind, count(*) FROM p GROUP BY 1").fetchall())
    assert set(kinds) == {"post", "repost", "reply", "quote"} and kinds == sim.posts_by_kind
    # A post has no parent; every other kind has one that exists and came earlier.
    assert con.execute(
        "SELECT count(*) FROM p WHERE (kind = 'post') <> (parent_post_id IS NULL)"
    ).fetchone() == (0,)
    orphans, not_before = con.execute(
        """SELECT count(*) FILTER (WHERE q.post_id IS NULL), count(*) FILTER (WHERE q.created_at >= c.created_at)
           FROM p c LEFT JOIN p q ON q.post_id = c.parent_post_id WHERE c.parent_post_id IS NOT NULL"""
    ).fetchone()
    assert orphans == 0 and not_before == 0
    retweets = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE text LIKE 'RT @%') FROM p WHERE kind='repost'"
    )
    total, rt = retweets.fetchone()
    assert total > 0.2 * sim.posts and rt == total
    # Accounts scale with posts; all authors are in the accounts file.
    assert sim.accounts == 30_000 // 20
    authors = con.execute(f"SELECT count(DISTINCT account_id) FROM p WHERE account_id NOT IN "
                          f"(SELECT account_id FROM '{sim.paths['accounts']}')").fetchone()  # fmt: skip
    assert authors == (0,)


def test_links_and_hashtags_need_normalising(con: duckdb.DuckDBPyConnection) -> None:
    utm, fbclid, upper_host, mixed_tag = con.execute(
        r"""SELECT count(*) FILTER (WHERE u LIKE '%utm_source=%'), count(*) FILTER (WHERE u LIKE '%fbclid=%'),
                   count(*) FILTER (WHERE regexp_extract(u, '^https?://([^/]+)', 1) <> lower(regexp_extract(u, '^https?://([^/]+)', 1))),
                   (SELECT count(DISTINCT h) - count(DISTINCT lower(h)) FROM (SELECT unnest(hashtags) h FROM p))
            FROM (SELECT unnest(urls) u FROM p)"""
    ).fetchone()  # fmt: skip
    assert utm > 0 and fbclid > 0 and upper_host > 0 and mixed_tag > 0


def test_truth_lists_each_requested_kind(
    sim: SimulationSummary, con: duckdb.DuckDBPyConnection
) -> None:
    kinds = {k for (k,) in con.execute("SELECT DISTINCT campaign_kind FROM t").fetchall()}
    assert kinds == set(CAMPAIGN_KINDS) and sim.campaigns == len(CAMPAIGN_KINDS)
    doc = json.loads(sim.paths["campaigns"].read_text())
    truth = {r["account_id"]: r["campaign_id"] for r in _csv(sim.paths["truth"])}
    assert len(truth) == sim.campaign_accounts
    for c in doc["campaigns"]:
        assert c["kind"] in CAMPAIGN_KINDS and c["start"] < c["end"]
        assert {truth[a] for a in c["accounts"]} == {c["campaign_id"]}
        assert sim.campaign_posts[c["campaign_id"]] == c["posts"] > 0
        assert any(c["objects"][k] for k in ("posts", "urls", "hashtags", "texts"))
    small = next(c for c in doc["campaigns"] if c["kind"] == "small_cell")
    assert 3 <= len(small["accounts"]) <= 6
    foreign = next(c for c in doc["campaigns"] if c["kind"] == "foreign_schedule")
    assert foreign["schedule_utc_offset"] == 3


def _corepost_weights(con: duckdb.DuckDBPyConnection, window_s: int) -> list[tuple[str, int]]:
    """(campaign of the pair or '-', number of parents both reposted within window_s)."""
    return con.execute(
        f"""SELECT coalesce(CASE WHEN ta.campaign_id = tb.campaign_id THEN ta.campaign_kind END, '-'),
                   count(DISTINCT a.parent_post_id)
            FROM p a JOIN p b ON a.parent_post_id = b.parent_post_id AND a.account_id < b.account_id
                 AND a.kind = 'repost' AND b.kind = 'repost'
                 AND abs(epoch(a.created_at) - epoch(b.created_at)) <= {window_s}
            LEFT JOIN t ta ON ta.account_id = a.account_id LEFT JOIN t tb ON tb.account_id = b.account_id
            GROUP BY a.account_id, b.account_id, ta.campaign_id, tb.campaign_id, ta.campaign_kind"""
    ).fetchall()


def test_fast_bots_corepost_within_seconds_on_many_objects(con: duckdb.DuckDBPyConnection) -> None:
    w = _corepost_weights(con, 60)
    bots = sorted(n for k, n in w if k == "fast_bots")
    organic = sorted(n for k, n in w if k == "-")
    assert len(bots) >= 6 and bots[len(bots) // 2] >= 15  # every pair, again and again
    assert organic and bots[len(bots) // 2] > 3 * organic[int(0.999 * (len(organic) - 1))]


def test_viral_burst_is_organic_and_fast(
    sim: SimulationSummary, con: duckdb.DuckDBPyConnection
) -> None:
    viral = json.loads(sim.paths["campaigns"].read_text())["viral_posts"][0]
    n, within_hour, by_campaign = con.execute(
        """SELECT count(DISTINCT c.account_id),
                  count(*) FILTER (WHERE epoch(c.created_at) - epoch(v.created_at) <= 3600),
                  count(*) FILTER (WHERE c.account_id IN (SELECT account_id FROM t))
           FROM p c JOIN p v ON v.post_id = c.parent_post_id WHERE c.parent_post_id = ?""",
        [viral],
    ).fetchone()
    assert n >= 200 and within_hour >= 0.9 * n and by_campaign == 0


def test_foreign_schedule_works_office_hours_abroad(con: duckdb.DuckDBPyConnection) -> None:
    off, total = con.execute(
        """SELECT count(*) FILTER (WHERE isodow(l) > 5 OR hour(l) NOT BETWEEN 9 AND 17), count(*)
           FROM (SELECT created_at + INTERVAL 3 HOUR AS l FROM p JOIN t USING (account_id)
                 WHERE campaign_kind = 'foreign_schedule')"""
    ).fetchone()
    assert total > 50 and off < 0.2 * total


def test_copy_paste_posts_repeat_templates_with_edits(
    sim: SimulationSummary, con: duckdb.DuckDBPyConnection
) -> None:
    texts = json.loads(sim.paths["campaigns"].read_text())
    templates = next(c for c in texts["campaigns"] if c["kind"] == "copy_paste")["objects"]["texts"]
    rows = [r[0] for r in con.execute(
        "SELECT text FROM p JOIN t USING (account_id) WHERE campaign_kind = 'copy_paste' AND kind = 'post'"
    ).fetchall()]  # fmt: skip
    copies = [r for r in rows if any(r[:25] == tpl[:25] for tpl in templates)]
    assert len(copies) >= 10 and len(set(copies)) > len(copies) / 2  # many copies, mostly edited


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_tabular_formats_parse(tmp_path: Path, fmt: str) -> None:
    s = simulate(tmp_path, posts=3_000, seed=2, fmt=fmt, campaigns="fast_bots")
    if fmt == "csv":
        table = pacsv.read_csv(s.paths["posts"])
        assert table.column_names == POSTS_COLUMNS and table.num_rows == 3_000
        assert pacsv.read_csv(s.paths["accounts"]).column_names == ACCOUNT_COLUMNS
        stamps = [r["created_at"] for r in _csv(s.paths["posts"])]
    else:
        rows = _jsonl(s.paths["posts"])
        assert len(rows) == 3_000 and all(list(r) == POSTS_COLUMNS for r in rows)
        assert all(isinstance(r["urls"], list) for r in rows)
        first_account = _jsonl(s.paths["accounts"])[0]
        assert list(first_account) == ACCOUNT_COLUMNS
        stamps = [r["created_at"] for r in rows]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(x)) for x in stamps[:100])


def test_twitter_v2_pages_like_twarc2(tmp_path: Path) -> None:
    s = simulate(tmp_path, posts=3_000, seed=3, fmt="twitter-v2", campaigns="fast_bots")
    assert s.paths["posts"].name == "tweets.jsonl"
    pages = _jsonl(s.paths["posts"])
    tweets = [t for p in pages for t in p["data"]]
    assert len(tweets) == 3_000 and len({t["id"] for t in tweets}) == 3_000
    assert int(tweets[0]["id"]) > int(tweets[-1]["id"])  # newest first, as search returns
    for page in pages:
        assert set(page) == {"data", "includes", "meta", "__twarc"}
        assert page["meta"]["result_count"] == len(page["data"]) <= 100
        users = {u["id"] for u in page["includes"]["users"]}
        refs = {t["id"] for t in page["includes"].get("tweets", [])}
        for t in page["data"]:
            assert t["author_id"] in users and t["created_at"].endswith(".000Z")
            for r in t.get("referenced_tweets", []):
                assert r["id"] in refs and r["type"] in ("retweeted", "quoted", "replied_to")
            if t.get("referenced_tweets", [{}])[0].get("type") == "retweeted":
                assert t["text"].startswith("RT @")
            ent = t.get("entities", {})
            for m in ent.get("mentions", []):
                assert t["text"][m["start"] : m["end"]] == "@" + m["username"]
            for h in ent.get("hashtags", []):
                assert t["text"][h["start"] : h["end"]] == "#" + h["tag"]
            for u in ent.get("urls", []):
                assert t["text"][u["start"] : u["end"]] == u["url"] and u["url"].startswith(
                    "https://t.co/"
                )
    assert "next_token" not in pages[-1]["meta"] and "next_token" in pages[0]["meta"]
    # Truth ids are what ingest makes of author_id: x:<number>.
    truth = [r["account_id"] for r in _csv(s.paths["truth"])]
    authors = {"x:" + t["author_id"] for t in tweets}
    assert truth and set(truth) <= authors | {
        "x:" + u["id"] for p in pages for u in p["includes"]["users"]
    }
    users_file = _jsonl(s.paths["accounts"])
    assert sum(len(p["data"]) for p in users_file) == s.accounts
    expansions = pytest.importorskip("twarc.expansions")
    flat = expansions.ensure_flattened(pages[0])
    assert flat[0]["author"]["username"]


def test_specs_progress_and_start(tmp_path: Path) -> None:
    seen: list[int] = []
    s = simulate(
        tmp_path, posts=6_000, seed=1, days=2, start=datetime(2025, 3, 1, 12),
        campaigns=[CampaignSpec("small_cell", accounts=4, targets=12)], progress=seen.append,
    )  # fmt: skip
    assert seen and seen[-1] == s.posts == 6_000 and seen == sorted(seen)
    assert s.start == datetime(2025, 3, 1, 12, tzinfo=UTC) and s.campaign_accounts == 4
    lo, hi = (
        duckdb.connect()
        .execute(f"SELECT min(created_at), max(created_at) FROM '{s.paths['posts']}'")
        .fetchone()
    )
    assert lo >= s.start and (hi - s.start).total_seconds() < 2 * 86_400


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fmt": "xml"}, "Unknown format"),
        ({"posts": 10}, "posts must be"),
        ({"days": 0}, "days must be"),
        ({"campaigns": "sock_puppets:2"}, "Unknown campaign kind"),
        ({"campaigns": "fast_bots:x"}, "Bad campaign spec"),
        ({"posts": 1_000, "campaigns": "large_network:3"}, "too few"),
        ({"start": datetime(2009, 1, 1)}, "2011"),
    ],
)
def test_bad_arguments_raise_invalid_params(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidParams, match=message):
        simulate(tmp_path, **kwargs)


def test_no_campaigns(tmp_path: Path) -> None:
    s = simulate(tmp_path, posts=2_000, campaigns="none")
    assert (
        s.campaigns == 0
        and s.paths["truth"].read_text() == "account_id,campaign_id,campaign_kind\n"
    )


def test_docs_describe_every_campaign_kind() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "simulate.md").read_text(encoding="utf-8")
    for kind in CAMPAIGN_KINDS:
        assert f"| `{kind}` |" in doc, kind


def test_public_names() -> None:
    import civicsentry.simulate as sim_module

    assert set(sim_module.__all__) == {
        "CAMPAIGN_KINDS", "FORMATS", "CampaignSpec", "SimulationSummary", "simulate"
    }  # fmt: skip
