"""OPM checked against an independent computation written from the paper and the official
``Classifier.forward`` / ``calcu_q`` / ``Modality_drop.execute_drop``: slice scores and drop
probabilities by hand, the masks drawn in the method's documented order (one uniform for
"drop at all?", then (B, 2) uniforms, kept where >= q), the rescale 1 / (1 - theta), and the
gradient of the fused loss on the dropped features compared per parameter."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from dgl_engine.methods import create_method
from tests.engine.test_dgl_routing import _params
from tests.engine.test_methods_field import _assert_grads_equal, _grad, _setup64


def _slice_scores(ref, h_a, h_v, labels):
    """Official performance_1 / _2: W_m h_m + b / 2 from the head's weights, summed true-class softmax."""
    head = ref.fusion_head
    if hasattr(head, "fc"):
        w, b, d = head.fc.weight, head.fc.bias, h_a.shape[1]
        w_a, w_v = w[:, :d], w[:, d:]
    else:
        w_a, w_v, b = head.fc_audio.weight, head.fc_visual.weight, head.bias
    t_a, t_v = h_a @ w_a.T + b / 2, h_v @ w_v.T + b / 2
    pick = lambda t: sum(float(torch.softmax(t.detach(), 1)[i, labels[i]]) for i in range(len(labels)))
    return pick(t_a), pick(t_v)


def _q(s_a, s_v, q_base, lam):
    r_a, r_v = math.tanh(max(s_a / s_v - 1, 0)), math.tanh(max(s_v / s_a - 1, 0))
    q_a = q_base * (1 + lam * r_a) if r_a > 0 else 0.0
    q_v = q_base * (1 + lam * r_v) if r_v > 0 else 0.0
    return min(q_a, 1.0), min(q_v, 1.0)


@pytest.mark.parametrize("fusion", ["concat", "sum"])
@pytest.mark.parametrize("seed", [0, 5])
def test_opm_drops_the_dominant_modality_and_rescales(fusion, seed):
    hp = {"q_base": 0.6, "lam": 0.8, "p_exe": 1.0, "warmup_share": 0}
    model, audio, visual, labels = _setup64(fusion, seed)
    ref = copy.deepcopy(model)
    method = create_method("opm", hp, torch.Generator().manual_seed(11))
    method.start_epoch(model, 0, 10, 3)
    out = method.backward(model, audio, visual, labels)

    h_a, h_v = ref.encode("audio", audio), ref.encode("visual", visual)
    s_a, s_v = _slice_scores(ref, h_a, h_v, labels)
    q_a, q_v = _q(s_a, s_v, hp["q_base"], hp["lam"])
    assert (q_a == 0) != (q_v == 0)  # exactly the dominant one can be dropped
    g = torch.Generator().manual_seed(11)
    assert float(torch.rand(1, generator=g)) >= 1 - hp["p_exe"]
    u = torch.rand(len(labels), 2, generator=g)
    keep_a, keep_v = (u[:, 0] >= q_a).double(), (u[:, 1] >= q_v).double()
    assert 0 < (keep_a * keep_v).sum() < len(labels)  # some sample lost a feature
    theta = (h_a.shape[1] * q_a + h_v.shape[1] * q_v) / (h_a.shape[1] + h_v.shape[1])
    fused = F.cross_entropy(ref.fusion_head(h_a * keep_a[:, None] / (1 - theta), h_v * keep_v[:, None] / (1 - theta)), labels)
    _assert_grads_equal(_params(model), _grad(fused, _params(ref)), f"opm {fusion}")
    torch.testing.assert_close(out["fused"], fused.detach())
    assert float(out["q_audio"]) == pytest.approx(q_a) and float(out["q_visual"]) == pytest.approx(q_v)
    assert float(out["dropped_audio"]) == pytest.approx(1 - float(keep_a.mean()))
    assert float(out["dropped_visual"]) == pytest.approx(1 - float(keep_v.mean()))


def test_opm_warm_up_and_skipped_draws_train_like_joint():
    model, audio, visual, labels = _setup64("concat", seed=1)
    ref = copy.deepcopy(model)
    joint = F.cross_entropy(ref(audio, visual), labels)
    expected = _grad(joint, _params(ref))
    # warm-up: epochs 0-5 of 100 by default (official `warm_up = 1 if epoch <= 5`)
    method = create_method("opm")
    for epoch, active in ((0, False), (5, False), (6, True)):
        method.start_epoch(model, epoch, 10, 100)
        assert method.active is active
    method.start_epoch(model, 5, 10, 100)
    m = copy.deepcopy(model)
    out = method.backward(m, audio, visual, labels)
    _assert_grads_equal(_params(m), expected, "opm warm-up")
    assert float(out["q_audio"]) == 0 and float(out["q_visual"]) == 0
    # p_exe = 0: active, probabilities computed, but the drop is never executed
    method = create_method("opm", {"p_exe": 0.0, "warmup_share": 0})
    m = copy.deepcopy(model)
    out = method.backward(m, audio, visual, labels)
    _assert_grads_equal(_params(m), expected, "opm p_exe=0")
    assert float(out["q_audio"]) + float(out["q_visual"]) > 0 and float(out["dropped_audio"]) == 0
    torch.testing.assert_close(out["total"], joint.detach())


def test_opm_is_deterministic_per_generator_seed():
    model, audio, visual, labels = _setup64("sum", seed=2)
    grads = []
    for _ in range(2):
        m = copy.deepcopy(model)
        method = create_method("opm", {"p_exe": 0.7, "warmup_share": 0}, torch.Generator().manual_seed(3))
        for _ in range(3):
            m.zero_grad()
            method.backward(m, audio, visual, labels)
        grads.append(torch.cat([p.grad.flatten() for p in m.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)


@pytest.mark.parametrize("epochs, first_dropping_epoch", [(100, 6), (6, 1), (1, 1)])
def test_warm_up_is_the_official_share_of_the_run(epochs, first_dropping_epoch):
    """Official: no drop while epoch <= 5 of 100. As a share of the run, a 6-epoch lab run warms up
    for one epoch instead of never dropping (and a one-epoch run never drops)."""
    method = create_method("opm")
    active = []
    for epoch in range(epochs):
        method.start_epoch(None, epoch, 10, epochs)
        active.append(method.active)
    assert active == [epoch >= first_dropping_epoch for epoch in range(epochs)]
