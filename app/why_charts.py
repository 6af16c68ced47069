"""Figures for the Why page: the toy computation of how fusion shrinks an encoder's error signal,
and the same ratio measured in the user's run (pure functions -> plotly figures, no Streamlit)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.charts import (METHOD_COLOURS, MODALITY_DASH, MODALITY_SYMBOL, empty, log_ticks, method_legend, methods_in,
                        style_legend, layout, method_colour)


# ----- Why it happens: the toy computation and the measured ratio -----------------------------
def error_signals(own_margin: np.ndarray, other_margin: float, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Error 1 - p_y reaching an encoder whose logits give the true class ``own_margin`` over every
    other class (all others equal), under fusion p = softmax(z_a + z_v) vs alone p_a = softmax(z_a).
    With margin m, 1 - p_y = 1 / (1 + exp(m) / (C - 1))."""
    own = np.asarray(own_margin, dtype=float)
    log_rest = np.log(num_classes - 1)

    def err(m):
        return 1.0 / (1.0 + np.exp(np.clip(m - log_rest, -50, 50)))

    return err(own + other_margin), err(own)


def why_figure(other_margin: float, num_classes: int = 6, own_range: tuple[float, float] = (-2.0, 6.0)) -> go.Figure:
    """Error signal reaching one encoder alone vs under fusion, and their ratio."""
    own = np.linspace(*own_range, 161)
    fused, alone = error_signals(own, other_margin, num_classes)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("Error signal 1 − p_y", "Fused ÷ alone"))
    fig.add_trace(go.Scatter(x=own, y=alone, name="alone: 1 − softmax(z_a)_y", line=dict(color=METHOD_COLOURS["visual-only"], width=3, dash="dash")), 1, 1)
    fig.add_trace(go.Scatter(x=own, y=fused, name="under fusion: 1 − softmax(z_a + z_v)_y", line=dict(color=METHOD_COLOURS["joint"], width=3)), 1, 1)
    fig.add_trace(go.Scatter(x=own, y=fused / alone, name="ratio fused / alone", line=dict(color="#0072B2", width=3)), 1, 2)
    fig.update_xaxes(title_text="own margin (logits)")
    fig.update_yaxes(range=[0, 1.02], title_text="error signal 1 − p_y", row=1, col=1)
    fig.update_yaxes(range=[0, max(1.02, 1.05 * float(np.max(fused / alone)))], title_text="ratio (1 = no shrink)", row=1, col=2)
    note = (f"Left: the error signal 1 − p_y reaching one encoder against its own margin for the true class, alone and "
            f"fused with another modality whose margin is {other_margin:.1f} ({num_classes} classes). Right: how much fusion "
            "shrinks it (fused ÷ alone).")
    return layout(fig, f"Other modality's margin {other_margin:.1f}", 460, note)


def gradient_ratio_figure(events: Sequence[dict], methods: Sequence[str] | None = None) -> go.Figure:
    """Measured: fused / unimodal gradient norm at each encoder over training, per method."""
    title = "Fused ÷ unimodal gradient norm"
    note = ("Measured in your run at each encoder (audio dashed, visual dotted), before clipping; "
            "1 means fusion does not shrink the gradient.")
    diags = [e for e in events if e.get("type") == "diagnostics"]
    fig = go.Figure()
    for method in methods_in(diags, methods, ("diagnostics",)):
        mine = [e for e in diags if e["method"] == method]
        for modality in ("audio", "visual"):
            pts = [(e["step"], e["encoders"][modality]["fused"] / e["encoders"][modality]["unimodal"])
                   for e in mine if modality in e["encoders"] and "fused" in e["encoders"][modality]
                   and e["encoders"][modality].get("unimodal")]
            if pts:
                fig.add_trace(go.Scatter(
                    x=[p[0] for p in pts], y=[p[1] for p in pts], name=f"{method} · {modality} encoder", legendgroup=method, showlegend=False,
                    mode="lines+markers", line=dict(color=method_colour(method), dash=MODALITY_DASH[modality], width=2),
                    marker=dict(symbol=MODALITY_SYMBOL[modality], size=5), hovertemplate="%{y:.2f}",
                ))
    if not fig.data:
        return empty(title, "No multimodal gradient diagnostics in this run yet.", note=note)
    method_legend(fig, list(dict.fromkeys(t.legendgroup for t in fig.data)))
    style_legend(fig, [("audio encoder", {"dash": MODALITY_DASH["audio"]}), ("visual encoder", {"dash": MODALITY_DASH["visual"]})])
    fig.add_hline(y=1.0, line=dict(color="#999999", dash="dot", width=1))
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(type="log", title_text="fused / unimodal norm (log scale)",
                     **log_ticks([1.0, *(y for t in fig.data if t.y[0] is not None for y in t.y)]))
    return layout(fig, title, 440, note)
