"""DGL's gradient routing (DESIGN.md, "The method"), checked against autograd references.

- encoders receive exactly alpha * grad(CE(z_a) + CE(z_v)), z_a = f(h_a, 0), z_v = f(0, h_v);
- the fusion head receives exactly grad(CE(z)), z = f(h_a, h_v);
- this equals the official two-backward procedure;
- joint training routes differently;
- every method puts a finite gradient on every parameter it should train, and none elsewhere.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from dgl_engine.config import ModelConfig, TrainConfig
from dgl_engine.methods import METHODS, create_method
from dgl_engine.models.av_model import build_model

ALPHA = 3.0  # not 1, so a missing or doubled alpha shows
NUM_CLASSES = 5
BATCH = 8


def _setup(fusion: str, seed: int = 0):
    """A tiny model (head bias randomised, so dropping the bias from z_a would show) and a batch."""
    model = build_model(ModelConfig(encoder="tiny", fusion=fusion), NUM_CLASSES, seed).train()
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for name, p in model.fusion_head.named_parameters():
            if "bias" in name:
                p.copy_(torch.randn(p.shape, generator=g))
    audio = torch.randn(BATCH, 1, 40, 63, generator=g)  # (B, 1, F, T)
    visual = torch.randn(BATCH, 1, 3, 32, 32, generator=g)  # (B, T, 3, H, W)
    labels = torch.randint(0, NUM_CLASSES, (BATCH,), generator=g)
    return model, audio, visual, labels


def _params(module):
    return [p for p in module.parameters()]


def _assert_grads_equal(params, expected, what):
    assert len(params) == len(expected)
    for i, (p, e) in enumerate(zip(params, expected)):
        assert p.grad is not None, f"{what}: parameter {i} got no gradient"
        torch.testing.assert_close(p.grad, e, rtol=1e-4, atol=1e-6, msg=lambda m: f"{what}, parameter {i}: {m}")


def _encoder_params(model):
    return _params(model.audio_encoder) + _params(model.visual_encoder)


@pytest.mark.parametrize("fusion", ["concat", "sum"])
def test_dgl_routes_unimodal_gradients_to_encoders_and_fused_gradient_to_head(fusion):
    model, audio, visual, labels = _setup(fusion)
    ref = copy.deepcopy(model)  # same weights and BN state; train-mode BN uses batch stats

    method = create_method("dgl", {"alpha": ALPHA}, torch.Generator().manual_seed(0))
    losses = method.backward(model, audio, visual, labels)

    # Reference: autograd on the copy.
    h_a, h_v = ref.encode("audio", audio), ref.encode("visual", visual)
    head = ref.fusion_head
    z_a = head.unimodal_logits("audio", h_a)  # f(h_a, 0)
    z_v = head.unimodal_logits("visual", h_v)  # f(0, h_v)
    z = head(h_a, h_v)
    uni = F.cross_entropy(z_a, labels) + F.cross_entropy(z_v, labels)
    fused = F.cross_entropy(z, labels)
    g_enc = torch.autograd.grad(ALPHA * uni, _encoder_params(ref), retain_graph=True)
    g_head = torch.autograd.grad(fused, _params(head))

    _assert_grads_equal(_encoder_params(model), g_enc, "encoders")
    _assert_grads_equal(_params(model.fusion_head), g_head, "fusion head")
    torch.testing.assert_close(losses["fused"], fused.detach())
    torch.testing.assert_close(losses["audio"], F.cross_entropy(z_a, labels).detach())
    torch.testing.assert_close(losses["visual"], F.cross_entropy(z_v, labels).detach())


def test_unimodal_logits_are_the_head_with_the_other_modality_zeroed():
    """z_a = f(h_a, 0) and z_v = f(0, h_v) for the concat head (the definition DGL rests on)."""
    model, *_ = _setup("concat")
    head = model.fusion_head
    g = torch.Generator().manual_seed(5)
    h_a = torch.randn(4, model.audio_encoder.out_dim, generator=g)
    h_v = torch.randn(4, model.visual_encoder.out_dim, generator=g)
    torch.testing.assert_close(head.unimodal_logits("audio", h_a), head(h_a, torch.zeros_like(h_v)))
    torch.testing.assert_close(head.unimodal_logits("visual", h_v), head(torch.zeros_like(h_a), h_v))


@pytest.mark.parametrize("fusion", ["concat", "sum"])
def test_dgl_equals_the_official_two_backward_procedure(fusion):
    model, audio, visual, labels = _setup(fusion)
    official = copy.deepcopy(model)

    create_method("dgl", {"alpha": ALPHA}, torch.Generator().manual_seed(0)).backward(model, audio, visual, labels)

    # Official main_dgl.py: backward the unimodal term through the full head, clear the head's
    # gradients, then backward the fused loss on detached features.
    h_a, h_v = official.encode("audio", audio), official.encode("visual", visual)
    head = official.fusion_head
    uni = F.cross_entropy(head.unimodal_logits("audio", h_a), labels) + F.cross_entropy(head.unimodal_logits("visual", h_v), labels)
    (ALPHA * uni).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
    head.zero_grad(set_to_none=True)
    F.cross_entropy(head(h_a.detach(), h_v.detach()), labels).backward()

    for (name, p), q in zip(model.named_parameters(), official.parameters()):
        assert p.grad is not None and q.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=lambda m: f"{name}: {m}")


def test_joint_gets_the_fused_gradient_everywhere_and_differs_from_dgl():
    model, audio, visual, labels = _setup("concat")
    joint_model, ref = copy.deepcopy(model), copy.deepcopy(model)

    create_method("dgl", {"alpha": ALPHA}, torch.Generator()).backward(model, audio, visual, labels)
    create_method("joint", {}, torch.Generator()).backward(joint_model, audio, visual, labels)

    fused = F.cross_entropy(ref(audio, visual), labels)
    _assert_grads_equal(_params(joint_model), torch.autograd.grad(fused, _params(ref)), "joint")

    for enc in ("audio_encoder", "visual_encoder"):
        g_dgl = torch.cat([p.grad.flatten() for p in getattr(model, enc).parameters()])
        g_joint = torch.cat([p.grad.flatten() for p in getattr(joint_model, enc).parameters()])
        assert not torch.allclose(g_dgl, g_joint, rtol=1e-3, atol=1e-6), f"{enc}: DGL and joint gradients coincide"
    # Their heads get the same fused gradient (DGL's head sees the fused loss only).
    for p, q in zip(model.fusion_head.parameters(), joint_model.fusion_head.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("fusion", ["concat", "sum"])
@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_trains_what_it_should_and_nothing_else(name, fusion):
    model, audio, visual, labels = _setup(fusion)
    method = create_method(name, {}, torch.Generator().manual_seed(0))
    if method.heads:  # G-Blend, MLB, DI-MML: heads of their own, each trained
        model.add_heads(method.heads, 0)
    ref = copy.deepcopy(model)
    # A method that alternates (MLA) trains everything it trains over one turn of steps: their
    # gradients are accumulated here, with no step in between.
    for _ in range(getattr(method, "turn_steps", 1)):
        losses = method.backward(model, audio, visual, labels)
        assert torch.isfinite(losses["total"])
    for hname, p in (model.heads.named_parameters() if method.heads else ()):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.any(), f"{name}: own head {hname}"

    for m in ("audio", "visual"):
        encoder = model.encoder(m)
        for pname, p in encoder.named_parameters():
            if m in method.modalities:
                assert p.grad is not None, f"{name}: {m} encoder {pname} got no gradient"
                assert torch.isfinite(p.grad).all(), f"{name}: {m} encoder {pname} has a non-finite gradient"
            else:
                assert p.grad is None or not p.grad.any(), f"{name} must not train the {m} encoder ({pname})"
        if m in method.modalities:
            assert any(p.grad.any() for p in encoder.parameters()), f"{name}: {m} encoder gradient is all zero"

    head_params = list(model.fusion_head.named_parameters())
    if method.multimodal:
        for pname, p in head_params:
            assert p.grad is not None and torch.isfinite(p.grad).all(), f"{name}: head {pname}"
            assert p.grad.any(), f"{name}: head {pname} gradient is all zero"
    else:
        # A unimodal method trains exactly its slice of the head: f(h_m, 0)'s parameters.
        (m,) = method.modalities
        h = ref.encode(m, audio if m == "audio" else visual)
        loss = F.cross_entropy(ref.fusion_head.unimodal_logits(m, h), labels)
        expected = torch.autograd.grad(loss, _params(ref.fusion_head), allow_unused=True)
        for (pname, p), e in zip(head_params, expected):
            got = p.grad if p.grad is not None else torch.zeros_like(p)
            e = e if e is not None else torch.zeros_like(p)
            torch.testing.assert_close(got, e, rtol=1e-4, atol=1e-6, msg=lambda msg: f"{name}: head {pname}: {msg}")
