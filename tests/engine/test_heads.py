"""Methods' own unimodal heads (``Method.heads``, ``AVModel.add_heads``) and the ``head``
evaluation mode: deterministic per seed, neutral to the lockstep start, reported only for the
methods that have heads, and saved / reloaded with the model for Predict."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from dgl_engine.config import ModelConfig
from dgl_engine.evaluate import evaluate
from dgl_engine.lifecycle import load_data, model_sidecar
from dgl_engine.methods import METHODS, create_method
from dgl_engine.models.av_model import build_model
from dgl_engine.predict import fused_logits, load_predictor
from dgl_engine.store import RunStore
from dgl_engine.trainer import train_experiment

from tests.conftest import small_config

HEADED = sorted(n for n, c in METHODS.items() if c.heads)


def test_the_three_methods_declare_their_heads():
    assert {n: METHODS[n].heads for n in HEADED} == {
        "gblend": ("audio", "visual"), "mlb": ("audio", "visual"), "di-mml": ("audio", "visual", "shared")}


@pytest.mark.parametrize("fusion", ["concat", "sum"])
def test_heads_are_deterministic_per_seed_and_leave_the_shared_weights_alone(fusion):
    init = build_model(ModelConfig(fusion=fusion), 6, seed=3)
    before = {k: v.clone() for k, v in init.state_dict().items()}
    a, b, c = (copy.deepcopy(init) for _ in range(3))
    a.add_heads(("audio", "visual", "shared"), 3)
    b.add_heads(("audio", "visual", "shared"), 3)
    c.add_heads(("audio", "visual", "shared"), 4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    heads = [k for k in sa if k.startswith("heads.")]
    assert sorted(heads) == sorted(f"heads.{h}.{p}" for h in ("audio", "visual", "shared") for p in ("weight", "bias"))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in heads if k.endswith("weight"))
    for k, v in before.items():  # the encoders and the fusion head: untouched
        assert torch.equal(sa[k], v) and torch.equal(sc[k], v), k
    assert a.heads["audio"].weight.shape == (6, init.audio_encoder.out_dim)
    assert not torch.equal(sa["heads.audio.weight"], sa["heads.visual.weight"])  # each head its own draw


def test_joint_and_gblend_start_from_identical_shared_weights_in_a_run(monkeypatch):
    config = small_config(methods=("joint", "gblend", "di-mml"), samples_per_class=8, epochs=1)
    data = load_data(config)
    first = {}
    for cls in {METHODS["joint"], METHODS["gblend"], METHODS["di-mml"]}:
        original = cls.backward

        def recording(self, model, audio, visual, labels, _original=original):
            first.setdefault(self.name, {k: v.detach().clone() for k, v in model.state_dict().items()})
            return _original(self, model, audio, visual, labels)

        monkeypatch.setattr(cls, "backward", recording)
    result = train_experiment(config, data, lambda e: None)
    joint, gblend, dimml = first["joint"], first["gblend"], first["di-mml"]
    assert set(gblend) - set(joint) == {f"heads.{h}.{p}" for h in ("audio", "visual") for p in ("weight", "bias")}
    for k in joint:
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(joint[k], gblend[k]) and torch.equal(joint[k], dimml[k]), k
    # The heads themselves: the same draw for both methods of one seed (seed + a fixed offset).
    assert torch.equal(gblend["heads.audio.weight"], dimml["heads.audio.weight"])
    # Head-mode metrics for the methods with heads only.
    assert "acc_audio_head" in result.test["gblend"] and "acc_visual_head" in result.test["di-mml"]
    assert not any(k.endswith("_head") for k in result.test["joint"])


def test_head_mode_is_the_heads_accuracy_and_only_for_methods_with_heads():
    config = small_config(methods=("joint",), samples_per_class=6, epochs=1)
    data = load_data(config)
    model = build_model(config.model, data.num_classes, 0).eval()
    joint_metrics, _ = evaluate(model, create_method("joint"), data.val, data.num_classes, "cpu")
    assert not any(k.endswith("_head") for k in joint_metrics)
    model.add_heads(("audio", "visual"), 0)
    metrics, _ = evaluate(model, create_method("mlb"), data.val, data.num_classes, "cpu")
    with torch.no_grad():
        for m, x in (("audio", data.val.audio), ("visual", data.val.visual)):
            expected = float((model.heads[m](model.encode(m, x)).argmax(1) == data.val.labels).float().mean())
            assert metrics[f"acc_{m}_head"] == pytest.approx(expected)
    assert metrics["acc_audio"] == joint_metrics["acc_audio"]  # zero mode still reads the fusion head
    # Results' confusion-matrix picker offers the head mode: its counts are the heads' answers.
    detailed, confusion = evaluate(model, create_method("mlb"), data.val, data.num_classes, "cpu", detailed=True)
    _, joint_confusion = evaluate(model, create_method("joint"), data.val, data.num_classes, "cpu", detailed=True)
    assert set(confusion) == {"fused", "audio", "visual", "audio_head", "visual_head"}
    assert set(joint_confusion) == {"fused", "audio", "visual"}
    with torch.no_grad():
        pred = model.heads["visual"](model.encode("visual", data.val.visual)).argmax(1)
    expected = torch.zeros(data.num_classes, data.num_classes, dtype=torch.long)
    for t, p in zip(data.val.labels.tolist(), pred.tolist()):
        expected[t, p] += 1
    assert confusion["visual_head"] == expected.tolist()
    assert 0 <= detailed["macro_f1_visual_head"] <= 1


@pytest.mark.parametrize("name", ["gblend", "di-mml"])
def test_a_saved_model_reloads_with_its_heads_and_predicts_identically(tmp_path, name):
    config = small_config(methods=(name,), samples_per_class=6, epochs=1)
    data = load_data(config)
    method = create_method(name, {"fusion_temperature": 0.5} if name == "di-mml" else None)
    model = build_model(config.model, data.num_classes, 0)
    model.add_heads(method.heads, 0)
    with torch.no_grad():  # trained-looking heads: not their initial values
        for p in model.heads.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    model.eval()
    if name == "di-mml":  # a non-default hyperparameter its predict reads, carried by the sidecar
        config = dataclasses.replace(config, method_params={name: {"fusion_temperature": 0.5}})
    store = RunStore(tmp_path)
    run_id = store.create(config.to_dict())
    store.save_model(run_id, name, model.state_dict(), model_sidecar(config, data, name, {}))
    predictor = load_predictor(store, run_id, name)
    assert set(predictor.model.heads) == set(method.heads)
    reloaded = predictor.model.state_dict()
    for k, v in model.state_dict().items():
        assert torch.equal(reloaded[k], v), k
    with torch.no_grad():
        h_a = model.encode("audio", data.val.audio[:4])
        h_v = model.encode("visual", data.val.visual[:4])
        torch.testing.assert_close(fused_logits(predictor, h_a, h_v), method.predict(model, h_a, h_v))


def test_a_checkpoint_with_an_unknown_or_misshapen_head_is_refused_in_one_line():
    from dgl_engine.sidecar import SidecarError, _check_state, state_heads

    assert state_heads({"heads.audio.weight": torch.zeros(6, 4), "heads.audio.bias": torch.zeros(6)}) == ("audio",)
    with pytest.raises(SidecarError, match="head 'oracle'"):
        state_heads({"heads.oracle.weight": torch.zeros(6, 4)})
    with pytest.raises(SidecarError, match="heads.visual.weight has 5 rows"):
        _check_state({"fusion_head.fc.weight": torch.zeros(6, 8), "heads.visual.weight": torch.zeros(5, 4)}, 6)
