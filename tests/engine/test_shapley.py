"""Shapley contributions against a brute-force computation over the orderings of the players."""

from __future__ import annotations

import itertools

import pytest
import torch

from dgl_engine.config import ModelConfig
from dgl_engine.data.dataset import Split
from dgl_engine.evaluate import evaluate
from dgl_engine.methods import create_method
from dgl_engine.models.av_model import build_model
from dgl_engine.shapley import shapley_accuracy, shapley_confidence


def _brute_force(value) -> dict[str, float]:
    """phi_m = mean over orderings of the players of what m adds when it joins."""
    players = ("audio", "visual")
    phi = {m: 0.0 for m in players}
    orders = list(itertools.permutations(players))
    for order in orders:
        present: set[str] = set()
        for m in order:
            before = value(frozenset(present))
            present.add(m)
            phi[m] += (value(frozenset(present)) - before) / len(orders)
    return {f"shapley_{m}": v for m, v in phi.items()}


def _features(seed=0, n=80, d=6, c=4):
    g = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(2 * d, c)
    with torch.no_grad():
        head.weight.copy_(torch.randn(c, 2 * d, generator=g))
        head.bias.copy_(torch.randn(c, generator=g))

    def f(h_a, h_v):
        return head(torch.cat([h_a, h_v], 1))

    return f, torch.randn(n, d, generator=g), torch.randn(n, d, generator=g), torch.randint(0, c, (n,), generator=g)


def test_shapley_accuracy_equals_the_brute_force_definition():
    f, h_a, h_v, y = _features()

    def accuracy(coalition):
        a = h_a if "audio" in coalition else torch.zeros_like(h_a)
        v = h_v if "visual" in coalition else torch.zeros_like(h_v)
        return float((f(a, v).argmax(1) == y).float().mean())

    got = shapley_accuracy(f, h_a, h_v, y)
    assert got == pytest.approx(_brute_force(accuracy), abs=1e-9)
    assert sum(got.values()) == pytest.approx(accuracy({"audio", "visual"}) - accuracy(set()), abs=1e-9)
    assert got["shapley_audio"] != pytest.approx(got["shapley_visual"])  # the test tells them apart


def test_shapley_confidence_of_one_clip():
    f, h_a, h_v, _ = _features(seed=3, n=1)
    predicted = int(f(h_a, h_v).argmax(1))

    def prob(coalition):
        a = h_a if "audio" in coalition else torch.zeros_like(h_a)
        v = h_v if "visual" in coalition else torch.zeros_like(h_v)
        return float(torch.softmax(f(a, v).detach(), 1)[0, predicted])

    assert shapley_confidence(f, h_a, h_v) == pytest.approx(_brute_force(prob), abs=1e-7)


def test_evaluate_reports_each_modality_s_contribution_for_multimodal_methods():
    model = build_model(ModelConfig(), 3, seed=0).eval()
    g = torch.Generator().manual_seed(1)
    split = Split(torch.randn(40, 1, 40, 63, generator=g), torch.rand(40, 1, 3, 32, 32, generator=g), torch.randint(0, 3, (40,), generator=g))
    metrics, _ = evaluate(model, create_method("joint"), split, 3, "cpu")
    with torch.no_grad():
        h_a, h_v = model.encode("audio", split.audio), model.encode("visual", split.visual)
    assert {k: metrics[k] for k in ("shapley_audio", "shapley_visual")} == pytest.approx(
        shapley_accuracy(model.fusion_head, h_a, h_v, split.labels), abs=1e-6)
    uni, _ = evaluate(model, create_method("audio-only"), split, 3, "cpu")
    assert "shapley_audio" not in uni
