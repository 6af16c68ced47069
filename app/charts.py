"""Figures for every page: pure functions from engine event dicts / results to plotly figures.

No Streamlit here, so tests call them directly. Colours are fixed per method and line styles per
modality (or gradient source) across every page, defined once below.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# ----- one look for every page ---------------------------------------------------------------
# Okabe-Ito colours (readable by colour-blind viewers); the naive joint model is the grey baseline.
METHOD_COLOURS = {
    "audio-only": "#E69F00",  # orange
    "visual-only": "#56B4E9",  # sky blue
    "joint": "#4D4D4D",  # dark grey
    "dgl": "#009E73",  # bluish green
    "ogm-ge": "#CC79A7",  # reddish purple
}
_EXTRA_COLOURS = ("#0072B2", "#D55E00", "#8C564B", "#17BECF", "#BCBD22", "#9467BD", "#F0E442")
MODALITY_DASH = {"fused": "solid", "audio": "dash", "visual": "dot"}
MODALITY_SYMBOL = {"fused": "circle", "audio": "triangle-up", "visual": "square"}
SOURCE_DASH = {"fused": "solid", "unimodal": "dash", "applied": "dot"}  # gradient charts
LOSS_DASH = {"total": "dashdot", "fused": "solid", "audio": "dash", "visual": "dot"}
RUN_DASH = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
MODE_NOTE = "zero mode: the fused head with the other modality's features set to 0"
HEAD_MODE_NOTE = "head mode: the method's own classifier on that encoder (G-Blend, MLB, DI-MML)"


def method_colour(method: str) -> str:
    """The method's fixed colour; methods added later get a stable colour from their name."""
    if method in METHOD_COLOURS:
        return METHOD_COLOURS[method]
    return _EXTRA_COLOURS[zlib.crc32(method.encode()) % len(_EXTRA_COLOURS)]


# A chart's title must fit a phone's width (a 390 px screen leaves a chart about 350 px, which
# holds about 40 characters at the title's size): plotly never wraps a title, it cuts it. What
# a chart needs said beyond that is its *note*, a caption the page writes under it (wrapped).
TITLE_MAX = 40


def layout(fig: go.Figure, title: str, height: int = 420, note: str | None = None) -> go.Figure:
    """The look every chart shares. ``note`` travels in ``fig.layout.meta["note"]``; pages show it
    as the chart's caption (``app.show.chart``)."""
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=15)),
        height=height,
        margin=dict(l=60, r=20, t=70, b=60),
        # Below the plot, a fixed distance under the x axis title whatever the plot's height
        # (a legend placed at a fraction of the plot height ran into the axis title once the
        # legend wrapped into many rows on a phone).
        legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0, font=dict(size=12)),
        hovermode="x unified",
        meta={"note": note} if note else None,
    )
    fig.update_annotations(font_size=13)  # subplot titles: one size, a little under the title's
    return fig


def note(fig: go.Figure) -> str | None:
    """The chart's caption (see ``layout``)."""
    meta = fig.layout.meta
    return meta.get("note") if isinstance(meta, dict) else None


def style_legend(fig: go.Figure, entries: Sequence[tuple[str, dict]]) -> None:
    """Legend-only entries that explain line styles once (e.g. "audio (zero mode)", dashed) instead
    of one entry per method x style: with a panel per method, colour names the method already."""
    for name, line in entries:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=name, line=dict(color="#555555", width=2, **line),
                                 legendgroup=f"style:{name}", hoverinfo="skip"))


def method_legend(fig: go.Figure, methods: Sequence[str]) -> None:
    """One legend entry per method (its colour); clicking it shows or hides all its lines."""
    for method in methods:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=method, legendgroup=method,
                                 line=dict(color=method_colour(method), width=3), hoverinfo="skip"))


def empty(title: str, message: str, height: int = 320, note: str | None = None) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font=dict(size=14))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    layout(fig, title, height, note)
    fig.update_annotations(font_size=14)
    return fig


def methods_in(events: Iterable[dict], methods: Sequence[str] | None, types: tuple[str, ...]) -> list[str]:
    seen = list(methods or ())
    for e in events:
        m = e.get("method")
        if e.get("type") in types and m and m not in seen and not methods:
            seen.append(m)
    return seen


