"""The Compare view's overlay: one curve metric of several runs on one chart, coloured by method,
by run, or by a config key (runs with the same value share a colour; numbers run along a scale).

A pure function of the runs' curves (``curve_metrics.series``), so tests call it without Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from app.charts import RUN_DASH, _EXTRA_COLOURS, empty, log_ticks, layout, method_colour
from app.compare import BY_METHOD, BY_RUN, as_number, group_order
from app.curve_metrics import CurveMetric, Points

# Categories (runs, text values) get the Okabe-Ito colours in turn; numeric values get a
# colour-blind-safe sequential scale, stopped short of viridis's pale yellow end on white.
CATEGORY_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#4D4D4D", *_EXTRA_COLOURS[2:])
SCALE, SCALE_END = "Viridis", 0.8


@dataclass(frozen=True)
class RunCurves:
    """One run's points of the chosen metric, per method, and its value of the colour-by key."""

    run_id: str
    label: str  # state.run_label, made unique
    series: Mapping[str, Points] = field(default_factory=dict)  # {method: [(epoch, value)]}
    group: str = ""  # its value of the colour-by key as text (compare.groups); "" for method / run


def group_colours(values: Sequence[str]) -> dict[str, str]:
    """A colour per distinct value: along a sequential scale when all are numbers, else categorical."""
    order = group_order(values)
    if len(order) > 1 and all(as_number(v) is not None for v in order):
        return dict(zip(order, sample_colorscale(SCALE, [SCALE_END * i / (len(order) - 1) for i in range(len(order))])))
    return {v: CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)] for i, v in enumerate(order)}


def compare_figure(runs: Sequence[RunCurves], metric: CurveMetric, colour_by: str = BY_METHOD) -> go.Figure:
    """The metric over epochs for every (run, method). Colour by method: method colours, a line
    style per run. By run: a colour per run, a line style per method. By a config key: a colour
    per value, a line style per method, the legend saying 'key = value · method' (once per value
    and method; hovering a line names its run)."""
    title = "Runs compared"
    note = f"{metric.label} of each chosen run and method" + (f", coloured by {colour_by}." if colour_by != BY_METHOD else
                                                               ": colour per method, line style per run.")
    methods = list(dict.fromkeys(m for r in runs for m in r.series))
    dash = {m: RUN_DASH[i % len(RUN_DASH)] for i, m in enumerate(methods)}
    run_colour = {r.run_id: CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)] for i, r in enumerate(runs)}
    value_colour = group_colours([r.group for r in runs])
    fig = go.Figure()
    in_legend: set[tuple[str, str]] = set()
    for i, run in enumerate(runs):
        for method, pts in run.series.items():
            if not pts:
                continue
            if colour_by == BY_METHOD:
                colour, style, name, group = method_colour(method), RUN_DASH[i % len(RUN_DASH)], f"{method} · {run.label}", run.label
            elif colour_by == BY_RUN:
                colour, style, name, group = run_colour[run.run_id], dash[method], f"{run.label} · {method}", run.label
            else:
                colour, style, name, group = value_colour[run.group], dash[method], f"{colour_by} = {run.group} · {method}", run.group
            legend_key = (group, method) if colour_by not in (BY_METHOD, BY_RUN) else (run.run_id, method)
            fig.add_trace(go.Scatter(
                x=[p[0] for p in pts], y=[p[1] for p in pts], name=name, legendgroup=group,
                showlegend=legend_key not in in_legend, mode="lines+markers" if metric.markers else "lines",
                line=dict(color=colour, dash=style, width=2), marker=dict(size=5),
                hovertemplate=f"{run.label} · {method}<br>%{{y:.3g}}<extra></extra>",
            ))
            in_legend.add(legend_key)
    if not fig.data:
        return empty(title, "None of the chosen runs has this curve yet.", note=note)
    fig.update_xaxes(title_text="epoch")
    if metric.log:
        fig.update_yaxes(type="log", title_text=metric.axis, **log_ticks(y for t in fig.data for y in t.y))
    else:
        fig.update_yaxes(title_text=metric.axis, range=[0, 100] if metric.bounded else None)
    fig = layout(fig, title, 480, note)
    fig.update_layout(hovermode="closest")  # one run's line at a time: the unified box would list dozens
    return fig
