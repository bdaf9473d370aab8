"""A small, dependency-free SVG chart: axes (linear or log), lines, points, bars, boxes.

Reports embed these inline, so an HTML report opens offline and its plots are text that
diffs and greps. Output is deterministic for the same inputs (golden-file friendly).
Kept hand-made rather than matplotlib/plotly on purpose: no heavy dependency, no JavaScript or
fonts to fetch, and byte-stable output across library versions, which golden tests need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

__all__ = ["Chart", "PALETTE", "nice_ticks"]

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"]


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About n round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while not ticks or ticks[-1] < hi - step * 1e-9:  # the last tick reaches hi: no point on the frame
        ticks.append(round(t, 12))
        t += step
    return ticks


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    """Decades on a log axis, round numbers on a linear one; only those inside [lo, hi]."""
    ticks = [10.0 ** e for e in range(round(math.log10(lo)), round(math.log10(hi)) + 1)] if log else nice_ticks(lo, hi)
    return [v for v in ticks if lo <= v <= hi]


def _label(v: float, log: bool) -> str:
    if log:
        e = round(math.log10(v))
        return {0: "1", 1: "10", 2: "100", 3: "1k", 4: "10k", 5: "100k", 6: "1M", 7: "10M", 8: "100M", 9: "1B",
                10: "10B", 11: "100B"}.get(e, f"{10.0 ** e:g}")
    return f"{v:g}"


@dataclass
class Chart:
    title: str
    xlabel: str
    ylabel: str
    xlog: bool = False
    ylog: bool = False
    width: int = 760
    height: int = 360
    categories: list[str] | None = None  # categorical x axis (bars, boxes)
    _items: list[str] = field(default_factory=list)
    _legend: list[tuple[str, str, str]] = field(default_factory=list)  # label, colour, glyph
    _xs: list[float] = field(default_factory=list)
    _ys: list[float] = field(default_factory=list)
    ylim: tuple[float, float] | None = None
    margin: tuple[int, int, int, int] = (40, 150, 56, 70)  # top, right (legend), bottom, left

    # -- data ------------------------------------------------------------------------
    def line(self, pts: list[tuple[float, float]], color: str, label: str | None = None, dash: bool = False) -> None:
        self._add(pts)
        self._items.append(("line", pts, color, dash))  # type: ignore[arg-type]
        if label:
            self._legend.append((label, color, "dash" if dash else "line"))

    def points(self, pts: list[tuple[float, float]], color: str, labels: list[str] | None = None,
               hollow: bool = False, label: str | None = None, titles: list[str] | None = None) -> None:
        """`titles`: a tooltip per point (an SVG <title> inside the circle), shown on hover."""
        self._add(pts)
        self._items.append(("points", pts, color, labels, hollow, titles))  # type: ignore[arg-type]
        if label:
            self._legend.append((label, color, "hollow" if hollow else "dot"))

    def bars(self, values: list[float], lows: list[float | None], highs: list[float | None], colors: list[str]) -> None:
        self._add([(0, v) for v in values] + [(0, h) for h in highs if h is not None] + [(0, 0)])
        self._items.append(("bars", values, lows, highs, colors))  # type: ignore[arg-type]

    def boxes(self, data: list[list[float]], colors: list[str]) -> None:
        self._add([(0, v) for d in data for v in d])
        self._items.append(("boxes", data, colors))  # type: ignore[arg-type]

    def _add(self, pts) -> None:
        for x, y in pts:
            if self.categories is None:
                self._xs.append(x)
            self._ys.append(y)

    # -- geometry --------------------------------------------------------------------
    def _range(self, vals: list[float], log: bool) -> tuple[float, float]:
        vals = [v for v in vals if v is not None and math.isfinite(v) and (v > 0 or not log)]
        if not vals:
            return (1.0, 10.0) if log else (0.0, 1.0)
        lo, hi = min(vals), max(vals)
        if log:
            return 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi) + 1e-9)
        if lo == hi:
            lo, hi = lo - 1, hi + 1
        ticks = nice_ticks(lo, hi)
        return min(ticks[0], lo), max(ticks[-1], hi)

    def to_svg(self) -> str:
        top, right, bottom, left = self.margin
        w, h = self.width - left - right, self.height - top - bottom
        ylo, yhi = self.ylim or self._range(self._ys, self.ylog)
        if self.categories is not None:
            n = max(1, len(self.categories))
            fx = lambda i: left + (i + 0.5) * w / n  # noqa: E731
        else:
            xlo, xhi = self._range(self._xs, self.xlog)
            tx = (lambda v: math.log10(v)) if self.xlog else (lambda v: v)
            fx = lambda v: left + (tx(max(v, 1e-300) if self.xlog else v) - tx(xlo)) / (tx(xhi) - tx(xlo)) * w  # noqa: E731
        ty = (lambda v: math.log10(max(v, 1e-300))) if self.ylog else (lambda v: v)
        fy = lambda v: top + h - (ty(v) - ty(ylo)) / (ty(yhi) - ty(ylo)) * h  # noqa: E731
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} {self.height}" '
               f'width="{self.width}" height="{self.height}" font-family="sans-serif" font-size="11" role="img">',
               f'<title>{escape(self.title)}</title>',
               f'<text x="{self.width / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">{escape(self.title)}</text>',
               f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#9ca3af"/>']
        for v in _ticks(ylo, yhi, self.ylog):
            y = fy(v)
            out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + w}" y2="{y:.1f}" stroke="#e5e7eb"/>'
                           f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_label(v, self.ylog)}</text>')
        if self.categories is not None:
            for i, c in enumerate(self.categories):
                out.append(f'<text x="{fx(i):.1f}" y="{top + h + 16}" text-anchor="middle">{escape(c)}</text>')
        else:
            for v in _ticks(xlo, xhi, self.xlog):
                x = fx(v)
                out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + h}" stroke="#f3f4f6"/>'
                           f'<text x="{x:.1f}" y="{top + h + 16}" text-anchor="middle">{_label(v, self.xlog)}</text>')
        out.append(f'<text x="{left + w / 2}" y="{self.height - 12}" text-anchor="middle">{escape(self.xlabel)}</text>')
        out.append(f'<text transform="translate(16 {top + h / 2}) rotate(-90)" text-anchor="middle">{escape(self.ylabel)}</text>')
        band = w / max(1, len(self.categories or [1]))
        for item in self._items:
            kind = item[0]
            if kind == "line":
                _, pts, color, dash = item
                d = " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y in pts)
                out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2"'
                           + (' stroke-dasharray="5 4"' if dash else "") + "/>")
            elif kind == "points":
                _, pts, color, labels, hollow, titles = item
                for i, (x, y) in enumerate(pts):
                    tip = f"<title>{escape(titles[i])}</title></circle>" if titles else "/>"
                    out.append(f'<circle cx="{fx(x):.1f}" cy="{fy(y):.1f}" r="5" stroke="{color}" stroke-width="2" '
                               f'fill="{"white" if hollow else color}"' + (">" + tip if titles else tip))
                    if labels:
                        out.append(f'<text x="{fx(x) + 8:.1f}" y="{fy(y) - 6:.1f}">{escape(labels[i])}</text>')
            elif kind == "bars":
                _, values, lows, highs, colors = item
                for i, v in enumerate(values):
                    x = fx(i)
                    out.append(f'<rect x="{x - band * 0.3:.1f}" y="{min(fy(v), fy(0)):.1f}" width="{band * 0.6:.1f}" '
                               f'height="{abs(fy(0) - fy(v)):.1f}" fill="{colors[i]}" fill-opacity="0.75"/>'
                               f'<text x="{x + 10:.1f}" y="{fy(v) + 14:.1f}">{v:g}</text>')
                    if lows[i] is not None and highs[i] is not None:
                        y0, y1 = fy(lows[i]), fy(highs[i])
                        out.append(f'<path d="M{x:.1f},{y0:.1f}V{y1:.1f}M{x - 6:.1f},{y0:.1f}h12M{x - 6:.1f},{y1:.1f}h12" '
                                   'stroke="#111827" stroke-width="1.5"/>')
            elif kind == "boxes":
                _, data, colors = item
                for i, d in enumerate(data):
                    if not d:
                        continue
                    s = sorted(d)
                    q = [s[min(len(s) - 1, int(round(p * (len(s) - 1))))] for p in (0.05, 0.25, 0.5, 0.75, 0.95)]
                    x, bw = fx(i), band * 0.25
                    out.append(f'<path d="M{x:.1f},{fy(q[0]):.1f}V{fy(q[1]):.1f}M{x:.1f},{fy(q[3]):.1f}V{fy(q[4]):.1f}" '
                               f'stroke="{colors[i]}" stroke-width="1.5"/>'
                               f'<rect x="{x - bw:.1f}" y="{fy(q[3]):.1f}" width="{2 * bw:.1f}" '
                               f'height="{max(1.0, fy(q[1]) - fy(q[3])):.1f}" fill="{colors[i]}" fill-opacity="0.35" stroke="{colors[i]}"/>'
                               f'<line x1="{x - bw:.1f}" y1="{fy(q[2]):.1f}" x2="{x + bw:.1f}" y2="{fy(q[2]):.1f}" '
                               f'stroke="{colors[i]}" stroke-width="2.5"/>')
        lx = left + w + 10  # legend in the right margin, clear of the data
        for i, (label, color, glyph) in enumerate(self._legend):
            y = top + 10 + 15 * i
            if glyph in ("dot", "hollow"):
                out.append(f'<circle cx="{lx + 9}" cy="{y - 4}" r="4" stroke="{color}" stroke-width="2" '
                           f'fill="{"white" if glyph == "hollow" else color}"/>')
            else:
                out.append(f'<line x1="{lx}" y1="{y - 4}" x2="{lx + 18}" y2="{y - 4}" stroke="{color}" stroke-width="2"'
                           + (' stroke-dasharray="5 4"' if glyph == "dash" else "") + "/>")
            out.append(f'<text x="{lx + 22}" y="{y}">{escape(label)}</text>')
        out.append("</svg>")
        return "\n".join(out)
