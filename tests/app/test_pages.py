"""Every page under AppTest, against a real engine over a store holding a real small run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app import state

APP = Path(__file__).resolve().parents[2] / "app"
TIMEOUT = 60


def page(name: str, **query) -> AppTest:
    at = AppTest.from_file(str(APP / "pages" / f"{name}.py"), default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    return at


def _copy_run(src_home: Path, run_id: str, dst_home: Path, new_id: str | None = None) -> str:
    new_id = new_id or run_id
    shutil.copytree(src_home / run_id, dst_home / new_id)
    if new_id != run_id:
        record = json.loads((dst_home / new_id / "run.json").read_text())
        record["run_id"] = new_id
        record["created"] += 1
        (dst_home / new_id / "run.json").write_text(json.dumps(record))
    return new_id


@pytest.fixture
def stored(home, small_run):
    """(home, run_id): the store holds a copy of the finished small run."""
    src, run_id = small_run
    return home, _copy_run(Path(src), run_id, home)


def texts(elements) -> str:
    return " | ".join(str(e.value) for e in elements)


# ----- Experiment --------------------------------------------------------------------------------
def test_experiment_shows_defaults_and_routing(home):
    at = page("experiment").run()
    assert not at.exception
    assert at.multiselect(key="exp_methods").value == ["audio-only", "visual-only", "joint", "dgl"]
    assert at.number_input(key="exp_epochs").value == 6 and at.number_input(key="exp_lr").value == pytest.approx(0.03)
    assert at.selectbox(key="exp_regime").value == "default"
    assert at.number_input(key="exp_param_dgl_alpha").value == pytest.approx(2.0)  # DGL's own hyperparameter
    assert "trains only the head" in texts(at.caption)  # DGL's routing sentence
    assert at.button(key="start").label == "Start experiment"
    assert not at.warning  # the defaults are safe


def test_experiment_opens_a_shared_link_prefilled_and_shows_an_estimate(home):
    from app import forms

    token = forms.share_token(forms.defaults() | {"exp_visual_reliability": 0.35, "exp_epochs": 2})
    at = page("experiment", exp=token).run()
    assert not at.exception and not at.error
    assert at.slider(key="exp_visual_reliability").value == pytest.approx(0.35)
    assert at.number_input(key="exp_epochs").value == 2
    assert "holds the settings of the link" in texts(at.success)
    assert "should take about" in texts(at.caption)
    at.number_input(key="exp_epochs").set_value(400).run()  # 400 epochs of the default: hours
    assert "would take about" in texts(at.warning)
    bad = page("experiment", exp="not-a-link").run()
    assert not bad.exception and "were not used" in texts(bad.error)


def test_runs_are_known_by_name_dataset_status_and_time(stored):
    _, run_id = stored
    engine = state.get_engine()
    record = next(r for r in engine.runs() if r["run_id"] == run_id)
    label = state.run_label(record)
    assert "synthetic (default)" in label and "finished" in label and run_id not in label
    named = state.run_label({**record, "config": {**record["config"], "name": "lab 1"}})
    assert named.startswith("lab 1 · synthetic (default) · finished")


def test_experiment_preset_moves_sliders(home):
    at = page("experiment").run()
    at.selectbox(key="exp_regime").set_value("visual-dominant").run()
    assert at.slider(key="exp_audio_difficulty").value == pytest.approx(0.8)
    assert at.slider(key="exp_visual_reliability").value == pytest.approx(0.8)


def test_experiment_warns_on_risky_settings(home):
    at = page("experiment").run()
    at.number_input(key="exp_param_dgl_alpha").set_value(8.0).run()
    assert "alpha x lr" in texts(at.warning)
    at.selectbox(key="exp_optimizer").set_value("adam").run()
    assert "Under Adam" in texts(at.warning)


@pytest.mark.parametrize(
    "widget, key, value, message",
    [("multiselect", "exp_methods", [], "choose at least one method"),
     ("number_input", "exp_lr", 0.0, "learning rate (--lr) must be a number in (0, 10]")],
)
def test_experiment_refuses_impossible_settings(home, widget, key, value, message):
    at = page("experiment").run()
    getattr(at, widget)(key=key).set_value(value).run()
    at.button(key="start").click().run()
    assert not at.exception
    assert message in texts(at.error)
    assert state.get_engine().runs() == []  # nothing submitted, nothing written


def test_experiment_refuses_cuda_without_gpu(home):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    at = page("experiment").run()
    at.segmented_control(key="exp_device").set_value("cuda").run()
    at.button(key="start").click().run()
    assert "no CUDA GPU" in texts(at.error) and state.get_engine().runs() == []


def test_experiment_start_submits_a_run(home):
    at = page("experiment").run()
    at.multiselect(key="exp_methods").set_value(["joint", "dgl"])
    at.number_input(key="exp_samples_per_class").set_value(16)
    at.slider(key="exp_num_classes").set_value(3)
    at.number_input(key="exp_epochs").set_value(1)
    at.number_input(key="exp_batch_size").set_value(16)
    at.text_input(key="exp_name").set_value("tiny from the form")
    at.run()
    at.button(key="start").click().run()
    assert not at.exception and not at.error
    run_id = at.session_state["run_id"]
    assert at.query_params["run"] == run_id  # a reload keeps watching it
    assert run_id in texts(at.success)
    snap = state.get_engine().wait(run_id, timeout=300)
    assert snap.status == "finished", snap.error
    assert list(snap.config["methods"]) == ["joint", "dgl"] and snap.config["name"] == "tiny from the form"
    assert snap.config["data"]["synthetic"]["num_classes"] == 3 and set(snap.results) == {"joint", "dgl"}


def test_experiment_previews_and_trains_on_a_real_dataset(home, shared_data, monkeypatch):
    """CREMA-D samples under DGL_LAB_DATA: listed, counted per class, previewed, trained from the form."""
    monkeypatch.setenv("DGL_LAB_DATA", str(shared_data))
    at = page("experiment").run()
    choice = f"cremad::{(shared_data / 'cremad').resolve()}"
    at.selectbox(key="exp_dataset_choice").set_value(choice).run()
    assert not at.exception and not at.error, texts(at.error)
    assert at.selectbox(key="exp_preprocessing").value == "lab"
    assert at.text_input(key="exp_splits").value == ""  # CREMA-D's split folder can be set from the form
    assert any("ANG" in str(df.value) or "ANG" in str(getattr(df.value, "to_string", lambda: "")()) for df in at.dataframe)
    # The preview decodes real clips (FLV video + its sound) and offers them to watch and hear.
    at.selectbox(key="exp_preview_class").set_value("ANG").run()
    assert not at.exception and not at.error, texts(at.error)
    assert len(at.get("audio")) >= 1 and len(at.get("image")) >= 1
    at.multiselect(key="exp_methods").set_value(["joint", "dgl"])
    at.number_input(key="exp_epochs").set_value(1)
    at.number_input(key="exp_batch_size").set_value(2)
    at.run()
    at.button(key="start").click().run()
    assert not at.exception and not at.error, texts(at.error)
    snap = state.get_engine().wait(at.session_state["run_id"], timeout=300)
    assert snap.status == "finished", snap.error
    assert snap.config["data"]["dataset"] == "cremad" and set(snap.results) == {"joint", "dgl"}


# ----- Live --------------------------------------------------------------------------------------
def test_live_without_runs_says_so(home):
    at = page("live").run()
    assert not at.exception
    assert "No runs yet" in texts(at.info)


def test_live_draws_a_finished_run(stored):
    _, run_id = stored
    at = page("live", run=run_id).run()
    assert not at.exception and not at.error
    assert "Finished in" in texts(at.success)
    assert at.get("plotly_chart")  # accuracy, gradients, losses
    assert len(at.get("plotly_chart")) >= 4
    assert at.get("progress")[0].value == 100  # finished: full bar
    assert at.dataframe and "dgl" in at.dataframe[0].value["method"].tolist()
    assert "zero mode" in texts(at.caption)


def test_live_finds_the_newest_run_without_query(stored):
    _, run_id = stored
    at = page("live").run()
    assert at.session_state["run_id"] == run_id and at.query_params["run"] == run_id


def test_live_shows_queued_and_stop_cancels(stored):
    """A second experiment submitted while one runs is queued; Stop cancels the running one."""
    import dataclasses

    from dgl_engine.config import ExperimentConfig, TrainConfig

    engine = state.get_engine()
    base = ExperimentConfig()
    big = dataclasses.replace(base, device="cpu", train=dataclasses.replace(TrainConfig(), epochs=50),
                              data=dataclasses.replace(base.data, synthetic=dataclasses.replace(base.data.synthetic, samples_per_class=200)))
    first = engine.submit(big, owner="me")
    second = engine.submit(dataclasses.replace(big, seed=1), owner="me")
    try:
        at = page("live", run=second, session="me").run()
        assert not at.exception
        assert "0 runs ahead of it in the queue, and every worker is busy" in texts(at.info)
        other = page("live", run=first, session="someone-else").run()  # another student's browser
        assert not other.exception and not [b for b in other.button if b.key == "stop"]
        assert "started by another session" in texts(other.caption)
        at = page("live", run=first, session="me").run()
        assert not at.exception
        at.button(key="stop").click().run()
        assert engine.wait(first, timeout=300).status == "cancelled"
    finally:
        engine.cancel(first)
        engine.cancel(second)
    assert engine.wait(second, timeout=30).status == "cancelled"


# ----- Results -----------------------------------------------------------------------------------
def test_results_table_bars_confusion_downloads(stored):
    home, run_id = stored
    at = page("results", run=run_id).run()
    assert not at.exception and not at.error
    metrics = at.dataframe[1].value
    assert metrics["method"].tolist() == ["audio-only", "visual-only", "joint", "dgl"]
    assert len(at.get("plotly_chart")) >= 3  # modality bars, probes, confusion matrix
    labels = [b.proto.label for b in at.get("download_button")]
    assert any("CSV" in label for label in labels) and any("JSON" in label for label in labels)
    assert "dgl model (.pt)" in labels and "dgl sidecar (.json)" in labels
    assert at.json  # the run's config


def test_results_delete_needs_confirmation(stored):
    home, run_id = stored
    at = page("results", run=run_id).run()
    assert at.button(key="delete").disabled
    at.checkbox(key=f"sure_{run_id}").check().run()
    at.button(key="delete").click().run()
    assert not at.exception
    assert not (home / run_id).exists() and state.get_engine().runs() == []


def test_results_sends_runs_to_compare(stored):
    """Overlays of several runs live on Compare (tests/app/test_compare_page.py); Results links there with its run."""
    home, run_id = stored
    at = page("results", run=run_id).run()
    assert not at.exception
    assert "Compare it with other runs" in texts(at.markdown)  # a page run alone: the link says where to go


# ----- Why it happens ----------------------------------------------------------------------------
def test_why_slider_and_measured_ratio(stored):
    _, run_id = stored
    at = page("why").run()
    assert not at.exception
    before = texts(at.caption)
    at.slider(key="why_other").set_value(6.0).run()
    assert texts(at.caption) != before and "under fusion" in texts(at.caption)
    assert len(at.get("plotly_chart")) == 2  # the toy computation and the measured ratio
    assert run_id in texts(at.caption)


def test_why_without_runs(home):
    at = page("why").run()
    assert not at.exception and len(at.get("plotly_chart")) == 1
    assert "No run yet" in texts(at.info)


# ----- the entry point ---------------------------------------------------------------------------
def test_main_routes_to_every_page(stored):
    _, run_id = stored
    at = AppTest.from_file(str(APP / "main.py"), default_timeout=TIMEOUT).run()
    assert not at.exception and at.title[0].value == "Experiment"
    for path, title in (("pages/live.py", "Live"), ("pages/results.py", "Results"), ("pages/why.py", "Why it happens")):
        at.switch_page(path).run()
        assert not at.exception, (path, at.exception)
        assert at.title[0].value == title


def test_why_shows_the_ablations_of_the_user_s_own_run(home):
    from dgl_engine.lifecycle import run
    from dgl_engine.store import RunStore
    from tests.conftest import small_config

    outcome = run(small_config(methods=("joint", "dgl-no-fused-cut", "dgl-no-uni-cut", "dgl"), samples_per_class=20, epochs=1),
                  RunStore(home))
    assert outcome.status == "finished", outcome.error
    at = page("why", run=outcome.run_id).run()
    assert not at.exception and not at.error
    table = at.dataframe[-1].value
    assert table["method"].tolist() == ["joint", "dgl-no-fused-cut", "dgl-no-uni-cut", "dgl"]
    assert "What each of DGL's two cuts contributes" in texts(at.subheader)
