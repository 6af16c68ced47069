"""Figures of a method's own live signals (pure functions -> plotly figures, no Streamlit).

Methods return their named terms with every step (``StepEvent.losses``): besides the losses
("total", "fused", "audio", "visual") some report what drives their update, e.g. OGM-GE's
imbalance ratio and coefficients, MMPareto's gradient cosines and weights, PMR's prototype
terms. Each method with such signals gets its own figure, one line per signal.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from app.charts import layout

LOSS_TERMS = {"total", "fused", "audio", "visual"}


def signal_names(events: Sequence[dict], method: str) -> list[str]:
    """The non-loss terms ``method`` reports, in the order it first reports them."""
    names: dict[str, None] = {}
    for e in events:
        if e.get("type") == "step" and e.get("method") == method:
            names.update((k, None) for k in e.get("losses", {}) if k not in LOSS_TERMS)
    return list(names)


def methods_with_signals(events: Sequence[dict], methods: Sequence[str] | None = None) -> list[str]:
    chosen = methods or sorted({e["method"] for e in events if e.get("type") == "step"})
    return [m for m in chosen if signal_names(events, m)]


def signals_figure(events: Sequence[dict], method: str, total_steps: int | None = None) -> go.Figure:
    """One line per signal of ``method`` against the step."""
    steps = [e for e in events if e.get("type") == "step" and e.get("method") == method]
    fig = go.Figure()
    for name in signal_names(events, method):
        mine = [e for e in steps if name in e["losses"]]
        fig.add_trace(go.Scatter(x=[e["step"] for e in mine], y=[e["losses"][name] for e in mine], name=name,
                                 mode="lines", line=dict(width=1.5), hovertemplate="%{y:.3f}"))
    fig.update_xaxes(title_text="step", range=[0, total_steps] if total_steps else None)
    fig.update_yaxes(title_text="value")
    return layout(fig, f"{method}: its own signals", 380, f"What drives {method}'s update, as it reports it at every step.")
