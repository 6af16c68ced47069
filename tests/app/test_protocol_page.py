"""The Experiment page offers the paper protocol on CREMA-D, moves the form to it and says what it costs."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest


APP = Path(__file__).resolve().parents[2] / "app"


def test_choosing_the_paper_protocol_moves_the_form_and_warns(home, shared_data, monkeypatch):
    monkeypatch.setenv("DGL_LAB_DATA", str(shared_data))
    at = AppTest.from_file(str(APP / "pages" / "experiment.py"), default_timeout=60).run()
    at.selectbox(key="exp_dataset_choice").set_value(f"cremad::{(shared_data / 'cremad').resolve()}").run()
    assert at.selectbox(key="exp_protocol").value == "lab"
    assert not any("ResNet-18" in str(w.value) for w in at.warning)
    at.selectbox(key="exp_protocol").set_value("paper").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("hours on a CPU, minutes on a GPU" in str(w.value) for w in at.warning)
    assert at.selectbox(key="exp_preprocessing").value == "paper-exact"
    assert at.selectbox(key="exp_encoder").value == "resnet18"
    assert at.number_input(key="exp_epochs").value == 100 and at.number_input(key="exp_lr").value == 0.002
    assert at.number_input(key="exp_param_dgl_alpha").value == 4.0
    assert at.number_input(key="exp_val_fraction").value == 0.0
    at.number_input(key="exp_epochs").set_value(2).run()
    assert any("train.epochs is 2 where the paper protocol uses 100" in str(w.value) for w in at.warning)
    at.selectbox(key="exp_protocol").set_value("lab").run()
    assert at.number_input(key="exp_epochs").value == 6 and at.selectbox(key="exp_encoder").value == "tiny"
