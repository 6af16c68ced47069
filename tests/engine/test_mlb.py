"""MLB (Kontras et al.; kkontras/MLB ``Bias_Infusion_MLB``), checked against an independent
computation from the paper and the official code:

- the coefficients c_a = 1 + tanh(alpha (s_v / s_a - 1)), c_v = 1 + tanh(alpha (s_a / s_v - 1))
  from the own heads' mean true-class probabilities;
- the update: grad(CE(f) + CE(g_a) + CE(g_v)) per parameter group, then x c_a on the audio
  encoder, its own head and the fused head's audio weights, x c_v on the visual ones, the fused
  bias unscaled (per-term autograd.grad combined by hand, float64);
- over three SGD steps the coefficients are each batch's own (no state), the weaker modality's
  above 1.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from dgl_engine.methods import create_method
from tests.engine.test_dgl_routing import _params
from tests.engine.test_methods_field import _assert_grads_equal, _grad, _setup64

ALPHA = 1.7  # not the default, so a hard-coded alpha shows


def _setup(fusion, seed=0):
    model, audio, visual, labels = _setup64(fusion, seed)
    model.add_heads(("audio", "visual"), seed)
    return model.double(), audio, visual, labels


def _coefficients(ref, audio, visual, labels):
    """The official ``on_backward_end``, per clip as there: mean of softmax(out)[i][label[i]]."""
    with torch.no_grad():
        z_a = ref.heads["audio"](ref.encode("audio", audio))
        z_v = ref.heads["visual"](ref.encode("visual", visual))
        s_a = sum(float(torch.softmax(z_a[i], 0)[labels[i]]) for i in range(len(labels))) / len(labels)
        s_v = sum(float(torch.softmax(z_v[i], 0)[labels[i]]) for i in range(len(labels))) / len(labels)
    return 1 + math.tanh(ALPHA * (s_v / s_a - 1)), 1 + math.tanh(ALPHA * (s_a / s_v - 1)), s_a, s_v


def _expected(ref, audio, visual, labels, c_a, c_v):
    """{parameter name: expected gradient} from the three terms' gradients taken separately."""
    h_a, h_v = ref.encode("audio", audio), ref.encode("visual", visual)
    terms = [F.cross_entropy(ref.fusion_head(h_a, h_v), labels),
             F.cross_entropy(ref.heads["audio"](h_a), labels), F.cross_entropy(ref.heads["visual"](h_v), labels)]
    names, params = zip(*ref.named_parameters())
    grads = [_grad(t, list(params)) for t in terms]
    plain = {n: sum(g[i] for g in grads) for i, n in enumerate(names)}
    out = {}
    for n, g in plain.items():
        if n.startswith(("audio_encoder.", "heads.audio.")):
            g = c_a * g
        elif n.startswith(("visual_encoder.", "heads.visual.")):
            g = c_v * g
        elif n == "fusion_head.fc.weight":  # concat: W = [W_a | W_v]
            d = ref.fusion_head.d_audio
            g = torch.cat([c_a * g[:, :d], c_v * g[:, d:]], dim=1)
        elif n == "fusion_head.fc_audio.weight":
            g = c_a * g
        elif n == "fusion_head.fc_visual.weight":
            g = c_v * g
        out[n] = g  # biases (the fused head's): unscaled, as the official fc_0_lin.bias
    return out


@pytest.mark.parametrize("fusion", ["concat", "sum"])
def test_mlb_scales_each_branch_by_its_coefficient(fusion):
    model, audio, visual, labels = _setup(fusion)
    ref = copy.deepcopy(model)
    method = create_method("mlb", {"alpha": ALPHA}, torch.Generator().manual_seed(0))
    losses = method.backward(model, audio, visual, labels)

    c_a, c_v, s_a, s_v = _coefficients(ref, audio, visual, labels)
    expected = _expected(ref, audio, visual, labels, c_a, c_v)
    names, params = zip(*model.named_parameters())
    _assert_grads_equal(list(params), [expected[n] for n in names], f"mlb {fusion}")
    assert float(losses["coeff_audio"]) == pytest.approx(c_a, rel=1e-9)
    assert float(losses["coeff_visual"]) == pytest.approx(c_v, rel=1e-9)
    assert float(losses["score_audio"]) == pytest.approx(s_a, rel=1e-9)
    assert 0 < c_a < 2 and 0 < c_v < 2 and (c_a - 1) * (c_v - 1) <= 0  # one up, one down (or both 1)


def test_mlb_coefficients_over_three_steps_are_each_batchs_own():
    model, audio, visual, labels = _setup("concat", seed=1)
    method = create_method("mlb", {"alpha": ALPHA}, torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(5)
    for step in range(3):
        if step == 2:  # make audio clearly weaker: its head's true-class probability drops
            with torch.no_grad():
                model.heads["audio"].weight.mul_(0.0)
                model.heads["audio"].bias.copy_(torch.randn(model.heads["audio"].bias.shape, generator=g, dtype=torch.float64) * 5)
        ref = copy.deepcopy(model)
        opt.zero_grad()
        losses = method.backward(model, audio, visual, labels)
        c_a, c_v, s_a, s_v = _coefficients(ref, audio, visual, labels)
        assert float(losses["coeff_audio"]) == pytest.approx(c_a, rel=1e-9)
        assert float(losses["coeff_visual"]) == pytest.approx(c_v, rel=1e-9)
        expected = _expected(ref, audio, visual, labels, c_a, c_v)
        names, params = zip(*model.named_parameters())
        _assert_grads_equal(list(params), [expected[n] for n in names], f"step {step}")
        if s_a < s_v:  # the weaker modality is boosted, the stronger damped
            assert c_a > 1 > c_v
        opt.step()


def test_mlb_equal_scores_leave_the_joint_multiloss_gradient():
    model, audio, visual, labels = _setup("concat")
    with torch.no_grad():  # both own heads identical and constant: equal scores, c = 1
        for m in ("audio", "visual"):
            model.heads[m].weight.zero_()
            model.heads[m].bias.zero_()
    ref = copy.deepcopy(model)
    losses = create_method("mlb", {"alpha": ALPHA}).backward(model, audio, visual, labels)
    assert float(losses["coeff_audio"]) == pytest.approx(1.0) and float(losses["coeff_visual"]) == pytest.approx(1.0)
    expected = _expected(ref, audio, visual, labels, 1.0, 1.0)
    _assert_grads_equal(_params(model), [expected[n] for n, _ in model.named_parameters()], "c = 1")
