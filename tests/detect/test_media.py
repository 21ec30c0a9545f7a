"""Media objects: 64-bit perceptual hashes within a Hamming distance share an object
(pigeonhole search, exact), other hashes match only themselves; fed to co-action."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from civicsentry.detect import CoordinationParams
from civicsentry.detect.media import MediaParams, hash_labels, media_actions, parse_hashes
from civicsentry.errors import InvalidParams
from civicsentry.service.detect import detect_coordination, edges
from civicsentry.service.ingest import ingest_files

from .conftest import T0

BASE = 0x9F3B_61C0_0E7D_A452


def flip(value: int, *bits: int) -> str:
    for b in bits:
        value ^= 1 << b
    return f"{value:016x}"


NEAR = flip(BASE, 0, 17, 40)  # 3 bits from BASE: a re-encoded copy
NEAR2 = flip(BASE, 0, 17, 40, 50, 51, 60, 62, 63)  # 8 bits from BASE, 5 from NEAR
FAR = flip(BASE, *range(0, 64, 3))  # 22 bits away: another picture

#: (post_id, account, seconds after T0, kind, media hashes)
Post = tuple[str, str, float, str, list[str]]


def posts_table(con: duckdb.DuckDBPyConnection, rows: list[Post]) -> None:
    data = pa.table(
        {
            "post_id": [r[0] for r in rows],
            "account_id": [r[1] for r in rows],
            "created_at": pa.array(
                [T0 + timedelta(seconds=r[2]) for r in rows], pa.timestamp("us", "UTC")
            ),
            "kind": [r[3] for r in rows],
            "media_hashes": pa.array([r[4] for r in rows], pa.list_(pa.string())),
        }
    )
    con.execute("DROP TABLE IF EXISTS posts")
    con.from_arrow(data).create("posts")


def objects(con: duckdb.DuckDBPyConnection, rows: list[Post], **kw: int) -> dict[str, str]:
    posts_table(con, rows)
    acts = media_actions(con, "posts", MediaParams(**kw))
    assert set(acts.column("object_type").to_pylist()) <= {"media"}
    return dict(
        zip(acts.column("post_id").to_pylist(), acts.column("object_id").to_pylist(), strict=True)
    )


def test_near_copies_share_an_object_and_other_pictures_do_not(con) -> None:
    rows: list[Post] = [
        ("p1", "a", 0, "post", [f"{BASE:016x}"]),
        ("p2", "b", 5, "post", [NEAR.upper()]),  # case does not matter
        ("p3", "c", 9, "post", ["0x" + NEAR]),  # nor a 0x prefix
        ("p4", "d", 9, "post", [FAR]),  # alone: no object
    ]
    got = objects(con, rows)
    assert set(got) == {"p1", "p2", "p3"}
    assert len(set(got.values())) == 1
    assert got["p1"] == NEAR  # the most-posted hash names the object


def test_distance_is_respected_and_chains_join(con) -> None:
    rows: list[Post] = [
        ("p1", "a", 0, "post", [f"{BASE:016x}"]),
        ("p2", "b", 0, "post", [NEAR2]),
    ]
    assert objects(con, rows, distance=7) == {}  # 8 bits apart
    assert len(objects(con, rows, distance=8)) == 2
    rows.append(("p3", "c", 0, "post", [NEAR]))  # BASE–NEAR 3 bits, NEAR–NEAR2 5 bits
    assert len(set(objects(con, rows, distance=5).values())) == 1


def test_other_hashes_match_only_themselves_and_reposts_are_ignored(con) -> None:
    sha = "sha256:" + "ab" * 32
    rows: list[Post] = [
        ("p1", "a", 0, "post", [sha, ""]),
        ("p2", "b", 0, "reply", [sha]),
        ("p3", "c", 0, "post", ["sha256:" + "ab" * 31 + "ac"]),
        ("p4", "d", 0, "repost", [sha]),  # a repost is its own action
    ]
    assert objects(con, rows) == {"p1": sha, "p2": sha}


def test_pigeonhole_search_is_exact() -> None:
    # Against brute force on hashes drawn near a few centres, at several distances.
    rng = np.random.default_rng(3)
    centres = rng.integers(0, 2**63, 6, dtype=np.uint64) * np.uint64(2)
    values = []
    for c in centres:
        for _ in range(40):
            flips = rng.choice(64, size=rng.integers(0, 12), replace=False)
            values.append(int(c) ^ int(sum(1 << int(b) for b in flips)))
    v = np.array(values, dtype=np.uint64)
    for d in (0, 3, 6, 10):
        labels = hash_labels(v, d)
        close = [
            (i, j)
            for i, j in itertools.combinations(range(len(v)), 2)
            if bin(values[i] ^ values[j]).count("1") <= d
        ]
        ii, jj = np.array(close, dtype=int).reshape(-1, 2).T
        graph = coo_matrix((np.ones(len(ii)), (ii, jj)), shape=(len(v), len(v)))
        brute = connected_components(graph, directed=False)[1]
        same = labels[:, None] == labels[None, :]
        assert (same == (brute[:, None] == brute[None, :])).all(), d


def test_parse_hashes() -> None:
    ok, values = parse_hashes(["00000000000000ff", "0xFFFFFFFFFFFFFFFF", "xyz", "abc", "g" * 16])
    assert ok.tolist() == [True, True, False, False, False]
    assert values[:2].tolist() == [255, 2**64 - 1]


def test_params() -> None:
    assert CoordinationParams(object_types=("media",)).resolve().media_params == MediaParams(6)
    assert CoordinationParams().resolve().media is None
    with pytest.raises(InvalidParams):
        CoordinationParams(media_distance=4).resolve()  # media not detected
    with pytest.raises(InvalidParams):
        CoordinationParams(object_types=("media",), media_distance=40).resolve()


def test_media_coaction_end_to_end(ws, tmp_path: Path) -> None:
    # Three accounts post re-encodings of one picture within a minute, twice; a fourth
    # posts another picture. Ingested from a canonical file, detected with --types media.
    path = tmp_path / "posts.parquet"
    rows = []
    for k, picture in enumerate((BASE, BASE ^ 0xFFFF_0000_0000)):
        for i, acct in enumerate("abc"):
            h = flip(picture, i) if i else f"{picture:016x}"
            rows.append((f"{k}{acct}", acct, 3600 * k + 20 * i, h))
    rows.append(("z", "d", 30, FAR))
    pq.write_table(
        pa.table(
            {
                "post_id": [r[0] for r in rows],
                "account_id": [r[1] for r in rows],
                "platform": ["x"] * len(rows),
                "created_at": [T0 + timedelta(seconds=r[2]) for r in rows],
                "media_hashes": [[r[3]] for r in rows],
            }
        ),
        path,
    )
    ingest_files(ws, [path])
    summary = detect_coordination(
        ws, semantics="cnt", object_types=["media"], windows="60s", media_distance=6
    )
    recorded = json.loads(ws.scalar("SELECT summary FROM runs WHERE run_id = ?", [summary.run_id]))
    assert recorded["media"]["actions"] == 6  # d's lone picture is no object
    got = edges(ws, run_id=summary.run_id).select("account_a, account_b, weight").fetchall()
    pairs = {(*sorted((a, b)), w) for a, b, w in got}  # the toolkit's edges are directed
    assert pairs == {("x:a", "x:b", 2), ("x:a", "x:c", 2), ("x:b", "x:c", 2)}
