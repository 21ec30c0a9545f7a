"""Meta Content Library CSV downloads of Facebook and Instagram posts.

Meta Content Library (MCL) replaced CrowdTangle in 2024. Its web UI downloads posts as
CSV with the flattened API field names of the Content Library data dictionary: ``id``,
``creation_time``, ``text``, ``lang``, ``post_owner.id`` / ``.name`` / ``.username`` /
``.type``, ``surface.*``, ``statistics.*``, ``multimedia``, ``link_attachment.*``,
``shared_post_id``, ``mcl_url``, ...
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from ..normalise import parse_time
from .base import Adapter, Bad, Batch, Options, Sample, truncate
from .readers import CsvRows
from .socialtext import dedupe_folded, dedupe_urls, extract_hashtags, extract_mentions, extract_urls
from .tabular import as_list

# Columns only Facebook post downloads have (Instagram posts have no surface, shares,
# reactions or link attachments).
FACEBOOK_COLUMNS = frozenset(
    {
        "surface.id",
        "surface.name",
        "surface.type",
        "shared_post_id",
        "statistics.share_count",
        "statistics.reaction_count",
        "statistics.love_count",
        "link_attachment.link",
    }
)
# post_owner.type values: Facebook producers vs Instagram account types.
OWNER_TYPES = {
    "page": "facebook",
    "group": "facebook",
    "event": "facebook",
    "profile": "facebook",
    "user": "facebook",
    "business": "instagram",
    "creator": "instagram",
    "personal": "instagram",
}


def _sniff(s: Sample) -> bool:
    if s.columns is None:
        return False
    cols = {c.strip().lower() for c in s.columns}
    return {"id", "creation_time"} <= cols and any(
        c.startswith(("post_owner.", "surface.")) for c in cols
    )


def _get(row: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        v = row.get(name)
        if v is not None and v.strip():
            return v.strip()
    return None


def _file_platform(header: list[str]) -> str | None:
    cols = {h.lower() for h in header}
    if cols & FACEBOOK_COLUMNS:
        return "facebook"
    return "instagram" if "hashtags" in cols else None


def _row_platform(row: Mapping[str, str], file_platform: str | None) -> str | None:
    # mcl_url is the Content Library page of the post: .../dataset/<n>/<platform>/entity/<id>
    mcl = (_get(row, "mcl_url") or "").lower()
    for platform in ("instagram", "facebook"):
        if f"/{platform}/" in mcl:
            return platform
    return file_platform or OWNER_TYPES.get((_get(row, "post_owner.type") or "").lower())


def _hashtags(row: Mapping[str, str], text: str | None) -> list[str]:
    # The "hashtags" column (Instagram) is a JSON array or a comma/space separated list.
    given = _get(row, "hashtags")
    if given and not given.startswith("["):
        given = given.replace(",", " ")
    listed = as_list(given) or []
    return dedupe_folded([*(h.lstrip("#＃") for h in listed), *extract_hashtags(text)])


def _convert(
    row: Mapping[str, str],
    position: int,
    file_platform: str | None,
    options: Options,
    accounts: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    platform = options.platform or _row_platform(row, file_platform)
    text = _get(row, "text")
    account = _get(row, "post_owner.id")
    handle = _get(row, "post_owner.username")
    raw_time = _get(row, "creation_time")
    shared = _get(row, "shared_post_id")
    post: dict[str, Any] = {
        "position": position,
        "platform": platform,
        "post_id": _get(row, "id"),
        "account_id": account,
        "handle": handle,
        "created_at": parse_time(raw_time),
        "kind": "repost" if shared else "post",
        "parent_post_id": shared,
        "text": text,
        "lang": _get(row, "lang"),
        "urls": dedupe_urls([_get(row, "link_attachment.link", "link_url"), *extract_urls(text)]),
        "hashtags": _hashtags(row, text),
        "mentions": extract_mentions(text),
    }
    problem = None
    if platform is None:
        problem = (
            "cannot tell Facebook from Instagram (no mcl_url, surface or post_owner.type); "
            "pass --platform"
        )
    elif raw_time and post["created_at"] is None:
        problem = f"creation_time {raw_time[:40]!r} is not a date/time"
    elif account is None and post["post_id"]:
        # MCL withholds the owner of some posts (e.g. non-public profiles posting in groups);
        # the surface is where it was posted, not who posted it, so it is no substitute.
        problem = "no post_owner.id (Meta Content Library did not disclose who posted it)"
    if problem:
        post["problem"], post["raw"] = problem, truncate(orjson.dumps(dict(row)))
    elif account:
        accounts[account] = {
            "platform": platform,
            "account_id": account,
            "handle": handle,
            "display_name": _get(row, "post_owner.name"),
        }
    return post


def read(path: Path, options: Options) -> Iterator[Batch]:
    rows = CsvRows(path, encoding=options.encoding)
    posts: list[dict[str, Any]] = []
    bad: list[Bad] = []
    accounts: dict[str, dict[str, Any]] = {}
    file_platform: str | None = None
    for i, item in enumerate(rows):
        if i == 0:
            file_platform = _file_platform(rows.header)
        if isinstance(item, Bad):
            bad.append(item)
        else:
            posts.append(_convert(item[1], item[0], file_platform, options, accounts))
        if len(posts) + len(bad) >= options.batch_size:
            yield Batch(posts=posts, bad=bad, accounts=list(accounts.values()))
            posts, bad, accounts = [], [], {}
    yield Batch(posts=posts, bad=bad, accounts=list(accounts.values()))


_DOC = """\
### Meta Content Library CSV (`meta_content_library`)

