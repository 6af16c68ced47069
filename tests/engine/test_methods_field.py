"""The field's methods, each checked against an independent computation written from its paper
and official code: gradients on every parameter group after ``backward`` are compared with
gradients of each loss term taken separately with torch.autograd.grad and combined by hand.

- uni-aux and DGL's two ablations: which loss term reaches which parameter group (the
  truncation table below, with joint and dgl as its two ends).
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from dgl_engine.methods import create_method
from tests.engine.test_dgl_routing import _encoder_params, _params, _setup

ALPHA = 3.0  # not 1, so a missing or doubled alpha shows


def _terms(model, audio, visual, labels):
    """The three loss terms on a reference copy, each differentiable everywhere it can reach."""
    h_a, h_v = model.encode("audio", audio), model.encode("visual", visual)
    head = model.fusion_head
    fused = F.cross_entropy(head(h_a, h_v), labels)  # z = f(h_a, h_v)
    loss_a = F.cross_entropy(head.unimodal_logits("audio", h_a), labels)  # z_a = f(h_a, 0)
    loss_v = F.cross_entropy(head.unimodal_logits("visual", h_v), labels)  # z_v = f(0, h_v)
    return fused, loss_a, loss_v


def _setup64(fusion="concat", seed=0):
    """test_dgl_routing's tiny model and batch in float64: terms summed by hand round like one
    backward to ~1e-12, so the comparison can be tight (in float32 cancellations leave ~1e-6)."""
    model, audio, visual, labels = _setup(fusion, seed)
    return model.double(), audio.double(), visual.double(), labels


def _assert_grads_equal(params, expected, what):
    assert len(params) == len(expected)
    for i, (p, e) in enumerate(zip(params, expected)):
        assert p.grad is not None, f"{what}: parameter {i} got no gradient"
        torch.testing.assert_close(p.grad, e, rtol=1e-7, atol=1e-10, msg=lambda m: f"{what}, parameter {i}: {m}")


def _grad(loss, params):
    g = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return [torch.zeros_like(p) if x is None else x for p, x in zip(params, g)]


# method -> (weight of the fused term, weight of the unimodal terms) on the encoders, on the head.
ROUTING = {
    "joint": ((1, 0), (1, 0)),
    "dgl": ((0, ALPHA), (1, 0)),
    "uni-aux": ((1, ALPHA), (1, ALPHA)),
    "dgl-no-fused-cut": ((1, ALPHA), (1, 0)),
    "dgl-no-uni-cut": ((0, ALPHA), (1, ALPHA)),
}


@pytest.mark.parametrize("fusion", ["concat", "sum"])
@pytest.mark.parametrize("name", sorted(ROUTING))
def test_truncation_table_what_each_loss_term_trains(name, fusion):
    model, audio, visual, labels = _setup64(fusion)
    ref = copy.deepcopy(model)
    params = {} if name == "joint" else {"alpha": ALPHA}
    losses = create_method(name, params, torch.Generator().manual_seed(0)).backward(model, audio, visual, labels)

    fused, loss_a, loss_v = _terms(ref, audio, visual, labels)
    for group, model_params, ref_params, (w_fused, w_uni) in (
        ("encoders", _encoder_params(model), _encoder_params(ref), ROUTING[name][0]),
        ("fusion head", _params(model.fusion_head), _params(ref.fusion_head), ROUTING[name][1]),
    ):
        g_f, g_a, g_v = (_grad(t, ref_params) for t in (fused, loss_a, loss_v))
        expected = [w_fused * f + w_uni * (a + v) for f, a, v in zip(g_f, g_a, g_v)]
        _assert_grads_equal(model_params, expected, f"{name} {group}")

    torch.testing.assert_close(losses["fused"], fused.detach())
    if name != "joint":
        torch.testing.assert_close(losses["audio"], loss_a.detach())
        torch.testing.assert_close(losses["visual"], loss_v.detach())
        torch.testing.assert_close(losses["total"], (fused + ALPHA * (loss_a + loss_v)).detach())


def test_the_ablations_differ_from_dgl_and_from_each_other():
    """Each truncation matters on this batch: removing one changes the gradients it guards."""
    model, audio, visual, labels = _setup64("concat")
    grads = {}
    for name in ("dgl", "dgl-no-fused-cut", "dgl-no-uni-cut", "uni-aux"):
        m = copy.deepcopy(model)
        create_method(name, {"alpha": ALPHA}).backward(m, audio, visual, labels)
        grads[name] = {g: torch.cat([p.grad.flatten() for p in ps]) for g, ps in
                       (("enc", _encoder_params(m)), ("head", _params(m.fusion_head)))}
    same = lambda a, b, g: torch.allclose(grads[a][g], grads[b][g], rtol=1e-4, atol=1e-7)
    assert same("dgl", "dgl-no-uni-cut", "enc") and not same("dgl", "dgl-no-uni-cut", "head")
    assert same("dgl", "dgl-no-fused-cut", "head") and not same("dgl", "dgl-no-fused-cut", "enc")
    assert same("uni-aux", "dgl-no-fused-cut", "enc") and same("uni-aux", "dgl-no-uni-cut", "head")


def test_uni_aux_defaults_to_alpha_one_and_ablations_to_dgls_alpha():
    assert create_method("uni-aux").hp == {"alpha": 1.0}
    dgl_alpha = create_method("dgl").hp["alpha"]
    assert create_method("dgl-no-fused-cut").hp == {"alpha": dgl_alpha}
    assert create_method("dgl-no-uni-cut").hp == {"alpha": dgl_alpha}
