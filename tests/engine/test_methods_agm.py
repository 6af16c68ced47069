"""AGM checked against an independent computation written from the paper and the official
CREMA-D training step: Shapley mono-modal responses from the head with a modality zeroed, the
scores, ratios, running averages and coefficients by hand, and the gradient as each response's
share of the fused loss's gradient scaled by its coefficient (then the official head clip)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from dgl_engine.methods import create_method
from tests.engine.test_dgl_routing import _params
from tests.engine.test_methods_field import _assert_grads_equal, _grad, _setup64


def _responses(ref, audio, visual):
    """Shapley responses from the head's coalitions (zero tensors, not unimodal_logits)."""
    h_a, h_v = ref.encode("audio", audio), ref.encode("visual", visual)
    head = ref.fusion_head
    both, a0, v0 = head(h_a, h_v), head(h_a, torch.zeros_like(h_v)), head(torch.zeros_like(h_a), h_v)
    return 0.5 * (both - v0 + a0), 0.5 * (both - a0 + v0), both


def _score(m, labels):  # official loop: sum_k -log p_k (p < 1e-8 -> 1e-8) / B
    p = torch.softmax(m.detach(), 1)
    return sum(-math.log(max(float(p[k, labels[k]]), 1e-8)) for k in range(len(labels))) / len(labels)


def _reference(ref, audio, visual, labels, avg, alpha, head_clip):
    """Expected .grad per parameter of ``ref`` and (coeff_a, coeff_v, score_a, score_v)."""
    m_a, m_v, both = _responses(ref, audio, visual)
    s_a, s_v = _score(m_a, labels), _score(m_v, labels)
    ratio_a, ratio_v = math.exp(s_v - s_a), math.exp(s_a - s_v)
    opt_a, opt_v = math.exp(avg[1] - avg[0]), math.exp(avg[0] - avg[1])
    c_a, c_v = math.exp(alpha * min(opt_a - ratio_a, 10)), math.exp(alpha * min(opt_v - ratio_v, 10))
    g = torch.autograd.grad(F.cross_entropy(both, labels), both, retain_graph=True)[0].detach()  # dCE/dlogits
    params = _params(ref)
    ga, gv = _grad((g * m_a).sum(), params), _grad((g * m_v).sum(), params)
    expected = [c_a * a + c_v * v for a, v in zip(ga, gv)]
    if head_clip > 0:
        head_ids = {id(p) for p in ref.fusion_head.parameters() if p.dim() >= 2}
        big = any(float(e.abs().max()) > 1 for p, e in zip(params, expected) if id(p) in head_ids)
        if big:
            norm = math.sqrt(sum(float((e ** 2).sum()) for e in expected))
            expected = [e * min(1.0, head_clip / (norm + 1e-6)) for e in expected]
    return expected, (c_a, c_v, s_a, s_v)


@pytest.mark.parametrize("fusion", ["concat", "sum"])
@pytest.mark.parametrize("head_clip", [0.0, 1.0])
def test_agm_three_steps_gradients_coefficients_and_running_scores(fusion, head_clip):
    alpha = 1.7  # not the default, so a hard-coded alpha shows
    model, audio, visual, labels = _setup64(fusion)
    batches = [(audio, visual, labels)] + [_setup64(fusion, seed=s)[1:] for s in (2, 3)]
    method = create_method("agm", {"alpha": alpha, "head_clip": head_clip})
    avg = (0.0, 0.0)
    for n, (a, v, y) in enumerate(batches, start=1):
        ref = copy.deepcopy(model)
        model.zero_grad(set_to_none=True)
        out = method.backward(model, a, v, y)
        expected, (c_a, c_v, s_a, s_v) = _reference(ref, a, v, y, avg, alpha, head_clip)
        _assert_grads_equal(_params(model), expected, f"agm step {n}")
        assert float(out["coeff_audio"]) == pytest.approx(c_a, rel=1e-9)
        assert float(out["coeff_visual"]) == pytest.approx(c_v, rel=1e-9)
        assert float(out["audio"]) == pytest.approx(s_a, rel=1e-9)
        assert float(out["ratio_audio"]) == pytest.approx(math.exp(s_v - s_a), rel=1e-9)
        assert float(out["target_ratio_audio"]) == pytest.approx(math.exp(avg[1] - avg[0]), rel=1e-9)
        torch.testing.assert_close(out["fused"], F.cross_entropy(ref(a, v), y).detach())
        avg = (avg[0] * (n - 1) / n + s_a / n, avg[1] * (n - 1) / n + s_v / n)  # official running average
        assert float(method.avg_score["audio"]) == pytest.approx(avg[0], rel=1e-9)
        assert float(method.avg_score["visual"]) == pytest.approx(avg[1], rel=1e-9)
        with torch.no_grad():  # a step, so the next batch sees other weights
            for p in model.parameters():
                p -= 0.05 * p.grad
    if head_clip == 0:
        assert c_a != pytest.approx(1.0) and c_v != pytest.approx(1.0)  # the modulation did something


def test_agm_scales_each_encoders_joint_gradient_by_its_coefficient():
    """With linear heads the Shapley split makes AGM 'each encoder's gradient times c_m'."""
    model, audio, visual, labels = _setup64("concat", seed=1)
    ref = copy.deepcopy(model)
    method = create_method("agm", {"alpha": 2.0, "head_clip": 0.0})
    method.avg_score = {"audio": torch.tensor(0.3, dtype=torch.float64), "visual": torch.tensor(1.1, dtype=torch.float64)}
    method.steps = 5
    out = method.backward(model, audio, visual, labels)
    joint = F.cross_entropy(ref(audio, visual), labels)
    for m in ("audio", "visual"):
        expected = [float(out[f"coeff_{m}"]) * g for g in _grad(joint, _params(ref.encoder(m)))]
        _assert_grads_equal(_params(model.encoder(m)), expected, f"agm {m} encoder")
    assert method.steps == 6


@pytest.mark.parametrize("fusion", ["concat", "sum"])
def test_agm_clips_the_whole_gradient_when_the_head_gradient_leaves_the_unit_box(fusion):
    """Running scores far apart make c_a large; the head's weight gradient then exceeds 1
    somewhere and the official clip_grad_norm_(model.parameters(), 1.0) applies."""
    model, audio, visual, labels = _setup64(fusion, seed=2)
    ref = copy.deepcopy(model)
    method = create_method("agm", {"alpha": 1.0, "head_clip": 1.0})
    method.avg_score = {"audio": torch.tensor(0.2, dtype=torch.float64), "visual": torch.tensor(2.5, dtype=torch.float64)}
    method.steps = 3
    method.backward(model, audio, visual, labels)
    unclipped, _ = _reference(copy.deepcopy(ref), audio, visual, labels, (0.2, 2.5), 1.0, 0.0)
    head_ids = {id(p) for p in ref.fusion_head.parameters() if p.dim() >= 2}
    assert any(float(e.abs().max()) > 1 for p, e in zip(_params(ref), unclipped) if id(p) in head_ids)
    expected, _ = _reference(ref, audio, visual, labels, (0.2, 2.5), 1.0, 1.0)
    _assert_grads_equal(_params(model), expected, "agm clipped")
    norm = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters()))
    assert float(norm) == pytest.approx(1.0, rel=1e-5)
