"""Telegram Desktop's machine-readable JSON export (``result.json``).

Two shapes: "Export chat history" of one chat or channel — ``{name, type, id, messages}``
— and "Export Telegram data" of a whole account — ``{about, personal_information, ...,
chats: {about, list: [chat, ...]}, left_chats: {...}}``. Field names follow Telegram
Desktop's writer (``export_output_json.cpp``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ..errors import BadInputFile
from ..normalise import parse_time
from .base import Adapter, Bad, Batch, Options, Sample, truncate
from .readers import load_json_document
from .socialtext import dedupe_folded, dedupe_urls

PLATFORM = "telegram"
# fmt: off
CHAT_TYPES = (
    "personal_chat", "bot_chat", "private_group", "private_supergroup", "public_supergroup",
    "private_channel", "public_channel", "saved_messages", "replies",
)
# fmt: on
CHANNELS = ("private_channel", "public_channel")
_SINGLE = re.compile(r'"type"\s*:\s*"(?:' + "|".join(CHAT_TYPES) + r')"')
_MESSAGES = re.compile(r'"messages"\s*:\s*\[')
_ACCOUNT = re.compile(r'^\{\s*"about"\s*:')
_ACCOUNT_KEYS = re.compile(
    r'"(?:personal_information|profile_pictures|frequent_contacts|left_chats)"\s*:'
    r'|"chats"\s*:\s*\{\s*"about"'
)
_PEER = re.compile(r"(user|channel|chat)(\d+)")
_BOT_PEER = re.compile(r"(-100|-)(\d+)")


def _sniff(s: Sample) -> bool:
    if s.columns is not None:
        return False
    text = s.text.lstrip("\ufeff \t\r\n")
    if not text.startswith("{"):
        return False
    if _SINGLE.search(text[:4096]) and _MESSAGES.search(text):
        return True
    return bool(_ACCOUNT.match(text) and _ACCOUNT_KEYS.search(text))


# -- values ------------------------------------------------------------------------------
def _peer(value: Any) -> str | None:
    """``from_id`` as written since 2021 ("user123", "channel456", "chat7"); older exports
    wrote a bare user id number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return f"user{value}"
    s = str(value).strip()
    if s.isdigit():
        return f"user{s}"
    return s or None


def _parts(msg: dict[str, Any]) -> list[Any]:
    """The text as a list of parts: plain strings and entity objects."""
    entities = msg.get("text_entities")
    if isinstance(entities, list) and entities:
        return entities
    text = msg.get("text")
    return text if isinstance(text, list) else [text] if isinstance(text, str) else []


def _text(parts: list[Any]) -> str | None:
    text = "".join(
        p if isinstance(p, str) else str(p.get("text") or "")
        for p in parts
        if isinstance(p, str | dict)
    )
    return text if text.strip() else None


def _entities(parts: list[Any], kind: str) -> list[str]:
    return [
        str(p.get("text") or "") for p in parts if isinstance(p, dict) and p.get("type") == kind
    ]


def _urls(parts: list[Any]) -> list[str]:
    urls = []
    for p in parts:
        if not isinstance(p, dict):
            continue
        kind = p.get("type")
        url = p.get("href") if kind == "text_link" else p.get("text") if kind == "link" else None
        if isinstance(url, str) and url.strip():
            # Telegram links bare domains ("example.org/x"); give them a scheme to keep them.
            urls.append(url if "://" in url or url.lower().startswith("tg:") else "http://" + url)
    return dedupe_urls(urls)


# Intrinsic properties of forwarded media (not the export's file paths).
_MEDIA_KEYS = ("media_type", "mime_type", "duration_seconds", "width", "height", "file_name",
               "file_size", "photo_file_size", "sticker_emoji", "performer", "title")  # fmt: skip


def _forward_parent(msg: dict[str, Any], text: str | None) -> str:
    """A stable id for the forwarded original, which the export does not identify.

    ``fwd/<source>/<digest of text and media properties>``: forwards of the same message
    from the same source share it, so accounts forwarding it within seconds co-act on one
    repost object. Where an exporter also writes ``forwarded_from_message_id`` for a
    channel, the real id ``<channel id>/<message id>`` is used instead."""
    source = _peer(msg.get("forwarded_from_id"))
    original = msg.get("forwarded_from_message_id")
    m = _PEER.fullmatch(source or "")
    if m and m.group(1) == "channel" and str(original or "").isdigit():
        return f"{m.group(2)}/{original}"
    if source is None:
        name = msg.get("forwarded_from")
        source = f"name:{name}" if isinstance(name, str) and name else "hidden"
    media = "|".join(f"{k}={msg[k]}" for k in _MEDIA_KEYS if msg.get(k) is not None)
    photo = "photo" if "photo" in msg else ""
    key = "\x1f".join((" ".join((text or "").split()), media, photo))
    return f"fwd/{source}/{hashlib.sha1(key.encode()).hexdigest()[:16]}"


