"""Chart builders are pure: event dicts in, plotly figures out (no Streamlit)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from app import charts, why_charts

METHODS = ("audio-only", "visual-only", "joint", "dgl", "ogm-ge")


def _modalities(method: str) -> tuple[str, ...]:
    return {"audio-only": ("audio",), "visual-only": ("visual",)}.get(method, ("audio", "visual"))


def make_events(methods=METHODS, steps=40, evals=(0, 10, 20, 30, 40), diag_every=10) -> list[dict]:
    """Events shaped like the engine's (see dgl_engine/events.py to_dict)."""
    events: list[dict] = [{"type": "phase", "phase": "train", "message": ""}]
    for step in range(0, steps + 1):
        epoch = step / 10
        for m in methods:
            mods = _modalities(m)
            if step in evals:
                metrics = {"acc": 0.2 + step / 100, "loss": 1.8 - step / 50}
                for mod in mods:
                    metrics[f"acc_{mod}"] = 0.15 + step / 200
                if len(mods) == 2:
                    metrics["imbalance_ratio"] = 1.0 + step / 20
                events.append({"type": "eval", "method": m, "step": step, "epoch": epoch, "split": "val", "metrics": metrics})
            if step == 0:
                continue
            if step % diag_every == 1:
                enc = {}
                for mod in mods:
                    d = {"unimodal": 1.0 / step, "applied": 1.0 / step}
                    if len(mods) == 2:
                        d.update(fused=0.3 / step, cosine=0.9)
                    enc[mod] = d
                events.append({"type": "diagnostics", "method": m, "step": step, "epoch": epoch, "encoders": enc})
            losses = {"total": 2.0 - step / 40}
            if m == "dgl":
                losses.update(fused=1.5, audio=1.2, visual=1.6)
            elif m in ("joint", "ogm-ge"):
                losses.update(fused=losses["total"])
                if m == "ogm-ge":
                    losses.update(ratio=2.0, coeff_audio=0.5, coeff_visual=1.0)
            else:
                losses[mods[0]] = losses["total"]
            events.append({"type": "step", "method": m, "step": step, "epoch": epoch, "losses": losses, "lr": 0.03,
                           "grad_norm": {mod: 1.0 for mod in mods}, "samples_per_s": 1000.0})
    return events


RESULTS = {
    "audio-only": {"acc": 0.8, "acc_audio": 0.8, "probe_audio": 0.82, "loss": 0.6},
    "visual-only": {"acc": 0.6, "acc_visual": 0.6, "probe_visual": 0.7, "loss": 1.0},
    "joint": {"acc": 0.88, "acc_audio": 0.79, "acc_visual": 0.3, "probe_audio": 0.81, "probe_visual": 0.55, "imbalance_ratio": 3.0, "loss": 0.4},
    "dgl": {"acc": 0.94, "acc_audio": 0.8, "acc_visual": 0.62, "probe_audio": 0.82, "probe_visual": 0.71, "imbalance_ratio": 1.3, "loss": 0.2},
}


def _drawn(fig: go.Figure) -> list:
    """The traces that draw data (not the legend-only entries that explain line styles)."""
    return [t for t in fig.data if not (t.x is not None and len(t.x) == 1 and t.x[0] is None)]


def _legend(fig: go.Figure) -> list[str]:
    return [t.name for t in fig.data if t.showlegend is not False]


def _colour_by_method(fig: go.Figure) -> dict[str, set[str]]:
    """method -> colours its traces use (traces are named '<method> · ...' or '<method>')."""
    out: dict[str, set[str]] = {}
    for t in _drawn(fig):
        method = t.name.split(" · ")[0]
        colour = t.marker.color if isinstance(t, go.Bar) else t.line.color
        out.setdefault(method, set()).add(colour)
    return out


def _assert_consistent_colours(fig: go.Figure) -> None:
    for method, colours in _colour_by_method(fig).items():
        assert colours == {charts.method_colour(method)}, (method, colours)


def test_method_colours_fixed_distinct_and_stable_for_new_methods():
    assert len(set(charts.METHOD_COLOURS.values())) == len(charts.METHOD_COLOURS)
    assert set(METHODS) <= set(charts.METHOD_COLOURS)
    assert charts.method_colour("mmpareto") == charts.method_colour("mmpareto")
    assert charts.method_colour("mmpareto").startswith("#")