CSV downloads of Facebook or Instagram posts from
[Meta Content Library](https://developers.facebook.com/docs/content-library-and-api),
CrowdTangle's successor. Columns carry the flattened field names of the Content Library
[data dictionary](https://developers.facebook.com/docs/content-library-and-api/appendix/data-dictionary)
(`id`, `creation_time`, `text`, `lang`, `content_type`, `post_owner.id`,
`post_owner.name`, `post_owner.username`, `post_owner.type`, `surface.*`,
`statistics.*`, `multimedia`, `is_branded_content`, `link_attachment.link` / `.name` /
`.caption` / `.description`, `shared_post_id`, `hashtags` (Instagram), `match_type`,
`mcl_url`, `modified_time`, …). Meta's public documentation describes the API fields,
not the download layout; the column set here is the one seen in researchers' published
code that reads real downloads.

**Detected** by the columns `id` and `creation_time` plus at least one `post_owner.*` or
`surface.*` column.

| canonical | from | notes |
| --- | --- | --- |
| platform | `mcl_url` (`…/facebook/entity/…` or `…/instagram/entity/…`), else the file's columns (any of `surface.*`, `shared_post_id`, `statistics.share_count`, `statistics.reaction_count`, `link_attachment.link` → `facebook`; `hashtags` → `instagram`), else `post_owner.type` (page/group/event/profile → facebook; business/creator/personal → instagram); `--platform` overrides | a row none of these decide is quarantined |
| post_id | `id` | the Content Library id |
| account_id / handle | `post_owner.id` / `post_owner.username` | a post whose owner MCL withholds is quarantined: `surface.*` is where it was posted, not who posted it |
| created_at | `creation_time` | ISO 8601; UTC per the data dictionary |
| kind, parent_post_id | `repost` with parent `shared_post_id` when that is set (a reshare), else `post` | parent in the same id space as `id` |
| text, lang | `text`, `lang` | |
| urls | `link_attachment.link` (or `link_url`), plus URLs in `text` | |
| hashtags | the `hashtags` column (JSON array or comma/space separated) and `#tags` in `text` | Unicode-aware |
| mentions | `@handles` in `text` | |
| accounts | `post_owner.id`, `.username` → handle, `.name` → display_name | |

Ignored: `statistics.*` (engagement), `multimedia` (media URLs expire; no perceptual
hashes are computed), `surface.*`, `is_branded_content`, `match_type`, `modified_time`.
"""

ADAPTER = Adapter(
    name="meta_content_library",
    title="Meta Content Library CSV (Facebook, Instagram)",
    sniff=_sniff,
    read=read,
    doc=_DOC,
    aliases=("mcl", "meta-content-library", "content-library"),
)
