"""Bluesky / AT Protocol: post and repost records as exported with their AT URI (PostView,
FeedViewPost, listRecords items) and Jetstream firehose events, as JSON Lines or as one
API response document.

Only ``app.bsky.feed.post`` and ``app.bsky.feed.repost`` records become rows. Likes,
follows, other collections, deletes and identity/account events are not posts: they are
not counted as rows (a log line reports how many were skipped, by kind); Jetstream
identity events still give accounts their handles.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from ..normalise import parse_time
from .base import Adapter, Bad, Batch, Options, Sample
from .socialjson import (
    Rows,
    dicts,
    first_record,
    get,
    iter_json_records,
    page,
    raw_json,
    string,
    unique_urls,
)
from .socialtext import dedupe

log = logging.getLogger("civicsentry")

PLATFORM = "bluesky"
POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
_JETSTREAM_KINDS = ("commit", "identity", "account", "heartbeat")


def _unwrap(value: Any) -> list[Any] | None:
    # getAuthorFeed/getTimeline → feed; searchPosts/getPosts → posts; listRecords → records
    return page(value, "feed", "posts", "records")


def _shape(rec: Any) -> str | None:
    if not isinstance(rec, dict):
        return None
    if rec.get("kind") in _JETSTREAM_KINDS and "time_us" in rec:
        return "jetstream"
    if str(get(rec, "post", "uri") or "").startswith("at://"):
        return "feedview"
    if str(rec.get("uri") or "").startswith("at://") and isinstance(
        rec.get("record", rec.get("value")), dict
    ):
        return "record"
    return None


def _sniff(s: Sample) -> bool:
    first = first_record(s, _unwrap)
    if first is not None:
        return _shape(first) is not None
    # A pretty-printed API response: look for an AT URI of a Bluesky record.
    text = s.text
    return '"at://did:' in text and "app.bsky." in text


# -- one record --------------------------------------------------------------------------
def _collection(uri: str) -> str | None:
    parts = uri[len("at://") :].split("/")
    return parts[1] if len(parts) >= 3 else None


def _authority(uri: str) -> str | None:
    auth = uri[len("at://") :].split("/", 1)[0]
    return auth if auth.startswith("did:") else None


def _mention(text: bytes, facet: dict[str, Any], did: str | None) -> str | None:
    """The mentioned handle as written in the text (facet byte range), else the DID."""
    start, end = get(facet, "index", "byteStart"), get(facet, "index", "byteEnd")
    if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
        written = text[start:end].decode("utf-8", errors="replace").strip()
        if written.startswith("@") and len(written) > 1 and " " not in written:
            return written[1:]
    return did


def _embed(embed: Any, urls: list[str]) -> str | None:
    """Collect link-card URLs; return the AT URI of a quoted post, if any."""
    t = str(get(embed, "$type") or "")
    if t.startswith("app.bsky.embed.external"):
        urls.append(get(embed, "external", "uri"))
        return None
    if t.startswith("app.bsky.embed.recordWithMedia"):
        _embed(get(embed, "media"), urls)
        uri = get(embed, "record", "record", "uri")
    elif t.startswith("app.bsky.embed.record"):
        uri = get(embed, "record", "uri")
    else:
        return None
    # Embedded feed generators, lists and starter packs are not posts.
    return uri if isinstance(uri, str) and _collection(uri) == POST else None


def _entities(record: dict[str, Any]) -> tuple[list[str], list[str], list[str], str | None]:
    text = (string(record.get("text")) or "").encode("utf-8")
    urls: list[Any] = []
    tags: list[Any] = []
    mentions: list[Any] = []
    for facet in dicts(record.get("facets")):
        for feat in dicts(facet.get("features")):
            t = str(feat.get("$type") or "")
            if t.endswith("#link"):
                urls.append(feat.get("uri"))
            elif t.endswith("#tag"):
                tags.append(feat.get("tag"))
            elif t.endswith("#mention"):
                mentions.append(_mention(text, facet, string(feat.get("did"))))
    for ent in dicts(record.get("entities")):  # deprecated pre-facet form (2023)
        if ent.get("type") == "link":
            urls.append(ent.get("value"))
        elif ent.get("type") == "mention":
            mentions.append(ent.get("value"))
    tags += record.get("tags") if isinstance(record.get("tags"), list) else []
    quoted = _embed(record.get("embed"), urls)
    clean = [[v for v in vs if isinstance(v, str)] for vs in (urls, tags, mentions)]
    return unique_urls(clean[0]) or [], dedupe(clean[1]), dedupe(clean[2]), quoted


def _post(
    position: int,
    uri: str,
    did: str | None,
    record: dict[str, Any],
    seen_at: datetime | None,
    platform: str,
    raw: Any,
) -> dict[str, Any] | None:
    """A post/repost record → raw post dict; None for any other record type."""
    rtype = record.get("$type") or _collection(uri)
    if rtype not in (POST, REPOST):
        return None
    raw_time = record.get("createdAt")
    created = parse_time(raw_time)
    # Bluesky's own "sortAt": the earlier of the client-declared createdAt and the time
    # the network first saw the record, so back- or future-dated posts cannot hide.
    if seen_at is not None:
        created = min(created, seen_at) if created is not None else seen_at
    post: dict[str, Any] = {
        "position": position,
        "platform": platform,
        "post_id": uri,
        "account_id": did or _authority(uri),
        "created_at": created,
        "kind": "post",
    }
    if rtype == REPOST:
        post["kind"] = "repost"
        post["parent_post_id"] = string(get(record, "subject", "uri"))
        if post["parent_post_id"] is None:
            post["problem"] = "repost without subject.uri"
    else:
        urls, tags, mentions, quoted = _entities(record)
        reply_to = string(get(record, "reply", "parent", "uri"))
        # One kind per post: a quote that is also a reply counts as a quote.
        if quoted:
            post["kind"], post["parent_post_id"] = "quote", quoted
        elif reply_to:
            post["kind"], post["parent_post_id"] = "reply", reply_to
        post["text"] = string(record.get("text"))
        langs = record.get("langs")
        post["lang"] = string(langs[0]) if isinstance(langs, list) and langs else None
        post["urls"], post["hashtags"], post["mentions"] = (
            urls or None,
            tags or None,
            mentions or None,
        )
    if created is None and "problem" not in post:
        post["problem"] = (
            f"createdAt {str(raw_time)[:40]!r} is not a date/time"
            if raw_time
            else "missing createdAt"
        )
    if "problem" in post:
        post["raw"] = raw_json(raw)
    return post


def _profile(author: Any, platform: str) -> dict[str, Any] | None:
    did = string(get(author, "did"))
    if did is None:
        return None
    return {
        "platform": platform,
        "account_id": did,
        "handle": string(author.get("handle")),
        "display_name": string(author.get("displayName")),
        "created_at": parse_time(author.get("createdAt")),
        "followers": author.get("followersCount"),
        "following": author.get("followsCount"),
        "posts_count": author.get("postsCount"),
        "description": string(author.get("description")),
    }


# -- reading -------------------------------------------------------------------------------
class _Reader:
    """Turns the records of one file into rows; counts what is not a post, by kind."""

    def __init__(self, platform: str, rows: Rows) -> None:
        self.platform = platform
        self.rows = rows
        self.skipped: Counter[str] = Counter()

    def add(self, post: dict[str, Any] | None, kind: object, author: Any = None) -> None:
        if post is None:
            self.skipped[str(kind).rsplit(".", 1)[-1]] += 1
            return
        post["handle"] = string(get(author, "handle"))
        self.rows.posts.append(post)
        self.rows.account(_profile(author, self.platform) or {})

    def view(self, position: int, pv: dict[str, Any], raw: Any) -> None:
        """A PostView, or an exported record with its URI (and maybe its author)."""
        uri, author = pv["uri"], pv.get("author")
        record = pv.get("record", pv.get("value"))
        if not isinstance(record, dict):
            self.rows.bad.append(Bad(position, "post view without a record object", raw_json(raw)))
            return
        seen = parse_time(pv.get("indexedAt"))
        post = _post(position, uri, string(get(author, "did")), record, seen, self.platform, raw)
        self.add(post, str(record.get("$type") or _collection(uri)), author)

    def feed_item(self, position: int, item: dict[str, Any]) -> None:
        self.view(position, item["post"], item)
        reason, subject = item.get("reason"), item["post"]["uri"]
        by_did = string(get(reason, "by", "did"))
        if not str(get(reason, "$type") or "").endswith("#reasonRepost") or by_did is None:
            return
        # Newer AppViews give the repost record's URI; older ones do not.
        uri = string(reason.get("uri")) or f"{subject}#repost-by-{by_did}"
        record = {
            "$type": REPOST,
            "subject": {"uri": subject},
            "createdAt": reason.get("indexedAt"),
        }
        self.add(
            _post(position, uri, by_did, record, None, self.platform, item), REPOST, reason["by"]
        )

    def jetstream(self, position: int, ev: dict[str, Any]) -> None:
        did, kind, commit = string(ev.get("did")), ev.get("kind"), ev.get("commit")
        if kind == "identity":  # not a row, but it names the DID
            handle = string(get(ev, "identity", "handle"))
            if did and handle:
                self.rows.account({"platform": self.platform, "account_id": did, "handle": handle})
        if kind != "commit" or not isinstance(commit, dict):
            self.skipped[str(kind)] += 1
            return
        coll, rkey, record = (
            commit.get("collection"),
            string(commit.get("rkey")),
            commit.get("record"),
        )
        if coll not in (POST, REPOST) or commit.get("operation") == "delete":
            self.skipped[
                "delete" if commit.get("operation") == "delete" else str(coll).rsplit(".", 1)[-1]
            ] += 1
            return
        uri = f"at://{did}/{coll}/{rkey}" if did and rkey else None
        if uri is None or not isinstance(record, dict):
            self.rows.posts.append(
                {
                    "position": position,
                    "platform": self.platform,
                    "post_id": uri,
                    "account_id": did,
                    "problem": "Jetstream commit without did, rkey or record",
                    "raw": raw_json(ev),
                }
            )
            return
        record = {"$type": coll, **record}
        self.add(
            _post(position, uri, did, record, parse_time(ev.get("time_us")), self.platform, ev),
            record["$type"],
        )


def read(path: Path, options: Options) -> Iterator[Batch]:
    rows = Rows(options.batch_size)
    reader = _Reader(options.platform or PLATFORM, rows)
    for entry in iter_json_records(path, options.encoding, _unwrap):
        if isinstance(entry, Bad):
            rows.bad.append(entry)
        else:
            position, rec = entry
            shape = _shape(rec)
            if shape == "record":
                reader.view(position, rec, rec)
            elif shape == "feedview":
                reader.feed_item(position, rec)
            elif shape == "jetstream":
                reader.jetstream(position, rec)
            else:
                reason = "not a Bluesky post record, feed item or Jetstream event"
                rows.bad.append(Bad(position, reason, raw_json(rec)))
        if rows.full:
            yield rows.take()
    yield rows.take()
    if reader.skipped:
        detail = ", ".join(f"{k}: {n}" for k, n in reader.skipped.most_common())
        total = sum(reader.skipped.values())
        log.info(
            "%s: %d records that are not posts or reposts were skipped (%s)", path, total, detail
        )


_DOC = """\
### Bluesky / AT Protocol (`bluesky`)

