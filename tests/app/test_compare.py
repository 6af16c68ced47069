"""The Compare view's pure parts, without Streamlit: filters, flattened and diffed configs,
groups, the metric catalogue read from events, the overlay figure, the tables, exports and links."""

from __future__ import annotations

import pytest

from app import charts, compare, compare_charts, curve_metrics, exports, share
from app.charts import method_colour

from tests.app.test_charts import make_events


def _record(run_id, name, methods=("joint", "dgl"), dataset="synthetic", status="finished", lr=0.03, alpha=2.0, seed=0,
            results=None):
    return {"run_id": run_id, "status": status, "created": 0,
            "config": {"name": name, "methods": list(methods), "seed": seed,
                       "data": {"dataset": dataset, "regime": "default", "synthetic": {"visual": {"difficulty": 0.5}}},
                       "train": {"lr": lr, "epochs": 2}, "method_params": {"dgl": {"alpha": alpha}}},
            "results": results if results is not None else {m: {"acc": 0.8, "acc_audio": 0.7, "loss": 0.51234} for m in methods}}


RUNS = [_record("r1", "lab 1 baseline"), _record("r2", "lab 1 fast", lr=0.1), _record("r3", "cremad try", dataset="cremad",
        methods=("joint",), status="failed"), _record("r4", "Lab 2", methods=("ogm-ge",), status="running", alpha=4.0)]
LABELS = {r["run_id"]: r["config"]["name"] for r in RUNS}


# ----- filters ------------------------------------------------------------------------------------
@pytest.mark.parametrize("keep, expected", [
    (compare.RunFilter(), ["r1", "r2", "r3", "r4"]),
    (compare.RunFilter(datasets=("synthetic",)), ["r1", "r2", "r4"]),
    (compare.RunFilter(methods=("dgl", "ogm-ge")), ["r1", "r2", "r4"]),
    (compare.RunFilter(statuses=("finished", "failed")), ["r1", "r2", "r3"]),
    (compare.RunFilter(text="LAB"), ["r1", "r2", "r4"]),
    (compare.RunFilter(text="lab fast"), ["r2"]),  # every word, in any order
    (compare.RunFilter(datasets=("synthetic",), methods=("joint",), text="1"), ["r1", "r2"]),
])
def test_filters_narrow_runs_by_dataset_method_status_and_name(keep, expected):
    assert compare.filter_runs(RUNS, LABELS, keep) == expected


def test_filter_choices_are_what_the_runs_hold():
    assert compare.filter_choices(RUNS) == {"datasets": ["synthetic", "cremad"], "methods": ["joint", "dgl", "ogm-ge"],
                                           "statuses": ["finished", "failed", "running"]}


def test_labels_made_unique_and_run_ids_read_from_the_url():
    assert compare.unique_labels({"a": "x", "b": "x", "c": "y"}) == {"a": "x · a", "b": "x · b", "c": "y"}
    assert compare.parse_run_ids("r2, r1,nope,r2", ["r1", "r2", "r3"]) == ["r2", "r1"]
    assert compare.parse_run_ids(None, ["r1"]) == []


# ----- configs --------------------------------------------------------------------------------------
def test_flatten_gives_dotted_paths():
    flat = compare.flatten(RUNS[0]["config"])
    assert flat["train.lr"] == 0.03 and flat["method_params.dgl.alpha"] == 2.0
    assert flat["data.synthetic.visual.difficulty"] == 0.5 and flat["methods"] == ("joint", "dgl") and flat["seed"] == 0


def test_config_diff_keeps_only_keys_that_differ():
    configs = {r["run_id"]: r["config"] for r in RUNS[:2]}
    diff = compare.config_diff(configs)
    assert diff == {"name": {"r1": "lab 1 baseline", "r2": "lab 1 fast"}, "train.lr": {"r1": "0.03", "r2": "0.1"}}
    assert compare.config_diff({"r1": RUNS[0]["config"]}) == {}
    # A key one run lacks differs too (records from an older version); methods as a list of words.
    diff = compare.config_diff({"r1": RUNS[0]["config"], "r4": {**RUNS[3]["config"], "method_params": {}}})
    assert diff["method_params.dgl.alpha"] == {"r1": "2", "r4": compare.MISSING}
    assert diff["methods"] == {"r1": "joint, dgl", "r4": "ogm-ge"}
    assert compare.colour_choices(diff)[:2] == [compare.BY_METHOD, compare.BY_RUN] and compare.colour_choices(diff)[-1] == "name"


