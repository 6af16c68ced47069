"""InfoReg checked against an independent computation written from the paper and the official
``train_epoch``: the summed gradient of the fused and the two head-slice losses, the scores and
regulation strengths by hand, the proximal pull toward the epoch-start weights on the faster
encoder only, the Fisher trace of each encoder accumulated over an epoch's steps, and the
prime-learning-window test on the trace history at the next epoch's start."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dgl_engine.methods import create_method
from tests.engine.test_dgl_routing import _params
from tests.engine.test_methods_field import _assert_grads_equal, _grad, _setup64


def _slices(ref, h_a, h_v):
    head = ref.fusion_head
    if hasattr(head, "fc"):
        d = h_a.shape[1]
        w_a, w_v, b = head.fc.weight[:, :d], head.fc.weight[:, d:], head.fc.bias
    else:
        w_a, w_v, b = head.fc_audio.weight, head.fc_visual.weight, head.bias
    return h_a @ w_a.T + b / 2, h_v @ w_v.T + b / 2


def _expected(ref, start, audio, visual, labels, open_=(True, True), betas=(0.95, 0.1)):
    """Expected .grad per parameter of ``ref`` (its encoders pulled toward ``start``), the
    regulation strengths and the per-encoder Fisher trace of this step."""
    h_a, h_v = ref.encode("audio", audio), ref.encode("visual", visual)
    z_a, z_v = _slices(ref, h_a, h_v)
    total = F.cross_entropy(ref.fusion_head(h_a, h_v), labels) + F.cross_entropy(z_a, labels) + F.cross_entropy(z_v, labels)
    grads = dict(zip([id(p) for p in _params(ref)], _grad(total, _params(ref))))
    score = lambda z: sum(float(torch.softmax(z.detach(), 1)[i, labels[i]]) for i in range(len(labels)))
    s_a, s_v = score(z_a), score(z_v)
    beta = {"audio": betas[0] * math.exp(math.tanh(s_a - s_v)) if s_a > s_v and open_[0] else 0.0,
            "visual": betas[1] * math.exp(math.tanh(s_v - s_a)) if s_v > s_a and open_[1] else 0.0}
    trace = {}
    for m in ("audio", "visual"):
        for p, p0 in zip(ref.encoder(m).parameters(), start.encoder(m).parameters()):
            grads[id(p)] = grads[id(p)] + beta[m] * (p.detach() - p0.detach())
        layers = [mod.weight for mod in ref.encoder(m).modules() if isinstance(mod, (nn.Conv2d, nn.Linear))]
        trace[m] = sum(float((grads[id(w)] ** 2).mean()) for w in layers)
    return [grads[id(p)] for p in _params(ref)], beta, trace, (s_a, s_v)


def _perturb(model, scale, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in list(model.audio_encoder.parameters()) + list(model.visual_encoder.parameters()):
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


@pytest.mark.parametrize("fusion", ["concat", "sum"])
def test_inforeg_one_epoch_gradients_fisher_trace_and_next_window(fusion):
    model, audio, visual, labels = _setup64(fusion)
    batches = [(audio, visual, labels)] + [_setup64(fusion, seed=s)[1:] for s in (2, 3)]
    method = create_method("inforeg")
    start = copy.deepcopy(model)
    method.start_epoch(model, 0, 3, 2)  # w_0 = the weights now
    traces, which = {"audio": 0.0, "visual": 0.0}, set()
    for n, (a, v, y) in enumerate(batches):
        _perturb(model, 0.02, n)  # as if steps had moved the encoders away from w_0
        ref = copy.deepcopy(model)
        model.zero_grad(set_to_none=True)
        out = method.backward(model, a, v, y)
        expected, beta, trace, (s_a, s_v) = _expected(ref, start, a, v, y)
        _assert_grads_equal(_params(model), expected, f"inforeg step {n}")
        for m in ("audio", "visual"):
            traces[m] += trace[m]
            assert float(out[f"beta_{m}"]) == pytest.approx(beta[m], rel=1e-9)
            assert float(out[f"fisher_trace_{m}"]) == pytest.approx(traces[m], rel=1e-9)
            assert float(out[f"window_{m}"]) == 1.0
        which.add("audio" if s_a > s_v else "visual")
        assert (beta["audio"] > 0) != (beta["visual"] > 0)  # only the faster one is regulated
    assert which == {"audio", "visual"}  # both branches ran
    # epoch 1: the history is [trace of epoch 0]; official k = (t0/10 - 0) / (t0/10) = 1
    method.start_epoch(model, 1, 3, 2)
    assert method.traces["audio"] == [pytest.approx(traces["audio"], rel=1e-9)]
    assert method.k == {"audio": pytest.approx(1.0), "visual": pytest.approx(1.0)}
    for p, p0 in zip(model.audio_encoder.parameters(), method.reference["audio"]):
        torch.testing.assert_close(p0, p.detach())  # the new epoch's reference is the current weights


def test_inforeg_window_closes_when_the_trace_stops_growing():
    model, audio, visual, labels = _setup64("concat", seed=1)
    method = create_method("inforeg", {"beta_audio": 2.0, "beta_visual": 3.0})
    # 11 epochs of audio trace, flat at the end: k = (t11 - t1) / sum(t2..t11) < 0.05 -> closed;
    # visual still growing -> open.
    method.traces = {"audio": [5.0] + [1.0] * 10, "visual": [1.0] * 10 + [4.0]}
    method.start_epoch(model, 11, 3, 20)
    k_a = (sum([1.0] * 10) / 10 - sum([5.0] + [1.0] * 9) / 10) / (sum([1.0] * 10) / 10)
    k_v = (sum([1.0] * 9 + [4.0]) / 10 - sum([1.0] * 10) / 10) / (sum([1.0] * 9 + [4.0]) / 10)
    assert method.k["audio"] == pytest.approx(k_a) and method.k["visual"] == pytest.approx(k_v)
    assert method.open == {"audio": False, "visual": True}
    start = copy.deepcopy(model)
    _perturb(model, 0.05, 7)
    ref = copy.deepcopy(model)
    out = method.backward(model, audio, visual, labels)
    expected, beta, _, _ = _expected(ref, start, audio, visual, labels, open_=(False, True), betas=(2.0, 3.0))
    _assert_grads_equal(_params(model), expected, "inforeg, audio window closed")
    assert float(out["window_audio"]) == 0.0 and float(out["beta_audio"]) == 0.0
    assert float(out["window_visual"]) == 1.0
    assert float(out["beta_visual"]) == pytest.approx(beta["visual"]) and beta["visual"] > 0


def test_inforeg_early_history_uses_the_official_divide_by_ten():
    from dgl_engine.methods.inforeg import window_k

    assert window_k([], 10) == 1.0
    assert window_k([2.0], 10) == pytest.approx(1.0)  # (0.2 - 0) / 0.2
    assert window_k([2.0, 3.0], 10) == pytest.approx(3.0 / 5.0)  # ((5 - 2) / 10) / (5 / 10)
