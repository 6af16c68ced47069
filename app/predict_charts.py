"""Figures for the Predict page: pure functions from prediction dicts / arrays to plotly figures.

Inputs are plain data (``Prediction.to_dict()``, numpy arrays), so tests call these without
Streamlit or a model. Per-modality answers are in zero mode (the fused head with the other
modality's features set to 0); every figure that shows them says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from app.charts import layout, method_colour  # one look and one colour per method across the app

# Okabe-Ito, as elsewhere: fused black, audio orange, visual sky blue.
# Head mode (the method's own unimodal classifier: G-Blend, MLB, DI-MML): the same hue, darker.
ANSWER_COLOURS = {"fused": "#222222", "audio": "#E69F00", "visual": "#56B4E9",
                  "audio_head": "#D55E00", "visual_head": "#0072B2"}
ANSWER_NAMES = {"fused": "fused", "audio": "audio alone (zero mode)", "visual": "visual alone (zero mode)",
                "audio_head": "audio alone (head mode)", "visual_head": "visual alone (head mode)"}
ZERO_MODE = "zero mode: the fused head with the other modality's features set to 0"
HEAD_MODE = "head mode: the method's own classifier on that modality"


def _layout(fig: go.Figure, title: str, height: int, note: str | None = None) -> go.Figure:
    """The app's common layout, tighter: these figures sit in narrow columns."""
    layout(fig, title, height, note)
    fig.update_layout(title_font_size=14, margin=dict(l=10, r=10, t=50, b=40), barmode="group")
    return fig


def answers(prediction: Mapping) -> list[str]:
    """The answers a prediction has, in display order: fused, audio, visual (zero mode), then
    audio, visual in head mode for methods with heads of their own."""
    return [k for k in ("fused", "audio", "visual", "audio_head", "visual_head") if prediction.get(k) is not None]


def probs_figure(prediction: Mapping, title: str | None = None) -> go.Figure:
    """Horizontal bars of each class's probability: the fused answer and each modality's alone.

    prediction: ``Prediction.to_dict()`` ({"classes", "fused", "audio", "visual", "method", ...})."""
    classes = list(prediction["classes"])
    keys = answers(prediction)
    fig = go.Figure()
    for key in keys:
        probs = 100 * np.asarray(prediction[key]["probs"], dtype=float)
        fig.add_trace(go.Bar(
            y=classes, x=probs, orientation="h", name=ANSWER_NAMES[key], marker_color=ANSWER_COLOURS[key],
            hovertemplate="%{y}: %{x:.1f}%<extra>" + ANSWER_NAMES[key] + "</extra>",
        ))
    fig.update_xaxes(title_text="probability (%)", range=[0, 100])
    # Every class labelled (digit names would otherwise make a numeric axis ticked every other one).
    fig.update_yaxes(autorange="reversed", type="category", tickmode="array", tickvals=list(classes), ticktext=list(classes))
    if title is None:
        method = prediction.get("method", "model")
        title = f"{method}: probabilities"
    note = f"Each modality alone in {ZERO_MODE}." if len(keys) > 1 else None
    if note and any(k.endswith("_head") for k in keys):
        note += f" Also in {HEAD_MODE}."
    return _layout(fig, title, 160 + len(classes) * (14 * len(keys) + 12), note)


def compare_figure(predictions: Mapping[str, Mapping], key: str = "fused") -> go.Figure:
    """One answer (fused, audio or visual) of several models side by side, per class; a model
    without that answer (no fused answer for a one-modality clip) uses its own answer instead."""
    fig = go.Figure()
    classes: list[str] = []
    for method, p in predictions.items():
        classes = list(p["classes"])
        use = key if p.get(key) is not None else answers(p)[0]
        label = method if use == key else f"{method} ({ANSWER_NAMES[use]})"
        fig.add_trace(go.Bar(
            x=classes, y=100 * np.asarray(p[use]["probs"], dtype=float), name=label,
            marker_color=method_colour(method), hovertemplate="%{x}: %{y:.1f}%",
        ))
    what = "fused answer" if key == "fused" else f"{key} alone"
    fig.update_yaxes(title_text="probability (%)", range=[0, 100])
    fig.update_xaxes(type="category", tickmode="array", tickvals=list(classes), ticktext=list(classes))
    note = "Each model's probability per class for this clip" + (f"; {key} alone in {ZERO_MODE}." if key != "fused" else ".")
    return _layout(fig, f"Models on this clip: {what}", 380, note)


