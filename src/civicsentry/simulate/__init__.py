"""A seeded, reproducible social-media simulator with planted coordinated campaigns.

``simulate(out_dir, posts=..., seed=...)`` writes posts and accounts in the canonical
columns (or as X API v2 pages, as twarc2 writes them), plus the ground truth: which
accounts belong to which campaign (``truth.csv``) and what each campaign pushed
(``campaigns.json``). The organic background has diurnal cycles in local time,
heavy-tailed activity and popularity, interest communities and innocent viral bursts,
so that a detector must separate coordination from coincidence. See docs/simulate.md.

Same arguments, same bytes: every random draw is keyed on (seed, stream, index).
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from civicsentry.errors import InvalidParams

from . import _campaigns as C
from ._campaigns import KINDS, CampaignSpec
from ._core import CAMPAIGN_URL_BASE
from ._core import KINDS as KIND_NAMES
from ._organic import chunk_posts
from ._plan import Plan, build_plan
from ._render import render
from ._twitter import TwitterV2, write_users
from ._writers import ACCOUNTS_SCHEMA, EXT, POSTS_SCHEMA, open_writer, write_table

__all__ = ["CAMPAIGN_KINDS", "FORMATS", "CampaignSpec", "SimulationSummary", "simulate"]

log = logging.getLogger("civicsentry")
_T = TypeVar("_T")
_R = TypeVar("_R")

FORMATS = ("parquet", "csv", "jsonl", "twitter-v2")
CAMPAIGN_KINDS = tuple(KINDS)
DEFAULT_START = datetime(2024, 10, 28, tzinfo=UTC)  # a Monday; fixed so output is reproducible
MAX_POSTS = 200_000_000
MAX_POSTS_PER_DAY = 20_000_000


@dataclass(frozen=True)
class SimulationSummary:
    """What ``simulate`` wrote."""

    out_dir: Path
    format: str
    paths: dict[str, Path]  # role ("posts", "accounts", "truth", "campaigns") -> file
    posts: int
    accounts: int
    campaign_accounts: int
    campaigns: int
    posts_by_kind: dict[str, int]
    campaign_posts: dict[str, int]  # campaign id -> posts its members wrote for it
    viral_posts: int  # organic reposts/replies/quotes in viral bursts
    seed: int
    start: datetime
    days: int
    elapsed_s: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (paths and times as strings), for the CLI's --json."""
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        d["paths"] = {k: str(v) for k, v in self.paths.items()}
        d["start"] = self.start.isoformat().replace("+00:00", "Z")
        return d


