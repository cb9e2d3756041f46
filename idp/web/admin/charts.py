"""Bar charts as plain SVG geometry, drawn by ``templates/admin/_chart.html``.

Server-side SVG needs no script and no chart library at run time: the page is
readable without JavaScript, passes the CSP (no inline style: SVG presentation
attributes only) and each chart carries its numbers as a table for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 720, 200
LEFT, BOTTOM, TOP = 44, 28, 8
MAX_X_LABELS = 12


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True, slots=True)
class XLabel:
    x: float
    text: str


@dataclass(frozen=True, slots=True)
class BarChart:
    title: str
    bars: list[Bar]
    ticks: list[Tick]
    x_labels: list[XLabel]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    baseline: int = HEIGHT - BOTTOM

    @property
    def total(self) -> int:
        return sum(b.value for b in self.bars)


def nice_ceiling(value: int) -> int:
    """The axis top: 1, 2 or 5 times a power of ten, at least ``value`` (and at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)


def bar_chart(title: str, labels: Sequence[str], values: Sequence[int]) -> BarChart:
    """One bar per value, scaled to the largest; a few evenly spaced x labels."""
    top = nice_ceiling(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(values), 1)
    bars = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top
        bars.append(
            Bar(
                x=round(LEFT + i * slot + slot * 0.1, 2),
                y=round(HEIGHT - BOTTOM - h, 2),
                width=round(max(slot * 0.8, 0.5), 2),
                height=round(h, 2),
                label=label,
                value=value,
            )
        )
    marks = (0, top // 2, top) if top >= 2 else (0, top)
    ticks = [Tick(y=round(HEIGHT - BOTTOM - plot_h * v / top, 2), value=v) for v in marks]
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    x_labels = [
        XLabel(x=round(LEFT + i * slot + slot / 2, 2), text=label)
        for i, label in enumerate(labels)
        if i % every == 0
    ]
    return BarChart(title=title, bars=bars, ticks=ticks, x_labels=x_labels)
