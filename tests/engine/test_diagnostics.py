"""Gradient diagnostics (DESIGN.md): per encoder, the norm of the gradient from the fused loss,
from its own unimodal loss, their cosine, and the norm the method applied, before clipping."""

from __future__ import annotations

import dataclasses

import copy

import pytest
import torch
import torch.nn.functional as F

from dgl_engine.config import ModelConfig
from dgl_engine.diagnostics import encoder_grad_norms, gradient_diagnostics
from dgl_engine.lifecycle import load_data
from dgl_engine.models.av_model import build_model
from dgl_engine.trainer import train_experiment

from tests.conftest import small_config


def _flat(grads):
    return torch.cat([g.reshape(-1) for g in grads])


def test_diagnostics_match_autograd_and_leave_grads_alone():
    model = build_model(ModelConfig(), 4, seed=0).train()
    g = torch.Generator().manual_seed(1)
    audio, visual = torch.randn(8, 1, 40, 63, generator=g), torch.randn(8, 1, 3, 32, 32, generator=g)
    labels = torch.randint(0, 4, (8,), generator=g)
    ref = copy.deepcopy(model)
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.5)

    out = gradient_diagnostics(model, audio, visual, labels, ("audio", "visual"))
    assert all(torch.equal(p.grad, torch.full_like(p, 0.5)) for p in model.parameters())

    h_a, h_v = ref.encode("audio", audio), ref.encode("visual", visual)
    head = ref.fusion_head
    fused = F.cross_entropy(head(h_a, h_v), labels)
    for m, h in (("audio", h_a), ("visual", h_v)):
        params = list(ref.encoder(m).parameters())
        g_f = _flat(torch.autograd.grad(fused, params, retain_graph=True))
        g_u = _flat(torch.autograd.grad(F.cross_entropy(head.unimodal_logits(m, h), labels), params, retain_graph=True))
        assert out[m]["fused"] == pytest.approx(float(g_f.norm()), rel=1e-4)
        assert out[m]["unimodal"] == pytest.approx(float(g_u.norm()), rel=1e-4)
        assert out[m]["cosine"] == pytest.approx(float(F.cosine_similarity(g_f, g_u, dim=0)), abs=1e-4)

    uni = gradient_diagnostics(model, audio, visual, labels, ("visual",))
    assert set(uni) == {"visual"} and set(uni["visual"]) == {"unimodal"}
    assert uni["visual"]["unimodal"] == pytest.approx(out["visual"]["unimodal"], rel=1e-4)

    assert encoder_grad_norms(model, ("audio",))["audio"] == pytest.approx(
        0.5 * sum(p.numel() for p in model.audio_encoder.parameters()) ** 0.5, rel=1e-5
    )


def test_trainer_reports_what_each_method_applied_before_clipping():
    """In a real run: DGL's encoders get alpha x the unimodal gradient, joint's the fused one."""
    alpha = 3.0  # not DGL's default: the run must use the configured value
    config = dataclasses.replace(
        small_config(methods=("joint", "dgl", "visual-only"), samples_per_class=20, epochs=1, diagnostics_every=1, grad_clip=1e-3),
        method_params={"dgl": {"alpha": alpha}})
    events = []
    train_experiment(config, load_data(config), events.append)
    diagnostics = [e for e in events if e.type == "diagnostics"]
    steps = {e.step for e in events if e.type == "step"}
    assert {(e.method, e.step) for e in diagnostics} == {(m, s) for m in config.methods for s in steps}
    for e in diagnostics:
        enc = e.encoders
        if e.method == "dgl":
            for m in ("audio", "visual"):
                assert enc[m]["applied"] == pytest.approx(alpha * enc[m]["unimodal"], rel=1e-3)
        elif e.method == "joint":
            for m in ("audio", "visual"):
                assert enc[m]["applied"] == pytest.approx(enc[m]["fused"], rel=1e-3)
                assert -1 <= enc[m]["cosine"] <= 1
        else:
            assert set(enc) == {"visual"}
            assert enc["visual"]["applied"] == pytest.approx(enc["visual"]["unimodal"], rel=1e-3)
        # Norms are taken before clipping: far above the tiny clip threshold used here.
        assert all(v["applied"] > 10 * config.train.grad_clip for v in enc.values())
    step_events = [e for e in events if e.type == "step" and e.method == "dgl"]
    assert all(e.grad_norm["audio"] > 0 and e.grad_norm["visual"] > 0 for e in step_events)
