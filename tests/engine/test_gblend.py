"""G-Blend (Wang et al., CVPR 2020), checked against an independent computation from the paper:

- the update: every parameter group gets sum_k w_k grad(L_k) over the fused output and the two
  own unimodal heads (paper Eq. 4), per-term autograd.grad combined by hand in float64;
- the weights: w_k ~ G_k / O_k^2 normalised (paper Sec. 3.2-3.3), from each output's training
  and validation losses measured here, at super-epoch boundaries, over three epochs;
- without a validation split, a fixed tenth of the training split stands in.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from dgl_engine.data.dataset import Split
from dgl_engine.methods import create_method
from tests.engine.test_dgl_routing import _encoder_params, _params
from tests.engine.test_methods_field import _assert_grads_equal, _grad, _setup64


def _setup(fusion):
    model, audio, visual, labels = _setup64(fusion)
    model.add_heads(("audio", "visual"), 0)
    return model.double(), audio, visual, labels


def _outputs(model, audio, visual):
    h_a, h_v = model.encode("audio", audio), model.encode("visual", visual)
    return model.fusion_head(h_a, h_v), model.heads["audio"](h_a), model.heads["visual"](h_v)


@pytest.mark.parametrize("fusion", ["concat", "sum"])
def test_gblend_update_is_the_weighted_sum_of_the_three_losses_gradients(fusion):
    model, audio, visual, labels = _setup(fusion)
    ref = copy.deepcopy(model)
    method = create_method("gblend", None, torch.Generator().manual_seed(0))
    method.weights = {"fused": 0.5, "audio": 0.3, "visual": 0.2}  # not uniform, so a swapped weight shows
    losses = method.backward(model, audio, visual, labels)

    terms = [F.cross_entropy(z, labels) for z in _outputs(ref, audio, visual)]  # fused, audio, visual
    w = (0.5, 0.3, 0.2)
    for group, got, want in (("encoders", _encoder_params(model), _encoder_params(ref)),
                             ("fusion head", _params(model.fusion_head), _params(ref.fusion_head)),
                             ("audio head", _params(model.heads["audio"]), _params(ref.heads["audio"])),
                             ("visual head", _params(model.heads["visual"]), _params(ref.heads["visual"]))):
        grads = [_grad(t, want) for t in terms]
        expected = [sum(wk * g[i] for wk, g in zip(w, grads)) for i in range(len(want))]
        _assert_grads_equal(got, expected, f"gblend {group}")
    torch.testing.assert_close(losses["total"], sum(wk * t for wk, t in zip(w, terms)).detach())
    assert float(losses["w_fused"]) == 0.5 and float(losses["w_visual"]) == pytest.approx(0.2)
    # The heads train on their own loss only: the audio head's gradient is w_audio * grad(L_audio).
    assert not any(p.grad.abs().sum() == 0 for p in model.heads.parameters())


def _split(n, seed, num_classes=5):
    g = torch.Generator().manual_seed(seed)
    return Split(torch.randn(n, 1, 40, 63, generator=g, dtype=torch.float64),
                 torch.randn(n, 1, 3, 32, 32, generator=g, dtype=torch.float64),
                 torch.randint(0, num_classes, (n,), generator=g))


def _losses(model, split):
    """(train or val) mean CE per output in eval mode: the paper's L^T / L^V, computed here."""
    model.eval()
    with torch.no_grad():
        out = [float(F.cross_entropy(z, split.labels)) for z in _outputs(model, split.audio, split.visual)]
    model.train()
    return out


def _expected_weights(before, after):
    raw = []
    for (t0, v0), (t1, v1) in zip(before, after):
        g = max(v0 - v1, 0.0)  # generalisation: the validation loss's fall
        o = (v1 - t1) - (v0 - t0)  # overfitting: the gap's growth
        raw.append(g / max(o * o, 1e-8))
    return [r / sum(raw) for r in raw] if sum(raw) > 0 else None


