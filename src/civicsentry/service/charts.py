"""Small SVG charts drawn on the server: the same picture in the dashboard (no script
needed) and in the self-contained report. Every label is escaped here; the SVG uses
presentation attributes only (no ``style``), so a strict Content-Security-Policy holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _frame(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{_e(title)}">'
        f"<title>{_e(title)}</title>" + "".join(body) + "</svg>"
    )


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(v))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= v)


def _axes(w: int, h: int, left: int, bottom: int, top: int, ymax: float) -> list[str]:
    out = [
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - 10}" y2="{h - bottom}" stroke="#9ca3af"/>'
    ]
    for i in range(5):
        v = ymax * i / 4
        y = h - bottom - (h - bottom - top) * i / 4
        label = f"{v:,.0f}" if ymax >= 4 else f"{v:.2g}"
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{w - 10}" y2="{y:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" {FONT} fill="#374151">'
            f"{label}</text>"
        )
    return out


def bar_chart(
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = 720,
    height: int = 220,
    color: str = PALETTE[0],
    max_labels: int = 8,
) -> str:
    """Vertical bars, one per (label, value); each bar's tooltip names it."""
    left, bottom, top = 48, 36, 10
    body = []
    if not points:
        return _frame(width, height, title, [_empty(width, height)])
    ymax = _nice_max(max(v for _, v in points))
    body += _axes(width, height, left, bottom, top, ymax)
    plot_w, plot_h = width - left - 10, height - bottom - top
    bw = plot_w / len(points)
    step = max(1, math.ceil(len(points) / max_labels))
    for i, (label, v) in enumerate(points):
        bh = plot_h * v / ymax
        x = left + i * bw
        body.append(
            f'<rect class="bar" x="{x + bw * 0.1:.2f}" y="{height - bottom - bh:.2f}" '
            f'width="{max(bw * 0.8, 0.5):.2f}" height="{bh:.2f}" fill="{color}">'
            f"<title>{_e(label)}: {v:,g}</title></rect>"
        )
        if i % step == 0:
            body.append(
                f'<text x="{x + bw / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
                f'{FONT} fill="#374151">{_e(str(label)[:16])}</text>'
            )
    return _frame(width, height, title, body)


def line_chart(
    series: Mapping[str, Sequence[tuple[str, float]]],
    *,
    title: str,
    width: int = 720,
    height: int = 240,
    max_labels: int = 8,
) -> str:
    """One line per series over a shared, sorted x axis (ISO time strings sort)."""
    xs = sorted({x for pts in series.values() for x, _ in pts})
    if not xs:
        return _frame(width, height, title, [_empty(width, height)])
    left, bottom, top = 56, 50, 10
    ymax = _nice_max(max(v for pts in series.values() for _, v in pts))
    body = _axes(width, height, left, bottom, top, ymax)
    plot_w, plot_h = width - left - 10, height - bottom - top
    pos = {x: left + (plot_w * i / max(1, len(xs) - 1)) for i, x in enumerate(xs)}
    step = max(1, math.ceil(len(xs) / max_labels))
    for i, x in enumerate(xs):
        if i % step == 0:
            body.append(
                f'<text x="{pos[x]:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
                f'{FONT} fill="#374151">{_e(str(x)[:13].replace("T", " "))}</text>'
            )
    for k, (name, pts) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        coords = " ".join(
            f"{pos[x]:.1f},{height - bottom - plot_h * v / ymax:.1f}" for x, v in sorted(pts)
        )
        body.append(
            f'<polyline class="series" points="{coords}" fill="none" stroke="{color}" '
            f'stroke-width="1.6"><title>{_e(name)}</title></polyline>'
        )
        lx = left + 110 * k
        body.append(
            f'<rect x="{lx}" y="{height - 16}" width="10" height="10" fill="{color}"/>'
            f'<text x="{lx + 14}" y="{height - 7}" {FONT} fill="#111827">{_e(name)[:14]}</text>'
        )
    return _frame(width, height, title, body)


