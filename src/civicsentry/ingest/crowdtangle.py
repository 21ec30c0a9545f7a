"""CrowdTangle CSV exports (historical data, List and Saved Search downloads) of Facebook
Pages and groups and of Instagram accounts.

Column names as CrowdTangle wrote them ("Page Name", "Facebook Id", "Post Created", ...);
CrowdTangle was shut down on 14 August 2024 but its exports fill research archives.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from ..normalise import parse_time
from .base import Adapter, Bad, Batch, Options, Sample, truncate
from .readers import CsvRows
from .socialtext import dedupe_urls, extract_hashtags, extract_mentions, extract_urls, parse_count

# Time-zone abbreviations a CrowdTangle dashboard prints after "Post Created" (the
# dashboard's zone, from the tz database). An abbreviation names its UTC offset, daylight
# saving included (EST -5, EDT -4), so a fixed table converts exactly. Ambiguous ones take
# the reading of the tz database's most used zone: CST = US Central (not China),
# IST = India (not Israel or Ireland); see the docs.
# fmt: off
TZ_HOURS: dict[str, float] = {
    "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 1, "BST": 1, "CET": 1, "CEST": 2, "MET": 1,
    "MEST": 2, "EET": 2, "EEST": 3, "MSK": 3, "IST": 5.5, "PKT": 5, "NPT": 5.75, "WIB": 7,
    "WITA": 8, "WIT": 9, "HKT": 8, "JST": 9, "KST": 9, "AWST": 8, "ACST": 9.5, "ACDT": 10.5,
    "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13, "SAST": 2, "WAT": 1, "CAT": 2, "EAT": 3,
    "IDT": 3, "AST": -4, "ADT": -3, "NST": -3.5, "NDT": -2.5, "EST": -5, "EDT": -4,
    "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8,
    "HST": -10, "SST": -11, "CHST": 10,
}
# fmt: on
_STAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*"
    r"(?:(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?|([A-Za-z]{1,5}))?"
)
_NON_OWNERS = {
    "groups",
    "permalink.php",
    "photo.php",
    "story.php",
    "watch",
    "events",
    "reel",
    "videos",
    "photos",
    "posts",
    "media",
    "share",
}


def parse_ct_time(
    value: str | None, column: str = "Post Created"
) -> tuple[datetime | None, str | None]:
    """``2021-01-06 14:30:00 EST`` → UTC datetime; (None, reason) when it cannot be read.
    A time without a zone is read as UTC; ``+03`` / ``UTC+05:30`` offsets are accepted."""
    s = (value or "").strip()
    if not s:
        return None, f"missing {column}"
    m = _STAMP.fullmatch(s)
    if not m:
        t = parse_time(s)
        return (t, None) if t else (None, f"{column} {s[:40]!r} is not a date/time")
    local = datetime.fromisoformat(m.group(1).replace(" ", "T"))
    if m.group(5):
        hours = TZ_HOURS.get(m.group(5).upper())
        if hours is None:
            zone = m.group(5)
            return None, f"unknown time zone {zone!r} in {s[:40]!r}; convert the column to UTC"
        offset = timedelta(hours=hours)
    elif m.group(2):
        offset = timedelta(hours=int(m.group(3)), minutes=int(m.group(4) or 0))
        offset = -offset if m.group(2) == "-" else offset
    else:
        offset = timedelta(0)
    return local.replace(tzinfo=timezone(offset)).astimezone(UTC), None


# -- post URLs ---------------------------------------------------------------------------
def _is_facebook(host: str) -> bool:
    return host in ("fb.com", "fb.watch", "facebook.com") or host.endswith(".facebook.com")


def facebook_post_key(url: str | None) -> str | None:
    """The post's number in a Facebook URL: ``/<page>/posts/<n>``, ``/groups/<g>/permalink/<n>``,
    ``/<page>/photos/a.<album>/<n>``, ``/<page>/videos/<n>``, ``permalink.php?story_fbid=<n>``,
    ``photo.php?fbid=<n>``, ``watch/?v=<n>``; also the obfuscated ``pfbid…`` ids."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if not _is_facebook((parts.hostname or "").lower()):
        return None
    query = parse_qs(parts.query)
    for key in ("story_fbid", "fbid", "v"):
        if query.get(key) and (query[key][0].isdigit() or query[key][0].startswith("pfbid")):
            return query[key][0]
    for seg in reversed([s for s in parts.path.split("/") if s]):
        if seg.isdigit() or seg.startswith("pfbid"):
            return seg
    return None