def test_accuracy_figure_panels_per_method_with_modalities_and_zero_mode():
    fig = charts.accuracy_figure(make_events(), list(METHODS))
    names = [t.name for t in _drawn(fig)]
    assert "joint · fused" in names and "joint · visual (zero mode)" in names and "dgl · audio (zero mode)" in names
    assert "audio-only · audio (zero mode)" in names and not any(n.startswith("audio-only · fused") for n in names)
    assert len(names) == 1 + 1 + 3 * 3
    # The legend explains the line styles once; the panels' titles name the methods.
    assert set(_legend(fig)) == {"fused", "audio (zero mode)", "visual (zero mode)"}
    assert "zero mode" in charts.note(fig)
    assert fig.layout.xaxis.title.text == "epoch" and fig.layout.yaxis.title.text == "accuracy (%)"
    assert [a.text for a in fig.layout.annotations][: len(METHODS)] == list(METHODS)  # panel titles
    assert list(fig.layout.yaxis.range) == [0, 100]
    joint_visual = next(t for t in fig.data if t.name == "joint · visual (zero mode)")
    assert joint_visual.line.dash == charts.MODALITY_DASH["visual"]
    assert max(joint_visual.y) == pytest.approx(100 * (0.15 + 40 / 200))  # percent
    _assert_consistent_colours(fig)


def test_accuracy_figure_shares_axes_across_methods():
    fig = charts.accuracy_figure(make_events(("joint", "dgl")))
    assert fig.layout.xaxis2.matches == "x" and fig.layout.yaxis2.matches == "y"


def test_live_axes_span_the_whole_run_so_curves_grow():
    events = make_events(("joint", "dgl"), steps=10, evals=(0, 10))
    assert list(charts.accuracy_figure(events, epochs=6).layout.xaxis.range) == pytest.approx([-0.3, 6.3])
    assert list(charts.gradient_figure(events, "audio", total_steps=276).layout.xaxis2.range) == [0, 276]
    assert list(charts.loss_figure(events, total_steps=276).layout.xaxis.range) == [0, 276]
    assert charts.accuracy_figure(events).layout.xaxis.range is None  # autorange without a run length


def test_gradient_figure_log_norms_and_cosine():
    fig = charts.gradient_figure(make_events(), "visual")
    assert fig.layout.title.text.startswith("Gradient reaching the visual encoder")
    assert "before clipping" in charts.note(fig)
    assert fig.layout.yaxis.type == "log" and "norm" in fig.layout.yaxis.title.text
    assert fig.layout.xaxis2.title.text == "step" and fig.layout.yaxis2.title.text == "cosine"
    names = [t.name for t in fig.data]
    assert "joint · from the fused loss" in names and "joint · from its unimodal loss" in names
    assert "visual-only · from its unimodal loss" in names
    assert not any(n.startswith("audio-only") for n in names)  # no visual encoder there
    fused = next(t for t in fig.data if t.name == "dgl · from the fused loss")
    assert fused.line.dash == "solid" and next(t for t in fig.data if t.name == "dgl · from its unimodal loss").line.dash == "dash"
    assert any(t.yaxis == "y2" and t.name.startswith("joint · cosine") for t in fig.data)
    _assert_consistent_colours(fig)


def test_log_axes_get_readable_ticks_over_narrow_and_wide_ranges():
    narrow = charts.log_ticks([0.95, 1.15])["tickvals"]
    assert len(narrow) >= 3 and 1.0 in narrow
    assert charts.log_ticks([0.2, 3])["tickvals"] == pytest.approx([0.2, 0.5, 1, 2])
    fig = charts.gradient_figure(make_events(), "visual")
    assert len(fig.layout.yaxis.tickvals) >= 3


def test_loss_figure_terms_per_method():
    fig = charts.loss_figure(make_events())
    names = {t.name for t in _drawn(fig)}
    assert set(_legend(fig)) == {"total loss", "fused loss", "audio loss", "visual loss"}
    assert {"dgl · total loss", "dgl · fused loss", "dgl · audio loss", "dgl · visual loss"} <= names
    assert "joint · fused loss" in names and "joint · total loss" not in names  # identical: drawn once
    assert "ogm-ge · ratio loss" not in names  # OGM-GE's coefficients are not losses
    assert fig.layout.yaxis.title.text == "loss (nats)" and fig.layout.xaxis.title.text == "step"
    _assert_consistent_colours(fig)