def heatmap(
    grid: Sequence[Sequence[float]], rows: Sequence[str], *, title: str, width: int = 720
) -> str:
    """A rows × 24 hours grid (activity rhythm), darker for more; tooltips give counts."""
    left, top, cell_h = 40, 18, 18
    cell_w = (width - left - 10) / 24
    height = top + cell_h * len(rows) + 6
    vmax = max((v for r in grid for v in r), default=0) or 1
    body = []
    for h in range(0, 24, 3):
        body.append(
            f'<text x="{left + h * cell_w + 2:.1f}" y="12" {FONT} fill="#374151">{h:02d}h</text>'
        )
    for i, (name, row) in enumerate(zip(rows, grid, strict=True)):
        y = top + i * cell_h
        body.append(f'<text x="2" y="{y + 13}" {FONT} fill="#374151">{_e(name)}</text>')
        for h, v in enumerate(row):
            shade = 0.06 + 0.94 * (v / vmax) if v else 0.0
            body.append(
                f'<rect class="cell" x="{left + h * cell_w:.1f}" y="{y}" width="{cell_w - 1:.1f}" '
                f'height="{cell_h - 1}" fill="#1d4ed8" fill-opacity="{shade:.2f}" '
                f'stroke="#e5e7eb"><title>{_e(name)} {h:02d}:00 UTC: {v:g}</title></rect>'
            )
    return _frame(width, height, title, body)


def network_svg(
    nodes: Sequence[Mapping[str, Any]],
    edges: Sequence[Mapping[str, Any]],
    positions: Mapping[str, tuple[float, float]],
    *,
    title: str,
    size: int = 640,
) -> str:
    """A drawn network: nodes sized by strength and coloured by co-action share (the
    share of an account's actions made together with the cluster), edges by weight."""
    if not nodes:
        return _frame(size, size, title, [_empty(size, size)])
    xs = [p[0] for p in positions.values()] or [0.0]
    ys = [p[1] for p in positions.values()] or [0.0]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    pad = 16

    def sx(x: float) -> float:
        return pad + (size - 2 * pad) * ((x - x0) / (x1 - x0) if x1 > x0 else 0.5)

    def sy(y: float) -> float:
        return pad + (size - 2 * pad) * ((y - y0) / (y1 - y0) if y1 > y0 else 0.5)

    smax = max((float(n.get("strength") or 0) for n in nodes), default=1) or 1
    wmax = max((float(e.get("weight") or 0) for e in edges), default=1) or 1
    body = [f'<rect width="{size}" height="{size}" fill="#ffffff"/>']
    for e in edges:
        a, b = positions.get(e["source"]), positions.get(e["target"])
        if a is None or b is None:
            continue
        body.append(
            f'<line x1="{sx(a[0]):.1f}" y1="{sy(a[1]):.1f}" x2="{sx(b[0]):.1f}" '
            f'y2="{sy(b[1]):.1f}" stroke="#94a3b8" stroke-opacity="0.5" '
            f'stroke-width="{0.4 + 1.6 * float(e.get("weight") or 0) / wmax:.2f}"/>'
        )
    for n in nodes:
        p = positions.get(n["id"])
        if p is None:
            continue
        r = 2.5 + 6 * math.sqrt(float(n.get("strength") or 0) / smax)
        body.append(
            f'<circle class="node" cx="{sx(p[0]):.1f}" cy="{sy(p[1]):.1f}" r="{r:.1f}" '
            f'fill="{signal_color(n.get("coaction_share"))}" stroke="#1f2937" '
            f'stroke-width="0.4"><title>{_e(n.get("handle") or n["id"])}</title></circle>'
        )
    return _frame(size, size, title, body)


def signal_color(value: Any) -> str:
    """Blue (low) to red (high) for a signal in [0, 1]; grey when unknown."""
    if value is None:
        return "#9ca3af"
    v = min(1.0, max(0.0, float(value)))
    r, g, b = int(37 + v * (220 - 37)), int(99 + v * (38 - 99)), int(235 + v * (38 - 235))
    return f"#{r:02x}{g:02x}{b:02x}"


def _empty(width: int, height: int) -> str:
    return (
        f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" {FONT} '
        'fill="#6b7280">no data</text>'
    )
