"""The schedule of each cluster of a detection run: its members' pooled activity, the
population outside it that acts on its objects, and whether the two clocks disagree —
the "office hours of a foreign capital on domestic topics" signature."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from ..schema import CLUSTER_SCHEDULES
from .flags import counts, is_foreign, schedule_reason
from .params import SignalParams
from .population import CLOCK, Population, Populations, density, near_share
from .schedule import TEMPLATES, ScheduleFit, offset_distance

_ARROW = {
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "VARCHAR": pa.string(),
    "BOOLEAN": pa.bool_(),
}


def cluster_schedules(
    p: SignalParams,
    ws_pop: Population,
    detection_run: int | None,
    ids: np.ndarray,
    members: np.ndarray,
    every: ScheduleFit,
    fit: ScheduleFit,
    originals: np.ndarray,
    pop_ids: np.ndarray,
    pops: Populations,
) -> pa.Table:
    """Rows of ``cluster_schedules`` (without ``signals_run_id``): one per cluster of
    ``ids``, with the rhythm of all its posts (``every``), its schedule (``fit``, from
    original posts where ``originals``); ``pops`` holds the populations of ``pop_ids``."""
    cols = [c for c in CLUSTER_SCHEDULES.columns if c.name != "signals_run_id"]
    where = {int(c): i for i, c in enumerate(pop_ids)}
    rows: list[dict[str, Any]] = []
    for i, cid in enumerate(ids.tolist()):
        posts = int(every.posts[i])
        has = posts >= p.schedule_min_posts
        j = where.get(cid)
        population = (
            (int(pops.objects[j]), density(pops.coefs[j][None, :])[0]) if j is not None else None
        )
        row = describe(
            rhythm_fit=_num(fit.rhythm_fit[i]) if has else None,
            offset=int(fit.offset[i]) if has else None,
            confidence=float(fit.confidence[i]) if has else None,
            template=TEMPLATES[int(fit.template[i])] if has else None,
            workday=_num(fit.workday_share[i]) if has else None,
            posts=posts,
            fitted=(int(fit.posts[i]), bool(originals[i])),
            population=population,
            ws_pop=ws_pop,
            p=p,
        )
        rows.append(
            row
            | {
                "run_id": detection_run,
                "cluster_id": cid,
                "members": int(members[i]),
                "night_activity": _num(every.night_activity[i]) if posts else None,
            }
        )
    return pa.table({c.name: pa.array([r[c.name] for r in rows], _ARROW[c.type]) for c in cols})


def describe(
    *,
    rhythm_fit: float | None,
    offset: int | None,
    confidence: float | None,
    template: str | None,
    workday: float | None,
    posts: int,
    fitted: tuple[int, bool],
    population: tuple[int, np.ndarray] | None,
    ws_pop: Population,
    p: SignalParams,
) -> dict[str, Any]:
    """One cluster's schedule columns and the reasoning behind its flag."""
    objects, dens = population if population is not None else (0, None)
    by_objects = dens is not None and objects >= p.population_min_objects
    mode_share: float | None
    if by_objects:
        assert dens is not None
        mode = int(CLOCK[dens.argmax()])
        pop_offset: int | None = mode
        mode_share = _share(dens, mode)
        own_share = _share(dens, offset) if offset is not None else None
    else:
        pop_offset = ws_pop.offset
        mode_share = ws_pop.mode_share
        own_share = (
            ws_pop.own_share(offset) if offset is not None and pop_offset is not None else None
        )
    gap = (
        int(offset_distance(offset, pop_offset))
        if offset is not None and pop_offset is not None
        else None
    )
    foreign = is_foreign(gap if counts(confidence, rhythm_fit, p) else None, own_share, p)
    reason = schedule_reason(
        "members post", posts=posts, fitted=fitted, offset=offset, confidence=confidence, template=template,
        workday=workday, pop_offset=pop_offset, by_objects=by_objects, objects=objects,
        mode_share=mode_share, own_share=own_share, gap=gap, rhythm_fit=rhythm_fit,
        foreign=foreign, p=p,
    )  # fmt: skip
    return {
        "posts": posts,
        "utc_offset": offset,
        "confidence": confidence,
        "template": template,
        "workday_share": workday,
        "population_offset": pop_offset,
        "population_source": "objects"
        if by_objects
        else ("workspace" if pop_offset is not None else None),
        "population_support": objects,
        "population_share": own_share,
        "offset_gap": gap,
        "rhythm_fit": rhythm_fit,
        "foreign": foreign,
        "explanation": json.dumps(
            {
                "reason": reason,
                "population_mode_share": _round(mode_share),
                "workspace_offset": ws_pop.offset,
            },
            ensure_ascii=False,
        ),
    }


def _share(dens: np.ndarray, offset: int) -> float:
    return float(near_share(dens[None, :], np.array([offset]))[0])


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _num(v: Any) -> float | None:
    f = float(v)
    return None if np.isnan(f) else f
