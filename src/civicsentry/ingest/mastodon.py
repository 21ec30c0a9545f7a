"""Mastodon API statuses (``Status`` entities) as JSON Lines or as the JSON array a timeline
endpoint returns.

Status ids are per instance: the same post has different ids on every server that has
seen it. Posts are therefore keyed by the status ``uri`` (its ActivityPub id, the same
everywhere), and accounts by their full ``user@domain`` address. ``in_reply_to_id`` and
a shallow quote's ``quoted_status_id`` are ids of the instance the data came from: they
are resolved to URIs through the statuses of the same file (a first pass indexes them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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

PLATFORM = "mastodon"
MAX_NESTING = 4  # reblog → quote → quote ...: deeper statuses are referenced, not stored


def _unwrap(value: Any) -> list[Any] | None:
    return page(value, "statuses")  # /api/v2/search


def _is_status(rec: Any) -> bool:
    return (
        isinstance(rec, dict)
        and isinstance(rec.get("account"), dict)
        and "acct" in rec["account"]
        and "content" in rec
        and "created_at" in rec
    )


def _sniff(s: Sample) -> bool:
    first = first_record(s, _unwrap)
    if first is not None:
        return _is_status(first)
    text = s.text  # a pretty-printed array of statuses
    return all(
        re.search(rf'"{k}"\s*:', text)
        for k in ("acct", "content", "created_at", "uri", "visibility")
    )


# -- HTML content ------------------------------------------------------------------------
class _Html(HTMLParser):
    """Mastodon's sanitised HTML → plain text and the hrefs of its ordinary links.
    Mention and hashtag links are not URLs shared; ``quote-inline`` paragraphs are the
    fallback "RE: <link>" of a quote post and are dropped, as clients are told to."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._skip: tuple[str, int] | None = None  # (tag, depth) of a skipped element

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if self._skip is not None:
            if tag == self._skip[0]:
                self._skip = (tag, self._skip[1] + 1)
            return
        if "quote-inline" in classes:
            self._skip = (tag, 1)
            return
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")
        elif tag == "a":
            href = a.get("href", "")
            is_entity = (
                "mention" in classes or "hashtag" in classes or "tag" in a.get("rel", "").split()
            )
            if href.lower().startswith(("http://", "https://")) and not is_entity:
                self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if self._skip is not None and tag == self._skip[0]:
            depth = self._skip[1] - 1
            self._skip = (tag, depth) if depth else None

    def handle_data(self, data: str) -> None:
        if self._skip is None:
            self.parts.append(data)


def html_text(html: Any) -> tuple[str | None, list[str]]:
    if not isinstance(html, str) or not html.strip():
        return None, []
    parser = _Html()
    parser.feed(html)
    parser.close()
    text = re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip()
    return text or None, parser.links


# -- statuses --------------------------------------------------------------------------------
def _nested(status: dict[str, Any]) -> list[dict[str, Any]]:
    """Statuses embedded in this one: the boosted status and a full quote's status."""
    out = []
    if isinstance(status.get("reblog"), dict):
        out.append(status["reblog"])
    quote = status.get("quote")
    quoted = get(quote, "quoted_status") or get(quote, "status")  # 4.4 docs used `status`
    if isinstance(quoted, dict):
        out.append(quoted)
    return out


def _walk(status: dict[str, Any], depth: int = 0) -> Iterator[dict[str, Any]]:
    yield status
    if depth < MAX_NESTING:
        for inner in _nested(status):
            yield from _walk(inner, depth + 1)


def _domain(account: dict[str, Any]) -> str | None:
    acct = string(account.get("acct")) or ""
    if "@" in acct:
        return acct.rsplit("@", 1)[1].lower()
    host = urlsplit(string(account.get("url")) or "").hostname  # local account: the server's
    return host.lower() if host else None