def simulate(
    out_dir: Path | str,
    *,
    posts: int = 100_000,
    seed: int = 0,
    fmt: str = "parquet",
    start: datetime | None = None,
    days: int = 7,
    campaigns: str | Sequence[CampaignSpec] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SimulationSummary:
    """Write a simulated dataset with planted campaigns and its ground truth to ``out_dir``.

    ``campaigns``: None plants the default mix (every kind, ~2% of accounts); a string
    such as ``"fast_bots:3,small_cell:2"`` plants that many of each kind with default
    sizes; ``"none"`` plants nothing; or give ``CampaignSpec`` objects. ``start`` is the
    first instant (UTC; a naive datetime is taken as UTC), ``days`` the length.
    ``progress`` is called after each chunk with the number of posts written so far.
    Accounts scale with posts (one per 20 posts). Raises InvalidParams on bad arguments.
    """
    t_begin = time.perf_counter()
    if fmt not in FORMATS:
        raise InvalidParams(f"Unknown format {fmt!r}: use one of {', '.join(FORMATS)}.")
    if not isinstance(posts, int) or not 1_000 <= posts <= MAX_POSTS:
        raise InvalidParams(f"posts must be an integer from 1,000 to {MAX_POSTS:,}, not {posts!r}.")
    if not isinstance(days, int) or not 1 <= days <= 366:
        raise InvalidParams(f"days must be an integer from 1 to 366, not {days!r}.")
    if posts > MAX_POSTS_PER_DAY * days:  # keeps an hour's posts within the id space
        raise InvalidParams(f"At most {MAX_POSTS_PER_DAY:,} posts a day: raise days.")
    if not isinstance(seed, int) or seed < 0:
        raise InvalidParams(f"seed must be a non-negative integer, not {seed!r}.")
    start = start or DEFAULT_START
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    if start.year < 2011:
        raise InvalidParams("start must be in 2011 or later (ids are X snowflakes).")
    specs = C.parse_specs(campaigns)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InvalidParams(f"{out} exists and is not a directory.")
    out.mkdir(parents=True, exist_ok=True)

    plan = build_plan(posts, seed, int(start.timestamp()), days, specs)
    log.info(
        "simulating %d posts, %d accounts, %d campaigns, %d chunks into %s",
        plan.total,
        plan.pop.n,
        len(plan.planted),
        len(plan.chunks),
        out,
    )
    paths, by_kind = _write_posts(plan, out, fmt, progress)
    paths.update(_write_accounts(plan, out, fmt))
    paths.update(_write_truth(plan, out, fmt))
    f = plan.fixed
    camp = np.concatenate([f.camp, plan.seeds.camp])  # actions + posts members wrote to push
    camp_posts = np.bincount(camp[camp >= 0], minlength=len(plan.planted))
    summary = SimulationSummary(
        out_dir=out,
        format=fmt,
        paths=paths,
        posts=plan.total,
        accounts=plan.pop.n,
        campaign_accounts=int((plan.pop.d.campaign >= 0).sum()),
        campaigns=len(plan.planted),
        posts_by_kind={k: int(by_kind[i]) for i, k in enumerate(KIND_NAMES)},
        campaign_posts={_cid(i, p): int(camp_posts[i]) for i, p in enumerate(plan.planted)},
        viral_posts=int((f.camp < 0).sum()),
        seed=seed,
        start=start,
        days=days,
        elapsed_s=time.perf_counter() - t_begin,
    )
    log.info("simulated %d posts in %.1f s", summary.posts, summary.elapsed_s)
    return summary


def _cid(i: int, p: C.Planted) -> str:
    return f"{p.spec.kind}-{i + 1:02d}"


def _write_posts(
    plan: Plan, out: Path, fmt: str, progress: Callable[[int], None] | None
) -> tuple[dict[str, Path], np.ndarray]:
    """Write the posts chunk by chunk; return the paths and the count of each kind."""
    done, by_kind = 0, np.zeros(4, np.int64)
    if fmt == "twitter-v2":
        path = out / "tweets.jsonl"
        with open(path, "wb") as f:
            tw = TwitterV2(plan, f)
            newest_first = plan.chunks[::-1]
            for i, (r, tweets) in enumerate(_ahead(tw.prepare, newest_first)):
                tw.write(r, tweets, last=i == len(newest_first) - 1)
                by_kind += np.bincount(r.sk.kind, minlength=4)
                done += len(r.ids)
                if progress:
                    progress(done)
        users = out / "users.jsonl"
        with open(users, "wb") as f:
            write_users(f, tw.users)
        return {"posts": path, "accounts": users}, by_kind
    path = out / f"posts.{EXT[fmt]}"

    def make(chunk: tuple[int, int]) -> tuple[pa.Table, np.ndarray]:
        sk, ids = chunk_posts(plan, *chunk)
        return render(plan, sk, ids).table, np.bincount(sk.kind, minlength=4)

    w = open_writer(path, fmt, POSTS_SCHEMA)
    try:
        for table, kinds in _ahead(make, plan.chunks):
            w.write(table)
            by_kind += kinds
            done += len(table)
            if progress:
                progress(done)
    finally:
        w.close()
    return {"posts": path}, by_kind


def _ahead(fn: Callable[[_T], _R], items: Sequence[_T]) -> Iterator[_R]:
    """fn over items, in order, computing the next result while the caller uses this one.

    Generation (numpy) and writing (Arrow, compression) both release the GIL, so this
    uses the second core; each chunk is independent, so the output does not change.
    """
    with ThreadPoolExecutor(1) as pool:
        pending = [pool.submit(fn, item) for item in items[:1]]
        for i in range(len(items)):
            result = pending.pop().result()
            if i + 1 < len(items):
                pending.append(pool.submit(fn, items[i + 1]))
            yield result


def _write_accounts(plan: Plan, out: Path, fmt: str) -> dict[str, Path]:
    if fmt == "twitter-v2":
        return {}
    pop = plan.pop
    table = pa.table(
        {
            "account_id": pop.account_id,
            "platform": pa.repeat("x", pop.n),
            "handle": pop.handle,
            "display_name": pop.display_name,
            "created_at": pa.array(pop.d.created * 1_000_000, pa.timestamp("us", tz="UTC")),
            "followers": pa.array(pop.d.followers),
            "following": pa.array(pop.d.following),
            "verified": pa.array(pop.verified),
            "description": pop.description,
            "location": pop.location,
        },
        schema=ACCOUNTS_SCHEMA,
    )
    path = out / f"accounts.{EXT[fmt]}"
    write_table(path, fmt, table)
    return {"accounts": path}


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_truth(plan: Plan, out: Path, fmt: str) -> dict[str, Path]:
    """truth.csv (member -> campaign) and campaigns.json (what each campaign pushed).

    Account ids are written as ingest will store them: ``x:u<id>`` from the canonical
    formats, ``x:<author_id>`` from X API v2 output (whose ids are bare numbers).
    """
    pop = plan.pop
    ids = (
        [f"x:{u}" for u in pop.uid.tolist()] if fmt == "twitter-v2" else pop.account_id.to_pylist()
    )
    members = np.nonzero(pop.d.campaign >= 0)[0]
    truth = out / "truth.csv"
    with open(truth, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["account_id", "campaign_id", "campaign_kind"])
        for a in members:
            p = plan.planted[pop.d.campaign[a]]
            w.writerow([ids[a], _cid(int(pop.d.campaign[a]), p), p.spec.kind])
    camps = []
    urls = plan.pools.urls
    for i, p in enumerate(plan.planted):
        mem = members[pop.d.campaign[members] == i]
        camps.append(
            {
                "campaign_id": _cid(i, p),
                "kind": p.spec.kind,
                "description": KINDS[p.spec.kind].doc,
                "start": _iso(p.start),
                "end": _iso(p.end),
                "schedule_utc_offset": p.spec.utc_offset,
                "accounts": [ids[a] for a in mem],
                "posts": int((plan.fixed.camp == i).sum() + (plan.seeds.camp == i).sum()),
                "objects": {
                    "posts": [f"x:{plan.seed_ids[s]}" for s in p.seeds],
                    "urls": [urls[u - CAMPAIGN_URL_BASE] for u in p.urls],
                    "hashtags": p.hashtags,
                    "texts": p.texts,
                },
            }
        )
    viral = [f"x:{plan.seed_ids[v]}" for v in plan.viral]
    doc = {
        "platform": "x",
        "start": _iso(plan.start),
        "end": _iso(plan.end),
        "population_utc_offsets": "mostly -5..-8 (home offsets of interest communities)",
        "campaigns": camps,
        "viral_posts": viral,
    }
    path = out / "campaigns.json"
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return {"truth": truth, "campaigns": path}
