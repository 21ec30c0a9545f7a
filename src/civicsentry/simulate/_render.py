"""Turn a skeleton chunk into strings: ids, text, links, hashtags, mentions (pyarrow kernels).

A repost carries its parent's content: its text is ``RT @author: <parent text>`` and its
links, hashtags and mentions are the parent's (plus the parent's author), as the X API
gives them. A reply starts with ``@author``. Links carry tracking parameters and
mixed-case hosts in some posts, hashtags are mixed case: ingest must normalise them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _vocab as V
from ._core import CAMPAIGN_URL_BASE, KINDS, REPLY, REPOST, Skeleton, splitmix64
from ._plan import Plan

J = pc.binary_join_element_wise
_B62 = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", np.uint8)
TCO_LEN = 23  # len("https://t.co/") + 10


@dataclass
class Rendered:
    """One chunk as canonical columns, plus the parts the X API v2 writer needs."""

    table: pa.Table  # the canonical posts columns
    sk: Skeleton  # resolved skeleton (reposts carry their parent's content fields)
    ids: np.ndarray
    prefix: np.ndarray  # 0 none, 1 reply "@h ", 2 repost "RT @h: "
    parent_author: np.ndarray  # account index, -1
    text_tw: pa.Array | None = None  # text with t.co links (X API)
    spans: dict[str, tuple[np.ndarray, np.ndarray]] | None = None  # entity -> (start, end)
    tags: tuple[pa.Array, pa.Array] | None = None
    url: pa.Array | None = None
    tco: pa.Array | None = None


def render(plan: Plan, sk: Skeleton, ids: np.ndarray, *, twitter: bool = False) -> Rendered:
    n = len(sk)
    pop = plan.pop
    has_parent = sk.parent >= 0
    par = np.maximum(sk.parent, 0)
    parent_author = np.where(has_parent, plan.seeds.account[par], -1)
    # Resolve reposts: their content is the parent's.
    sk = sk.take(slice(None))
    rep = sk.kind == REPOST
    for name in ("lang", "s0", "s1", "s2", "s3", "s4", "h1", "h2", "hc", "url", "uv", "m"):
        col = getattr(sk, name)
        col[rep] = getattr(plan.seeds, name)[par[rep]]
    origin = np.where(rep, plan.seed_ids[par], ids)  # the post whose links these are
    prefix = np.where(rep, 2, np.where(sk.kind == REPLY, 1, 0))

    handles = pop.handle
    h_a = pc.take(handles, pa.array(np.maximum(parent_author, 0)))
    h_m = pc.take(handles, pa.array(np.maximum(sk.m, 0)))
    pre = pc.choose(pa.array(prefix), pa.scalar(""), J("@", h_a, " ", ""), J("RT @", h_a, ": ", ""))
    body = _body(plan, sk)
    mtail = pc.if_else(pa.array(sk.m >= 0), J(" @", h_m, ""), pa.scalar(""))
    tag1, tag2 = _tag(sk.h1, sk.hc), _tag(sk.h2, sk.hc)
    t1 = pc.if_else(pa.array(sk.h1 >= 0), J(" #", tag1, ""), pa.scalar(""))
    t2 = pc.if_else(pa.array(sk.h2 >= 0), J(" #", tag2, ""), pa.scalar(""))
    has_url = sk.url >= 0
    url = _urls(plan, sk.url, sk.uv, origin, has_url)
    utail = pc.if_else(pa.array(has_url), J(" ", url, ""), pa.scalar(""))
    text = J(pre, body, mtail, t1, t2, utail, "")

    post_id = J("x:", pc.cast(pa.array(ids), pa.string()), "")
    parent_id = J("x:", pc.cast(pa.array(plan.seed_ids[par]), pa.string()), "")
    table = pa.table(
        {
            "post_id": post_id,
            "platform": pa.repeat("x", n),
            "account_id": pc.take(pop.account_id, pa.array(sk.account)),
            "created_at": pa.array(sk.t * 1_000_000, pa.timestamp("us", tz="UTC")),
            "kind": pc.take(pa.array(KINDS), pa.array(sk.kind)),
            "parent_post_id": pc.if_else(
                pa.array(has_parent), parent_id, pa.scalar(None, pa.string())
            ),
            "text": text,
            "lang": pc.take(pa.array(V.LANGS), pa.array(sk.lang)),
            "urls": lists(n, [(has_url, url)]),
            "hashtags": lists(n, [(sk.h1 >= 0, tag1), (sk.h2 >= 0, tag2)]),
            "mentions": lists(n, [(prefix > 0, h_a), (sk.m >= 0, h_m)]),
        }
    )
    out = Rendered(table, sk, ids, prefix, parent_author)
    if twitter:
        tco = J("https://t.co/", _b62(splitmix64(origin * 7 + sk.url), 10), "")
        out.text_tw = J(
            pre,
            body,
            mtail,
            t1,
            t2,
            pc.if_else(pa.array(has_url), J(" ", tco, ""), pa.scalar("")),
            "",
        )
        length = _len
        lp, lb, lm = length(pre), length(body), length(mtail)
        l1, l2 = length(t1), length(t2)
        a0 = np.where(prefix == 2, 3, 0)
        m0 = lp + lb + 1
        g1 = lp + lb + lm + 1
        g2 = g1 + l1
        u0 = g2 + l2
        out.spans = {
            "mention_a": (a0, a0 + 1 + length(h_a)),
            "mention_m": (m0, m0 + length(mtail) - 1),
            "tag1": (g1, g1 + l1 - 1),
            "tag2": (g2, g2 + l2 - 1),
            "url": (u0, u0 + TCO_LEN),
        }
        out.tags, out.url, out.tco = (tag1, tag2), url, tco
    return out


def _len(a: pa.Array) -> np.ndarray:
    n: np.ndarray = pc.utf8_length(a).to_numpy(zero_copy_only=False).astype(np.int64)
    return n


def lists(n: int, slots: list[tuple[np.ndarray, pa.Array]]) -> pa.ListArray:
    """A list<string> column from up to k optional values per row, kept in slot order."""
    mask = np.stack([m for m, _ in slots], axis=1)  # (n, k)
    offsets = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int32)
    rows, cols = np.nonzero(mask)  # row-major: slot order within a row
    values = pc.take(pa.concat_arrays([v for _, v in slots]), pa.array(cols * n + rows))
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _pools(campaign_texts: list[str]) -> list[pa.Array]:
    segs = [pa.array([s for lang in V.SEGMENTS for s in lang[i]]) for i in range(5)]
    segs[0] = pa.concat_arrays([segs[0], pa.array(campaign_texts, pa.string())])
    return segs


def _body(plan: Plan, sk: Skeleton) -> pa.Array:
    p = _pools(plan.pools.texts)
    s = [pc.take(p[i], pa.array(getattr(sk, f"s{i}"))) for i in range(5)]
    sp2 = pc.if_else(pc.greater(pc.utf8_length(s[2]), 0), pa.scalar(" "), pa.scalar(""))
    sp3 = pc.if_else(pc.greater(pc.utf8_length(s[3]), 0), pa.scalar(" "), pa.scalar(""))
    return J(s[0], s[1], sp2, s[2], sp3, s[3], s[4], "")


# Built on first use: a pyarrow array built at import loads pandas (~0.2 s of every CLI start).
@cache
def _tags() -> pa.Array:
    return pa.array(V.HASHTAGS + V.CAMPAIGN_HASHTAGS)


def _tag(h: np.ndarray, case: np.ndarray) -> pa.Array:
    tag = pc.take(_tags(), pa.array(np.maximum(h, 0)))
    return pc.choose(pa.array(case), tag, pc.utf8_lower(tag), pc.utf8_upper(tag))


def _mixed_host(host: str) -> str:
    """How people type hosts: 'www.NYTimes.com'-like (hosts are case-insensitive)."""
    labels = host.split(".")
    i = len(labels) - 3 if labels[-1] == "uk" else len(labels) - 2
    labels[i] = labels[i].upper() if len(labels[i]) <= 4 else labels[i].capitalize()
    if labels[0] == "www" and len(labels[i]) % 2:
        labels[0] = "WWW"
    return ".".join(labels)


@cache
def _hosts(mixed: bool) -> pa.Array:
    return pa.array([_mixed_host(d) if mixed else d for d, _ in V.DOMAINS])


_HOST_CDF = np.cumsum([w for _, w in V.DOMAINS]) / sum(w for _, w in V.DOMAINS)
_UTM = (
    "utm_source=twitter&utm_medium=social&utm_campaign=",
    "utm_source=twitter.com&utm_medium=referral&utm_content=",
)


def _urls(
    plan: Plan, uid: np.ndarray, uv: np.ndarray, origin: np.ndarray, valid: np.ndarray
) -> pa.Array:
    """The URL of every row ("" where none), with the row's tracking/host-case variant."""
    idx = np.nonzero(valid)[0]
    u, v = uid[idx], uv[idx]
    camp = u >= CAMPAIGN_URL_BASE
    h = splitmix64(np.where(camp, 0, u))
    host_i = np.searchsorted(_HOST_CDF, (h >> np.uint64(11)).astype(np.float64) / 2.0**53)
    host_i = np.minimum(host_i, len(V.DOMAINS) - 1)
    mixed = (v == 3) | (v == 4)
    host = pc.if_else(
        pa.array(mixed),
        pc.take(_hosts(True), pa.array(host_i)),
        pc.take(_hosts(False), pa.array(host_i)),
    )
    sec = pc.take(pa.array(V.SECTIONS), pa.array((h >> np.uint64(5)) % np.uint64(len(V.SECTIONS))))
    w1 = pc.take(pa.array(V.SLUGS), pa.array((h >> np.uint64(17)) % np.uint64(len(V.SLUGS))))
    w2 = pc.take(pa.array(V.SLUGS), pa.array((h >> np.uint64(29)) % np.uint64(len(V.SLUGS))))
    num = pc.cast(
        pa.array(
            ((h >> np.uint64(40)) % np.uint64(9_000_000) + np.uint64(1_000_000)).astype(np.int64)
        ),
        pa.string(),
    )
    yt = pc.match_substring(host, "youtube", ignore_case=True)
    short = pc.match_substring(host, "youtu.be", ignore_case=True)
    path = pc.if_else(
        yt, J("/watch?v=", _b62(h, 11), ""), J("/", sec, "/", w1, "-", w2, "-", num, "")
    )
    path = pc.if_else(short, J("/", _b62(h, 11), ""), path)
    organic = J("https://", host, path, "")
    if camp.any():
        pool = pa.array(plan.pools.urls)
        pool_mixed = pa.array(
            [x.replace(x.split("/")[2], _mixed_host(x.split("/")[2])) for x in plan.pools.urls]
        )
        ci = pa.array(np.where(camp, u - CAMPAIGN_URL_BASE, 0))
        organic = pc.if_else(
            pa.array(camp),
            pc.if_else(pa.array(mixed), pc.take(pool_mixed, ci), pc.take(pool, ci)),
            organic,
        )
    sep = pc.if_else(pc.match_substring(organic, "?"), pa.scalar("&"), pa.scalar("?"))
    word = pc.take(pa.array(V.SLUGS), pa.array(splitmix64(origin[idx]) % np.uint64(len(V.SLUGS))))
    track = pc.choose(
        pa.array(v),
        pa.scalar(""),
        J(sep, _UTM[0], word, ""),
        J(
            sep,
            "fbclid=IwAR",
            _b62(splitmix64(origin[idx] + u), 10),
            _b62(splitmix64(origin[idx] ^ u), 10),
            "",
        ),
        pa.scalar(""),
        J(sep, _UTM[1], word, ""),
    )
    full = J(organic, track, "")
    pos = np.full(len(uid), len(idx))
    pos[idx] = np.arange(len(idx))
    return pc.take(pa.concat_arrays([full, pa.array([""])]), pa.array(pos))


def _b62(h: np.ndarray, length: int) -> pa.Array:
    """Base-62 codes (t.co links, tracking ids) from hashes, built as one string buffer."""
    h = h.astype(np.uint64)
    digits = np.empty((len(h), length), np.uint8)
    for i in range(length):  # a fresh hash per digit: no digit is constant
        digits[:, i] = _B62[(splitmix64(h + np.uint64(i)) % np.uint64(62)).astype(np.int64)]
    offsets = np.arange(0, len(h) * length + 1, length, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(), len(h), [None, pa.py_buffer(offsets), pa.py_buffer(digits.tobytes())]
    )