def test_groups_and_their_order():
    configs = {r["run_id"]: r["config"] for r in RUNS}
    assert compare.groups(configs, "train.lr") == {"r1": "0.03", "r2": "0.1", "r3": "0.03", "r4": "0.03"}
    assert compare.group_order(["0.1", "0.03", "1", "0.03"]) == ["0.03", "0.1", "1"]  # numbers: by value
    assert compare.group_order(["dgl", "joint", "dgl"]) == ["dgl", "joint"]


# ----- curve metrics ------------------------------------------------------------------------------
def test_catalogue_is_read_from_the_events_and_grows_with_new_modes():
    events = make_events(("joint", "dgl", "ogm-ge"))
    ids = [m.id for m in curve_metrics.catalogue([events])]
    assert ids[0] == "eval/acc" and {"eval/acc_audio", "eval/acc_visual", "eval/imbalance_ratio", "eval/loss"} <= set(ids)
    assert {"ratio/audio", "ratio/visual", "diag/visual/cosine", "loss/fused", "loss/ratio", "grad/audio", "lr"} <= set(ids)
    assert "eval/acc_audio_head" not in ids
    head = [{"type": "eval", "method": "dgl", "epoch": 1.0, "split": "val",
             "metrics": {"acc_audio_head": 0.5, "acc_audio_slice": 0.4, "probe_visual": 0.6}}]
    found = {m.id: m for m in curve_metrics.catalogue([events, head])}
    assert found["eval/acc_audio_head"].label == "validation accuracy: audio (head mode)"
    assert found["eval/acc_audio_slice"].label == "validation accuracy: audio (slice mode)"
    assert found["eval/acc_audio"].label == "validation accuracy: audio (zero mode)"
    assert found["eval/probe_visual"].bounded and found["ratio/audio"].log and not found["loss/fused"].log
    ordered = [i for i in found if i.startswith("eval/acc")]
    assert ordered.index("eval/acc_audio") < ordered.index("eval/acc_audio_head")


def test_series_in_display_units_per_method():
    events = make_events(("joint", "dgl"))
    acc = curve_metrics.series(events, curve_metrics.CurveMetric("eval/acc", "x", percent=True))
    assert list(acc) == ["joint", "dgl"] and acc["dgl"][0] == (0.0, pytest.approx(20.0))
    ratio = curve_metrics.series(events, curve_metrics.CurveMetric("ratio/visual", "x", log=True), methods=["dgl"])
    assert list(ratio) == ["dgl"] and ratio["dgl"][0][1] == pytest.approx(0.3)
    assert curve_metrics.series(events, curve_metrics.CurveMetric("loss/audio", "x"))["dgl"][0] == (0.1, 1.2)


# ----- the overlay --------------------------------------------------------------------------------
def _curves(colour_key=None):
    events = make_events(("joint", "dgl"))
    metric = curve_metrics.CurveMetric("eval/acc", "validation accuracy: fused", percent=True, bounded=True, markers=True)
    groups = {"r1": "0.03", "r2": "0.1", "r3": "0.03"}
    return metric, [compare_charts.RunCurves(rid, f"run {rid}", curve_metrics.series(events, metric), groups[rid] if colour_key else "")
                    for rid in ("r1", "r2", "r3")]


def test_overlay_coloured_by_a_config_key_shares_colours_and_says_key_equals_value():
    metric, curves = _curves("train.lr")
    fig = compare_charts.compare_figure(curves, metric, "train.lr")
    assert len(fig.data) == 6  # 3 runs x 2 methods
    colour = {(t.name, t.hovertemplate.split(" · ")[0]): t.line.color for t in fig.data}
    assert colour[("train.lr = 0.03 · joint", "run r1")] == colour[("train.lr = 0.03 · joint", "run r3")]
    assert colour[("train.lr = 0.03 · joint", "run r1")] != colour[("train.lr = 0.1 · joint", "run r2")]
    assert [t.name for t in fig.data if t.showlegend] == ["train.lr = 0.03 · joint", "train.lr = 0.03 · dgl",
                                                           "train.lr = 0.1 · joint", "train.lr = 0.1 · dgl"]
    assert {t.line.dash for t in fig.data if t.name.endswith("joint")} != {t.line.dash for t in fig.data if t.name.endswith("dgl")}
    assert list(fig.layout.yaxis.range) == [0, 100] and "coloured by train.lr" in charts.note(fig)