def spectrogram_figure(spectrogram: np.ndarray, sample_rate: int, hop_length: int, kind: str = "logmel") -> go.Figure:
    """Heatmap of the (F, T) or (1, F, T) log spectrogram the model saw (before normalisation)."""
    spec = np.asarray(spectrogram, dtype=float)
    spec = spec.reshape(spec.shape[-2], spec.shape[-1])
    times = np.arange(spec.shape[1]) * hop_length / sample_rate
    bins = "mel band" if kind == "logmel" else "frequency bin"
    fig = go.Figure(go.Heatmap(z=spec, x=times, colorscale="Viridis", colorbar=dict(title="log power" if kind == "logmel" else "log magnitude"),
                               hovertemplate="t %{x:.2f} s, " + bins + " %{y}: %{z:.2f}<extra></extra>"))
    fig.update_xaxes(title_text="time (s)")
    fig.update_yaxes(title_text=bins)
    return _layout(fig, "What the model heard", 300,
                   f"The {kind} spectrogram the models were given ({spec.shape[0]} {bins}s x {spec.shape[1]} frames), before normalisation.")


def frames_strip(frames: np.ndarray, min_height: int = 128) -> np.ndarray:
    """(T, 3, S, S) floats in [0, 1] (the frames the model saw) -> one (H, T*W, 3) uint8 image,
    frames side by side, small ones enlarged by a whole factor (nearest neighbour: no blur)."""
    x = np.asarray(frames, dtype=float)
    if x.ndim == 3:
        x = x[None]
    x = np.clip(x, 0, 1).transpose(0, 2, 3, 1)  # (T, S, S, 3)
    factor = max(1, -(-min_height // x.shape[1]))
    x = x.repeat(factor, axis=1).repeat(factor, axis=2)
    return (np.concatenate(list(x), axis=1) * 255).round().astype(np.uint8)


def class_words(label: str, dataset: str) -> str:
    """A class as people say it: AV-MNIST's "1" is "digit 1"; other datasets' names as they are."""
    return f"digit {label}" if dataset == "avmnist" else label


def answer_words(prediction: Mapping, dataset: str) -> tuple[str, list[str]]:
    """(headline, lines): the answer in words and what each modality alone says, with the
    out-of-distribution verdict of each modality next to it."""
    classes = list(prediction["classes"])
    label, origin = prediction["answer"]["label"], prediction["answer"]["from"]
    prob = prediction[origin]["probs"][classes.index(label)]
    how = "from sound and picture together" if origin == "fused" else f"from the {'sound' if origin == 'audio' else 'picture'} alone"
    headline = f"{class_words(label, dataset)} ({prob:.0%} sure, {how})"
    lines = []
    for m, noun in (("audio", "sound"), ("visual", "picture")):
        alone = prediction.get(m)
        if alone is None:
            continue
        line = f"The {noun} alone says {class_words(alone['label'], dataset)} ({max(alone['probs']):.0%})"
        o = (prediction.get("ood") or {}).get(m)
        if o and o["out_of_distribution"]:
            line += (f". **Out of distribution**: its features lie {o['distance']:.2f} from this model's training data, "
                     f"beyond the threshold {o['threshold']:.2f} (set on the model's validation split), so do not trust it")
        elif o:
            line += f"; it is like the training data (distance {o['distance']:.2f}, threshold {o['threshold']:.2f})"
        lines.append(line + ".")
    return headline, lines
