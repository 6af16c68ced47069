"""The ``head`` evaluation mode (methods with unimodal heads of their own: G-Blend, MLB, DI-MML)
is named as such on every chart and table that shows per-modality modes, and appears only
where some method has it. Pure builders, no Streamlit."""

from __future__ import annotations

import pytest

from app import charts, compare, curve_metrics, study_charts, tables
from tests.app.test_charts import RESULTS, _drawn, _legend, make_events

HEADED = {**RESULTS, "mlb": {"acc": 0.9, "acc_audio": 0.7, "acc_visual": 0.5, "acc_audio_head": 0.77,
                             "acc_visual_head": 0.58, "probe_audio": 0.8, "probe_visual": 0.6, "loss": 0.3}}


def _with_heads(events):
    for e in events:
        if e.get("type") == "eval" and e["method"] == "dgl":
            e["metrics"].update(acc_audio_head=0.5, acc_visual_head=0.4)
    return events


def test_accuracy_figure_draws_head_mode_curves_named_as_such():
    fig = charts.accuracy_figure(_with_heads(make_events(("joint", "dgl"))))
    names = [t.name for t in _drawn(fig)]
    assert "dgl · audio (head mode)" in names and "dgl · visual (head mode)" in names
    assert not any(n.startswith("joint") and "head" in n for n in names)
    assert {"audio (head mode)", "visual (head mode)"} <= set(_legend(fig))
    head = next(t for t in fig.data if t.name == "dgl · audio (head mode)")
    assert head.marker.symbol.endswith("-open") and list(head.y)[0] == pytest.approx(50)
    assert "head mode" in charts.note(fig)
    plain = charts.accuracy_figure(make_events(("joint", "dgl")))
    assert "(head mode)" not in " ".join(_legend(plain))


def test_modality_bars_add_head_mode_groups_only_when_a_method_has_them():
    fig = charts.modality_bar_figure(HEADED)
    mlb = next(t for t in fig.data if t.name == "mlb")
    assert list(mlb.x) == ["audio<br>(zero mode)", "visual<br>(zero mode)", "audio<br>(head mode)",
                           "visual<br>(head mode)", "fused"]
    assert list(mlb.y) == pytest.approx([70, 50, 77, 58, 90])
    joint = next(t for t in fig.data if t.name == "joint")
    assert joint.y[2] is None and joint.y[3] is None
    assert "Head mode" in charts.note(fig)
    assert "head" not in " ".join(charts.modality_bar_figure(RESULTS).data[0].x)
    assert "head" not in " ".join(charts.modality_bar_figure(HEADED, ["joint", "dgl"]).data[0].x)


def test_results_table_has_short_head_mode_columns_only_when_needed():
    frame = tables.results_frame(HEADED)
    cols = list(frame.columns)
    assert cols.index("audio, head mode (%)") == cols.index("visual, zero mode (%)") + 1
    assert frame.set_index("method").loc["mlb", "visual, head mode (%)"] == pytest.approx(58.0)
    shown = tables.headers(frame)
    assert shown["audio, head mode (%)"]["label"] == "audio · head" and shown["visual, head mode (%)"]["label"] == "visual · head"
    assert all(len(h["label"]) <= 14 for h in shown.values())
    assert "audio, head mode (%)" in frame.to_csv(index=False).splitlines()[0]  # the CSV names it in full
    assert not any("head" in c for c in tables.results_frame(RESULTS).columns)


def test_compare_and_curve_pickers_and_studies_name_the_head_mode():
    assert compare.test_title("acc_audio_head") == "audio, head mode (%)"
    assert curve_metrics.eval_label("acc_visual_head") == "validation accuracy: visual (head mode)"
    assert study_charts.CURVE_METRICS["acc_audio_head"] == "audio (head mode)"
    # The Studies sweep picker's columns come from the study summary {value: {method: {metric: stats}}}.
    summary = {"1": {"joint": {"acc": {"mean": 0.5}}, "mlb": {"acc": {"mean": 0.6}, "acc_audio_head": {"mean": 0.4}}}}
    columns = study_charts.result_columns(m for per_value in summary.values() for m in per_value.values())
    assert columns["acc_audio_head"] == "audio, head mode (%)" and "acc" in columns
    assert "acc_audio_head" not in study_charts.result_columns([summary["1"]["joint"]])


def test_predict_charts_show_head_mode_answers_named_as_such():
    from app import predict_charts

    answer = {"label": "a", "probs": [0.7, 0.3]}
    p = {"classes": ["a", "b"], "fused": answer, "audio": answer, "visual": answer, "method": "mlb",
         "audio_head": {"label": "b", "probs": [0.2, 0.8]}, "visual_head": answer}
    assert predict_charts.answers(p) == ["fused", "audio", "visual", "audio_head", "visual_head"]
    fig = predict_charts.probs_figure(p)
    assert [t.name for t in fig.data][-2:] == ["audio alone (head mode)", "visual alone (head mode)"]
    assert "head mode" in charts.note(fig)
    plain = predict_charts.probs_figure({k: v for k, v in p.items() if not k.endswith("_head")})
    assert "head mode" not in charts.note(plain)


def test_study_summary_has_head_mode_columns_only_when_a_method_has_them():
    mean = {"mean": 0.5, "std": 0.1, "n": 2}
    result = {"summary": {"x": {"joint": {"acc": mean}, "mlb": {"acc": mean, "acc_audio_head": mean}}}, "paired": {}}
    frame = study_charts.summary_frame(result)
    assert "audio, head mode (%)" in frame.columns
    assert frame.set_index("method").loc["mlb", "audio, head mode (%)"] == "50.0 ± 10.0"
    plain = {"summary": {"x": {"joint": {"acc": mean}}}, "paired": {}}
    assert not any("head" in c for c in study_charts.summary_frame(plain).columns)
