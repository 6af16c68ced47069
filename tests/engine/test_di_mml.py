"""DI-MML (Fan et al., ACM MM 2024; fanyunfeng-bit/DI-MML), checked against an independent
computation written from the official code:

- the effective dimensions: ``get_indices`` re-written with its per-dimension nearest class
  mean, one dimension at a time;
- the DUC loss: ``SupConLoss.forward``'s per-clip loop, re-written as there;
- the update (float64, per-term autograd.grad combined by hand): the encoders get
  grad(CE(g_a) + CE(g_v) + weight (CE(s(h_a)) + CE(s(h_v))) + DUC), DUC with the teacher side
  detached; the fusion head gets only grad CE(f(sg h_a, sg h_v)); no fused gradient reaches an
  encoder;
- the schedule: dimensions chosen at epoch ceil(contrast_start x epochs), DUC on from there;
- the answer: ``valid_combine_classifier``'s confidence-weighted mix.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from dgl_engine.data.dataset import Split
from dgl_engine.methods import create_method
from tests.engine.test_dgl_routing import _encoder_params, _params
from tests.engine.test_methods_field import _assert_grads_equal, _grad, _setup64

TEMPERATURE = 0.7  # small, so the DUC gradient is not negligible on a tiny model
WEIGHT = 2.0  # not 1, so a missing weight shows


def _setup(fusion, seed=0):
    model, audio, visual, labels = _setup64(fusion, seed)
    model.add_heads(("audio", "visual", "shared"), seed)
    return model.double(), audio, visual, labels


def _official_indices(h_a, h_v, labels, num_classes):
    """``get_indices``, dimension by dimension."""
    def top(h):
        means = torch.stack([h[labels == k].mean(0) for k in range(num_classes)])  # (C, D)
        share = []
        for d in range(h.shape[1]):
            nearest = (h[:, d, None] - means[None, :, d]).abs().argmin(1)  # (N,)
            share.append(float((nearest == labels).double().mean()))
        mean = sum(share) / len(share)
        return {d for d, s in enumerate(share) if s > mean}

    ta, tv = top(h_a), top(h_v)
    return sorted(ta - tv), sorted(tv - ta)


def _official_duc(a, v, audio_only, image_only, temperature):
    """``SupConLoss.forward`` as written there."""
    b = a.shape[0]
    a_loss = v_loss = 0
    ao, vao = a[:, audio_only], v[:, audio_only]
    io, aio = v[:, image_only], a[:, image_only]
    for i in range(b):
        v_loss += -torch.log(torch.exp(vao[i] @ ao[i].detach() / temperature).sum()
                             / torch.exp(vao[i] @ ao.detach().T / temperature).sum())
        a_loss += -torch.log(torch.exp(aio[i] @ io[i].detach() / temperature).sum()
                             / torch.exp(aio[i] @ io.detach().T / temperature).sum())
    return v_loss / b + a_loss / b


def test_effective_dimensions_are_the_official_ones():
    from dgl_engine.methods.di_mml import effective_dims

    g = torch.Generator().manual_seed(0)
    labels = torch.arange(30) % 3
    h_a = torch.randn(30, 16, generator=g, dtype=torch.float64) + labels[:, None] * torch.linspace(0, 2, 16, dtype=torch.float64)
    h_v = torch.randn(30, 16, generator=g, dtype=torch.float64) + labels[:, None] * torch.linspace(2, 0, 16, dtype=torch.float64)
    ao, vo = _official_indices(h_a, h_v, labels, 3)
    top_a, top_v = effective_dims(h_a, labels, 3), effective_dims(h_v, labels, 3)
    assert torch.nonzero(top_a & ~top_v)[:, 0].tolist() == ao
    assert torch.nonzero(top_v & ~top_a)[:, 0].tolist() == vo
    assert ao and vo and max(ao) > min(vo)  # audio's own dimensions lie at the end, visual's at the start


@pytest.mark.parametrize("fusion", ["concat", "sum"])
@pytest.mark.parametrize("contrast", [False, True])
def test_di_mml_update_is_the_detached_per_modality_losses_plus_duc(fusion, contrast):
    model, audio, visual, labels = _setup(fusion)
    method = create_method("di-mml", {"temperature": TEMPERATURE, "weight": WEIGHT}, torch.Generator().manual_seed(0))
    if contrast:
        d = model.audio_encoder.out_dim
        method.audio_only, method.visual_only = torch.tensor([0, 3, 5, 9]), torch.tensor([1, 2, d - 1])
    ref = copy.deepcopy(model)
    losses = method.backward(model, audio, visual, labels)

    h_a, h_v = ref.encode("audio", audio), ref.encode("visual", visual)
    own = F.cross_entropy(ref.heads["audio"](h_a), labels) + F.cross_entropy(ref.heads["visual"](h_v), labels)
    shared = F.cross_entropy(ref.heads["shared"](h_a), labels) + F.cross_entropy(ref.heads["shared"](h_v), labels)
    duc = _official_duc(h_a, h_v, [0, 3, 5, 9], [1, 2, model.audio_encoder.out_dim - 1], TEMPERATURE) if contrast else 0 * own
    fused = F.cross_entropy(ref.fusion_head(h_a, h_v), labels)
    encoder_loss = own + WEIGHT * shared + duc

    enc = _encoder_params(ref)
    _assert_grads_equal(_encoder_params(model), _grad(encoder_loss, enc), "encoders")
    _assert_grads_equal(_params(model.fusion_head), _grad(fused, _params(ref.fusion_head)), "fusion head")
    for name, loss in (("audio", own), ("visual", own), ("shared", WEIGHT * shared)):
        _assert_grads_equal(_params(model.heads[name]), _grad(loss, _params(ref.heads[name])), f"{name} head")
    torch.testing.assert_close(losses["contrast"], duc.detach().reshape(()))
    torch.testing.assert_close(losses["total"], (encoder_loss + fused).detach())
    if contrast:  # the contrastive term moves the encoders: its gradient is not negligible here
        assert float(duc.detach()) > 0 and any(g.abs().sum() > 1e-6 for g in _grad(duc, enc))


def test_di_mml_chooses_dimensions_at_the_contrast_start_epoch_and_uses_them_after():
    model, *_ = _setup("concat")
    g = torch.Generator().manual_seed(3)
    train = Split(torch.randn(20, 1, 40, 63, generator=g, dtype=torch.float64),
                  torch.randn(20, 1, 3, 32, 32, generator=g, dtype=torch.float64), torch.arange(20) % 5)
    method = create_method("di-mml", {"contrast_start": 0.34})  # ceil(0.34 x 3) = epoch 2 of 3 (official: 20 of 150)
    method.on_data(train, None)
    for epoch in range(2):
        method.start_epoch(model, epoch, 1, 3)
        assert method.audio_only is None
    method.start_epoch(model, 2, 1, 3)
    model.eval()
    with torch.no_grad():
        h_a, h_v = model.encode("audio", train.audio), model.encode("visual", train.visual)
    ao, vo = _official_indices(h_a, h_v, train.labels, 5)
    assert method.audio_only.tolist() == ao and method.visual_only.tolist() == vo
    # The official schedule: epoch 20 of 150 with the default share.
    default = create_method("di-mml")
    assert math.ceil(default.hp["contrast_start"] * 150 - 1e-9) == 20


def test_di_mml_answer_is_the_confidence_weighted_mix_of_its_three_heads():
    model, audio, visual, labels = _setup("sum")
    method = create_method("di-mml", {"fusion_temperature": 0.3})
    model.eval()
    with torch.no_grad():
        h_a, h_v = model.encode("audio", audio), model.encode("visual", visual)
        got = method.predict(model, h_a, h_v)
        outs = [model.heads["audio"](h_a), model.heads["visual"](h_v), model.fusion_head(h_a, h_v)]
        for i in range(len(labels)):
            conf = torch.tensor([float(torch.softmax(o[i], 0).max()) for o in outs], dtype=torch.float64)
            w = torch.softmax(conf / 0.3, 0)
            torch.testing.assert_close(got[i].double(), sum(w[k] * outs[k][i] for k in range(3)), rtol=1e-6, atol=1e-6)


def test_di_mml_state_over_three_steps_no_duc_then_duc_with_the_chosen_dimensions():
    model, audio, visual, labels = _setup("concat", seed=2)
    train = Split(audio, visual, labels)
    method = create_method("di-mml", {"temperature": TEMPERATURE, "contrast_start": 0.5})  # epoch 1 of 2
    method.on_data(train, None)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    seen = []
    for epoch, steps in ((0, 1), (1, 2)):
        method.start_epoch(model, epoch, steps, 2)
        if epoch == 1:
            chosen = (method.audio_only.clone(), method.visual_only.clone())
            assert len(chosen[0]) and len(chosen[1])  # both modalities have dimensions of their own here
        for _ in range(steps):
            ref = copy.deepcopy(model)
            opt.zero_grad()
            losses = method.backward(model, audio, visual, labels)
            h_a, h_v = ref.encode("audio", audio), ref.encode("visual", visual)
            if epoch == 0:
                assert float(losses["contrast"]) == 0.0 and method.audio_only is None
            else:  # the dimensions chosen at the epoch's start, kept for every step after
                assert torch.equal(method.audio_only, chosen[0]) and torch.equal(method.visual_only, chosen[1])
                duc = _official_duc(h_a, h_v, chosen[0].tolist(), chosen[1].tolist(), TEMPERATURE)
                torch.testing.assert_close(losses["contrast"], duc.detach())
            seen.append(float(losses["total"]))
            opt.step()
    assert len(seen) == 3 and len(set(seen)) == 3  # the model moves between steps