def log_ticks(values: Iterable[float]) -> dict:
    """Readable ticks for a log axis over ``values``: 1-2-5 steps over a wide range, evenly spaced
    round numbers over a narrow one (plotly's defaults label a narrow log range once at most)."""
    v = [x for x in values if x is not None and x > 0]
    if not v:
        return {}
    lo, hi = min(v), max(v)
    exps = range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1)
    ticks = [m * 10.0**e for e in exps for m in (1, 2, 5) if lo / 1.1 <= m * 10.0**e <= hi * 1.1]
    if len(ticks) < 3:
        raw = max(hi - lo, 1e-3 * hi) / 5
        base = 10.0 ** np.floor(np.log10(raw))
        step = next(base * m for m in (1, 2, 2.5, 5, 10) if base * m >= raw)
        ticks = [float(t) for t in np.arange(np.floor(lo / step) * step, hi + step, step) if t > 0]
    return {"tickvals": ticks, "ticktext": [f"{t:.4g}" for t in ticks]}


def _grid(n: int) -> tuple[int, int]:
    """Two panels a row at most: on a phone three or four side by side leave their titles
    (method names) on top of each other."""
    cols = min(n, 2)
    return -(-n // cols), cols


def _method_panels(methods: Sequence[str]) -> tuple[go.Figure, int, int]:
    """One panel per method on shared axes, so methods of one experiment sit side by side.
    Returns (figure, rows, cols); method i goes to row i // cols + 1, col i % cols + 1."""
    rows, cols = _grid(len(methods))
    # About 100 px between rows (the x axis' ticks and title, then the next panel's title),
    # whatever the number of rows: panels are PANEL_HEIGHT px tall.
    spacing = 100 / (rows * PANEL_HEIGHT) if rows > 1 else 0.0
    fig = make_subplots(rows=rows, cols=cols, shared_yaxes=True, subplot_titles=list(methods),
                        horizontal_spacing=0.05, vertical_spacing=spacing)
    return fig, rows, cols


PANEL_HEIGHT = 300


def _panels_height(rows: int) -> int:
    return PANEL_HEIGHT * rows + 170  # + title and legend


def _modality_keys(metric_names: set[str]) -> list[tuple[str, str]]:
    """(metric key, modality) pairs a method reports: fused plus each modality (zero mode, then
    head mode for methods with heads of their own), or its one modality."""
    per_modality = [(f"acc_{m}", m) for m in ("audio", "visual") if f"acc_{m}" in metric_names]
    if len(per_modality) == 1:  # a unimodal model: its accuracy *is* that modality's
        return per_modality
    heads = [(f"acc_{m}_head", m) for m in ("audio", "visual") if f"acc_{m}_head" in metric_names]
    return [("acc", "fused"), *per_modality, *heads]


def mode_style(key: str, modality: str) -> str:
    """What a per-modality curve is called: 'fused', 'audio (zero mode)', 'audio (head mode)'."""
    if modality == "fused":
        return modality
    return f"{modality} ({'head' if key.endswith('_head') else 'zero'} mode)"


# ----- Live: accuracy, gradients, losses, imbalance -------------------------------------------
def accuracy_figure(events: Sequence[dict], methods: Sequence[str] | None = None, epochs: float | None = None) -> go.Figure:
    """Validation accuracy over epochs: one panel per method (shared axes), fused and per modality.
    With ``epochs`` the x axis spans the whole run, so the curves grow from left to right."""
    title = "Validation accuracy"
    note = (f"One panel per method: fused accuracy (solid) and each modality's (per-modality {MODE_NOTE}; "
            f"thin lines, open markers: {HEAD_MODE_NOTE}).")
    evals = [e for e in events if e.get("type") == "eval" and e.get("split", "val") == "val"]
    methods = [m for m in methods_in(evals, methods, ("eval",)) if any(e["method"] == m for e in evals)]
    if not methods:
        return empty(title, "Waiting for the first validation point ...", note=note)
    styles: dict[str, None] = {}
    fig, rows, cols = _method_panels(methods)
    for i, method in enumerate(methods):
        mine = [e for e in evals if e["method"] == method]
        names = set().union(*(e["metrics"] for e in mine))
        for key, modality in _modality_keys(names):
            pts = [(e["epoch"], 100 * e["metrics"][key]) for e in mine if key in e["metrics"]]
            style = mode_style(key, modality)
            head = key.endswith("_head")  # head mode: thinner line, open markers
            styles[style] = None
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p in pts], y=[p[1] for p in pts], name=f"{method} · {style}", legendgroup=method, showlegend=False,
                    mode="lines+markers", line=dict(color=method_colour(method), dash=MODALITY_DASH[modality], width=1 if head else 2),
                    marker=dict(symbol=MODALITY_SYMBOL[modality] + ("-open" if head else ""), size=6),
                    hovertemplate="%{y:.1f}%",
                ),
                row=i // cols + 1, col=i % cols + 1,
            )
    fig.update_xaxes(title_text="epoch", matches="x", range=[-0.05 * epochs, 1.05 * epochs] if epochs else None)
    fig.update_yaxes(range=[0, 100], matches="y")
    for r in range(1, rows + 1):
        fig.update_yaxes(title_text="accuracy (%)", row=r, col=1)
    style_legend(fig, [(s, {"dash": MODALITY_DASH[s.split(" ")[0]]}) for s in styles])
    return layout(fig, title, _panels_height(rows), note)


