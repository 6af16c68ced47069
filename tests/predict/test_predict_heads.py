"""Predict with a method that has unimodal heads of its own (DI-MML): the saved model reloads
with its heads, its fused answer is the method's own (DI-MML's confidence-weighted mix of its
three heads), and the heads' answers come back as the head mode."""

from __future__ import annotations

import pytest
import torch

from dgl_engine.methods import create_method
from dgl_engine.predict import load_predictor, predict_file
from dgl_engine.samples import write_samples
from dgl_engine.store import RunStore
from tests.conftest import small_config
from tests.predict.conftest import train_run


def test_di_mml_model_predicts_with_its_heads(tmp_path):
    config = small_config(methods=("di-mml", "joint"), samples_per_class=12, epochs=1, evals_per_epoch=1,
                          diagnostics_every=1000)
    run_id = train_run(tmp_path, config, "heads")
    store = RunStore(tmp_path)
    predictor = load_predictor(store, run_id, "di-mml")
    assert set(predictor.model.heads) == {"audio", "visual", "shared"}
    (clip,) = write_samples(store, run_id, tmp_path / "samples", n=1)
    p = predict_file(predictor, clip)
    model, norm = predictor.model, predictor.normalization
    with torch.no_grad():
        h_a = model.encode("audio", norm.audio(p.spectrogram)[None])
        h_v = model.encode("visual", norm.visual(p.frames)[None])
        fused = torch.softmax(create_method("di-mml").predict(model, h_a, h_v), 1)[0]
        heads = {m: torch.softmax(model.heads[m](h), 1)[0] for m, h in (("audio", h_a), ("visual", h_v))}
    assert p.fused["probs"] == pytest.approx(fused.tolist(), abs=1e-5)
    d = p.to_dict()
    for m in ("audio", "visual"):
        assert d[f"{m}_head"]["probs"] == pytest.approx(heads[m].tolist(), abs=1e-5)
    assert "head mode" in p.summary()
    joint = predict_file(load_predictor(store, run_id, "joint"), clip).to_dict()
    assert "audio_head" not in joint and "visual_head" not in joint
