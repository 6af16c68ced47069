"""The out-of-distribution check: calibrated on the validation split, it flags about its quantile
of inputs like the training data and every input far from it."""

from __future__ import annotations

import torch

from dgl_engine import ood


def _clusters(n, seed, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centres = torch.tensor([[4.0, 0, 0, 0], [0, 4.0, 0, 0], [0, 0, 4.0, 0]])
    return centres[y] + torch.randn(n, 4, generator=g) + shift, y


def test_calibrated_threshold_flags_the_stated_share_of_like_inputs_and_far_ones():
    train_h, train_y = _clusters(2000, 0)
    val_h, _ = _clusters(2000, 1)
    cal = ood.fit(train_h, train_y, val_h, 3)
    assert cal["quantile"] == ood.QUANTILE and "2000 clips" in cal["calibrated_on"]
    # By hand: the distance of a point to its nearest centroid, in the pooled spreads.
    centroids, std = torch.tensor(cal["centroids"]), torch.tensor(cal["std"])
    x = val_h[:1]
    expected = min(float(((x - c) / std).pow(2).mean().sqrt()) for c in centroids)
    assert abs(ood.score(cal, x)["distance"] - expected) < 1e-3
    like, _ = _clusters(4000, 2)
    flagged = sum(ood.score(cal, h[None])["out_of_distribution"] for h in like) / len(like)
    assert flagged < 0.02  # about 0.5% by construction
    far, _ = _clusters(200, 3, shift=12.0)
    assert all(ood.score(cal, h[None])["out_of_distribution"] for h in far)
