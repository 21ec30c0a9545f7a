"""The few places where DuckDB SQL and Spark SQL differ, in one place.

Every detection step is written once as SQL text built by Python; the text uses standard
SQL (joins, GROUP BY, window functions, CASE) plus the handful of functions below, each
rendered per engine. Keep new dialect differences here, never inline in a module.
"""

from __future__ import annotations

from dataclasses import dataclass

#: An account pair travels as one BIGINT key acc_a · 2^32 + acc_b (account keys < 2^31).
PAIR_SHIFT = 4294967296


@dataclass(frozen=True)
class Dialect:
    name: str

    def epoch_us(self, ts: str) -> str:
        """A TIMESTAMPTZ column as BIGINT microseconds since the Unix epoch."""
        return f"epoch_us({ts})" if self.name == "duckdb" else f"unix_micros({ts})"

    def from_epoch_us(self, us: str) -> str:
        """BIGINT microseconds since the epoch back to a UTC timestamp."""
        if self.name == "duckdb":  # 6x cheaper than to_timestamp(0) + an interval
            return f"make_timestamptz(CAST({us} AS BIGINT))"
        return f"timestamp_micros({us})"

    def idiv(self, a: str, b: str) -> str:
        """Integer division (truncating; operands are non-negative where it matters)."""
        return f"(({a}) // ({b}))" if self.name == "duckdb" else f"(({a}) div ({b}))"

    def pair_a(self, pair: str) -> str:
        """The first account key of a pair key ``acc_a · 2^32 + acc_b``."""
        return self.idiv(pair, str(PAIR_SHIFT))

    def pair_b(self, pair: str) -> str:
        return f"(({pair}) % {PAIR_SHIFT})"

    def quantile(self, x: str, q: float) -> str:
        """Exact quantile with linear interpolation (R's type 7)."""
        if self.name == "duckdb":
            return f"quantile_cont({x}, {q!r})"
        return f"percentile({x}, {q!r})"

    # -- lists (deriving actions from posts) -------------------------------------------
    def lambda_(self, var: str, body: str) -> str:
        return f"lambda {var}: {body}" if self.name == "duckdb" else f"{var} -> {body}"

    def struct(self, **fields: str) -> str:
        """A struct value from SQL expressions."""
        if self.name == "duckdb":
            return "{" + ", ".join(f"'{k}': {v}" for k, v in fields.items()) + "}"
        return "named_struct(" + ", ".join(f"'{k}', {v}" for k, v in fields.items()) + ")"

    def list_of(self, *items: str) -> str:
        """A list literal (empty when no items)."""
        if self.name == "duckdb":
            return "[" + ", ".join(items) + "]"
        return "array(" + ", ".join(items) + ")"

    def list_concat(self, *lists: str) -> str:
        """Lists concatenated; a NULL list counts as empty (DuckDB's rule; Spark's concat
        would return NULL, so each is coalesced there)."""
        if self.name == "duckdb":
            return f"list_concat({', '.join(lists)})"
        return "concat(" + ", ".join(f"coalesce({x}, array())" for x in lists) + ")"

    def list_distinct_map(self, column: str, var: str, body: str) -> str:
        """``body`` (an expression of ``var``) for each distinct non-NULL element."""
        lam = self.lambda_
        if self.name == "duckdb":
            return (
                f"list_transform(list_filter(list_distinct({column}), "
                f"{lam(var, f'{var} IS NOT NULL')}), {lam(var, body)})"
            )
        return (
            f"transform(filter(array_distinct({column}), {lam(var, f'{var} IS NOT NULL')}), "
            f"{lam(var, body)})"
        )

    def unnest(self, x: str) -> str:
        """One row per element of a list (in a SELECT list)."""
        return f"unnest({x})" if self.name == "duckdb" else f"explode({x})"

    def sorted_distinct_join(self, x: str) -> str:
        """Distinct values of a string column, sorted, joined by commas."""
        if self.name == "duckdb":
            return f"string_agg(DISTINCT {x}, ',' ORDER BY {x})"
        return f"array_join(array_sort(collect_set({x})), ',')"


DUCKDB = Dialect("duckdb")
SPARK = Dialect("spark")