def test_imbalance_figure_only_multimodal_methods():
    fig = charts.imbalance_figure(make_events())
    assert {t.name for t in fig.data} == {"joint", "dgl", "ogm-ge"}
    assert fig.layout.yaxis.type == "log" and fig.layout.xaxis.title.text == "epoch"
    _assert_consistent_colours(fig)


def test_empty_events_give_a_titled_placeholder():
    for fig in (charts.accuracy_figure([]), charts.gradient_figure([], "audio"), charts.loss_figure([]),
                charts.imbalance_figure([]), why_charts.gradient_ratio_figure([]), charts.overlay_figure([])):
        assert fig.layout.title.text and not fig.data and fig.layout.annotations


def test_modality_bar_figure_is_the_papers_opening_chart():
    fig = charts.modality_bar_figure(RESULTS)
    assert [t.name for t in fig.data] == list(RESULTS)
    joint = next(t for t in fig.data if t.name == "joint")
    assert list(joint.x) == ["audio<br>(zero mode)", "visual<br>(zero mode)", "fused"]
    assert list(joint.y) == pytest.approx([79, 30, 88])
    visual_only = next(t for t in fig.data if t.name == "visual-only")
    assert visual_only.y[0] is None and visual_only.y[1] == pytest.approx(60) and visual_only.y[2] is None
    assert fig.layout.yaxis.title.text == "test accuracy (%)" and fig.layout.barmode == "group"
    _assert_consistent_colours(fig)


def test_probe_bar_figure():
    fig = charts.probe_bar_figure(RESULTS)
    dgl = next(t for t in fig.data if t.name == "dgl")
    assert list(dgl.y) == pytest.approx([82, 71]) and "probe" in fig.layout.title.text.lower()
    assert fig.layout.yaxis.title.text == "probe accuracy (%)"


def test_confusion_figure_labels_and_counts():
    fig = charts.confusion_figure([[3, 1], [0, 4]], ["disk", "square"], "joint: fused")
    heat = fig.data[0]
    assert list(heat.x) == ["disk", "square"] and np.asarray(heat.z).sum() == 8
    assert fig.layout.xaxis.title.text == "predicted class" and fig.layout.yaxis.title.text == "true class"
    assert fig.layout.title.text == "joint: fused"


def test_overlay_figure_colour_per_method_dash_per_run():
    fig = charts.overlay_figure([("run-a", make_events(("joint", "dgl"))), ("run-b", make_events(("joint", "dgl")))])
    assert {t.name for t in fig.data} == {"joint · run-a", "dgl · run-a", "joint · run-b", "dgl · run-b"}
    dashes = {t.name: t.line.dash for t in fig.data}
    assert dashes["joint · run-a"] != dashes["joint · run-b"] and dashes["joint · run-a"] == dashes["dgl · run-a"]
    assert fig.layout.yaxis.title.text == "validation accuracy (%)"
    _assert_consistent_colours(fig)


def test_error_signals_fusion_shrinks_the_error_once_the_other_modality_is_confident():
    own = np.linspace(-2, 6, 50)
    fused, alone = why_charts.error_signals(own, other_margin=3.0, num_classes=6)
    assert np.all(fused < alone) and np.all((0 < fused) & (alone < 1))
    same, alone2 = why_charts.error_signals(own, other_margin=0.0, num_classes=6)
    np.testing.assert_allclose(same, alone2)  # an uninformative other modality changes nothing
    # agrees with a direct softmax computation
    z = np.zeros(6)
    z[0] = 1.5
    p = np.exp(z + np.eye(6)[0] * 3.0) / np.exp(z + np.eye(6)[0] * 3.0).sum()
    assert why_charts.error_signals(np.array([1.5]), 3.0, 6)[0][0] == pytest.approx(1 - p[0])


def test_why_figure_and_measured_ratio():
    fig = why_charts.why_figure(4.0, 6)
    assert len(fig.data) == 3 and "margin" in fig.layout.xaxis.title.text
    assert fig.layout.yaxis.title.text == "error signal 1 − p_y"
    ratio = why_charts.gradient_ratio_figure(make_events())
    assert {t.name for t in _drawn(ratio)} >= {"joint · visual encoder", "dgl · audio encoder"}
    assert ratio.layout.yaxis.type == "log"
    assert set(_legend(ratio)) >= {"joint", "dgl", "audio encoder", "visual encoder"}
    joint_visual = next(t for t in ratio.data if t.name == "joint · visual encoder")
    assert list(joint_visual.y) == pytest.approx([0.3] * len(joint_visual.y))
    _assert_consistent_colours(ratio)


