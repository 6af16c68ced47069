"""The Compare view under AppTest over two real short runs that differ in their learning rate,
and the shareable links and chart exports of Results, Studies and Compare."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.test_pages import APP, page, texts
from tests.conftest import small_config

TOKEN = "my-secret-session-token"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """(home, [run_id, ...]): two finished joint + dgl runs of a second each, lr 0.03 (seed 0) and 0.1 (seed 1)."""
    from dgl_engine.lifecycle import run
    from dgl_engine.store import RunStore

    home = tmp_path_factory.mktemp("compare-runs")
    ids = []
    for seed, lr in ((0, 0.03), (1, 0.1)):
        outcome = run(small_config(methods=("joint", "dgl"), samples_per_class=16, epochs=1, seed=seed, lr=lr), RunStore(home))
        assert outcome.status == "finished", outcome.error
        ids.append(outcome.run_id)
    return home, ids


@pytest.fixture
def compared(home, two_runs):
    """(home, [run_id, run_id]): copies of the two runs in the test's own store, named apart."""
    src, ids = two_runs
    for rid, name in zip(ids, ("slow lr", "fast lr")):
        shutil.copytree(src / rid, home / rid)
        record = json.loads((home / rid / "run.json").read_text())
        record["config"]["name"] = f"{name} on synthetic"
        (home / rid / "run.json").write_text(json.dumps(record))
    return home, ids


def _link(at) -> str:
    (code,) = [c for c in at.code if "?" in str(c.value)]
    return str(code.value)


def _download_keys(at) -> set[str]:
    return {b.proto.id.rsplit("-", 1)[-1] for b in at.get("download_button")}  # ids end with the widget's key


def _export_format(chart) -> str:
    return json.loads(chart.proto.config)["toImageButtonOptions"]["format"]


def test_compare_opens_the_runs_of_the_link_with_overlay_metrics_and_diff(compared):
    _, (a, b) = compared
    at = page("compare", runs=f"{a},{b}", session=TOKEN).run()
    assert not at.exception and not at.error, (at.exception, texts(at.error))
    assert at.multiselect(key="compare_runs").value == [a, b]
    (chart,) = at.get("plotly_chart")
    assert "validation accuracy: fused" in chart.proto.spec and _export_format(chart) == "png"

    metrics, settings = (df.value for df in at.dataframe)
    assert len(metrics) == 4 and set(metrics["method"]) == {"joint", "dgl"}  # 2 runs x 2 methods
    assert [r.split(" · ")[0] for r in dict.fromkeys(metrics["run"])] == ["slow lr on synthetic", "fast lr on synthetic"]
    rows = settings.set_index("setting")
    assert {"train.lr", "seed", "name"} <= set(rows.index) and "train.epochs" not in rows.index  # only what differs
    assert rows.loc["train.lr"].tolist() == ["0.03", "0.1"]
    assert {"compare_test_csv", "compare_diff_csv"} <= _download_keys(at)

    link = _link(at)
    assert link == f"?runs={a},{b}" and TOKEN not in link and "session" not in link and "admin" not in link

    # Colour by the learning rate; another curve; SVG for the export button.
    assert "train.lr" in at.selectbox(key="compare_colour").options
    at.selectbox(key="compare_colour").set_value("train.lr").run()
    assert not at.exception
    names = {t["name"] for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]}
    assert names == {"train.lr = 0.03 · joint", "train.lr = 0.03 · dgl", "train.lr = 0.1 · joint", "train.lr = 0.1 · dgl"}
    assert "train.lr" in at.dataframe[0].value.columns  # the test metrics say each run's value
    offered = at.selectbox(key="compare_metric").options  # every curve the runs' events hold, by its words
    assert {"gradient ratio at the visual encoder: fused / unimodal norm", "training loss: fused",
            "validation accuracy: audio (slice mode)"} <= set(offered)
    at.selectbox(key="compare_metric").set_value("ratio/visual").run()
    at.radio(key="export_format_pick").set_value("svg").run()
    assert not at.exception
    (chart,) = at.get("plotly_chart")
    assert "gradient ratio at the visual encoder" in chart.proto.spec and _export_format(chart) == "svg"


def test_compare_filters_narrow_the_runs_and_the_choice_goes_to_the_url(compared):
    _, (a, b) = compared
    at = page("compare").run()
    assert not at.exception and "Choose runs to compare" in texts(at.info)
    at.text_input(key="compare_text").set_value("fast").run()
    assert len(at.multiselect(key="compare_runs").options) == 1
    at.button(key="compare_add_all").click().run()
    assert not at.exception and at.multiselect(key="compare_runs").value == [b]
    assert at.query_params["runs"] in (b, [b])
    assert "Choose a second run" in texts(at.caption)
    at.text_input(key="compare_text").set_value("").run()
    at.multiselect(key="compare_runs").set_value([b, a]).run()
    assert not at.exception and len(at.dataframe) == 2  # test metrics and the diff


def test_results_and_studies_share_links_without_the_session_token(compared):
    from dgl_engine.config import experiment_from_dict
    from dgl_engine.study import Study, StudyStore

    home, (a, b) = compared
    at = page("results", run=a, session=TOKEN).run()
    assert not at.exception
    link = _link(at)
    assert link == f"?run={a}" and TOKEN not in link
    assert at.get("plotly_chart") and all(_export_format(c) == "png" for c in at.get("plotly_chart"))

    store = StudyStore(home)
    study_id = store.new_id()
    config = experiment_from_dict(json.loads((home / a / "run.json").read_text())["config"])
    store.create(study_id, Study(config, (0, 1)), owner=TOKEN, run_ids=[a, b])
    at = page("studies", study=study_id, session=TOKEN).run()
    assert not at.exception, at.exception
    link = _link(at)
    assert link == f"?study={study_id}" and TOKEN not in link
    assert {"study_summary_csv", "study_paired_csv", "study_runs_csv"} <= _download_keys(at)
    assert at.get("plotly_chart") and all(_export_format(c) == "png" for c in at.get("plotly_chart"))


def test_main_routes_to_compare(compared):
    at = AppTest.from_file(str(APP / "main.py"), default_timeout=60).run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception and at.title[0].value == "Compare runs"


def test_compare_keeps_its_runs_when_opened_without_a_link_and_follows_a_new_link(compared):
    _, (a, b) = compared
    at = page("compare", runs=a).run()
    assert at.multiselect(key="compare_runs").value == [a]
    at.query_params.pop("runs")  # opened again from the sidebar: no ?runs=
    at.run()
    assert at.multiselect(key="compare_runs").value == [a] and at.query_params["runs"] in (a, [a])
    at.query_params["runs"] = f"{b},{a}"  # a new link
    at.run()
    assert not at.exception and at.multiselect(key="compare_runs").value == [b, a]