def _reply_parent(msg: dict[str, Any], chat_id: str) -> str | None:
    reply = msg.get("reply_to_message_id")
    if reply is None or isinstance(reply, bool):
        return None
    # The other chat of a cross-chat reply: "channel123" (Bot API style "-100123" too).
    peer = str(msg.get("reply_to_peer_id") or "")
    m = _PEER.fullmatch(peer) or _BOT_PEER.fullmatch(peer)
    return f"{m.group(2) if m else chat_id}/{reply}"


def _created(msg: dict[str, Any]) -> tuple[Any, str | None]:
    # date_unixtime is exact; "date" is the exporting computer's local time without an
    # offset (older exports have only that) and is read as UTC.
    raw = msg.get("date_unixtime")
    if raw in (None, ""):
        raw = msg.get("date")
    created = parse_time(raw)
    if created is None:
        if raw in (None, ""):
            return None, "message has no date"
        return None, f"date {str(raw)[:40]!r} is not a date/time"
    return created, None


# -- reading -----------------------------------------------------------------------------
def _chats(doc: Any, path: Path) -> tuple[list[Any], dict[str, Any] | None]:
    if isinstance(doc, dict) and "messages" in doc:
        return [doc], None
    if isinstance(doc, dict) and ("chats" in doc or "left_chats" in doc):
        chats: list[Any] = []
        for key in ("chats", "left_chats"):
            section = doc.get(key)
            listed = section.get("list") if isinstance(section, dict) else None
            chats += listed if isinstance(listed, list) else []
        info = doc.get("personal_information")
        return chats, info if isinstance(info, dict) else None
    raise BadInputFile(
        f'{path}: not a Telegram Desktop JSON export (no "messages" and no "chats" list); '
        "export with Format: 'Machine-readable JSON'."
    )


def _owner_account(info: dict[str, Any]) -> dict[str, Any] | None:
    if info.get("user_id") in (None, ""):
        return None
    name = " ".join(str(info.get(k) or "") for k in ("first_name", "last_name")).strip()
    return {
        "platform": PLATFORM,
        "account_id": f"user{info['user_id']}",
        "handle": str(info.get("username") or "").lstrip("@") or None,
        "display_name": name or None,
        "description": info.get("bio") or None,
    }


