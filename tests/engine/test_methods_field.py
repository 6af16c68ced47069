"""The field's methods, each checked against an independent computation written from its paper
and official code: gradients on every parameter group after ``backward`` are compared with
gradients of each loss term taken separately with torch.autograd.grad and combined by hand.

- uni-aux and DGL's two ablations: which loss term reaches which parameter group (the
  truncation table below, with joint and dgl as its two ends);
- MMPareto: cosine check, MGDA two-gradient weights when conflicting, magnitude rescale per
  parameter tensor, gamma; the head keeps the plain sum;
- PMR: prototypes (first batch, refresh with momentum), distances, ratio, and the prototype loss
  on the weaker modality only.
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


# ----- MMPareto --------------------------------------------------------------------------------

def _official_weight(g1: torch.Tensor, g2: torch.Tensor) -> float:
    """MinNormSolver._min_norm_element_from2 for two vectors, written out again."""
    v11, v12, v22 = float(g1 @ g1), float(g1 @ g2), float(g2 @ g2)
    if v12 >= v11:
        return 0.999
    if v12 >= v22:
        return 0.001
    return (v22 - v12) / (v11 + v22 - 2 * v12)


def _conflicting_setup():
    """Audio's fused and unimodal gradients conflict (cos < 0), visual's agree.

    Labels all 0; a head bias makes audio alone answer class 1, a strong visual weight makes the
    fused model answer class 2, and audio's head rows for classes 1 and 2 point roughly apart,
    so the two error signals reaching the audio encoder point roughly apart too."""
    model, audio, visual, labels = _setup64("concat", seed=4)
    labels = torch.zeros_like(labels)
    head, g = model.fusion_head, torch.Generator().manual_seed(4)
    da = head.d_audio
    with torch.no_grad():
        w = head.fc.weight
        w.zero_()
        u = torch.randn(da, generator=g)
        w[2, :da] = u
        w[1, :da] = -0.6 * u + 0.5 * torch.randn(da, generator=g)
        w[:, da:] = 0.02 * torch.randn(w[:, da:].shape, generator=g)
        w[2, da:] += 0.3
        head.fc.bias.zero_()
        head.fc.bias[1] = 4.0
    return model, audio, visual, labels


def _mmpareto_reference(ref, audio, visual, labels, gamma):
    """Expected .grad per parameter (in model.parameters() order) and the per-encoder signals."""
    fused, loss_a, loss_v = _terms(ref, audio, visual, labels)
    head_params = _params(ref.fusion_head)
    expected_head = [a + b + c for a, b, c in zip(*(_grad(t, head_params) for t in (fused, loss_a, loss_v)))]
    expected, signals = {}, {}
    for m, own in (("audio", loss_a), ("visual", loss_v)):
        ps = _params(ref.encoder(m))
        g_mm, g_m = _grad(fused, ps), _grad(own, ps)
        f_mm, f_m = torch.cat([g.flatten() for g in g_mm]), torch.cat([g.flatten() for g in g_m])
        cos = float(f_mm @ f_m) / float(f_mm.norm() * f_m.norm())
        k = (0.5, 0.5) if cos > 0 else (_official_weight(f_mm, f_m), 1 - _official_weight(f_mm, f_m))
        out = []
        for a, b in zip(g_mm, g_m):
            new = 2 * k[0] * a + 2 * k[1] * b
            ratio = float((a + b).norm() / new.norm())
            out.append(gamma * (ratio * new if ratio > 1 else new))
        expected[m], signals[m] = out, (cos, k[0])
    return expected, expected_head, signals


@pytest.mark.parametrize("case", ["natural", "conflicting"])
def test_mmpareto_integrates_gradients_as_the_official_code(case):
    model, audio, visual, labels = _setup64("concat") if case == "natural" else _conflicting_setup()
    ref = copy.deepcopy(model)
    gamma = 1.7  # not the default 1.5, so a hard-coded gamma shows
    losses = create_method("mmpareto", {"gamma": gamma}).backward(model, audio, visual, labels)

    expected, expected_head, signals = _mmpareto_reference(ref, audio, visual, labels, gamma)
    for m in ("audio", "visual"):
        _assert_grads_equal(_params(model.encoder(m)), expected[m], f"mmpareto {m} encoder")
        cos, k_mm = signals[m]
        assert float(losses[f"cosine_{m}"]) == pytest.approx(cos, abs=1e-5)
        assert float(losses[f"k_fused_{m}"]) == pytest.approx(k_mm, rel=1e-4)
    _assert_grads_equal(_params(model.fusion_head), expected_head, "mmpareto fusion head")

    fused, loss_a, loss_v = _terms(ref, audio, visual, labels)
    torch.testing.assert_close(losses["total"], (fused + loss_a + loss_v).detach())
    if case == "conflicting":  # both branches are exercised
        assert signals["audio"][0] < -0.3 and 0 < signals["audio"][1] < 0.5
        assert signals["visual"][0] > 0.3 and signals["visual"][1] == 0.5


def test_mmpareto_weights_are_the_min_norm_point_of_the_two_gradients():
    """The conflicting-case weight minimises |c g1 + (1 - c) g2| over c in [0, 1] (MGDA)."""
    g = torch.Generator().manual_seed(0)
    from dgl_engine.methods.mmpareto import min_norm_weight

    for _ in range(20):
        g1 = torch.randn(50, generator=g, dtype=torch.float64)
        g2 = -0.5 * g1 + torch.randn(50, generator=g, dtype=torch.float64) * torch.rand(1, generator=g, dtype=torch.float64)
        c = min_norm_weight(float(g1 @ g1), float(g1 @ g2), float(g2 @ g2))
        grid = torch.linspace(0, 1, 100001, dtype=torch.float64)
        norms = ((grid[:, None] * g1 + (1 - grid[:, None]) * g2) ** 2).sum(1)
        best = float(grid[norms.argmin()])
        assert c == pytest.approx(min(max(best, 0.001), 0.999), abs=1e-4)


# ----- PMR -------------------------------------------------------------------------------------

def _distances(h, protos):  # written apart from pmr.prototype_logits: torch.cdist
    return torch.cdist(h, protos)


def _pmr_reference(ref, audio, visual, labels, protos, alpha):
    """Expected .grad on every parameter, the ratio and the coefficients, from given prototypes."""
    h = {"audio": ref.encode("audio", audio), "visual": ref.encode("visual", visual)}
    fused = F.cross_entropy(ref.fusion_head(h["audio"], h["visual"]), labels)
    proto_loss, score = {}, {}
    for m in ("audio", "visual"):
        s = -_distances(h[m], protos[m])  # (B, C)
        proto_loss[m] = F.cross_entropy(s, labels)
        score[m] = float(sum(torch.softmax(s.detach(), 1)[i, labels[i]] for i in range(len(labels))))
    ratio = score["audio"] / score["visual"]
    beta, lam = (0.0, alpha) if ratio > 1 else (alpha, 0.0) if ratio < 1 else (0.0, 0.0)
    params = _params(ref)
    g_f, g_a, g_v = (_grad(t, params) for t in (fused, proto_loss["audio"], proto_loss["visual"]))
    expected = [f + beta * a + lam * v for f, a, v in zip(g_f, g_a, g_v)]
    return expected, ratio, (beta, lam), proto_loss


def _class_means(h, labels, num_classes):
    out = h.detach().mean(0).repeat(num_classes, 1)  # absent classes: the batch mean
    for c in labels.unique():
        out[c] = h.detach()[labels == c].mean(0)
    return out


def test_pmr_first_step_prototypes_and_update():
    model, audio, visual, labels = _setup64("concat")
    ref = copy.deepcopy(model)
    alpha = 2.5
    method = create_method("pmr", {"alpha": alpha})
    losses = method.backward(model, audio, visual, labels)

    C = model.fusion_head(model.encode("audio", audio), model.encode("visual", visual)).shape[1]
    assert len(labels.unique()) < C  # some class is absent from the batch: its start is the batch mean
    protos = {m: _class_means(ref.encode(m, x), labels, C) for m, x in (("audio", audio), ("visual", visual))}
    for m in protos:
        torch.testing.assert_close(method.prototypes[m], protos[m])
    expected, ratio, coeff, proto_loss = _pmr_reference(ref, audio, visual, labels, protos, alpha)
    _assert_grads_equal(_params(model), expected, "pmr")
    assert float(losses["ratio"]) == pytest.approx(ratio, rel=1e-6)
    assert (float(losses["coeff_audio"]), float(losses["coeff_visual"])) == coeff
    torch.testing.assert_close(losses["proto_audio"], proto_loss["audio"].detach())


@pytest.mark.parametrize("weaker", ["audio", "visual"])
def test_pmr_gives_the_prototype_loss_to_the_weaker_modality_only(weaker):
    """With one modality's prototypes at its class means and the other's scrambled, the
    scrambled one scores lower: only its encoder gets alpha * CE(-distance), the head none."""
    model, audio, visual, labels = _setup64("concat", seed=1)
    ref = copy.deepcopy(model)
    method = create_method("pmr", {"alpha": 3.0})
    C = model.fusion_head.fc.out_features
    means = {m: _class_means(ref.encode(m, x), labels, C) for m, x in (("audio", audio), ("visual", visual))}
    protos = {m: (means[m].roll(1, 0) * 3 if m == weaker else means[m]) for m in means}
    method.prototypes = {m: p.clone() for m, p in protos.items()}
    method._sums = {m: torch.zeros_like(p) for m, p in protos.items()}
    method._counts = torch.zeros(C, dtype=torch.float64)
    losses = method.backward(model, audio, visual, labels)

    expected, ratio, coeff, _ = _pmr_reference(ref, audio, visual, labels, protos, 3.0)
    assert (ratio < 1) == (weaker == "audio") and ratio != 1
    assert float(losses[f"coeff_{weaker}"]) == 3.0 and sum(coeff) == 3.0
    _assert_grads_equal(_params(model), expected, f"pmr ({weaker} weaker)")
    # The head's gradient is the fused loss's alone.
    fused = F.cross_entropy(ref(audio, visual), labels)
    _assert_grads_equal(_params(model.fusion_head), _grad(fused, _params(ref.fusion_head)), "pmr head")


def test_pmr_refreshes_prototypes_with_momentum_from_the_batches_since_the_last_refresh():
    model, audio, visual, labels = _setup64("concat")
    _, audio2, visual2, labels2 = _setup64("concat", seed=3)
    ref = copy.deepcopy(model)
    method = create_method("pmr", {"update_every": 2, "momentum": 0.25})
    method.backward(model, audio, visual, labels)
    start = {m: p.clone() for m, p in method.prototypes.items()}
    method.backward(model, audio2, visual2, labels2)  # step 2: refresh from steps 1 and 2

    y = torch.cat([labels, labels2])
    for m, (x1, x2) in (("audio", (audio, audio2)), ("visual", (visual, visual2))):
        h = torch.cat([ref.encode(m, x1), ref.encode(m, x2)]).detach()  # no optimiser step: same weights
        expected = start[m].clone()
        for c in y.unique():
            expected[c] = 0.75 * h[y == c].mean(0) + 0.25 * start[m][c]
        torch.testing.assert_close(method.prototypes[m], expected)
