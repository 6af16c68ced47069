"""The Studies view under AppTest (a study made of copies of the real small run), and the
Experiment page starting a study."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import state
from dgl_engine.config import experiment_from_dict
from dgl_engine.study import Study, StudyStore, Sweep

from tests.app.test_pages import APP, page, texts

POINTS = [(0, 1.0), (0, 4.0), (1, 1.0), (1, 4.0)]  # 2 seeds x dgl.alpha = 1, 4


@pytest.fixture
def study(home, small_run):
    """(home, study_id): a stored study whose four runs are copies of the finished small run, each
    given its point's seed and alpha, and its accuracies shifted by seed (so the seeds differ)."""
    src, run_id = small_run
    base = json.loads((Path(src) / run_id / "run.json").read_text())
    store = StudyStore(home)
    study_id = store.new_id()
    ids = []
    for i, (seed, alpha) in enumerate(POINTS):
        rid = f"{run_id}-p{i}"
        shutil.copytree(Path(src) / run_id, home / rid)
        record = json.loads(json.dumps(base))
        record.update(run_id=rid, study=study_id, seed=seed, created=base["created"] + i)
        record["config"]["seed"] = seed
        record["config"]["method_params"]["dgl"]["alpha"] = alpha
        for metrics in record["results"].values():
            metrics["acc"] = min(1.0, metrics["acc"] + 0.02 * seed + (0.01 if alpha > 1 else 0.0))
        (home / rid / "run.json").write_text(json.dumps(record))
        ids.append(rid)
    config = experiment_from_dict(base["config"])
    store.create(study_id, Study(config, (0, 1), Sweep("dgl.alpha", (1.0, 4.0))), owner="someone", run_ids=ids)
    return home, study_id


def test_studies_without_any_say_how_to_start_one(home):  # noqa: F811
    at = page("studies").run()
    assert not at.exception
    assert "No studies yet" in texts(at.info)


def test_studies_view_opens_the_study_in_the_url_with_bands_sweep_and_tables(study):
    _, study_id = study
    at = page("studies", study=study_id).run()
    assert not at.exception, at.exception
    assert at.selectbox(key=f"study_pick_{study_id}").value == study_id
    assert "finished: 4 of 4 runs finished" in str(at.get("progress")[0].proto.text)
    summary, paired, runs = (df.value for df in at.dataframe)
    assert len(summary) == 2 * 4 and set(summary["method"]) == {"audio-only", "visual-only", "joint", "dgl"}
    dgl = summary[(summary["method"] == "dgl") & (summary["dgl.alpha"] == "1")].iloc[0]
    assert dgl["seeds"] == 2 and " ± " in dgl["fused (%)"]
    assert set(paired["difference"]) == {"audio-only-joint", "visual-only-joint", "dgl-joint"}
    # The same shift for every method: each paired fused difference is exact, a zero-width interval.
    row = paired[(paired["difference"] == "dgl-joint") & (paired["dgl.alpha"] == "4")].iloc[0]
    mean = row["fused (points)"].split(" [")[0]
    assert row["fused (points)"] == f"{mean} [{mean}, {mean}]"
    assert list(runs["status"]) == ["finished"] * 4
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # curves with bands, and the sweep plot
    at.radio(key="study_band").set_value("minmax").run()
    at.selectbox(key="study_value").set_value("4").run()
    at.selectbox(key="study_sweep_metric").set_value("probe_visual").run()
    assert not at.exception and len(at.get("plotly_chart")) == 2
    assert "dgl.alpha = 4" in at.get("plotly_chart")[0].proto.spec


def test_experiment_starts_a_study_of_seeds_times_values(home):  # noqa: F811
    at = page("experiment").run()
    at.multiselect(key="exp_methods").set_value(["joint", "dgl"])
    at.number_input(key="exp_samples_per_class").set_value(16)
    at.number_input(key="exp_epochs").set_value(1)
    at.number_input(key="study_seeds").set_value(2)
    at.selectbox(key="study_sweep_key").set_value("dgl.alpha")
    at.text_input(key="study_sweep_values").set_value("1, 4")
    at.run()
    at.button(key="start").click().run()
    assert not at.exception and not at.error, texts(at.error)
    engine = state.get_engine()
    (record,) = engine.studies()
    assert record["study_id"] in texts(at.success)
    assert [(p["seed"], p["value"]) for p in record["points"]] == [(0, "1"), (0, "4"), (1, "1"), (1, "4")]
    configs = {r["run_id"]: r["config"] for r in engine.runs()}
    for p in record["points"]:
        assert configs[p["run_id"]]["method_params"]["dgl"]["alpha"] == float(p["value"])
        assert configs[p["run_id"]]["seed"] == p["seed"]
    engine.cancel_study(record["study_id"])


def test_experiment_refuses_a_bad_sweep_and_writes_nothing(home):  # noqa: F811
    at = page("experiment").run()
    at.selectbox(key="study_sweep_key").set_value("train.lr")
    at.text_input(key="study_sweep_values").set_value("0.01,fast")
    at.run()
    at.button(key="start").click().run()
    assert not at.exception
    assert "--sweep train.lr" in texts(at.error) and "fast" in texts(at.error)
    assert state.get_engine().runs() == [] and state.get_engine().studies() == []


def test_main_routes_to_the_studies_page(study):
    at = AppTest.from_file(str(APP / "main.py"), default_timeout=60).run()
    at.switch_page("pages/studies.py").run()
    assert not at.exception and at.title[0].value == "Studies"


def test_results_of_a_study_run_point_to_its_study(study):
    home, study_id = study
    run_id = StudyStore(home).read(study_id)["points"][0]["run_id"]
    at = page("results", run=run_id).run()
    assert not at.exception
    shown = texts(at.markdown) + " | " + " | ".join(str(e.proto) for e in at.get("page_link"))
    assert f"Part of study {study_id}" in shown
