"""Charts as geometry for an inline SVG template (`_chart.html`): drawn by the server, so a
page needs no script and nothing is fetched from elsewhere."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from .data import RunGrowth

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 40, 48  # margins around the plot area (the legend is in the top one)


class Tick(BaseModel):
    at: float  # pixels along the axis
    label: str


class Bar(BaseModel):
    x: float
    y: float
    width: float
    height: float
    title: str  # shown on hover


class Series(BaseModel):
    name: str
    points: str  # "x,y x,y ..." in pixels
    colour: str


class Chart(BaseModel):
    title: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    right: int = WIDTH - RIGHT
    bottom: int = HEIGHT - BOTTOM
    x_label: str = ""
    y_label: str = ""
    x_ticks: list[Tick] = Field(default_factory=list)
    y_ticks: list[Tick] = Field(default_factory=list)
    bars: list[Bar] = Field(default_factory=list)
    series: list[Series] = Field(default_factory=list)


def _y(value: float, top: float) -> float:
    """Pixel height of `value` on a 0..top scale."""
    plot = HEIGHT - BOTTOM - TOP
    return HEIGHT - BOTTOM - (value / top * plot if top else 0)


def growth(runs: Sequence[RunGrowth]) -> Chart:
    """Facts added by each run (bars) and the graph's size after it (line), oldest run first."""
    chart = Chart(title="Facts per build run", x_label="run (oldest first)", y_label="facts")
    if not runs:
        return chart
    top = max(max(r.total for r in runs), 1)
    step = (WIDTH - LEFT - RIGHT) / len(runs)
    points = []
    for i, item in enumerate(runs):
        x = LEFT + i * step
        y = _y(item.added, top)
        chart.bars.append(Bar(x=round(x + step * 0.15, 1), y=round(y, 1), width=round(step * 0.7, 1),
                              height=round(HEIGHT - BOTTOM - y, 1),
                              title=f"{item.run.id} ({item.run.command}): +{item.added:,} facts, "
                                    f"{item.total:,} in all"))
        points.append(f"{x + step / 2:.1f},{_y(item.total, top):.1f}")
    chart.series.append(Series(name="facts in the graph", points=" ".join(points), colour=COLOURS[1]))
    chart.y_ticks = [Tick(at=round(_y(v, top), 1), label=f"{v:,.0f}") for v in (0, top / 2, top)]
    every = max(1, len(runs) // 8)
    chart.x_ticks = [Tick(at=round(LEFT + (i + 0.5) * step, 1), label=str(i + 1)) for i in range(0, len(runs), every)]
    return chart


def pr_curves(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Chart:
    """Precision against recall, a step line per named (precision, recall) list, both 0..1."""
    chart = Chart(title="Precision-recall", x_label="recall", y_label="precision")
    plot_width = WIDTH - LEFT - RIGHT
    for i, (name, (precision, recall)) in enumerate(curves.items()):
        points, last_y = [], _y(precision[0] if precision else 1.0, 1.0)
        points.append(f"{LEFT:.1f},{last_y:.1f}")
        for p, r in zip(precision, recall):
            x = LEFT + r * plot_width
            points.append(f"{x:.1f},{last_y:.1f}")
            last_y = _y(p, 1.0)
            points.append(f"{x:.1f},{last_y:.1f}")
        chart.series.append(Series(name=name, points=" ".join(points), colour=COLOURS[i % len(COLOURS)]))
    ticks = (0.0, 0.25, 0.5, 0.75, 1.0)
    chart.x_ticks = [Tick(at=round(LEFT + t * plot_width, 1), label=f"{t:g}") for t in ticks]
    chart.y_ticks = [Tick(at=round(_y(t, 1.0), 1), label=f"{t:g}") for t in ticks]
    return chart
