"""Is an input unlike the model's training data? A per-modality distance, calibrated per model.

A model answers every input with some class, often confidently: a model trained on AV-MNIST
says "1" at 95% for a talking face. So each trained model carries, per modality, where its
training data's features lie: the class centroids of its encoder's features on the training
split and their pooled per-dimension spread. An input's *distance* is how far its features fall
from the nearest centroid, in those spreads (root mean square over dimensions). The threshold is
the ``QUANTILE`` of the distances of the model's own validation split: by construction about
0.5% of inputs like the training data exceed it, and an input beyond it is flagged as out of
distribution for that modality.
"""

from __future__ import annotations

import torch

QUANTILE = 0.995


def _distance(h: torch.Tensor, centroids: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(N,) distance of features h (N, D) to the nearest of centroids (C, D), in units of std (D,)."""
    z = (h[:, None, :] - centroids[None]) / std  # (N, C, D)
    return z.pow(2).mean(-1).min(1).values.sqrt()


def fit(train_h: torch.Tensor, train_y: torch.Tensor, val_h: torch.Tensor, num_classes: int) -> dict:
    """The calibration of one modality: centroids, spread, threshold and how it was set."""
    h = train_h.double()
    centroids = torch.stack([h[train_y == c].mean(0) if (train_y == c).any() else h.mean(0) for c in range(num_classes)])
    std = (h - centroids[train_y]).std(0).clamp(min=1e-6)
    distances = _distance(val_h.double(), centroids, std)
    threshold = float(torch.quantile(distances, QUANTILE)) if len(distances) else float("inf")
    return {"centroids": centroids.float().tolist(), "std": std.float().tolist(), "threshold": threshold,
            "quantile": QUANTILE, "calibrated_on": f"validation split ({len(distances)} clips)"}


def score(calibration: dict, h: torch.Tensor) -> dict:
    """{"distance", "threshold", "out_of_distribution"} of one input's features h (1, D)."""
    centroids = torch.tensor(calibration["centroids"], dtype=torch.float64)
    std = torch.tensor(calibration["std"], dtype=torch.float64)
    distance = float(_distance(h.double().reshape(1, -1), centroids, std)[0])
    threshold = float(calibration["threshold"])
    return {"distance": round(distance, 3), "threshold": round(threshold, 3), "out_of_distribution": distance > threshold}


def calibrate(model, data, modalities, device) -> dict:
    """{modality: calibration} for a trained model, from its training and validation splits."""
    from dgl_engine.evaluate import encode_split

    train = encode_split(model, data.train, modalities, device)
    val = encode_split(model, data.val, modalities, device)
    return {m: fit(train[m], data.train.labels, val[m], data.num_classes) for m in modalities}
