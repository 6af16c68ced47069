"""The Studies view's tables and figures: pure functions from a study's record, its summary
(``Engine.study_results``) and its curve bands (``curve_bands``) to DataFrames and plotly figures.

Accuracies are fractions in the engine and percent (differences: points) here. Colours are the
methods' own (``charts.method_colour``).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from app.charts import empty, layout, method_colour
from app.tables import RESULT_COLUMNS, result_columns

BANDS = {"std": "mean ± sample std", "minmax": "min to max"}
CURVE_METRICS = {"acc": "fused", "acc_audio": "audio (zero mode)", "acc_visual": "visual (zero mode)",
                 "acc_audio_head": "audio (head mode)", "acc_visual_head": "visual (head mode)"}


def study_label(record: dict) -> str:
    """'study-20260101-120000-ab12cd · joint, dgl · 5 seeds x dgl.alpha = 0.5, 2, 8'."""
    methods = ", ".join((record.get("config") or {}).get("methods") or ())
    sweep = record.get("sweep")
    values = ", ".join(record.get("values") or ())
    shape = f"{len(record.get('seeds') or ())} seeds" + (f" x {sweep['key']} = {values}" if sweep else "")
    return f"{record['study_id']} · {methods} · {shape}"


def progress_words(record: dict) -> tuple[float, str]:
    """(fraction of runs ended, 'running: 3 of 10 runs finished, 1 running, 6 queued')."""
    statuses = list((record.get("run_status") or {}).values())
    planned = len(record.get("points") or ()) or 1
    counts = {s: statuses.count(s) for s in dict.fromkeys(statuses)}
    ended = sum(n for s, n in counts.items() if s not in ("queued", "running"))
    rest = ", ".join(f"{n} {s}" for s, n in counts.items() if s != "finished")
    text = f"{record.get('status', '?')}: {counts.get('finished', 0)} of {planned} runs finished" + (f", {rest}" if rest else "")
    return ended / planned, text


def runs_frame(record: dict) -> pd.DataFrame:
    """One row per run of the study: its seed, swept value, run id and status."""
    status = record.get("run_status") or {}
    key = (record.get("sweep") or {}).get("key")
    rows = [{"seed": p["seed"], **({key: p["value"]} if key else {}), "run": p.get("run_id") or "",
             "status": status.get(p.get("run_id"), "not started")} for p in record.get("points") or ()]
    return pd.DataFrame(rows)


def _mean_std(d: dict | None) -> str | None:
    if not d:
        return None
    return f"{100 * d['mean']:.1f} ± {100 * d['std']:.1f}" if d.get("std") is not None else f"{100 * d['mean']:.1f}"


def _diff_ci(d: dict | None) -> str | None:
    if not d:
        return None
    ci = d.get("ci95")
    return f"{100 * d['mean']:+.1f} [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci else f"{100 * d['mean']:+.1f}"


def summary_frame(result: dict, sweep_key: str | None = None) -> pd.DataFrame:
    """Test metrics as mean ± sample std over seeds (%), one row per (swept value, method)."""
    rows = []
    columns = result_columns(m for methods in result.get("summary", {}).values() for m in methods.values())  # + head mode
    for value, methods in result.get("summary", {}).items():
        for method, metrics in methods.items():
            n = max((s["n"] for s in metrics.values()), default=0)
            rows.append({**({sweep_key: value} if sweep_key else {}), "method": method, "seeds": n,
                         **{title: _mean_std(metrics.get(k)) for k, title in columns.items()}})
    return pd.DataFrame(rows)


def paired_frame(result: dict, sweep_key: str | None = None) -> pd.DataFrame:
    """Each method minus joint, seed by seed: mean [95% bootstrap CI] in points, per swept value."""
    rows = []
    for value, pairs in result.get("paired", {}).items():
        for pair, metrics in pairs.items():
            n = max((s["n"] for s in metrics.values()), default=0)
            rows.append({**({sweep_key: value} if sweep_key else {}), "difference": pair, "seeds": n,
                         **{title.replace(" (%)", " (points)"): _diff_ci(metrics.get(k)) for k, title in RESULT_COLUMNS.items()}})
    return pd.DataFrame(rows)


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    return f"rgba({int(h[0:2], 16)}, {int(h[2:4], 16)}, {int(h[4:6], 16)}, {alpha})"


def band_figure(bands: dict, metric: str = "acc", kind: str = "std", title_suffix: str = "") -> go.Figure:
    """Validation curves per method: the mean over seeds as a line, the band (std or min-max) shaded."""
    title = "Validation accuracy over seeds"
    note = f"Validation accuracy, {CURVE_METRICS.get(metric, metric)}{title_suffix}: the mean over seeds, the band {BANDS.get(kind, kind)}."
    if not bands:
        return empty(title, "No validation curves yet: they appear as the study's runs train.", note=note)
    fig = go.Figure()
    for method, b in bands.items():
        colour = method_colour(method)
        x = list(b["epoch"])
        fig.add_trace(go.Scatter(x=x + x[::-1], y=[100 * y for y in b["high"]] + [100 * y for y in b["low"]][::-1],
                                 mode="lines", fill="toself", fillcolor=_rgba(colour, 0.18), line=dict(width=0), hoverinfo="skip",
                                 name=f"{method} · band", legendgroup=method, showlegend=False))
        fig.add_trace(go.Scatter(x=x, y=[100 * y for y in b["mean"]], name=f"{method} (n={b['n']})", legendgroup=method,
                                 mode="lines+markers", line=dict(color=colour, width=2), marker=dict(size=5),
                                 hovertemplate="%{y:.1f}%"))
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(range=[0, 100], title_text="validation accuracy (%)")
    return layout(fig, title, 440, note)


def _number(label: str) -> float | None:
    try:
        return float(label)
    except ValueError:
        return None


def sweep_figure(summary: dict, sweep_key: str, metric: str = "acc", methods: Sequence[str] | None = None) -> go.Figure:
    """A test metric against the swept value, one line per method, error bars one sample std."""
    name = RESULT_COLUMNS.get(metric, metric).replace(" (%)", "")
    title = f"Test {name} across the sweep"
    note = f"Test {name} against {sweep_key}: the mean over seeds, error bars ± one sample std."
    values = [v for v in summary if _number(v) is not None]
    values.sort(key=_number)
    fig = go.Figure()
    for method in methods or dict.fromkeys(m for v in values for m in summary[v]):
        pts = [(_number(v), summary[v][method][metric]) for v in values if metric in summary[v].get(method, {})]
        if not pts:
            continue
        fig.add_trace(go.Scatter(
            x=[x for x, _ in pts], y=[100 * s["mean"] for _, s in pts], name=method, mode="lines+markers",
            line=dict(color=method_colour(method), width=2),
            error_y=dict(type="data", array=[100 * (s["std"] or 0.0) for _, s in pts], visible=True),
            hovertemplate="%{y:.1f}%",
        ))
    if not fig.data:
        return empty(title, "No finished runs to plot yet.", note=note)
    xs = [_number(v) for v in values]
    wide = min(xs) > 0 and max(xs) / min(xs) >= 8  # e.g. alpha 0.5, 2, 8: even steps on a log axis
    fig.update_xaxes(title_text=sweep_key + (" (log scale)" if wide else ""), type="log" if wide else "linear",
                     tickvals=xs, ticktext=values)
    fig.update_yaxes(title_text=f"test {name} (%)")
    fig.update_layout(hovermode="closest")
    return layout(fig, title, 420, note)
