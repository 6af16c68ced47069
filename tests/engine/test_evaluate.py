"""Evaluation: confusion matrix and macro-F1 on hand-computed examples, linear probes,
precise BatchNorm statistics, and evaluate()'s per-method keys."""

from __future__ import annotations

import pytest
import torch

from dgl_engine.config import ModelConfig, TrainConfig
from dgl_engine.data.dataset import Split
from dgl_engine.evaluate import confusion_matrix, evaluate, linear_probe, macro_f1, precise_bn
from dgl_engine.methods import create_method
from dgl_engine.models.av_model import build_model


def test_confusion_matrix_rows_are_true_classes():
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    pred = torch.tensor([0, 1, 0, 1, 2, 2])
    cm = confusion_matrix(pred, labels, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert int(cm.sum()) == 6
    assert confusion_matrix(torch.tensor([2]), torch.tensor([0]), 4).tolist()[0] == [0, 0, 1, 0]


def test_macro_f1_by_hand():
    cm = torch.tensor([[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    # class 0: P 2/2, R 2/3 -> 0.8; class 1: P 1/2, R 1/2 -> 0.5; class 2: P 1/2, R 1 -> 2/3
    assert macro_f1(cm) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3, abs=1e-6)
    assert macro_f1(torch.eye(4, dtype=torch.long) * 7) == pytest.approx(1.0)
    # Always predicting class 0 on a balanced 2-class set: F1 = 2/3 for class 0, 0 for class 1.
    assert macro_f1(torch.tensor([[5, 0], [5, 0]])) == pytest.approx(1 / 3, abs=1e-6)


def test_linear_probe_separable_features_and_random_labels():
    g = torch.Generator().manual_seed(0)
    n, d, c = 300, 16, 4
    centres = torch.randn(c, d, generator=g) * 4
    y_tr, y_te = torch.randint(0, c, (n,), generator=g), torch.randint(0, c, (n,), generator=g)
    x_tr = centres[y_tr] + torch.randn(n, d, generator=g)
    x_te = centres[y_te] + torch.randn(n, d, generator=g)
    assert linear_probe(x_tr, y_tr, x_te, y_te, c) > 0.95

    # Features carrying nothing about the labels: chance on held-out data.
    noise_tr, noise_te = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    chance = linear_probe(noise_tr, torch.randint(0, c, (n,), generator=g), noise_te, torch.randint(0, c, (n,), generator=g), c)
    assert chance < 0.4
    # Deterministic.
    assert linear_probe(x_tr, y_tr, x_te, y_te, c) == linear_probe(x_tr, y_tr, x_te, y_te, c)


def _split(n=64, seed=0, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    return Split(
        audio=torch.randn(n, 1, 40, 63, generator=g) * 3 + 2 + shift,
        visual=torch.randn(n, 1, 3, 32, 32, generator=g) * 0.5 - 1,
        labels=torch.randint(0, 3, (n,), generator=g),
    )


def test_precise_bn_sets_running_stats_to_the_data_statistics():
    model = build_model(ModelConfig(), 3, seed=0).train()
    split = _split()
    conv, bn = model.audio_encoder.blocks[0][0], model.audio_encoder.blocks[0][1]
    visual_bn = model.visual_encoder.image_encoder.blocks[0][1]
    visual_before = visual_bn.running_mean.clone()
    momentum = bn.momentum

    precise_bn(model, split, ("audio",), num_samples=48, device="cpu")

    with torch.no_grad():
        out = conv(split.audio[:48])  # (48, C, F, T): what the first BN normalises
    expected_mean = out.mean(dim=(0, 2, 3))
    expected_var = out.transpose(0, 1).reshape(out.shape[1], -1).var(dim=1, unbiased=True)
    torch.testing.assert_close(bn.running_mean, expected_mean, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(bn.running_var, expected_var, rtol=1e-3, atol=1e-4)
    assert bn.momentum == momentum and bn.training  # settings restored
    assert torch.equal(visual_bn.running_mean, visual_before)  # only the modalities asked for

    # Called again on other data, the statistics are that data's alone (reset, not blended).
    shifted = _split(seed=1, shift=5.0)
    precise_bn(model, shifted, ("audio",), num_samples=48, device="cpu")
    with torch.no_grad():
        shifted_mean = conv(shifted.audio[:48]).mean(dim=(0, 2, 3))
    assert not torch.allclose(shifted_mean, expected_mean, atol=1e-2)
    torch.testing.assert_close(bn.running_mean, shifted_mean, rtol=1e-4, atol=1e-4)


def test_evaluate_reports_the_keys_that_apply_to_the_method():
    model = build_model(ModelConfig(), 3, seed=0)
    split = _split(n=30)
    joint = create_method("joint", {}, torch.Generator())
    metrics, confusion = evaluate(model, joint, split, 3, "cpu", detailed=True)
    assert {"acc", "loss", "acc_audio", "acc_visual", "acc_audio_slice", "acc_visual_slice", "imbalance_ratio", "macro_f1"} <= set(metrics)
    assert set(confusion) == {"fused", "audio", "visual"}
    assert sum(map(sum, confusion["fused"])) == 30

    model.eval()
    with torch.no_grad():
        logits = model(split.audio, split.visual)
    assert metrics["acc"] == pytest.approx(float((logits.argmax(1) == split.labels).float().mean()))

    audio_only = create_method("audio-only", {}, torch.Generator())
    metrics, confusion = evaluate(model, audio_only, split, 3, "cpu", detailed=True)
    assert "acc_visual" not in metrics and "imbalance_ratio" not in metrics and "visual" not in confusion
    assert metrics["acc"] == metrics["acc_audio"]  # an audio-only model answers with f(h_a, 0)


def test_each_named_accuracy_mode_matches_an_independent_computation():
    """zero: W_m h_m + b (the other modality's features set to 0); slice: W_m h_m + b/2. With a
    large bias the two answer differently, so computing one mode with the other's logits fails."""
    model = build_model(ModelConfig(), 3, seed=0).eval()
    split = _split(n=60)
    fc = model.fusion_head.fc
    with torch.no_grad():
        h_a = model.encode("audio", split.audio)
        h_v = model.encode("visual", split.visual)
    d_a = h_a.shape[1]
    w_a, w_v = fc.weight[:, :d_a].detach(), fc.weight[:, d_a:].detach()

    def acc(logits):
        return float((logits.argmax(1) == split.labels).float().mean())

    # Features of an untrained model differ little between clips: a bias of minus twice the
    # audio logits' mean leaves the slice (b/2) centred on each clip's own variation, while zero
    # mode is dominated by the bias, so the two modes answer differently.
    b = -2 * (h_a @ w_a.T).mean(0)
    zero_a = acc(torch.cat([h_a, torch.zeros_like(h_v)], 1) @ fc.weight.detach().T + b)  # f(h_a, 0), literally
    zero_v = acc(torch.cat([torch.zeros_like(h_a), h_v], 1) @ fc.weight.detach().T + b)
    slice_a, slice_v = acc(h_a @ w_a.T + b / 2), acc(h_v @ w_v.T + b / 2)
    assert zero_a != slice_a, "the test needs modes that disagree"
    with torch.no_grad():
        fc.bias.copy_(b)

    metrics, _ = evaluate(model, create_method("joint"), split, 3, "cpu")
    assert metrics["acc_audio"] == pytest.approx(zero_a) and metrics["acc_visual"] == pytest.approx(zero_v)
    assert metrics["acc_audio_slice"] == pytest.approx(slice_a) and metrics["acc_visual_slice"] == pytest.approx(slice_v)

def test_evaluation_and_ogm_ge_report_the_same_imbalance_ratio():
    """evaluate's imbalance_ratio and the rho OGM-GE acts on are one function of the slices."""
    import copy

    from dgl_engine.imbalance import imbalance_ratio, imbalance_scores

    model = build_model(ModelConfig(encoder="tiny", fusion="concat"), 4, seed=1).eval()
    g = torch.Generator().manual_seed(2)
    split = Split(torch.randn(20, 1, 40, 63, generator=g), torch.randn(20, 1, 3, 32, 32, generator=g),
                  torch.randint(0, 4, (20,), generator=g))
    joint = create_method("joint", {}, torch.Generator().manual_seed(0))
    metrics, _ = evaluate(model, joint, split, 4, "cpu")
    with torch.no_grad():
        h_a, h_v = model.encode("audio", split.audio), model.encode("visual", split.visual)
        ratio = imbalance_ratio(model.fusion_head, h_a, h_v, split.labels)
        score_a, score_v = imbalance_scores(model.fusion_head, h_a, h_v, split.labels)
    assert metrics["imbalance_ratio"] == ratio == float(score_a / score_v)
    assert 0 < float(score_a) <= 20 and 0 < float(score_v) <= 20  # sums of N probabilities

    train = copy.deepcopy(model).train()
    with torch.no_grad():
        expected = imbalance_ratio(train.fusion_head, train.encode("audio", split.audio),
                                   train.encode("visual", split.visual), split.labels)
    train = copy.deepcopy(model).train()  # fresh BatchNorm statistics, as before the line above
    ogm = create_method("ogm-ge", {}, torch.Generator().manual_seed(0))
    assert float(ogm.backward(train, split.audio, split.visual, split.labels)["ratio"]) == pytest.approx(expected, rel=1e-6)