def test_gblend_weights_follow_g_over_o_squared_at_each_super_epoch_boundary():
    model, audio, visual, labels = _setup("concat")
    train, val = _split(24, 1), _split(12, 2)
    method = create_method("gblend", {"super_epoch": 1, "max_samples": 1000}, torch.Generator().manual_seed(0))
    method.on_data(train, val)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    history, weights = [], []
    for epoch in range(3):
        method.start_epoch(model, epoch, 2, 3)
        # The method's training subset is the whole (small) training split, in its own order.
        history.append(list(zip(_losses(model, method._train), _losses(model, val))))
        weights.append(dict(method.weights))
        for _ in range(2):
            opt.zero_grad()
            method.backward(model, audio, visual, labels)
            opt.step()
    assert sorted(method._train.labels.tolist()) == sorted(train.labels.tolist())
    assert weights[0] == pytest.approx({"fused": 1 / 3, "audio": 1 / 3, "visual": 1 / 3})  # before any estimate
    estimated = 0
    for e in (1, 2):
        expected = _expected_weights(history[e - 1], history[e])
        estimated += expected is not None
        got = [weights[e][k] for k in ("fused", "audio", "visual")]
        if expected is None:
            assert weights[e] == weights[e - 1]
        else:
            assert got == pytest.approx(expected, rel=1e-6, abs=1e-9)
            assert sum(got) == pytest.approx(1.0)
            assert weights[e] != weights[e - 1]
    assert estimated >= 1  # the data make at least one estimate (not only the kept weights)


def test_gblend_weights_only_change_every_super_epoch():
    model, *_ = _setup("sum")
    method = create_method("gblend", {"super_epoch": 2}, torch.Generator().manual_seed(0))
    method.on_data(_split(20, 1), _split(10, 2))
    calls = []
    method.output_losses = lambda m, s: calls.append(len(s)) or [1.0, 1.0, 1.0]
    for epoch in range(5):
        method.start_epoch(model, epoch, 1, 5)
    assert len(calls) == 2 * 3  # epochs 0, 2, 4: train and validation each


def test_gblend_without_a_validation_split_holds_out_a_tenth_of_the_training_split():
    train = _split(40, 3)
    method = create_method("gblend", None, torch.Generator().manual_seed(0))
    method.on_data(train, None)
    assert len(method._val) == 4 and len(method._train) == 36
    rows = {tuple(x.flatten()[:5].tolist()) for x in torch.cat([method._train.audio, method._val.audio])}
    assert len(rows) == 40  # a partition of the training split: no clip in both


def test_gblend_negative_generalisation_gets_weight_zero():
    from dgl_engine.methods.gblend import blend_weights

    before = {"fused": (1.0, 1.2), "audio": (1.0, 1.5), "visual": (1.0, 1.1)}
    after = {"fused": (0.8, 1.1), "audio": (0.9, 1.6), "visual": (0.7, 0.9)}
    w = blend_weights(before, after, {})
    g_f, o_f = 0.1, (1.1 - 0.8) - (1.2 - 1.0)
    g_v, o_v = 0.2, (0.9 - 0.7) - (1.1 - 1.0)
    raw = {"fused": g_f / o_f**2, "audio": 0.0, "visual": g_v / o_v**2}
    assert w == pytest.approx({k: v / sum(raw.values()) for k, v in raw.items()})
    assert blend_weights(before, {k: (t, v + 1) for k, (t, v) in before.items()}, {"kept": 1}) == {"kept": 1}


def test_a_run_too_short_for_a_schedule_is_warned_about():
    import dataclasses

    from dgl_engine.validate import resolve, validate
    from tests.conftest import small_config

    short = validate(resolve(small_config(methods=("joint", "gblend", "di-mml"), epochs=2)))
    assert any("G-Blend" in w and "uniform" in w for w in short)
    assert not any("DI-MML" in w for w in short)  # DUC starts at epoch ceil(2 x 20/150) = 1 of 2
    long_enough = dataclasses.replace(small_config(methods=("gblend",), epochs=3), method_params={"gblend": {"super_epoch": 1}})
    assert not any("G-Blend" in w for w in validate(resolve(long_enough)))
    one = validate(resolve(small_config(methods=("di-mml",), epochs=1)))
    assert any("DUC" in w for w in one)
