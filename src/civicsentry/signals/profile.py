"""Profile signals from the ``accounts`` table, where the source gave the fields (NULL
otherwise): account age at first post, creation-day bursts, handle patterns, an empty
profile, and the follower/following ratio.

Set-based SQL over ``accounts`` (one row per account); the age needs the first post,
which the behaviour frames know.

The canonical accounts table has no profile image or theme, so Botometer's "default
profile" cannot be computed; ``empty_profile`` (description and location left empty)
is the part of it the data holds.
"""

from __future__ import annotations

import duckdb
import numpy as np

from .frames import by_idx

#: Days either side of a creation day that make its baseline.
BURST_WINDOW_DAYS = 30
_CONSONANTS = "bcdfghjklmnpqrstvwxz"


COLUMNS = [
    "created", "created_same_day", "creation_baseline", "creation_burst", "handle_digits",
    "handle_consonants", "handle_entropy", "empty_profile", "follower_ratio",
]  # fmt: skip


def profile(con: duckdb.DuckDBPyConnection, first_t: np.ndarray) -> dict[str, np.ndarray]:
    """Profile signals of every account of ``_sig_universe`` (idx order); ``first_t`` is
    each account's first post (Unix seconds, NaN for none)."""
    w = BURST_WINDOW_DAYS
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _sig_profile AS
        WITH days AS (
            SELECT platform, CAST(created_at AS DATE) AS day, count(*) AS n
            FROM accounts WHERE created_at IS NOT NULL GROUP BY ALL
        ), base AS (
            SELECT platform, day, n,
                   (sum(n) OVER (PARTITION BY platform ORDER BY day RANGE BETWEEN
                        INTERVAL {w} DAYS PRECEDING AND INTERVAL {w} DAYS FOLLOWING) - n)
                   / {2 * w}.0 AS baseline
            FROM days
        )
        SELECT a.account_id, epoch(a.created_at) AS created,
               b.n AS created_same_day, b.baseline AS creation_baseline,
               b.n / (b.baseline + 1) AS creation_burst,
               CASE WHEN a.handle IS NOT NULL THEN coalesce(list_max(list_transform(
                    regexp_extract_all(a.handle, '[0-9]+'), lambda x: length(x))), 0) END
                   AS handle_digits,
               CASE WHEN a.handle IS NOT NULL THEN coalesce(list_max(list_transform(
                    regexp_extract_all(lower(a.handle), '[{_CONSONANTS}]+'),
                    lambda x: length(x))), 0) END AS handle_consonants,
               CASE WHEN length(a.handle) > 0 THEN list_sum(list_transform(
                    map_values(list_aggregate(string_split(lower(a.handle), ''), 'histogram')),
                    lambda c: -(c / length(a.handle)) * log2(c / length(a.handle)))) END
                   AS handle_entropy,
               CASE WHEN a.created_at IS NOT NULL OR a.followers IS NOT NULL
                         OR a.following IS NOT NULL OR a.description IS NOT NULL
                         OR a.location IS NOT NULL THEN
                    ((a.description IS NULL)::INTEGER + (a.location IS NULL)::INTEGER) / 2.0
                    END AS empty_profile,
               CASE WHEN a.followers IS NOT NULL AND a.following IS NOT NULL THEN
                    log10((greatest(a.followers, 0) + 1.0) / (greatest(a.following, 0) + 1.0))
                    END AS follower_ratio
        FROM accounts a LEFT JOIN base b
          ON b.platform = a.platform AND b.day = CAST(a.created_at AS DATE)
        """
    )
    d = by_idx(con, "_sig_profile", COLUMNS, len(first_t))
    with np.errstate(invalid="ignore"):
        d["account_age_days"] = np.maximum(0.0, first_t - d["created"]) / 86_400.0
    return d