def test_a_method_s_own_signals_get_a_figure_each():
    from app import method_charts

    events = [{"type": "step", "method": "mmpareto", "step": s, "losses": {"total": 1.0, "fused": 0.5, "cosine_audio": 0.1 * s}}
              for s in (1, 2, 3)] + [{"type": "step", "method": "joint", "step": 1, "losses": {"total": 1.0, "fused": 1.0}}]
    assert method_charts.methods_with_signals(events) == ["mmpareto"]
    fig = method_charts.signals_figure(events, "mmpareto", 10)
    assert [t.name for t in fig.data] == ["cosine_audio"] and list(fig.data[0].y) == [0.1, 0.2, 0.30000000000000004]


ALL_METHODS = ["audio-only", "visual-only", "joint", "dgl", "ogm-ge", "uni-aux", "dgl-no-fused-cut", "dgl-no-uni-cut",
               "mmpareto", "pmr"]


def _every_figure():
    events = make_events()
    yield charts.accuracy_figure(events, list(METHODS))
    for m in ("audio", "visual"):
        yield charts.gradient_figure(events, m)
    yield charts.loss_figure(events)
    yield charts.imbalance_figure(events)
    yield charts.modality_bar_figure(RESULTS)
    yield charts.probe_bar_figure(RESULTS)
    yield charts.overlay_figure([("4 methods on synthetic (default) · finished · 02 Dec 08:13", events)])
    yield why_charts.gradient_ratio_figure(events)
    yield why_charts.why_figure(3.0, 6)
    for fig in (charts.accuracy_figure([]), charts.gradient_figure([], "visual"), charts.loss_figure([]),
                charts.imbalance_figure([]), charts.overlay_figure([]), why_charts.gradient_ratio_figure([])):
        yield fig


def test_titles_fit_a_phone_and_the_rest_is_said_in_the_note():
    """Plotly cuts a title that does not fit (it never wraps): every title stays within
    TITLE_MAX characters, and what a chart needs explained is its note (the page's caption)."""
    for fig in _every_figure():
        title = fig.layout.title.text
        assert title and len(title) <= charts.TITLE_MAX, title
        assert charts.note(fig), title
        if fig.data:  # subplot titles (a placeholder's annotation is its message, centred alone)
            for a in fig.layout.annotations:
                assert len(a.text) <= charts.TITLE_MAX // 2, a.text


def test_panels_two_a_row_and_a_legend_that_does_not_grow_with_methods():
    """Four or ten methods: panels two a row (method names side by side fit a phone), and the
    accuracy legend names the three line styles, not every method x modality."""
    events = make_events(tuple(ALL_METHODS))
    fig = charts.accuracy_figure(events, ALL_METHODS)
    assert fig.layout.xaxis3.domain == fig.layout.xaxis.domain  # panel 3 starts the second row
    assert len(_legend(fig)) <= 3
    assert fig.layout.height == charts.PANEL_HEIGHT * 5 + 170
    grad = charts.gradient_figure(events, "visual")
    assert len(_legend(grad)) == len([m for m in ALL_METHODS if m != "audio-only"]) + 3


def test_tables_show_short_headers_and_keep_full_names_for_the_csv():
    from app import tables

    frame = tables.results_frame(RESULTS)
    shown = tables.headers(frame)
    assert shown["audio, zero mode (%)"] == {"label": "audio · zero", "help": "audio, zero mode (%)"}
    assert all(len(h["label"]) <= 14 for h in shown.values())  # fits a laptop: see README "Layout"
    assert "fused (%)" in frame.to_csv(index=False).splitlines()[0]  # the CSV keeps the full names
    runs = tables.runs_frame([{"run_id": "r1", "created": 0, "status": "finished", "seconds": 3.0,
                               "config": {"name": "joint vs dgl", "methods": ["joint", "dgl"]}, "results": RESULTS}])
    assert list(runs.columns)[0] == "name" and list(runs.columns)[-1] == "run"  # known by name; the id last
    assert runs["best (fused %)"][0] == "dgl 94.0"
