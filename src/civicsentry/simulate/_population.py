"""Simulated accounts: organic users in interest communities, and campaign members.

Organic users have heavy-tailed activity and followers, a home UTC offset (most of the
population lives in UTC-5..-8; a few abroad), and handles of several styles, including
the name+8-digit handles the platform suggests by default. Campaign members are drawn
with per-campaign styles: accounts created in a burst, more default handles, fewer
followers, empty or stock bios. No single profile field separates them perfectly.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _vocab as V
from ._core import NORMAL, TWITTER_EPOCH_MS, Sampler

ORGANIC_OFFSETS = np.array([-5, -6, -8, -7, 0, 1, 3])
ORGANIC_OFFSET_P = np.array([0.45, 0.25, 0.15, 0.07, 0.04, 0.03, 0.01])
DEFAULT_HANDLE = 4  # handle style: first 7 letters of a name + 8 digits
_DAY = 86_400
_SNOWFLAKE_START = TWITTER_EPOCH_MS // 1000
_FIRST_ACCOUNT = 1_142_899_200  # 2006-03-21: user ids before snowflakes grew ~linearly


@dataclass
class Draft:
    """Numeric attributes of a batch of accounts, before strings are built."""

    created: np.ndarray  # int64 Unix seconds
    community: np.ndarray
    offset: np.ndarray  # UTC offset, hours
    profile: np.ndarray  # schedule profile of their own activity
    lang: np.ndarray
    activity: np.ndarray  # weight for writing original posts
    share: np.ndarray  # weight for reposting/replying/quoting others
    followers: np.ndarray
    following: np.ndarray
    handle_style: np.ndarray
    bio: np.ndarray  # 0 organic bio, 1 campaign bio, 2 empty
    foreign_loc: np.ndarray  # bool: location abroad instead of a US place
    campaign: np.ndarray  # campaign index, -1 organic


def draft_organic(rng: np.random.Generator, n: int, home: np.ndarray, start: int) -> Draft:
    """Organic accounts; ``home`` holds each community's home UTC offset."""
    n_comm = len(home)
    comm_w = 1.0 / np.arange(1, n_comm + 1) ** 0.8
    community = rng.choice(n_comm, n, p=comm_w / comm_w.sum())
    offset = np.where(
        rng.random(n) < 0.85, home[community], rng.choice(ORGANIC_OFFSETS, n, p=ORGANIC_OFFSET_P)
    )
    comm_lang = (rng.random(n_comm) < 0.12).astype(np.int8)
    lang = np.where(rng.random(n) < 0.95, comm_lang[community], 1 - comm_lang[community])
    activity = rng.lognormal(0.0, 1.4, n)  # a few heavy users, many light ones
    followers = rng.lognormal(np.log(120) + 0.4 * np.log(activity), 1.8).astype(np.int64)
    oldest = (start - _FIRST_ACCOUNT) / _DAY - 1
    age_days = (30 + rng.exponential(1500, n)) % oldest  # wrap, not clip: no pile-up at 2006
    abroad = offset >= 0
    return Draft(
        created=(start - age_days * _DAY).astype(np.int64),
        community=community,
        offset=offset,
        profile=np.full(n, NORMAL),
        lang=lang.astype(np.int8),
        activity=activity,
        share=activity * rng.beta(2, 2, n),
        followers=np.minimum(followers, 80_000_000),
        following=rng.lognormal(np.log(250), 1.1, n).astype(np.int64),
        handle_style=rng.choice(6, n, p=[0.25, 0.2, 0.15, 0.15, 0.12, 0.13]),
        bio=np.where(rng.random(n) < 0.35, 2, 0),
        foreign_loc=abroad & (rng.random(n) < 0.7) | (rng.random(n) < 0.02),
        campaign=np.full(n, -1),
    )


def draft_members(
    rng: np.random.Generator,
    n: int,
    *,
    campaign: int,
    start: int,
    default_handles: float,
    created_days_ago: tuple[float, float],
    followers: float,
    empty_bio: float,
    community: int,
    offset: int,
    profile: int,
    activity: float,
) -> Draft:
    """Members of one campaign. ``created_days_ago`` = (centre, spread) of the creation burst."""
    centre, spread = created_days_ago
    age = np.clip(
        centre + rng.uniform(-spread / 2, spread / 2, n), 1, (start - _FIRST_ACCOUNT) / _DAY - 1
    )
    act = activity * rng.lognormal(0.0, 0.5, n)
    style = np.where(
        rng.random(n) < default_handles, DEFAULT_HANDLE, rng.choice([0, 1, 2, 3, 5], n)
    )
    return Draft(
        created=(start - age * _DAY).astype(np.int64),
        community=np.full(n, community),
        offset=np.full(n, offset),
        profile=np.full(n, profile),
        lang=np.zeros(n, np.int8),
        activity=act,
        share=act * 0.5,
        followers=rng.lognormal(np.log(followers), 1.0, n).astype(np.int64),
        following=rng.lognormal(np.log(max(followers, 50) * 3), 0.6, n).astype(np.int64),
        handle_style=style,
        bio=np.where(rng.random(n) < empty_bio, 2, rng.choice([0, 1], n, p=[0.3, 0.7])),
        foreign_loc=np.zeros(n, bool),  # they claim to be local
        campaign=np.full(n, campaign),
    )