def facebook_owner(url: str | None) -> str | None:
    """Who a Facebook post URL belongs to: the page/user segment, the group id, or ``id=``."""
    parts = urlsplit((url or "").strip())
    if not _is_facebook((parts.hostname or "").lower()):
        return None
    segs = [s for s in parts.path.split("/") if s]
    if segs and segs[0] == "groups" and len(segs) > 1:
        return segs[1].lower()
    if segs and segs[0] not in _NON_OWNERS:
        return segs[0].lower()
    owner = parse_qs(parts.query).get("id")
    return owner[0].lower() if owner else None


def instagram_shortcode(url: str | None) -> str | None:
    parts = urlsplit((url or "").strip())
    host = (parts.hostname or "").lower()
    if host != "instagram.com" and not host.endswith(".instagram.com"):
        return None
    segs = [s for s in parts.path.split("/") if s]
    for i, seg in enumerate(segs[:-1]):
        if seg in ("p", "reel", "tv", "reels"):
            return segs[i + 1]
    return None


# -- rows --------------------------------------------------------------------------------
def _sniff(s: Sample) -> bool:
    if s.columns is None:
        return False
    facebook = s.has_columns("Facebook Id", "URL") and (
        s.has_columns("Post Created") or s.has_columns("Created")
    )
    instagram = s.has_columns("Account", "User Name", "Post Created", "URL")
    return facebook or instagram