def _address(account: Any) -> str | None:
    """``username@domain`` of an account (or a mention), domain added for local ones."""
    if not isinstance(account, dict):
        return None
    user = (string(account.get("acct")) or string(account.get("username")) or "").split("@")[0]
    domain = _domain(account)
    return f"{user}@{domain}" if user and domain else None


class _Index:
    """Local status id → URI for the statuses of one file, and the instance the file came
    from (the domain of its local accounts), to resolve reply and quote ids."""

    def __init__(self) -> None:
        self.uris: dict[str, str] = {}
        self.instance: str | None = None

    def add(self, status: dict[str, Any]) -> None:
        for s in _walk(status):
            sid, uri = string(s.get("id")), string(s.get("uri"))
            if sid and uri:
                self.uris.setdefault(sid, uri)
            account = s.get("account")
            if (
                self.instance is None
                and isinstance(account, dict)
                and "@" not in str(account.get("acct", "@"))
            ):
                self.instance = _domain(account)

    def resolve(self, local_id: Any) -> str | None:
        sid = string(local_id)
        if sid is None:
            return None
        if sid in self.uris:
            return self.uris[sid]
        # Not in the file: keep a stable id the instance can resolve.
        return (
            f"https://{self.instance}/api/v1/statuses/{sid}"
            if self.instance
            else f"unresolved-status-id:{sid}"
        )


def _post(status: dict[str, Any], position: int, platform: str, index: _Index) -> dict[str, Any]:
    account = status.get("account")
    post: dict[str, Any] = {
        "position": position,
        "platform": platform,
        "post_id": string(status.get("uri")) or string(status.get("url")),
        "account_id": (_address(account) or "").lower() or None,
        "handle": _address(account),
        "created_at": parse_time(status.get("created_at")),
        "kind": "post",
        "lang": string(status.get("language")),
    }
    quote = status.get("quote")
    quoted = get(quote, "quoted_status") or get(quote, "status")
    if isinstance(status.get("reblog"), dict):
        post["kind"] = "repost"  # a boost has no content of its own
        post["parent_post_id"] = string(status["reblog"].get("uri")) or string(
            status["reblog"].get("url")
        )
    else:
        text, links = html_text(status.get("content"))
        if text is None:
            text = string(status.get("text"))  # deleted statuses carry their source text
        spoiler = string(status.get("spoiler_text"))
        post["text"] = f"{spoiler}\n\n{text or ''}".strip() if spoiler else text
        post["urls"] = unique_urls([*links, get(status, "card", "url")])
        post["hashtags"] = dedupe(string(t.get("name")) for t in dicts(status.get("tags"))) or None
        post["mentions"] = dedupe(_address(m) for m in dicts(status.get("mentions"))) or None
        quoted_uri = (
            string(quoted.get("uri"))
            if isinstance(quoted, dict)
            else index.resolve(get(quote, "quoted_status_id"))
        )
        reply_to = index.resolve(status.get("in_reply_to_id"))
        if quoted_uri:  # one kind per post: a quote that is also a reply counts as a quote
            post["kind"], post["parent_post_id"] = "quote", quoted_uri
        elif reply_to:
            post["kind"], post["parent_post_id"] = "reply", reply_to
    problem = None
    if post["post_id"] is None:
        problem = "status without uri or url"
    elif post["account_id"] is None:
        problem = "status without an account acct/url"
    elif post["created_at"] is None:
        problem = f"created_at {str(status.get('created_at'))[:40]!r} is not a date/time"
    if problem:
        post["problem"], post["raw"] = problem, raw_json(status)
    return post


def _profile(account: Any, platform: str) -> dict[str, Any] | None:
    address = _address(account)
    if address is None:
        return None
    return {
        "platform": platform,
        "account_id": address.lower(),
        "handle": address,
        "display_name": string(account.get("display_name")),
        "created_at": parse_time(account.get("created_at")),
        "followers": account.get("followers_count"),
        "following": account.get("following_count"),
        "posts_count": account.get("statuses_count"),
        "description": html_text(account.get("note"))[0],
    }


