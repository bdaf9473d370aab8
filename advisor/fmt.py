"""Number formatting shared by the rationale lines and every report, so they always agree."""

from __future__ import annotations

import math

__all__ = ["pct", "points", "interval", "usd", "p_value", "volume", "ms"]


def pct(x: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: 0.8412 -> '84.1%'."""
    return "—" if x is None else f"{100 * x:.{digits}f}%"


def points(x: float, digits: int = 1) -> str:
    """A difference of fractions in percentage points: 0.12 -> '12.0 points'."""
    return f"{round(100 * x, digits) + 0.0:.{digits}f} points"  # + 0.0: no "-0.0"


def interval(low: float, high: float, digits: int = 1) -> str:
    """An interval of fractions in percent (or points): (0.081, 0.159) -> '[8.1, 15.9]'."""
    return f"[{round(100 * low, digits) + 0.0:.{digits}f}, {round(100 * high, digits) + 0.0:.{digits}f}]"


def usd(x: float | None) -> str:
    """Dollars with as many digits as the size needs: $1,234 · $12.35 · $0.0123 · $0.000041."""
    if x is None:
        return "—"
    if x == 0:
        return "$0"
    a = abs(x)
    if a >= 100:
        return f"${x:,.0f}"
    if a >= 1:
        return f"${x:,.2f}"
    digits = max(2, 2 - int(math.floor(math.log10(a))))
    text = f"{x:.{digits}f}".rstrip("0")
    return "$" + (text + "0" if len(text.split(".")[1]) < 2 else text)


def p_value(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def volume(q: float | None) -> str:
    """Queries per month, rounded to what the inputs support: 12,345 -> '12,300'."""
    if q is None:
        return "—"
    if math.isinf(q):
        return "∞"
    if q >= 1000:
        mag = 10 ** (int(math.floor(math.log10(q))) - 2)
        q = round(q / mag) * mag
    return f"{q:,.0f}"


def ms(x: float | None) -> str:
    return "—" if x is None else (f"{x:,.0f} ms" if x >= 10 else f"{x:.1f} ms")
