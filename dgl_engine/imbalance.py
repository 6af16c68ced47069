"""OGM-GE's imbalance ratio: how much more the audio slice of the fused head is sure of the
true class than the visual slice is.

OGM-GE (Peng et al., CVPR 2022) computes it on every training batch to decide whose gradient
to damp (``methods/ogm_ge.py``); the evaluation reports it on the validation / test split
(``evaluate.py``), so the number the app charts is the number OGM-GE acts on.
"""

from __future__ import annotations

import torch


def imbalance_scores(head, h_a: torch.Tensor, h_v: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(score_a, score_v): over the N samples, the sum of each modality's softmax score of the
    true class from its slice of the fused head (``head.slice_logits``: W_m h_m + b/2).
    h_a (N, D_a), h_v (N, D_v), labels (N,); the scores are 0-dim tensors."""
    idx = torch.arange(labels.shape[0], device=labels.device)
    score_a = torch.softmax(head.slice_logits("audio", h_a), 1)[idx, labels].sum()
    score_v = torch.softmax(head.slice_logits("visual", h_v), 1)[idx, labels].sum()
    return score_a, score_v


def imbalance_ratio(head, h_a: torch.Tensor, h_v: torch.Tensor, labels: torch.Tensor) -> float:
    """score_a / score_v (``imbalance_scores``): > 1 when audio dominates. The visual score is
    floored at 1e-8, so a visual slice sure of nothing gives a large ratio, not a division by 0."""
    score_a, score_v = imbalance_scores(head, h_a, h_v, labels)
    return float(score_a / score_v.clamp(min=1e-8))