def _convert(
    msg: dict[str, Any],
    position: int,
    chat: dict[str, Any],
    chat_id: str,
    accounts: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    parts = _parts(msg)
    text = _text(parts)
    account = _peer(msg.get("from_id"))
    if account is None and chat.get("type") in CHANNELS:
        account = f"channel{chat_id}"  # channel posts without a sender: the channel itself
    post: dict[str, Any] = {
        "position": position,
        "platform": PLATFORM,
        "post_id": f"{chat_id}/{msg['id']}",
        "account_id": account,
        "kind": "post",
        "text": text,
        "urls": _urls(parts),
        "hashtags": dedupe_folded(_entities(parts, "hashtag")),
        "mentions": dedupe_folded(_entities(parts, "mention")),
    }
    post["created_at"], problem = _created(msg)
    if "forwarded_from" in msg or "forwarded_from_id" in msg:
        post["kind"], post["parent_post_id"] = "repost", _forward_parent(msg, text)
        source = _peer(msg.get("forwarded_from_id"))
        if source:
            _remember(accounts, source, msg.get("forwarded_from"))
    elif (parent := _reply_parent(msg, chat_id)) is not None:
        post["kind"], post["parent_post_id"] = "reply", parent
    if account is None:
        problem = problem or "message has no from_id (sender unknown)"
    else:
        _remember(accounts, account, msg.get("from") if "from_id" in msg else chat.get("name"))
    if problem:
        post["problem"], post["raw"] = problem, _raw(msg)
    return post


def _raw(value: Any) -> str:
    return truncate(orjson.dumps(value, default=str)[:8000])


def _remember(accounts: dict[str, dict[str, Any]], account: str, name: Any) -> None:
    # Keep what is already known (the exporting user's handle and bio) and add the name.
    known = accounts.setdefault(account, {"platform": PLATFORM, "account_id": account})
    if isinstance(name, str) and name:
        known["display_name"] = name


def read(path: Path, options: Options) -> Iterator[Batch]:
    chats, info = _chats(load_json_document(path, options.encoding), path)
    accounts: dict[str, dict[str, Any]] = {}
    owner = _owner_account(info) if info else None
    if owner:
        accounts[owner["account_id"]] = owner
    posts: list[dict[str, Any]] = []
    bad: list[Bad] = []
    position = 0
    for chat in chats:
        messages = chat.get("messages") if isinstance(chat, dict) else None
        if not isinstance(messages, list):
            position += 1
            bad.append(Bad(position, "chat without a messages list", _raw(chat)))
            continue
        chat_id = chat.get("id")
        for msg in messages:
            position += 1  # element index over all messages of the file, services included
            if not isinstance(msg, dict):
                bad.append(Bad(position, "message is not a JSON object", _raw(msg)))
            elif msg.get("type") == "service":
                continue  # joins, pins, title changes: not posts, not rows (see the docs)
            elif isinstance(chat_id, bool) or not isinstance(chat_id, int | str) or chat_id == "":
                bad.append(Bad(position, "chat has no id", _raw(msg)))
            elif isinstance(msg.get("id"), bool) or not isinstance(msg.get("id"), int):
                bad.append(Bad(position, "message has no numeric id", _raw(msg)))
            elif msg.get("type") == "unsupported":
                bad.append(
                    Bad(
                        position,
                        "unsupported message: Telegram Desktop exported no date or content for it",
                        _raw(msg),
                    )
                )
            else:
                posts.append(_convert(msg, position, chat, str(chat_id), accounts))
            if len(posts) + len(bad) >= options.batch_size:
                yield Batch(posts=posts, bad=bad)
                posts, bad = [], []
    if options.platform:
        for p in posts:
            p["platform"] = options.platform
    yield Batch(posts=posts, bad=bad, accounts=_accounts(accounts, options))


def _accounts(accounts: dict[str, dict[str, Any]], options: Options) -> list[dict[str, Any]]:
    platform = options.platform or PLATFORM
    return [{**a, "platform": platform} for a in accounts.values()]


_DOC = """\
### Telegram Desktop export (`telegram`)

The machine-readable JSON that [Telegram Desktop](https://desktop.telegram.org) writes
(`result.json`): **Export chat history** of one chat or channel (`{name, type, id,
messages}`) or **Settings → Advanced → Export Telegram data** of a whole account (`chats`
and `left_chats` lists, plus `personal_information`). Choose *Format: Machine-readable
JSON* when exporting. Field names as written by Telegram Desktop's exporter
(`Telegram/SourceFiles/export/output/export_output_json.cpp`).

**Detected** when the file starts with `{` and either its first 4 KiB name a chat `type`
(`public_channel`, `private_supergroup`, `personal_chat`, …) and it has a `"messages": [`,
or it starts with `{"about":` and has `personal_information`, `profile_pictures`,
`frequent_contacts`, `left_chats` or `"chats": {"about"` within its first 64 KiB (an
account export whose contact list pushes those further needs `--format telegram`).

| canonical | from | notes |
| --- | --- | --- |
| post_id | `<chat id>/<message id>` | message ids are per chat (for private chats and basic groups they are those of the exporting account) |
| account_id | `from_id` (`user123`, `channel456`, `chat7`; a bare number in old exports → `user<n>`) | channel posts without a sender → `channel<chat id>`; no sender at all → quarantined |
| created_at | `date_unixtime`, else `date` | `date` is the exporting computer's local time without an offset and is read as UTC (only exports before `date_unixtime` existed) |
| kind, parent_post_id | forwarded (`forwarded_from` / `forwarded_from_id` present) → `repost`, parent `fwd/<source>/<digest>`; `reply_to_message_id` → `reply`, parent `<chat id>/<reply id>` (`reply_to_peer_id` gives the other chat) | see forwards below |
| text | `text` (string, or a list of strings and entity objects), flattened | |
| urls | `link` entities (their text) and `text_link` entities (their `href`) | bare domains get `http://` |
| hashtags / mentions | `hashtag` / `mention` entities | `mention_name` (a user without a username) is not a mention |
| accounts | `from` → display_name of `from_id`; forwarded sources (`forwarded_from_id` + `forwarded_from`); `personal_information` → the exporting user (handle, name, bio) | |

**Forwards.** The export names the source (`forwarded_from`, and in newer versions its
`forwarded_from_id`) but not the original message. A forward is stored as a `repost`
whose parent is the pseudo id `fwd/<forwarded_from_id>/<digest>` (or
`fwd/name:<forwarded_from>/…` when only the name is given; `fwd/hidden/…` when the
sender hides it), the digest being a hash of the whitespace-collapsed text and the
media properties (type, MIME type, size, dimensions, duration, file name). Forwards of
the same message from the same source get the same parent, so accounts that forward it
within seconds of each other co-act on one repost object; the source is also stored as
an account. Where an exporter writes `forwarded_from_message_id` for a channel source,
the parent is the real id `<channel id>/<message id>` instead.

**Service messages** (`"type": "service"`: joins, pins, title changes, calls) are not
posts: they are skipped and not counted as rows read. `"type": "unsupported"` messages
(exported with no date or content) are quarantined. `position` is the 1-based index of
the message among all messages of the file, in document order (service messages
included), so it points into the file. Edits (`edited`) are ignored: `created_at` is
the original send time.
"""

ADAPTER = Adapter(
    name="telegram",
    title="Telegram Desktop JSON export (result.json)",
    sniff=_sniff,
    read=read,
    doc=_DOC,
    aliases=("telegram-desktop", "telegram-json", "tdesktop"),
)