def _get(row: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        v = row.get(name)
        if v is not None and v.strip() and v.strip().upper() != "N/A":
            return v.strip()
    return None


def _platform(url: str | None, default: str) -> str:
    host = (urlsplit(url or "").hostname or "").lower()
    if host.endswith("instagram.com"):
        return "instagram"
    return "facebook" if _is_facebook(host) else default


def _convert(
    row: Mapping[str, str],
    position: int,
    default: str,
    options: Options,
    accounts: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    url = _get(row, "URL")
    platform = options.platform or _platform(url, default)
    instagram = platform == "instagram"
    handle = _get(row, "User Name")
    account = handle if instagram else _get(row, "Facebook Id")
    own = facebook_post_key(url) if not instagram else instagram_shortcode(url)
    text = _get(row, "Description", "Title") if instagram else _get(row, "Message")
    link = _get(row, "Link")
    post: dict[str, Any] = {
        "position": position,
        "platform": platform,
        "post_id": own or url,
        "account_id": account,
        "handle": handle,
        "kind": "post",
        "text": text,
        "hashtags": extract_hashtags(text),
        "mentions": extract_mentions(text) if instagram else [],
    }
    column = "Post Created" if "Post Created" in row else "Created"
    post["created_at"], problem = parse_ct_time(_get(row, column), column)
    selves = {s.lower() for s in (account, handle) if s}
    shared = facebook_post_key(link) if not instagram else None
    owner = facebook_owner(link)
    if shared and shared != own and owner and owner not in selves:
        post["kind"], post["parent_post_id"] = "repost", shared  # a share of another's post
    # The account's own media (a photo post's Link is its photo page) is not a shared URL.
    link_key = instagram_shortcode(link) if instagram else shared
    own_link = owner in selves or (link_key is not None and link_key == own)
    final = _get(row, "Final Link") or link
    external = [] if own_link else [final]
    # "Link" is the URL as posted (often a shortener), "Final Link" where it leads: the
    # same shortener in the message text is replaced by its destination too.
    in_text = [final if u == link else u for u in extract_urls(text)]
    post["urls"] = dedupe_urls([*external, *in_text])
    if not url:
        problem = problem or "missing URL (the post id is taken from it)"
    if problem:
        post["problem"], post["raw"] = problem, truncate(orjson.dumps(dict(row)))
    elif account:
        accounts[account] = _account(row, platform, account, handle)
    return post


def _account(
    row: Mapping[str, str], platform: str, account: str, handle: str | None
) -> dict[str, Any]:
    created = parse_ct_time(_get(row, "Page Created"))[0] if _get(row, "Page Created") else None
    return {
        "platform": platform,
        "account_id": account,
        "handle": handle,
        "display_name": _get(row, "Page Name", "Group Name", "Account"),
        "followers": parse_count(_get(row, "Followers at Posting", "Likes at Posting")),
        "created_at": created,
        "description": _get(row, "Page Description"),
        "location": _get(row, "Page Admin Top Country"),
    }


def read(path: Path, options: Options) -> Iterator[Batch]:
    rows = CsvRows(path, encoding=options.encoding)
    posts: list[dict[str, Any]] = []
    bad: list[Bad] = []
    accounts: dict[str, dict[str, Any]] = {}
    default = "facebook"
    for i, item in enumerate(rows):
        if i == 0:
            # Facebook exports carry "Facebook Id"; Instagram ones do not.
            default = "facebook" if "Facebook Id" in rows.header else "instagram"
        if isinstance(item, Bad):
            bad.append(item)
        else:
            posts.append(_convert(item[1], item[0], default, options, accounts))
        if len(posts) + len(bad) >= options.batch_size:
            yield Batch(posts=posts, bad=bad, accounts=list(accounts.values()))
            posts, bad, accounts = [], [], {}
    yield Batch(posts=posts, bad=bad, accounts=list(accounts.values()))


_DOC = """\
### CrowdTangle CSV (`crowdtangle`)

The CSV files CrowdTangle's dashboard wrote for List and Saved Search downloads and
Historical Data requests ([CrowdTangle help centre](https://help.crowdtangle.com/); the
tool closed on 14 August 2024), for **Facebook** Pages, groups and verified profiles
(`Page Name` or `Group Name`, `User Name`, `Facebook Id`, `Page Category`, `Page Admin
Top Country`, `Page Description`, `Page Created`, `Likes at Posting`, `Followers at
Posting`, `Post Created`, `Post Created Date`, `Post Created Time`, `Type`, `Total
Interactions`, `Likes` … `Care`, `Video Share Status`, `Is Video Owner?`, `Post Views`,
`Total Views`, `Total Views For All Crossposts`, `Video Length`, `URL`, `Message`,
`Link`, `Final Link`, `Image Text`, `Link Text`, `Description`, `Sponsor Id`, `Sponsor
Name`, `Sponsor Category`, `Overperforming Score …`; the pre-2021 layout has `Created`
instead of `Post Created`) and for **Instagram** accounts (`Account`, `User Name`,
`Followers at Posting`, `Post Created`, `Type`, `Likes`, `Comments`, `Views`, `URL`,
`Link`, `Photo`, `Title`, `Description`, …).

**Detected** by the columns `Facebook Id`, `URL` and `Post Created` (or `Created`), or
`Account`, `User Name`, `Post Created` and `URL`.

| canonical | Facebook | Instagram |
| --- | --- | --- |
| platform | `facebook` (`instagram` when `URL` is on instagram.com; `--platform` overrides) | `instagram` |
| post_id | the post number in `URL` (`/posts/<n>`, `/permalink/<n>`, `/photos/…/<n>`, `/videos/<n>`, `story_fbid=`, `pfbid…`), else the URL itself | the shortcode in `URL` (`/p/<code>/`, `/reel/<code>/`) |
| account_id / handle | `Facebook Id` / `User Name` | `User Name` / `User Name` (the export has no numeric id) |
| created_at | `Post Created` (or `Created`) converted to UTC, see below | same |
| kind, parent_post_id | `repost` when `Link` is a Facebook post of another Page/account (its owner segment is neither `User Name` nor `Facebook Id`): parent = that post's number, in the same id space as `post_id` | always `post` |
| text | `Message` | `Description` (the caption), else `Title` |
| urls | `Final Link` (the unshortened link) or else `Link`, unless it points to the account's own Facebook media; plus URLs in the text, where the `Link` shortener is replaced by `Final Link` | `Link` unless it is the post itself; plus URLs in the caption |
| hashtags | `#tags` in the text (Unicode-aware) | same |
| mentions | — (Facebook tags are names, not handles) | `@handles` in the caption |
| accounts | display_name `Page Name`/`Group Name`, followers `Followers at Posting` (else `Likes at Posting`), created_at `Page Created`, description `Page Description`, location `Page Admin Top Country` (the country most Page admins operate from) | display_name `Account`, followers `Followers at Posting` |

**Time zones.** `Post Created` is written in the time zone of the dashboard that made
the export, with its abbreviation: `2021-01-06 14:30:00 EST`. The abbreviation encodes
the offset in force (EST = UTC−5, EDT = UTC−4, CET = UTC+1, CEST = UTC+2, …), so times
are converted with a fixed table of abbreviations, daylight saving included; numeric
zones (`+03`, `UTC+05:30`) are read as offsets and a time without a zone as UTC. Two
abbreviations are ambiguous and take their most common reading: `CST` = US Central
(UTC−6), not China Standard Time, and `IST` = India (UTC+5:30), not Israel or Ireland.
A row with an abbreviation not in the table is quarantined with the reason; convert such
a file to UTC first (or to ISO 8601 with offsets). Ignored: the interaction counts,
`Photo`, `Image Text`, `Link Text`, `Description` (on Facebook: the link preview's
text), sponsor columns.
"""

ADAPTER = Adapter(
    name="crowdtangle",
    title="CrowdTangle CSV (Facebook, Instagram)",
    sniff=_sniff,
    read=read,
    doc=_DOC,
    aliases=("ct", "crowdtangle-csv"),
)