def gradient_figure(events: Sequence[dict], modality: str, methods: Sequence[str] | None = None,
                    total_steps: int | None = None) -> go.Figure:
    """The paper's central picture for one encoder: gradient norm from the fused loss vs from its
    own unimodal loss (log scale), the norm actually applied, and their cosine."""
    title = f"Gradient reaching the {modality} encoder"
    note = ("Solid: the norm the encoder gets from the fused loss; dashed: from its own unimodal loss through the same "
            "head (before clipping, log scale); dotted (click *applied by the method* in the legend): what the method "
            "applied. Lower panel: their cosine.")
    diags = [e for e in events if e.get("type") == "diagnostics" and modality in e.get("encoders", {})]
    methods = [m for m in methods_in(diags, methods, ("diagnostics",)) if any(e["method"] == m for e in diags)]
    if not methods:
        return empty(title, "Waiting for the first gradient diagnostics ...", note=note)
    sources = {"fused": "from the fused loss", "unimodal": "from its unimodal loss", "applied": "applied by the method"}
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.07)
    for method in methods:
        mine = [e for e in diags if e["method"] == method]
        colour = method_colour(method)
        for source, label in sources.items():
            pts = [(e["step"], e["encoders"][modality][source]) for e in mine if source in e["encoders"][modality]]
            if not pts:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p in pts], y=[p[1] for p in pts], name=f"{method} · {label}", showlegend=False,
                    legendgroup="applied" if source == "applied" else method,
                    mode="lines+markers", line=dict(color=colour, dash=SOURCE_DASH[source], width=2), marker=dict(size=4),
                    visible=True if source != "applied" else "legendonly", hovertemplate="%{y:.3g}",
                ),
                row=1, col=1,
            )
        cos = [(e["step"], e["encoders"][modality]["cosine"]) for e in mine if "cosine" in e["encoders"][modality]]
        if cos:
            fig.add_trace(
                go.Scatter(x=[p[0] for p in cos], y=[p[1] for p in cos], name=f"{method} · cosine(fused, unimodal)",
                           legendgroup=method, mode="lines+markers", line=dict(color=colour, width=1.5), marker=dict(size=3),
                           showlegend=False,
                           hovertemplate="cos %{y:.2f}"),
                row=2, col=1,
            )
    norms = [y for t in fig.data if t.yaxis in (None, "y") and t.visible != "legendonly" for y in t.y]
    method_legend(fig, methods)
    style_legend(fig, [(sources["fused"], {"dash": SOURCE_DASH["fused"]}), (sources["unimodal"], {"dash": SOURCE_DASH["unimodal"]})])
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=sources["applied"], legendgroup="applied", visible="legendonly",
                             line=dict(color="#555555", width=2, dash=SOURCE_DASH["applied"]), hoverinfo="skip"))
    fig.update_yaxes(type="log", title_text="gradient norm (L2, log scale)", row=1, col=1, **log_ticks(norms))
    fig.update_yaxes(range=[-1.05, 1.05], title_text="cosine", row=2, col=1)
    fig.update_xaxes(title_text="step", row=2, col=1)
    if total_steps:
        fig.update_xaxes(range=[0, total_steps])
    return layout(fig, title, 600, note)


