"""The Shapley contribution of each modality to a model's accuracy.

With two modalities, a modality's Shapley value is the average of what adding it changes:
    phi_a = 1/2 [(v({a}) - v({})) + (v({a, v}) - v({v}))],   and phi_v likewise,
where v(S) is the accuracy with the modalities outside S *absent*, i.e. their features set to
zero (zero mode: f(h_a, 0), f(0, h_v), and f(0, 0) = the bias alone). phi_a + phi_v is the
whole gain over the empty model, v({a, v}) - v({}).
"""

from __future__ import annotations

import torch


def shapley_pair(v_empty: float, v_audio: float, v_visual: float, v_both: float) -> dict[str, float]:
    """{"shapley_audio", "shapley_visual"} from the four coalition values."""
    return {
        "shapley_audio": 0.5 * ((v_audio - v_empty) + (v_both - v_visual)),
        "shapley_visual": 0.5 * ((v_visual - v_empty) + (v_both - v_audio)),
    }


def coalition_logits(head, h_a: torch.Tensor, h_v: torch.Tensor) -> dict[str, torch.Tensor]:
    """Logits (N, C) of the fusion head for each coalition, absent modalities zeroed. ``head`` is
    any (h_a, h_v) -> logits: the fusion head, or a method's answer (evaluate passes ``predict``)."""
    zero_a, zero_v = torch.zeros_like(h_a), torch.zeros_like(h_v)
    return {"empty": head(zero_a, zero_v), "audio": head(h_a, zero_v), "visual": head(zero_a, h_v), "both": head(h_a, h_v)}


def shapley_accuracy(head, h_a: torch.Tensor, h_v: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Each modality's Shapley contribution to accuracy on these features."""
    acc = {k: float((z.argmax(1) == labels).float().mean()) for k, z in coalition_logits(head, h_a, h_v).items()}
    return shapley_pair(acc["empty"], acc["audio"], acc["visual"], acc["both"])


def shapley_confidence(head, h_a: torch.Tensor, h_v: torch.Tensor) -> dict[str, float]:
    """For one clip (h of shape (1, D)): each modality's Shapley contribution to the probability
    of the class the full model predicts."""
    logits = coalition_logits(head, h_a, h_v)
    predicted = int(logits["both"].argmax(1))
    p = {k: float(torch.softmax(z.detach().float(), 1)[0, predicted]) for k, z in logits.items()}
    return shapley_pair(p["empty"], p["audio"], p["visual"], p["both"])
