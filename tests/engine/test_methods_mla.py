"""MLA checked against an independent computation written from the paper and the official
``train_epoch`` (gs branch) / ``GSPlugin`` / ``valid`` (dynamic): steps alternate modalities
over a turn, each step's gradient is its unimodal loss through the shared head, the head weight's
gradient is projected with the orthogonal-weight-modification projector written in its
symmetric form, P - P r r^T P / (alpha + r^T P r), normalised; and the test-time answer is
the per-sample entropy-weighted sum of the unimodal logits, computed by hand."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from dgl_engine.methods import create_method
from tests.engine.test_dgl_routing import _params
from tests.engine.test_methods_field import _assert_grads_equal, _grad, _setup64


def _head_weights(head):
    """[(weight, columns of the full input it holds)]; the full weight W = [W_a | W_v]."""
    if hasattr(head, "fc"):
        return [(head.fc.weight, slice(0, head.fc.in_features))]
    d_a = head.fc_audio.in_features
    return [(head.fc_audio.weight, slice(0, d_a)), (head.fc_visual.weight, slice(d_a, d_a + head.fc_visual.in_features))]


def _z(ref, m, h):  # f(h_a, 0) or f(0, h_v) from the head's forward with zeros
    zeros = torch.zeros(h.shape[0], _dims(ref)[1 if m == "audio" else 0], dtype=h.dtype)
    return ref.fusion_head(h, zeros) if m == "audio" else ref.fusion_head(zeros, h)


def _dims(ref):
    return ref.audio_encoder.out_dim, ref.visual_encoder.out_dim


@pytest.mark.parametrize("fusion", ["concat", "sum"])
@pytest.mark.parametrize("gs", [1.0, 0.0])
def test_mla_alternates_over_a_turn_and_projects_the_head_gradient(fusion, gs):
    model, audio, visual, labels = _setup64(fusion)
    batches = [(audio, visual, labels)] + [_setup64(fusion, seed=s)[1:] for s in (2, 3)]
    method = create_method("mla", {"gs": gs})
    steps_per_epoch = 4
    method.start_epoch(model, 0, steps_per_epoch, 1)
    d_a, d_v = _dims(model)
    P = torch.eye(d_a + d_v, dtype=torch.float64)
    for n, (a, v, y) in enumerate(batches):
        m = ("audio", "visual")[n % 2]  # audio, visual, audio: one turn and a step
        other = "visual" if m == "audio" else "audio"
        ref = copy.deepcopy(model)
        model.zero_grad(set_to_none=True)
        out = method.backward(model, a, v, y)

        h = ref.encode(m, a if m == "audio" else v)
        loss = F.cross_entropy(_z(ref, m, h), y)
        enc, head = _params(ref.encoder(m)), _params(ref.fusion_head)
        _assert_grads_equal(_params(model.encoder(m)), _grad(loss, enc), f"mla step {n} {m} encoder")
        assert all(p.grad is None for p in model.encoder(other).parameters()), f"step {n}: {other} encoder trained"
        expected_head = dict(zip([id(p) for p in head], _grad(loss, head)))
        if gs and n > 0:  # the first step is never modified (official train_exp_counter != 0)
            r = torch.zeros(d_a + d_v, 1, dtype=torch.float64)
            rows = slice(0, d_a) if m == "audio" else slice(d_a, d_a + d_v)
            r[rows, 0] = h.detach().mean(0)
            alpha = 0.1 ** (n / steps_per_epoch + 1)
            P = P - (P @ r @ r.T @ P) / (alpha + float(r.T @ P @ r))
            P = P / math.sqrt(float((P ** 2).sum()))
            W_grad = torch.cat([expected_head[id(w)] for w, _ in _head_weights(ref.fusion_head)], 1)
            projected = W_grad @ P.T
            for w, cols in _head_weights(ref.fusion_head):
                expected_head[id(w)] = projected[:, cols]
        for p, q in zip(_params(model.fusion_head), head):
            e = expected_head[id(q)]
            if p.grad is None:  # the sum head's other block gets no gradient at all
                assert not e.any() and fusion == "sum"
            else:
                _assert_grads_equal([p], [e], f"mla step {n} head")
        assert float(out["trains_visual"]) == float(m == "visual")
        torch.testing.assert_close(out["total"], loss.detach())
        torch.testing.assert_close(out[m], loss.detach())
        assert other not in out
        if gs and n > 0:
            torch.testing.assert_close(method.projector, P)
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p -= 0.1 * p.grad
    if gs:  # the projection changed the head's gradient
        assert not torch.allclose(projected, W_grad)


@pytest.mark.parametrize("fusion", ["concat", "sum"])
def test_mla_predicts_the_entropy_weighted_sum_of_unimodal_logits(fusion):
    model, audio, visual, labels = _setup64(fusion, seed=1)
    with torch.no_grad():
        h_a, h_v = model.encode("audio", audio), model.encode("visual", visual)
        z_a, z_v = _z(model, "audio", h_a), _z(model, "visual", h_v)
        got = create_method("mla").predict(model, h_a, h_v)
        fixed = create_method("mla", {"dynamic": 0, "av_alpha": 0.3}).predict(model, h_a, h_v)
    expected = torch.empty_like(z_a)
    for i in range(len(labels)):
        ent = []
        for z in (z_a[i], z_v[i]):
            p = [math.exp(x) for x in z.tolist()]
            p = [x / sum(p) for x in p]
            ent.append(-sum(x * math.log(x) for x in p))
        top = max(ent)
        g = [math.exp(top - e) for e in ent]
        expected[i] = (g[0] * z_a[i] + g[1] * z_v[i]) / (g[0] + g[1])
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(fixed, 0.3 * z_a + 0.7 * z_v)
    # The surer modality (lower entropy) weighs more, per sample.
    assert not torch.allclose(got, 0.5 * z_a + 0.5 * z_v)


def test_evaluation_scores_mla_and_its_shapley_values_on_its_own_answer():
    """evaluate: MLA's fused accuracy is its entropy-weighted answer's, and the Shapley
    coalitions are of that answer (the other modality's features zeroed); for joint training
    (predict = the fused head) nothing changes."""
    from dgl_engine.config import ModelConfig
    from dgl_engine.data.dataset import Split
    from dgl_engine.evaluate import evaluate
    from dgl_engine.models.av_model import build_model

    from dgl_engine.shapley import shapley_accuracy

    g = torch.Generator().manual_seed(1)
    split = Split(audio=torch.randn(40, 1, 40, 63, generator=g), visual=torch.randn(40, 1, 3, 32, 32, generator=g),
                  labels=torch.randint(0, 3, (40,), generator=g))
    model = build_model(ModelConfig(encoder="tiny"), 3, seed=0).eval()
    with torch.no_grad():  # large head weights, so the entropy weighting answers differently from the head
        w = model.fusion_head.fc.weight
        w.copy_(torch.randn(w.shape, generator=g) * 3)
        model.fusion_head.fc.bias.copy_(torch.tensor([0.5, -0.3, 0.1]))
        h_a, h_v = model.encode("audio", split.audio), model.encode("visual", split.visual)
        head_shapley = shapley_accuracy(model.fusion_head, h_a, h_v, split.labels)
    acc = lambda z: float((z.argmax(1) == split.labels).float().mean())
    for name in ("mla", "joint"):
        method = create_method(name)
        answer = lambda a, v: method.predict(model, a, v)
        with torch.no_grad():
            v_both, v_a = acc(answer(h_a, h_v)), acc(answer(h_a, torch.zeros_like(h_v)))
            v_v, v_0 = acc(answer(torch.zeros_like(h_a), h_v)), acc(answer(torch.zeros_like(h_a), torch.zeros_like(h_v)))
        metrics, _ = evaluate(model, method, split, 3, "cpu")
        assert metrics["acc"] == pytest.approx(v_both)
        assert metrics["shapley_audio"] == pytest.approx(0.5 * ((v_a - v_0) + (v_both - v_v)))
        assert metrics["shapley_visual"] == pytest.approx(0.5 * ((v_v - v_0) + (v_both - v_a)))
        if name == "mla":  # the head's coalitions would give other values on this model
            assert metrics["shapley_audio"] != pytest.approx(head_shapley["shapley_audio"])
        else:  # joint's answer is the fused head: its coalitions are the head's
            assert metrics["shapley_audio"] == pytest.approx(head_shapley["shapley_audio"])