def read(path: Path, options: Options) -> Iterator[Batch]:
    platform = options.platform or PLATFORM
    index = _Index()
    for entry in iter_json_records(path, options.encoding, _unwrap):  # pass 1: ids → URIs
        if not isinstance(entry, Bad) and isinstance(entry[1], dict):
            index.add(entry[1])
    rows = Rows(options.batch_size)
    for entry in iter_json_records(path, options.encoding, _unwrap):
        if isinstance(entry, Bad):
            rows.bad.append(entry)
        elif not _is_status(entry[1]):
            rows.bad.append(
                Bad(
                    entry[0],
                    "not a Mastodon status (needs account.acct, content, created_at)",
                    raw_json(entry[1]),
                )
            )
        else:
            # The status, then the statuses it boosts or quotes (stored too: the file
            # may hold no other copy of them).
            for status in _walk(entry[1]):
                rows.posts.append(_post(status, entry[0], platform, index))
                acc = _profile(status.get("account"), platform)
                if acc:
                    rows.account(acc)
        if rows.full:
            yield rows.take()
    yield rows.take()


_DOC = """\
### Mastodon API statuses (`mastodon`)

[`Status`](https://docs.joinmastodon.org/entities/Status/) entities of the Mastodon REST
API (also served by Pleroma, Akkoma, GoToSocial and other fediverse servers): JSON Lines
(one status, or one API page, per line), or the JSON array a timeline or
`/api/v1/accounts/:id/statuses` returns; `{"statuses": […]}` search results are unwrapped.

**Detected** when the first record has `account.acct`, `content` and `created_at`; for a
pretty-printed array, when the head has `acct`, `content`, `created_at`, `uri` and
`visibility` keys.

| canonical | from | notes |
| --- | --- | --- |
| post_id | `uri` (else `url`) | the ActivityPub id, the same on every instance: the same status seen from two instances is one post |
| account_id, handle | `account.acct` + domain: `user@domain` (lowercased for the id) | `acct` lacks the domain for the instance's own accounts; it is taken from `account.url` |
| created_at | `created_at` | |
| kind, parent_post_id | `reblog` → repost of `reblog.uri`; `quote` (4.4+) → quote of `quote.quoted_status.uri` or of `quoted_status_id`; `in_reply_to_id` → reply | a quote that is also a reply counts as a quote |
| text | `content` HTML as plain text (entities unescaped, `<br>`/`<p>` as line breaks), after `spoiler_text` when there is one | `quote-inline` fallback paragraphs are dropped |
| urls | `href` of the links in `content` (not mention or hashtag links), then `card.url` | |
| hashtags | `tags[].name` | |
| mentions | `mentions[]` as `user@domain` | |
| lang | `language` | |
| accounts | `account`: `display_name`, `created_at`, `followers_count`, `following_count`, `statuses_count`, `note` (as text) | |

**Ids of the source instance.** `in_reply_to_id` and `quoted_status_id` are ids of the
server the data was fetched from. They are resolved to URIs through the statuses in the
same file (one file should hold one instance's responses; the index costs a few hundred
bytes per status). An id not found in the file becomes
`https://<instance>/api/v1/statuses/<id>` (the instance is the domain of the file's local
accounts), or `unresolved-status-id:<id>` when the file has no local account.

**Boosts and quotes.** A boost is stored as a repost without text or links of its own,
and the boosted status is stored too, as is a fully embedded quoted status (nested up to
4 levels), so one line can give several rows; the same status seen again counts as a
duplicate. `visibility`, counts, media and polls are not stored. A line that is not a
status is quarantined; a status without `uri`/`url`, account or valid `created_at` is
quarantined with the reason.
"""

ADAPTER = Adapter(
    name="mastodon",
    title="Mastodon API statuses",
    sniff=_sniff,
    read=read,
    doc=_DOC,
    aliases=("fediverse", "activitypub-api"),
)
