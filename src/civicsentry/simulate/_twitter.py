"""X/Twitter API v2 output as twarc2 writes it: one API response page per line.

Each line is ``{"data": [tweets], "includes": {"users": [...], "tweets": [referenced]},
"meta": {...}, "__twarc": {...}}``, newest tweets first, as from the full-archive search
endpoint. Ids are the bare numbers (``author_id`` is the numeric user id), times are
``YYYY-MM-DDTHH:MM:SS.000Z``, entities carry code-point offsets into ``text``, links in
``text`` are t.co links whose ``expanded_url`` is the real one.
"""

from __future__ import annotations

from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..arrays import sorted_unique
from ._core import QUOTE, REPLY, REPOST, Skeleton, splitmix64
from ._organic import chunk_posts
from ._plan import Plan
from ._render import Rendered, _b62, lists, render
from ._writers import J, iso, jnum, jstr, write_lines

PAGE = 100
BATCH = 200 * PAGE  # pages built together
TWARC = (
    '{"url":"https://api.twitter.com/2/tweets/search/all?expansions=author_id%2Creferenced_tweets.id'
    '%2Creferenced_tweets.id.author_id%2Centities.mentions.username&max_results=100","version":"2.14.0",'
    '"retrieved_at":"'
)


class TwitterV2:
    """Writes tweets.jsonl (search pages) and users.jsonl (user lookup pages)."""

    def __init__(self, plan: Plan, tweets: BinaryIO) -> None:
        self.plan = plan
        self.f = tweets
        self.users = _user_json(plan)
        end = pa.array([plan.end * 1_000_000], pa.timestamp("us", tz="UTC"))
        self.twarc = TWARC + iso(end)[0].as_py().replace("Z", "+00:00") + '"}'
        self.metrics = _seed_metrics(plan)
        self.page_no = 0

    def prepare(self, chunk: tuple[int, int]) -> tuple[Rendered, pa.Array]:
        """One chunk of tweets, newest first, and each tweet's JSON (no includes yet)."""
        sk, ids = chunk_posts(self.plan, *chunk)
        rev = np.arange(len(sk))[::-1]  # newest first, as search returns them
        r = render(self.plan, sk.take(rev), ids[rev], twitter=True)
        return r, self._tweets(r)

    def write(self, r: Rendered, tweets: pa.Array, *, last: bool) -> None:
        """Write the pages of a prepared chunk (``last``: the final chunk of the file)."""
        # Pages are assembled a batch at a time: the includes repeat users on every page,
        # so a whole chunk of pages would hold several times the chunk's text in memory.
        n = len(r.ids)
        for lo in range(0, n, BATCH):
            hi = min(lo + BATCH, n)
            self._pages(r, tweets, lo, hi, last=last and hi == n)

    def _pages(self, r: Rendered, tweets: pa.Array, lo: int, hi: int, *, last: bool) -> None:
        plan, n_seeds, acc = self.plan, len(self.plan.seeds), self.plan.pop.n
        n = hi - lo
        ids = r.ids[lo:hi]
        account, author, m = r.sk.account[lo:hi], r.parent_author[lo:hi], r.sk.m[lo:hi]
        parent = r.sk.parent[lo:hi]
        n_pages = -(-n // PAGE)
        page = np.arange(n) // PAGE
        bounds = np.append(np.arange(0, n, PAGE), n).astype(np.int32)
        data = pc.binary_join(pa.ListArray.from_arrays(pa.array(bounds), tweets[lo:hi]), ",")
        # Users: authors, authors of referenced tweets, mentioned users; once per page.
        key = sorted_unique(
            np.concatenate(
                [page * acc + account, (page * acc + author)[author >= 0], (page * acc + m)[m >= 0]]
            )
        )
        users = _group_join(key // acc, key % acc, self.users, n_pages)
        # Referenced tweets, expanded once per page.
        par = parent >= 0
        pkey = sorted_unique(page[par] * n_seeds + parent[par])
        uniq, inv = np.unique(pkey % n_seeds, return_inverse=True)
        refs = self._tweets(render(plan, plan.seeds.take(uniq), plan.seed_ids[uniq], twitter=True))
        ref_pages = _group_join(pkey // n_seeds, inv, refs, n_pages)
        has_ref = np.bincount(pkey // n_seeds, minlength=n_pages) > 0
        ref_part = pc.if_else(
            pa.array(has_ref), J(',"tweets":[', ref_pages, "]", ""), pa.scalar("")
        )
        token = _b62(splitmix64(self.page_no + np.arange(n_pages)), 16)
        nxt = J(',"next_token":"', token, '"', "")
        if last:
            nxt = pc.if_else(pa.array(np.arange(n_pages) == n_pages - 1), pa.scalar(""), nxt)
        newest, oldest = jnum(ids[bounds[:-1]]), jnum(ids[bounds[1:] - 1])
        meta = J('{"newest_id":"', newest, '","oldest_id":"', oldest, '","result_count":',
                 jnum(np.diff(bounds)), nxt, "}", "")  # fmt: skip
        lines = J('{"data":[', data, '],"includes":{"users":[', users, "]", ref_part, '},"meta":',
                  meta, ',"__twarc":', self.twarc, "}\n", "")  # fmt: skip
        write_lines(self.f, lines, terminated=True)
        self.page_no += n_pages

    def _tweets(self, r: Rendered) -> pa.Array:
        plan, sk = self.plan, r.sk
        assert r.text_tw is not None and r.spans is not None and r.tags is not None
        n = len(sk)
        uid = plan.pop.uid
        ids = jnum(r.ids)
        par = np.maximum(sk.parent, 0)
        pid = jnum(plan.seed_ids[par])
        conv = pc.if_else(pa.array(sk.kind == REPLY), pid, ids)
        handles = plan.pop.handle
        sp = r.spans

        def frag(name: str, *middle: pa.Array | str) -> pa.Array:
            s, e = sp[name]
            return J('{"start":', jnum(s), ',"end":', jnum(e), *middle, "}", "")

        mention = [
            (
                r.prefix > 0,
                frag(
                    "mention_a",
                    ',"username":"',
                    pc.take(handles, pa.array(np.maximum(r.parent_author, 0))),
                    '","id":"',
                    jnum(uid[np.maximum(r.parent_author, 0)]),
                    '"',
                ),
            ),
            (
                sk.m >= 0,
                frag(
                    "mention_m",
                    ',"username":"',
                    pc.take(handles, pa.array(np.maximum(sk.m, 0))),
                    '","id":"',
                    jnum(uid[np.maximum(sk.m, 0)]),
                    '"',
                ),
            ),
        ]
        tags = [
            (sk.h1 >= 0, frag("tag1", ',"tag":"', r.tags[0], '"')),
            (sk.h2 >= 0, frag("tag2", ',"tag":"', r.tags[1], '"')),
        ]
        assert r.url is not None and r.tco is not None
        display = pc.replace_substring_regex(r.url, r"^https?://(www\.)?", "")
        display = pc.if_else(
            pc.greater(pc.utf8_length(display), 24),
            J(pc.utf8_slice_codeunits(display, 0, 24), "…", ""),
            display,
        )
        links = [
            (
                sk.url >= 0,
                frag(
                    "url",
                    ',"url":"',
                    r.tco,
                    '","expanded_url":',
                    jstr(r.url),
                    ',"display_url":',
                    jstr(display),
                ),
            )
        ]
        ent_parts = []
        for key, slots in (("mentions", mention), ("hashtags", tags), ("urls", links)):
            any_ = np.any(np.stack([m for m, _ in slots]), axis=0)
            ent_parts.append((any_, J(f'"{key}":[', pc.binary_join(lists(n, slots), ","), "]", "")))
        ent = pc.binary_join(lists(n, ent_parts), ",")
        has_ent = np.any(np.stack([m for m, _ in ent_parts]), axis=0)
        entities = pc.if_else(pa.array(has_ent), J(',"entities":{', ent, "}", ""), pa.scalar(""))
        ref_type = pc.take(pa.array(["", "retweeted", "replied_to", "quoted"]), pa.array(sk.kind))
        refs = pc.if_else(
            pa.array(sk.parent >= 0),
            J(',"referenced_tweets":[{"type":"', ref_type, '","id":"', pid, '"}]', ""),
            pa.scalar(""),
        )
        in_reply = pc.if_else(
            pa.array(sk.kind == REPLY),
            J(',"in_reply_to_user_id":"', jnum(uid[np.maximum(r.parent_author, 0)]), '"', ""),
            pa.scalar(""),
        )
        # A retweet shows the original's counts, as the API does.
        src = np.where(sk.kind == REPOST, par, np.where(sk.seed >= 0, sk.seed, -1))
        m = np.where(src[:, None] >= 0, self.metrics[np.maximum(src, 0)], 0)
        noise = (splitmix64(r.ids) % np.uint64(7)).astype(np.int64)
        like = m[:, 0] * 3 + m[:, 1] + noise
        metrics = J(
            '{"retweet_count":',
            jnum(m[:, 0]),
            ',"reply_count":',
            jnum(m[:, 1]),
            ',"like_count":',
            jnum(like),
            ',"quote_count":',
            jnum(m[:, 2]),
            ',"bookmark_count":0,"impression_count":',
            jnum(like * 37 + noise),
            "}",
            "",
        )
        lang = r.table["lang"].combine_chunks()
        return J(
            '{"id":"',
            ids,
            '","text":',
            jstr(r.text_tw),
            ',"author_id":"',
            jnum(uid[sk.account]),
            '","created_at":"',
            iso(r.table["created_at"].combine_chunks(), ms=True),
            '","lang":"',
            lang,
            '","conversation_id":"',
            conv,
            '","edit_history_tweet_ids":["',
            ids,
            '"],"possibly_sensitive":false,"reply_settings":"everyone","public_metrics":',
            metrics,
            entities,
            refs,
            in_reply,
            "}",
            "",
        )


def _group_join(group: np.ndarray, item: np.ndarray, strings: pa.Array, n_groups: int) -> pa.Array:
    """For each group g: the strings of its items joined with commas (items sorted by group)."""
    order = np.argsort(group, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=n_groups))]).astype(
        np.int32
    )
    vals = pc.take(strings, pa.array(item[order]))
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), vals), ",")


