"""Near-duplicate text objects (simtext): MinHash/LSH clusters of edited copies, mapped
back to posts, and fed to the co-action engine."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from civicsentry.detect import CoordinationParams
from civicsentry.detect.simtext import (
    SimtextParams,
    key_labels,
    signatures,
    simtext_actions,
    store_simtext_actions,
)
from civicsentry.errors import InvalidParams

from .conftest import T0, edges, load, run

BASE = "BREAKING: thousands of ballots found behind a warehouse in Maple County. Why is nobody talking about this?"
EDITS = [
    BASE + " 🔥",
    BASE.replace("thousands", "hundreds") + " https://x.example/a",
    BASE.replace("found", "discovered") + " @someone",
    BASE.replace("Why is nobody", "Why is no one") + " 😡",
]
UNRELATED = [
    "my favourite podcast is way better than the teachers' contract #MondayMotivation",
    "the union apologised for property taxes and the mayor said nothing at all today",
    "Unpopular opinion: the power company wrote an op-ed on the new mural. Wild.",
]

#: (post_id, account, seconds after T0, kind, text)
Post = tuple[str, str, float, str, str | None]


def posts_table(con: duckdb.DuckDBPyConnection, rows: list[Post], table: str = "posts") -> str:
    data = pa.table(
        {
            "post_id": [r[0] for r in rows],
            "account_id": [r[1] for r in rows],
            "created_at": pa.array(
                [T0 + timedelta(seconds=r[2]) for r in rows], pa.timestamp("us", "UTC")
            ),
            "kind": [r[3] for r in rows],
            "text": pa.array([r[4] for r in rows], pa.string()),
        }
    )
    con.register("_p", data)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _p")
    con.unregister("_p")
    return table


def objects(con: duckdb.DuckDBPyConnection, rows: list[Post], **kw: object) -> dict[str, str]:
    """post_id -> simtext object id."""
    posts_table(con, rows)
    acts = simtext_actions(con, "posts", SimtextParams(**kw))  # type: ignore[arg-type]
    assert set(acts.column("object_type").to_pylist()) <= {"simtext"}
    return dict(
        zip(acts.column("post_id").to_pylist(), acts.column("object_id").to_pylist(), strict=True)
    )


def test_edited_copies_cluster_and_unrelated_texts_do_not(con: duckdb.DuckDBPyConnection) -> None:
    rows = [(f"e{i}", f"a{i}", i * 10.0, "post", t) for i, t in enumerate(EDITS)]
    rows += [(f"u{i}", f"b{i}", i * 10.0, "post", t) for i, t in enumerate(UNRELATED)]
    got = objects(con, rows)
    assert {f"e{i}" for i in range(len(EDITS))} == set(got)  # lone texts get no object
    assert len(set(got.values())) == 1


def test_threshold_is_respected(con: duckdb.DuckDBPyConnection) -> None:
    a = "one two three four five six seven eight nine ten"
    b = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    rows: list[Post] = [("p1", "a", 0, "post", a), ("p2", "b", 0, "post", b)]
    # word bigrams: 9 shared of 13 -> Jaccard 0.69
    assert len(objects(con, rows, threshold=0.6)) == 2
    assert objects(con, rows, threshold=0.9) == {}


def test_deterministic_with_a_seed() -> None:
    rng = np.random.default_rng(1)
    owner = np.repeat(np.arange(50), 7)
    h = rng.integers(0, 2**63, len(owner), dtype=np.uint64)
    s1, s2 = signatures(owner, h, 50, 64, seed=3), signatures(owner, h, 50, 64, seed=3)
    assert np.array_equal(s1, s2)
    assert not np.array_equal(s1, signatures(owner, h, 50, 64, seed=4))
    # a signature is the min over each set's shingles: it only depends on the set
    perm = rng.permutation(7)
    h2 = h.reshape(50, 7)[:, perm].ravel()
    assert np.array_equal(s1, signatures(owner, h2, 50, 64, seed=3))


def test_clusters_do_not_depend_on_the_order_of_the_keys(con: duckdb.DuckDBPyConnection) -> None:
    # Chains of edits (one word changed at a time) over a few words, so that LSH buckets
    # are large and hold chains of near copies: which pairs are compared depends on the
    # keys' order, which must come from the data, not from the order in which DuckDB
    # hands out the distinct texts (the old code gave 4 other partitions of these 5).
    rng = np.random.default_rng(7)
    words = [f"w{k}" for k in range(30)]
    found = set()
    for _ in range(200):
        text = list(rng.choice(words, 8))
        for _ in range(10):
            text[rng.integers(8)] = words[rng.integers(30)]
            found.add(" ".join(text))
    keys = sorted(found)

    def partition(ordered: list[str]) -> set[frozenset[str]]:
        labels = key_labels(con, pa.array(ordered, pa.string()), SimtextParams())
        groups: dict[int, set[str]] = {}
        for key, label in zip(ordered, labels.tolist(), strict=True):
            groups.setdefault(label, set()).add(key)
        return {frozenset(g) for g in groups.values()}

    got = partition(keys)
    assert 10 < len(got) < len(keys)  # the case is not trivial
    for _ in range(5):
        assert partition([keys[k] for k in rng.permutation(len(keys))]) == got


def test_empty_texts_and_reposts_are_ignored(con: duckdb.DuckDBPyConnection) -> None:
    rows: list[Post] = [
        ("p1", "a", 0, "post", ""),
        ("p2", "b", 0, "post", "   "),
        ("p3", "c", 0, "post", None),
        ("p4", "d", 0, "repost", EDITS[0]),
        ("p5", "e", 0, "repost", EDITS[1]),
        ("p6", "f", 0, "post", EDITS[2]),
    ]
    assert objects(con, rows) == {}


def test_exact_copies_share_an_object(con: duckdb.DuckDBPyConnection) -> None:
    rows: list[Post] = [("p1", "a", 0, "post", BASE), ("p2", "b", 5, "reply", BASE)]
    got = objects(con, rows)
    assert got.keys() == {"p1", "p2"} and len(set(got.values())) == 1


def _coaction(con: duckdb.DuckDBPyConnection, rows: list[Post]) -> set[tuple[object, ...]]:
    posts_table(con, rows)
    load(con, [])  # an empty actions table in the right shape
    store_simtext_actions(con, SimtextParams())
    store_simtext_actions(con, SimtextParams())  # a rerun replaces, never duplicates
    assert con.execute("SELECT count(*) FROM actions").fetchall() == [(len(rows),)]
    result = run(con, object_types=("simtext",), windows="60s", semantics="cnt", min_weight=1)
    try:
        return edges(con, result, "simtext")
    finally:
        result.close()


def test_edited_copies_feed_coaction_edges(con: duckdb.DuckDBPyConnection) -> None:
    rows: list[Post] = [
        ("p1", "a", 0, "post", EDITS[0]),
        ("p2", "b", 30, "post", EDITS[1]),
        ("p3", "c", 3600, "post", EDITS[2]),  # outside the window
    ]
    assert _coaction(con, rows) == {("a", "b", 1)}


def test_exact_duplicates_feed_coaction_edges(con: duckdb.DuckDBPyConnection) -> None:
    rows: list[Post] = [("p1", "a", 0, "post", BASE), ("p2", "b", 10, "post", BASE)]
    assert _coaction(con, rows) == {("a", "b", 1)}


def test_params() -> None:
    p = CoordinationParams(object_types=("text", "simtext"), simtext_threshold=0.7).resolve()
    assert p.simtext_params == SimtextParams(threshold=0.7)
    assert p.as_dict()["simtext"]["threshold"] == 0.7
    assert CoordinationParams().resolve().simtext is None
    with pytest.raises(InvalidParams):
        CoordinationParams(simtext_threshold=0.7).resolve()  # simtext not detected
    with pytest.raises(InvalidParams):
        CoordinationParams(object_types=("simtext",), simtext_threshold=1.5).resolve()


def test_simtext_window_follows_text(con: duckdb.DuckDBPyConnection) -> None:
    load(con, [("a", "text", "x", 0, "p1"), ("b", "simtext", "y", 0, "p2")])
    result = run(con, object_types=("text", "simtext"), windows="text=30s")
    try:
        assert {w.object_type: w.seconds for w in result.windows} == {"text": 30, "simtext": 30}
    finally:
        result.close()
