"""The Studies view's pure tables and figures, without Streamlit."""

from __future__ import annotations

import pytest

from app import charts, study_charts
from app.charts import method_colour

RESULT = {
    "summary": {
        "0.5": {"joint": {"acc": {"mean": 0.70, "std": 0.02, "n": 3}},
                "dgl": {"acc": {"mean": 0.74, "std": 0.01, "n": 3}, "probe_visual": {"mean": 0.6, "std": None, "n": 1}}},
        "8": {"joint": {"acc": {"mean": 0.71, "std": 0.03, "n": 3}}, "dgl": {"acc": {"mean": 0.65, "std": 0.05, "n": 3}}},
        "2": {"joint": {"acc": {"mean": 0.72, "std": 0.02, "n": 3}}, "dgl": {"acc": {"mean": 0.78, "std": 0.015, "n": 3}}},
    },
    "paired": {"0.5": {"dgl-joint": {"acc": {"mean": 0.04, "ci95": [0.021, 0.062], "n": 3}}},
               "2": {"dgl-joint": {"acc": {"mean": 0.06, "ci95": None, "n": 1}}}},
}


def test_summary_and_paired_frames_in_percent_and_points():
    s = study_charts.summary_frame(RESULT, "dgl.alpha")
    assert list(s.columns[:3]) == ["dgl.alpha", "method", "seeds"] and len(s) == 6
    row = s[(s["dgl.alpha"] == "0.5") & (s["method"] == "dgl")].iloc[0]
    assert row["fused (%)"] == "74.0 ± 1.0" and row["visual probe (%)"] == "60.0"  # one seed: no std
    assert row["audio probe (%)"] is None
    p = study_charts.paired_frame(RESULT, "dgl.alpha")
    assert list(p["fused (points)"]) == ["+4.0 [+2.1, +6.2]", "+6.0"]
    assert "dgl.alpha" not in study_charts.summary_frame(RESULT).columns


def test_band_figure_draws_the_mean_and_a_shaded_band_per_method():
    bands = {"joint": {"epoch": [0.5, 1.0], "mean": [0.3, 0.6], "low": [0.2, 0.5], "high": [0.4, 0.7], "n": 3},
             "dgl": {"epoch": [0.5, 1.0], "mean": [0.4, 0.8], "low": [0.4, 0.8], "high": [0.4, 0.8], "n": 1}}
    fig = study_charts.band_figure(bands, "acc_visual", "minmax", " (dgl.alpha = 2)")
    assert len(fig.data) == 4
    band, mean = fig.data[0], fig.data[1]
    assert band.fill == "toself" and band.mode == "lines" and list(band.x) == [0.5, 1.0, 1.0, 0.5]
    assert list(band.y) == pytest.approx([40, 70, 50, 20])  # high forward, low back
    assert list(mean.y) == pytest.approx([30, 60]) and mean.line.color == method_colour("joint")
    assert mean.name == "joint (n=3)"
    note = charts.note(fig)  # the title is short (it must fit a phone); the note says the rest
    assert "visual (zero mode)" in note and "min to max" in note and "dgl.alpha = 2" in note
    empty = study_charts.band_figure({})
    assert not empty.data and "No validation curves" in empty.layout.annotations[0].text


def test_sweep_figure_orders_values_numerically_with_std_error_bars():
    fig = study_charts.sweep_figure(RESULT["summary"], "dgl.alpha", "acc", ["joint", "dgl"])
    joint, dgl = fig.data
    assert list(dgl.x) == [0.5, 2.0, 8.0] and list(dgl.y) == pytest.approx([74, 78, 65])
    assert list(dgl.error_y.array) == pytest.approx([1.0, 1.5, 5.0])
    assert dgl.line.color == method_colour("dgl") and joint.name == "joint"
    assert fig.layout.xaxis.type == "log"  # 0.5 to 8: a wide range
    narrow = study_charts.sweep_figure({"0.01": RESULT["summary"]["2"], "0.03": RESULT["summary"]["8"]}, "train.lr")
    assert narrow.layout.xaxis.type == "linear" and list(narrow.layout.xaxis.ticktext) == ["0.01", "0.03"]
    probe = study_charts.sweep_figure(RESULT["summary"], "dgl.alpha", "probe_visual")
    assert [t.name for t in probe.data] == ["dgl"] and list(probe.data[0].error_y.array) == [0.0]


def test_study_label_progress_and_runs_frame():
    record = {"study_id": "study-x", "config": {"methods": ["joint", "dgl"]}, "seeds": [0, 1],
              "sweep": {"key": "train.lr", "values": [0.01, 0.03]}, "values": ["0.01", "0.03"], "status": "running",
              "points": [{"seed": 0, "value": "0.01", "run_id": "a"}, {"seed": 0, "value": "0.03", "run_id": "b"},
                         {"seed": 1, "value": "0.01", "run_id": "c"}, {"seed": 1, "value": "0.03", "run_id": None}],
              "run_status": {"a": "finished", "b": "running", "c": "queued"}}
    assert study_charts.study_label(record) == "study-x · joint, dgl · 2 seeds x train.lr = 0.01, 0.03"
    done, words = study_charts.progress_words(record)
    assert done == 0.25 and words == "running: 1 of 4 runs finished, 1 running, 1 queued"
    frame = study_charts.runs_frame(record)
    assert list(frame.columns) == ["seed", "train.lr", "run", "status"]
    assert list(frame["status"]) == ["finished", "running", "queued", "not started"]