def _seed_metrics(plan: Plan) -> np.ndarray:
    """(seeds, 3) retweet/reply/quote counts: the organic expectation plus planted ones."""
    k = plan.casc_k.sum(axis=0)
    out = np.stack([0.76 * k, 0.16 * k, 0.08 * k], axis=1).astype(np.int64)
    f: Skeleton = plan.fixed
    for j, kind in enumerate((REPOST, REPLY, QUOTE)):
        sel = (f.kind == kind) & (f.parent >= 0)
        out[:, j] += np.bincount(f.parent[sel], minlength=len(plan.seeds))
    return out


def _user_json(plan: Plan) -> pa.Array:
    pop = plan.pop
    d = pop.d
    created = pa.array(d.created * 1_000_000, pa.timestamp("us", tz="UTC"))
    age_days = np.maximum((plan.start - d.created) // 86_400, 1)
    tweets = (d.activity * age_days * 0.3).astype(np.int64) + 1
    loc = pc.if_else(
        pc.equal(pop.location, ""), pa.scalar(""), J(',"location":', jstr(pop.location), "")
    )
    img = J(
        "https://pbs.twimg.com/profile_images/",
        jnum(pop.uid % 10**15),
        "/",
        _b62(splitmix64(pop.uid), 8),
        "_normal.jpg",
        "",
    )
    verified = pc.if_else(pa.array(pop.verified), pa.scalar("true"), pa.scalar("false"))
    return J(
        '{"id":"',
        jnum(pop.uid),
        '","username":"',
        pop.handle,
        '","name":',
        jstr(pop.display_name),
        ',"created_at":"',
        iso(created, ms=True),
        '","description":',
        jstr(pop.description),
        loc,
        ',"verified":',
        verified,
        ',"protected":false,"profile_image_url":"',
        img,
        '","public_metrics":{"followers_count":',
        jnum(d.followers),
        ',"following_count":',
        jnum(d.following),
        ',"tweet_count":',
        jnum(tweets),
        ',"listed_count":',
        jnum(d.followers // 200),
        "}}",
        "",
    )


def write_users(f: BinaryIO, users: pa.Array) -> None:
    """users.jsonl as ``twarc2 users`` writes it: pages of up to 100 users."""
    n = len(users)
    bounds = np.append(np.arange(0, n, PAGE), n).astype(np.int32)
    data = pc.binary_join(pa.ListArray.from_arrays(pa.array(bounds), users), ",")
    write_lines(f, J('{"data":[', data, "]}", ""))