def test_overlay_by_method_and_by_run():
    metric, curves = _curves()
    by_method = compare_charts.compare_figure(curves, metric)
    assert {t.line.color for t in by_method.data if t.name.startswith("dgl")} == {method_colour("dgl")}
    by_run = compare_charts.compare_figure(curves, metric, compare.BY_RUN)
    assert len({t.line.color for t in by_run.data}) == 3
    empty = compare_charts.compare_figure([compare_charts.RunCurves("r", "r")], metric)
    assert "None of the chosen runs" in empty.layout.annotations[0].text


def test_numeric_groups_run_along_a_scale_text_groups_get_categories():
    numeric = compare_charts.group_colours(["0.1", "0.01", "1"])
    assert list(numeric) == ["0.01", "0.1", "1"] and numeric["0.01"].startswith("rgb(")
    assert compare_charts.group_colours(["dgl", "joint"]) == {"dgl": "#0072B2", "joint": "#D55E00"}


# ----- tables -------------------------------------------------------------------------------------
def test_test_frame_one_row_per_run_and_method_with_every_test_metric():
    extra = _record("r5", "head", results={"dgl": {"acc": 0.9, "acc_audio_head": 0.61, "best_epoch": 3}})
    frame = compare.test_frame([RUNS[0], RUNS[3], extra], LABELS | {"r5": "head"}, group_key="method_params.dgl.alpha")
    assert list(frame.columns[:3]) == ["run", "method_params.dgl.alpha", "method"]
    assert list(zip(frame["run"], frame["method"])) == [("lab 1 baseline", "joint"), ("lab 1 baseline", "dgl"),
                                                        ("Lab 2", "ogm-ge"), ("head", "dgl")]
    assert frame["fused (%)"].tolist() == [80.0, 80.0, 80.0, 90.0] and frame["test loss"].iloc[0] == 0.512
    assert frame["audio, head mode (%)"].iloc[3] == 61.0 and frame["best_epoch"].iloc[3] == 3
    assert list(frame["method_params.dgl.alpha"]) == ["2", "2", "4", "2"]
    only = compare.test_frame(RUNS[:2], LABELS, methods=("dgl",))
    assert list(only["method"]) == ["dgl", "dgl"] and "method_params.dgl.alpha" not in only.columns


def test_diff_frame_one_column_per_run():
    diff = compare.config_diff({r["run_id"]: r["config"] for r in RUNS[:2]})
    frame = compare.diff_frame(diff, LABELS)
    assert list(frame.columns) == ["setting", "lab 1 baseline", "lab 1 fast"]
    assert frame.set_index("setting").loc["train.lr"].tolist() == ["0.03", "0.1"]
    assert "setting,lab 1 baseline" in frame.to_csv(index=False)


# ----- exports and links --------------------------------------------------------------------------
def test_image_options_set_the_format_of_plotly_s_camera_button():
    assert exports.image_options("svg", "r1 / accuracy")["toImageButtonOptions"] == {
        "format": "svg", "filename": "dgl-lab-r1-accuracy", "scale": 1}
    assert exports.image_options("gif", "x")["toImageButtonOptions"]["format"] == "png"


@pytest.mark.parametrize("base, params, expected", [
    ("http://lab:8501/results", {"run": "r1"}, "http://lab:8501/results?run=r1"),
    ("http://lab:8501/compare?session=abc#top", {"runs": "r1,r2", "session": "abc", "admin": "x"},
     "http://lab:8501/compare?runs=r1,r2"),
    (None, {"study": "s1"}, "?study=s1"),
])
def test_share_url_never_carries_a_token(base, params, expected):
    assert share.share_url(base, params) == expected


def test_main_columns_keep_the_results_tables_metrics_after_run_and_method():
    import pandas as pd

    frame = pd.DataFrame(columns=["run", "train.lr", "method", "fused (%)", "audio, head mode (%)", "test loss"])
    assert list(compare.main_columns(frame).columns) == ["run", "train.lr", "method", "fused (%)"]
