"""Evaluation: fused and per-modality accuracy (named modes), macro-F1, confusion matrices,
OGM-GE's imbalance ratio, precise BatchNorm statistics and linear probes.

Per-modality modes (DESIGN.md): ``zero`` = the fused head with the other modality's features
zeroed (DGL's unimodal logits); ``slice`` = OGM-GE's split W_m h_m + b/2; ``probe`` = a linear
classifier trained on the frozen encoder's features (the fair measure of encoder quality);
``head`` = the method's own unimodal classifier on that encoder (``Method.heads``: G-Blend, MLB,
DI-MML), reported as ``acc_<m>_head`` for those methods only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dgl_engine.data.dataset import Split
from dgl_engine.imbalance import imbalance_ratio
from dgl_engine.methods.base import Method
from dgl_engine.models.av_model import AVModel
from dgl_engine.shapley import shapley_accuracy


@torch.no_grad()
def precise_bn(model: AVModel, split: Split, modalities, num_samples: int, device, batch_size: int = 128) -> None:
    """Re-estimate BatchNorm running statistics on the first ``num_samples`` of ``split``.

    With the default running averages the test accuracy of the same short run jumps by
    15-30 points between epochs (SYNTHETIC.md), which hides the effect we want to show.
    """
    if num_samples <= 0:
        return
    bns = [m for modality in modalities for m in model.encoder(modality).modules() if isinstance(m, nn.BatchNorm2d)]
    if not bns:
        return
    saved = [(bn.momentum, bn.training) for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches below
        bn.train()
    n = min(num_samples, len(split))
    for start in range(0, n, batch_size):
        for modality in modalities:
            x = (split.audio if modality == "audio" else split.visual)[start : min(n, start + batch_size)]
            model.encode(modality, x.to(device))
    for bn, (momentum, training) in zip(bns, saved):
        bn.momentum = momentum
        bn.train(training)


@torch.no_grad()
def encode_split(model: AVModel, split: Split, modalities, device, batch_size: int = 128,
                 to_cpu: bool = True) -> dict[str, torch.Tensor]:
    """Features of every sample: {"audio": (N, D_a), "visual": (N, D_v)}, eval mode; on the CPU
    (float32) unless ``to_cpu`` is False."""
    was_training = model.training
    model.eval()
    out: dict[str, list] = {m: [] for m in modalities}
    for start in range(0, len(split), batch_size):
        for m in modalities:
            x = (split.audio if m == "audio" else split.visual)[start : start + batch_size]
            h = model.encode(m, x.to(device)).float()
            out[m].append(h.cpu() if to_cpu else h)
    model.train(was_training)
    return {m: torch.cat(v) for m, v in out.items()}


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(1) == labels).float().mean())


def confusion_matrix(pred: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, C) counts; rows are true classes, columns predictions."""
    return torch.bincount(labels * num_classes + pred, minlength=num_classes**2).view(num_classes, num_classes)


def macro_f1(confusion: torch.Tensor) -> float:
    tp = confusion.diag().float()
    precision = tp / confusion.sum(0).clamp(min=1)
    recall = tp / confusion.sum(1).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    return float(f1.mean())


@torch.no_grad()
def evaluate(
    model: AVModel, method: Method, split: Split, num_classes: int, device, detailed: bool = False,
    subsets: dict[str, torch.Tensor] | None = None,
) -> tuple[dict, dict]:
    """Metrics of ``method``'s model on ``split``; with ``detailed``, macro-F1 and confusion
    matrices too; ``subsets`` {name: rows}: the fused accuracy on those rows as ``acc_<name>``
    (left out for an empty one). Returns (metrics, confusion) with keys that apply to the
    method only."""
    # Features stay where the model is: the head never moves between devices, and only the
    # (N, C) logits come back to the host.
    feats = encode_split(model, split, method.modalities, device, to_cpu=False)
    head = model.fusion_head
    labels = split.labels.to(device)
    outputs: dict[str, torch.Tensor] = {}
    h_a, h_v = feats.get("audio"), feats.get("visual")
    outputs["fused"] = method.predict(model, h_a, h_v)  # (N, C)
    for m, h in (("audio", h_a), ("visual", h_v)):
        if h is not None:
            outputs[m] = head.unimodal_logits(m, h)  # zero mode
            if method.multimodal:
                outputs[f"{m}_slice"] = head.slice_logits(m, h)
            if m in method.heads:  # head mode: the method's own classifier on that encoder
                outputs[f"{m}_head"] = model.head_logits(m, h)
    if method.multimodal:
        ratio = imbalance_ratio(head, h_a, h_v, labels)
        # Coalitions of the method's own answer (MLA answers with its entropy-weighted unimodal
        # logits, not the fused head); for every other method predict is the fused head.
        shapley = shapley_accuracy(lambda a, v: method.predict(model, a, v), h_a, h_v, labels)
    outputs = {k: v.float().cpu() for k, v in outputs.items()}
    labels = split.labels.cpu()

    metrics = {"acc": accuracy(outputs["fused"], labels), "loss": float(F.cross_entropy(outputs["fused"], labels))}
    for name, rows in (subsets or {}).items():
        if len(rows):
            metrics[f"acc_{name}"] = accuracy(outputs["fused"][rows], labels[rows])
    for m in ("audio", "visual"):
        if m in outputs:
            metrics[f"acc_{m}"] = accuracy(outputs[m], labels)
        if f"{m}_slice" in outputs:
            metrics[f"acc_{m}_slice"] = accuracy(outputs[f"{m}_slice"], labels)
        if f"{m}_head" in outputs:
            metrics[f"acc_{m}_head"] = accuracy(outputs[f"{m}_head"], labels)
    if method.multimodal:
        metrics["imbalance_ratio"] = ratio
        metrics.update(shapley)
    confusion = {}
    if detailed:
        for key in ("fused", "audio", "visual", "audio_head", "visual_head"):
            if key in outputs:
                cm = confusion_matrix(outputs[key].argmax(1), labels, num_classes)
                confusion[key] = cm.tolist()
                metrics["macro_f1" if key == "fused" else f"macro_f1_{key}"] = macro_f1(cm)
    return metrics, confusion


def linear_probe(
    train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
    num_classes: int, weight_decay: float = 1e-3, iterations: int = 100,
) -> float:
    """Test accuracy of a multinomial logistic regression on frozen features (N, D).

    Full-batch L-BFGS on standardised features; deterministic (zero init)."""
    mean, std = train_x.mean(0), train_x.std(0).clamp(min=1e-6)
    xtr, xte = (train_x - mean) / std, (test_x - mean) / std
    w = torch.zeros(xtr.shape[1], num_classes, requires_grad=True)
    b = torch.zeros(num_classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=iterations, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(xtr @ w + b, train_y) + weight_decay * (w**2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        return accuracy(xte @ w + b, test_y)
