"""The one edge shape every semantics produces, before account ids are turned back into
strings: an undirected pair (acc_a < acc_b, integer account keys) in one network.

Columns a semantics does not define are NULL, so every network can be stored in the one
``coordination_edges`` table and read without knowing which semantics made it.
"""

from __future__ import annotations

#: (column, SQL type) of an intermediate edge row (type names both DuckDB and Spark SQL
#: read: STRING, not VARCHAR); ``otype`` is the object type, or
#: ``multi`` for the multi-modal network.
EDGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("otype", "STRING"),
    ("acc_a", "BIGINT"),
    ("acc_b", "BIGINT"),
    ("weight", "BIGINT"),
    ("weight_ab", "BIGINT"),
    ("weight_ba", "BIGINT"),
    ("pairs", "BIGINT"),
    ("weight_pop", "DOUBLE"),
    ("min_delay_us", "BIGINT"),
    ("median_delay_us", "DOUBLE"),
    ("avg_delay_us", "DOUBLE"),
    ("first_ts", "BIGINT"),
    ("last_ts", "BIGINT"),
    ("object_types", "STRING"),
    ("n_content_id", "BIGINT"),
    ("n_content_id_y", "BIGINT"),
    ("edge_symmetry_score", "DOUBLE"),
    ("weight_threshold", "BOOLEAN"),
    ("capped_objects", "BIGINT"),
    ("downweighted_objects", "BIGINT"),
)
_NAMES = {c for c, _ in EDGE_COLUMNS}


def edge_select(**exprs: str) -> str:
    """A SELECT list in ``EDGE_COLUMNS`` order: given expressions, NULL for the rest."""
    unknown = set(exprs) - _NAMES
    if unknown:
        raise ValueError(f"not edge columns: {sorted(unknown)}")
    return ",\n      ".join(
        f"CAST({exprs[c]} AS {t}) AS {c}" if c in exprs else f"CAST(NULL AS {t}) AS {c}"
        for c, t in EDGE_COLUMNS
    )
