"""A bar chart as inline SVG, laid out here and drawn by ``_chart.html``: no JavaScript, no
chart library, readable with styles off (each bar has a text title)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

WIDTH = 720
HEIGHT = 240
TOP = 20                       # room for the largest value's label
BOTTOM = 40                    # room for the labels under the bars
LEFT = 10
MAX_LABELS = 16                # more bars than this: only every n-th is labelled


@dataclass(frozen=True)
class Bar:
    label: str
    value: str                 # the amount as text (the geometry is float; money is not)
    x: float
    y: float
    width: float
    height: float
    labelled: bool


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    baseline: float
    bars: list[Bar]


def bar_chart(title: str, points: list[tuple[str, Decimal, str]]) -> Chart:
    """``points``: (label, amount, amount as text), left to right."""
    plot_height = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - 2 * LEFT) / max(len(points), 1)
    top = max((amount for _, amount, _ in points), default=Decimal(0))
    every = max(1, -(-len(points) // MAX_LABELS))
    bars = []
    for index, (label, amount, shown) in enumerate(points):
        height = float(amount / top) * plot_height if top > 0 else 0.0
        bars.append(Bar(label=label, value=shown, x=LEFT + index * slot + slot * 0.1,
                        y=TOP + plot_height - height, width=slot * 0.8, height=height,
                        labelled=index % every == 0))
    return Chart(title, WIDTH, HEIGHT, TOP + plot_height, bars)
