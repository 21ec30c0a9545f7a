"""Keyed pseudonyms for accounts of ordinary users.

A sharing community (partners who agreed to correlate with each other) holds a secret
key; an account's pseudonym is HMAC-SHA256(key, purpose + platform-qualified id). Two
partners with the same key compute the same pseudonym for the same account and can
correlate it; nobody without the key can test a guess ("is this @someone?"), which a
plain hash would allow. Rotating the key (a new version) unlinks future shares from past
ones. Public figures and state media on the exemption list are shared as themselves.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

#: Domain separation: an account id and a handle never hash to the same pseudonym.
_PURPOSE = {"account": b"civicsentry/account/v1\x00", "handle": b"civicsentry/handle/v1\x00"}
KEY_BYTES = 32
_MENTION = re.compile(r"@([A-Za-z0-9_.]{1,64})")


def new_key() -> str:
    """A fresh community key, hex."""
    return secrets.token_hex(KEY_BYTES)


def check_key(key_hex: str) -> bytes:
    try:
        key = bytes.fromhex(key_hex.strip())
    except ValueError:
        key = b""
    if len(key) < 16:
        raise ValueError("a community key is at least 16 bytes, written as hex")
    return key


def account(key: bytes, account_id: str) -> str:
    """Pseudonym of a platform-qualified account id (e.g. ``x:12345``)."""
    return hmac.new(key, _PURPOSE["account"] + account_id.encode(), hashlib.sha256).hexdigest()


def handle(key: bytes, platform: str, value: str) -> str:
    """Pseudonym of a handle (casefolded, without '@'), per platform."""
    norm = f"{platform}:{value.lstrip('@').casefold()}"
    return hmac.new(key, _PURPOSE["handle"] + norm.encode(), hashlib.sha256).hexdigest()


def native_id(account_id: str) -> str:
    """The platform's own id of a platform-qualified account id (``x:123`` -> ``123``)."""
    return account_id.split(":", 1)[1] if ":" in account_id else account_id


def redact_mentions(text: str, key: bytes, platform: str, keep: set[str]) -> str:
    """Replace @mentions in shared text by handle pseudonyms, except exempt handles
    (``keep``, casefolded)."""

    def sub(m: re.Match[str]) -> str:
        h = m.group(1)
        if h.casefold() in keep:
            return m.group(0)
        return "@acct-" + handle(key, platform, h)[:12]

    return _MENTION.sub(sub, text)
