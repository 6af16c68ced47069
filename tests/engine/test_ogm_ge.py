"""OGM-GE (Peng et al., CVPR 2022) as in its official code: after the fused backward, the
dominant modality's conv-weight gradients become g * (1 - tanh(alpha * rho)) + N(0, std(g)),
the noise's spread being that of the *unmodulated* gradient."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from dgl_engine.config import ModelConfig, TrainConfig
from dgl_engine.methods import create_method
from dgl_engine.models.av_model import build_model


def test_ogm_ge_modulates_the_dominant_encoder_as_the_official_code():
    model = build_model(ModelConfig(encoder="tiny", fusion="concat"), 4, seed=3).train()
    g = torch.Generator().manual_seed(11)
    audio = torch.randn(8, 1, 40, 63, generator=g)
    visual = torch.randn(8, 1, 3, 32, 32, generator=g)
    labels = torch.randint(0, 4, (8,), generator=g)
    with torch.no_grad():  # make audio clearly dominant: its slice of the head gets large weights
        model.fusion_head.fc.weight[:, : model.fusion_head.d_audio].mul_(5)
    ref = copy.deepcopy(model)

    alpha, seed = 0.8, 1234
    losses = create_method("ogm-ge", {"alpha": alpha}, torch.Generator().manual_seed(seed)).backward(model, audio, visual, labels)

    h_a, h_v = ref.encode("audio", audio), ref.encode("visual", visual)
    head = ref.fusion_head
    F.cross_entropy(head(h_a, h_v), labels).backward()
    idx = torch.arange(8)
    with torch.no_grad():
        score_a = torch.softmax(head.slice_logits("audio", h_a), 1)[idx, labels].sum()
        score_v = torch.softmax(head.slice_logits("visual", h_v), 1)[idx, labels].sum()
    ratio = float(score_a / score_v)
    assert float(losses["ratio"]) == pytest.approx(ratio, rel=1e-5)
    dominant, other = ("audio", "visual") if ratio > 1 else ("visual", "audio")
    coeff = 1 - math.tanh(alpha * (ratio if ratio > 1 else 1 / ratio))
    assert float(losses[f"coeff_{dominant}"]) == pytest.approx(coeff, rel=1e-5)
    assert float(losses[f"coeff_{other}"]) == 1.0
    assert 0 < coeff < 1

    noise_gen = torch.Generator().manual_seed(seed)
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        expected = q.grad
        if name.startswith(f"{dominant}_encoder") and q.grad.dim() == 4:
            noise = torch.randn(q.grad.shape, generator=noise_gen)
            expected = q.grad * coeff + noise * (q.grad.std() + 1e-8)
        torch.testing.assert_close(p.grad, expected, rtol=1e-4, atol=1e-6, msg=lambda m: f"{name}: {m}")