def loss_figure(events: Sequence[dict], methods: Sequence[str] | None = None, total_steps: int | None = None) -> go.Figure:
    """Training losses per step: one panel per method (shared axes), one line per loss term."""
    title = "Training loss per step"
    note = "Cross-entropy terms per method; a total that weights the unimodal terms (DGL's alpha) is drawn too."
    steps = [e for e in events if e.get("type") == "step"]
    methods = [m for m in methods_in(steps, methods, ("step",)) if any(e["method"] == m for e in steps)]
    if not methods:
        return empty(title, "Waiting for the first training step ...", note=note)
    fig, rows, cols = _method_panels(methods)
    shown: dict[str, None] = {}
    for i, method in enumerate(methods):
        mine = [e for e in steps if e["method"] == method]
        terms = [t for t in ("fused", "audio", "visual") if t in mine[0]["losses"]]
        if len(terms) != 1:
            terms = ["total", *terms]  # a total that is not just its one term
        for term in terms:
            shown[term] = None
            fig.add_trace(
                go.Scatter(
                    x=[e["step"] for e in mine], y=[e["losses"].get(term) for e in mine],
                    name=f"{method} · {term} loss", legendgroup=method, showlegend=False, mode="lines",
                    line=dict(color=method_colour(method), dash=LOSS_DASH[term], width=1.5), hovertemplate="%{y:.3f}",
                ),
                row=i // cols + 1, col=i % cols + 1,
            )
    fig.update_xaxes(title_text="step", matches="x", range=[0, total_steps] if total_steps else None)
    fig.update_yaxes(matches="y", rangemode="tozero")
    for r in range(1, rows + 1):
        fig.update_yaxes(title_text="loss (nats)", row=r, col=1)
    style_legend(fig, [(f"{t} loss", {"dash": LOSS_DASH[t]}) for t in LOSS_DASH if t in shown])
    return layout(fig, title, _panels_height(rows), note)


def imbalance_figure(events: Sequence[dict], methods: Sequence[str] | None = None, epochs: float | None = None) -> go.Figure:
    """OGM-GE's imbalance ratio on the validation split: audio's over visual's summed true-class
    softmax score (slice mode); 1 means balanced."""
    title = "Imbalance ratio (validation)"
    note = ("OGM-GE's ratio of audio's to visual's summed true-class softmax score (slice mode) on the validation split: "
            "above 1 audio dominates, 1 is balanced.")
    evals = [e for e in events if e.get("type") == "eval" and "imbalance_ratio" in e.get("metrics", {})]
    methods = [m for m in methods_in(evals, methods, ("eval",)) if any(e["method"] == m for e in evals)]
    if not methods:
        return empty(title, "No imbalance ratio yet (multimodal methods report it at each evaluation).", note=note)
    fig = go.Figure()
    for method in methods:
        mine = [e for e in evals if e["method"] == method]
        fig.add_trace(go.Scatter(
            x=[e["epoch"] for e in mine], y=[e["metrics"]["imbalance_ratio"] for e in mine], name=method,
            mode="lines+markers", line=dict(color=method_colour(method), width=2), hovertemplate="%{y:.2f}",
        ))
    fig.add_hline(y=1.0, line=dict(color="#999999", dash="dot", width=1))
    fig.update_xaxes(title_text="epoch", range=[-0.05 * epochs, 1.05 * epochs] if epochs else None)
    fig.update_yaxes(type="log", title_text="audio / visual score (log scale)",
                     **log_ticks([1.0, *(y for t in fig.data for y in t.y)]))
    return layout(fig, title, 380, note)


# ----- Results: the paper's bar chart, probes, confusion matrices, overlays ---------------------
def _bars(results: dict, methods: Sequence[str] | None, groups: list[tuple[str, str]], title: str, y_title: str,
          note: str | None = None) -> go.Figure:
    methods = [m for m in (methods or results) if m in results]
    if not methods:
        return empty(title, "No test results yet.", note=note)
    fig = go.Figure()
    labels = [g[1] for g in groups]
    for method in methods:
        ys = [100 * results[method][k] if results[method].get(k) is not None else None for k, _ in groups]
        if all(y is None for y in ys):
            continue
        fig.add_trace(go.Bar(
            x=labels, y=ys, name=method, marker_color=method_colour(method),
            text=[f"{y:.1f}" if y is not None else "" for y in ys], textposition="outside",
            hovertemplate=method + ": %{y:.1f}%<extra></extra>",
        ))
    fig.update_layout(barmode="group", bargap=0.25, hovermode="closest")
    fig.update_yaxes(range=[0, 105], title_text=y_title)
    fig.update_xaxes(title_text="")
    return layout(fig, title, 440, note)