Posts and reposts from Bluesky's [AT Protocol](https://docs.bsky.app/) in three shapes, as
JSON Lines (one record, or one API page, per line) or as one API response document:

- a record with its URI — `{"uri": "at://…", "cid", "author"?, "record": {…}}`, which is
  also the [`PostView`](https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/feed/defs.json)
  of `searchPosts`/`getPosts` (with `indexedAt`), and `listRecords` items (`value` instead of `record`);
- a `FeedViewPost` of `getAuthorFeed`/`getTimeline` (`{"post": PostView, "reason"?}`); a
  `reasonRepost` adds a repost by `reason.by`;
- [Jetstream](https://github.com/bluesky-social/jetstream) events (`{"did", "time_us",
  "kind": "commit", "commit": {"operation", "collection", "rkey", "record"}}`).

Responses such as `{"feed": […]}`, `{"posts": […]}` and `{"records": […]}` are unwrapped.

**Detected** when the first record is a Jetstream event (`kind` commit/identity/account/
heartbeat and `time_us`), or has a `post.uri` starting with `at://`, or a `uri` starting
with `at://` and a `record`/`value` object; for a pretty-printed document, when the head
contains an `"at://did:` URI and an `app.bsky.` type.

| canonical | from | notes |
| --- | --- | --- |
| post_id | `uri` (`at://did/app.bsky.feed.post/rkey`); Jetstream: built from `did`, `collection`, `rkey` | the AT URI, so replies, quotes and reposts link by URI |
| account_id | `author.did`, the event's `did`, or the URI's DID | DIDs are permanent; handles change |
| handle | `author.handle`; Jetstream `identity` events | |
| created_at | the earlier of `record.createdAt` and `indexedAt` / `time_us` | Bluesky's [`sortAt`](https://docs.bsky.app/docs/advanced-guides/timestamps): clients may write any `createdAt` |
| kind, parent_post_id | `app.bsky.feed.repost` → repost of `subject.uri`; an `app.bsky.embed.record` / `recordWithMedia` embed of a post → quote of its URI; `reply.parent.uri` → reply | a quote that is also a reply counts as a quote |
| text, lang | `record.text`, first of `record.langs` | `langs` is set by the client and often wrong |
| urls | `#link` facets, `app.bsky.embed.external` link cards, deprecated `entities` links | URLs in the text without a facet are not links on Bluesky and are not taken |
| hashtags | `#tag` facets and `record.tags` | |
| mentions | `#mention` facets: the handle as written in the text at the facet's byte range, else the DID | |
| accounts | `author` / `reason.by`: `handle`, `displayName`, `createdAt`, and counts when the view has them | |

**Not rows.** Likes, follows, blocks, profiles and other collections, Jetstream `delete`
operations and `identity`/`account`/`heartbeat` events are not posts: they are skipped,
not counted in rows read, and a log line says how many of each were skipped. A Jetstream
`update` of a post carries the same URI as its `create` and counts as a duplicate (the
first version is kept). A feed item's repost has the repost record's URI when the AppView
gives `reason.uri`, else `<post uri>#repost-by-<did>`. Embedded views of other posts
(quoted posts, `reply.parent`) are referenced by URI, not stored as rows. A record that is
not an object, or of none of the shapes above, is quarantined. Binary CAR repository
exports (`com.atproto.sync.getRepo`) are not read: convert them to JSON records first.
"""

ADAPTER = Adapter(
    name="bluesky",
    title="Bluesky / AT Protocol (records, feeds, Jetstream)",
    sniff=_sniff,
    read=read,
    doc=_DOC,
    aliases=("bsky", "atproto", "jetstream"),
)