class Population:
    """All accounts: numeric attributes, samplers over them, and their string fields."""

    def __init__(self, rng: np.random.Generator, drafts: list[Draft], n_comm: int) -> None:
        d = Draft(
            **{f.name: np.concatenate([getattr(x, f.name) for x in drafts]) for f in fields(Draft)}
        )
        self.d = d
        self.n = n = len(d.created)
        self.n_comm = n_comm
        self.uid = _user_ids(rng, d.created)
        self.verified = (d.followers >= np.quantile(d.followers, 0.997)) & (d.campaign < 0)
        # Organic originals are drawn per schedule group (offset, profile) and hour.
        keys = d.offset * 4 + d.profile
        self.group_keys, self.group = np.unique(keys, return_inverse=True)
        self.n_groups = len(self.group_keys)
        self.originals = Sampler(self.group, d.activity, self.n_groups)
        self.resharers = Sampler(d.community, d.share, n_comm)
        # Who gets mentioned, or authors a post that spreads: skewed to followed accounts.
        self.influence = Sampler(
            np.zeros(n, np.int64), np.sqrt(d.followers + 1.0) * (d.campaign < 0), 1
        )
        self.comm_size = np.bincount(d.community, minlength=n_comm).astype(float)
        self._strings(rng, d)

    def group_offset(self, g: int) -> int:
        return int(self.group_keys[g] // 4)  # floor division undoes offset * 4 + profile

    def group_profile(self, g: int) -> int:
        return int(self.group_keys[g] % 4)

    def _strings(self, rng: np.random.Generator, d: Draft) -> None:
        n = self.n
        first = pc.take(pa.array(V.FIRST_NAMES), pa.array(rng.integers(0, len(V.FIRST_NAMES), n)))
        last = pc.take(pa.array(V.LAST_NAMES), pa.array(rng.integers(0, len(V.LAST_NAMES), n)))
        word = pc.take(pa.array(V.HANDLE_WORDS), pa.array(rng.integers(0, len(V.HANDLE_WORDS), n)))
        word2 = pc.take(pa.array(V.HANDLE_WORDS), pa.array(rng.integers(0, len(V.HANDLE_WORDS), n)))
        d2 = pc.cast(pa.array(rng.integers(1, 100, n)), pa.string())
        d8 = pc.utf8_lpad(
            pc.cast(pa.array(rng.integers(0, 10**8, n)), pa.string()), width=8, padding="0"
        )
        j = pc.binary_join_element_wise
        styles = [
            j(first, last, ""),
            j(first, "_", last, ""),
            j(pc.utf8_lower(first), pc.utf8_lower(last), d2, ""),
            j(word, pc.utf8_capitalize(word2), ""),
            j(pc.utf8_slice_codeunits(first, 0, 7), d8, ""),
            j(word, "_", pc.utf8_lower(first), ""),
        ]
        handle = pc.utf8_slice_codeunits(pc.choose(pa.array(d.handle_style), *styles), 0, 15)
        self.handle = _dedupe(handle.to_numpy(zero_copy_only=False))
        flag = pa.array(np.where(rng.random(n) < 0.05, " " + V.EMOJI[0], ""))
        self.display_name = pc.choose(
            pa.array(rng.choice(3, n, p=[0.7, 0.2, 0.1])),
            j(first, " ", last, flag, ""),
            first,
            self.handle,
        )
        organic_bio = j(
            pc.take(pa.array(V.BIO_PARTS), pa.array(rng.integers(0, len(V.BIO_PARTS), n))),
            ". ",
            pc.take(pa.array(V.BIO_PARTS), pa.array(rng.integers(0, len(V.BIO_PARTS), n))),
            "",
        )
        camp_bio = pc.take(
            pa.array(V.CAMPAIGN_BIOS), pa.array(rng.integers(0, len(V.CAMPAIGN_BIOS), n))
        )
        self.description = pc.choose(pa.array(d.bio), organic_bio, camp_bio, pa.array([""] * n))
        us = pc.take(pa.array(V.LOCATIONS), pa.array(rng.integers(0, len(V.LOCATIONS), n)))
        abroad = pc.take(
            pa.array(V.FOREIGN_LOCATIONS), pa.array(rng.integers(0, len(V.FOREIGN_LOCATIONS), n))
        )
        loc = pc.if_else(pa.array(d.foreign_loc), abroad, us)
        self.location = pc.if_else(pa.array(rng.random(n) < 0.25), pa.scalar(""), loc)
        self.account_id = j("x:u", pc.cast(pa.array(self.uid), pa.string()), "")


def _user_ids(rng: np.random.Generator, created: np.ndarray) -> np.ndarray:
    """Numeric user ids as the platform assigns them: snowflakes from the creation time."""
    ms = created * 1000 + rng.integers(0, 1000, len(created))
    snow = ((ms - TWITTER_EPOCH_MS) << 22) | rng.integers(0, 1 << 22, len(created))
    old = (created - _FIRST_ACCOUNT) * 1.4 + rng.integers(
        0, 1000, len(created)
    )  # ~200M by late 2010
    uid = np.where(created >= _SNOWFLAKE_START, snow, old.astype(np.int64) + 12)
    # Make ids unique without reordering them: bump each repeat past its predecessor.
    order = np.argsort(uid, kind="stable")
    ranks = np.arange(len(uid))
    bumped = np.maximum.accumulate(uid[order] - ranks) + ranks
    uid[order] = bumped
    return uid


def _dedupe(handles: np.ndarray) -> pa.Array:
    """Make handles unique, ignoring case as the platform does, by numbering repeats."""
    arr = np.asarray(handles, dtype=object)
    round_ = 0
    while True:
        folded = pc.dictionary_encode(pc.utf8_lower(pa.array(arr, pa.string())))
        _, first = np.unique(folded.indices.to_numpy(), return_index=True)
        dup = np.ones(len(arr), bool)
        dup[first] = False
        if not dup.any():
            return pa.array(arr, pa.string())
        idx = np.nonzero(dup)[0]
        arr[idx] = [
            f"{str(h)[:11]}{(i + round_) % 10_000}" for h, i in zip(arr[idx], idx, strict=True)
        ]
        round_ += 1