def modality_bar_figure(results: dict, methods: Sequence[str] | None = None) -> go.Figure:
    """The bar chart the paper opens with: each modality's test accuracy inside each multimodal
    model (zero mode) next to its unimodal model, and the fused accuracy."""
    # Two-line labels: on a phone one-line ones are tilted and run into the legend.
    groups = [("acc_audio", "audio<br>(zero mode)"), ("acc_visual", "visual<br>(zero mode)"), ("_fused", "fused")]
    note = "Each modality inside the multimodal models (zero mode) next to its unimodal model, and the fused accuracy."
    shown = [r for m, r in results.items() if not methods or m in methods]
    if any(r.get(f"acc_{m}_head") is not None for r in shown for m in ("audio", "visual")):
        groups[2:2] = [("acc_audio_head", "audio<br>(head mode)"), ("acc_visual_head", "visual<br>(head mode)")]
        note += f" Head mode: {HEAD_MODE_NOTE.removeprefix('head mode: ')}."
    fused_only = {m: {**r, "_fused": r.get("acc") if ("acc_audio" in r and "acc_visual" in r) else None} for m, r in results.items()}
    return _bars(fused_only, methods, groups, "Test accuracy per modality", "test accuracy (%)", note)


def probe_bar_figure(results: dict, methods: Sequence[str] | None = None) -> go.Figure:
    """Linear-probe accuracy of each frozen encoder: the fair measure of encoder quality."""
    groups = [("probe_audio", "audio<br>encoder"), ("probe_visual", "visual<br>encoder")]
    return _bars(results, methods, groups, "Linear-probe test accuracy", "probe accuracy (%)",
                 "A linear classifier on each frozen encoder's features (probe mode): the fair measure of encoder quality.")


def confusion_figure(matrix: Sequence[Sequence[int]], classes: Sequence[str] | None = None, title: str = "Confusion matrix",
                     note: str | None = None) -> go.Figure:
    """Counts of true (rows) vs predicted (columns) classes on the test split."""
    z = np.asarray(matrix, dtype=float)
    n = z.shape[0]
    names = list(classes) if classes and len(classes) == n else [f"class {i}" for i in range(n)]
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=names, colorscale="Blues", text=z.astype(int), texttemplate="%{text}",
        hovertemplate="true %{y}<br>predicted %{x}<br>%{z:.0f} clips<extra></extra>", colorbar=dict(title="clips"),
    ))
    # Category axes with every tick: class names like "0".."9" would otherwise become a numeric
    # axis labelled every other class.
    every = dict(type="category", tickmode="array", tickvals=names, ticktext=names)
    fig.update_xaxes(title_text="predicted class", tickangle=-30, **every)
    fig.update_yaxes(title_text="true class", autorange="reversed", **every)
    fig.update_layout(hovermode="closest")
    return layout(fig, title, 440, note)


def overlay_figure(runs: Sequence[tuple[str, Sequence[dict]]], methods: Sequence[str] | None = None) -> go.Figure:
    """Validation accuracy (fused, or the one modality of a unimodal method) of several runs:
    colour per method, line style per run."""
    title = "Validation accuracy across runs"
    note = "Fused accuracy (a unimodal method: its modality's); colour per method, line style per run."
    fig = go.Figure()
    for i, (label, events) in enumerate(runs):
        evals = [e for e in events if e.get("type") == "eval" and e.get("split", "val") == "val"]
        for method in methods_in(evals, methods, ("eval",)):
            mine = [e for e in evals if e["method"] == method and "acc" in e["metrics"]]
            if not mine:
                continue
            fig.add_trace(go.Scatter(
                x=[e["epoch"] for e in mine], y=[100 * e["metrics"]["acc"] for e in mine], name=f"{method} · {label}",
                legendgroup=label, mode="lines+markers",
                line=dict(color=method_colour(method), dash=RUN_DASH[i % len(RUN_DASH)], width=2), hovertemplate="%{y:.1f}%",
            ))
    if not fig.data:
        return empty(title, "Choose runs that have validation curves.", note=note)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(range=[0, 100], title_text="validation accuracy (%)")
    return layout(fig, title, 480, note)
