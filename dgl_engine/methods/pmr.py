"""PMR: Prototypical Modal Rebalance (Fan et al., CVPR 2023).

Follows the official training step, fanyunfeng-bit/Modal-Imbalance-PMR ``main_Prototype_grad.py``:
``train_epoch`` (lines 120-219) and ``calculate_prototype`` (lines 383-441). Each modality has
one prototype per class, ``c_m[k]``, a class mean of that encoder's features. On a batch:

- prototype logits ``s_m = -|h_m - c_m[k]|`` (Euclidean distance, ``EU_dist``), (B, C);
- ratio ``rho = sum_i softmax(s_a)_i,y / sum_i softmax(s_v)_i,y`` (audio over visual);
- the weaker modality gets the prototypical cross-entropy ``CE(s_m)`` with weight alpha, the
  stronger none: ``rho > 1`` -> ``beta = 0, lambda = alpha``; ``rho < 1`` -> ``beta = alpha,
  lambda = 0``; ``rho = 1`` -> both 0;
- loss ``CE(f(h_a, h_v)) + beta CE(s_a) + lambda CE(s_v)``, one backward. The prototypes are
  constants, so ``CE(s_m)`` trains only encoder m; the head trains on the fused loss alone.
- prototypes: ``(1 - momentum) * class mean + momentum * previous``.

Defaults are the official CREMA-D concat runs (``bash.sh``): alpha 2.0, momentum 0.0 (argparse
defaults: 1.0 and 0.2).

Deliberate differences from the official code:
- the official code refreshes the prototypes after every epoch, from the first tenth of the
  training set encoded in eval mode (and once before training). A method here sees only its
  batches, so the prototypes are the class means of the (detached, train-mode) features of the
  batches seen since the last refresh, refreshed every ``update_every`` steps (50: the
  official ``--proto_update_freq`` argument's default, which its script parses but does not
  use). The first prototypes come from the first batch, a class absent from it starts at that
  batch's mean feature, and a class absent from a refresh window keeps its prototype.
- the official code applies PMR only between ``--modulation_starts`` and
  ``--modulation_ends`` (epochs 0-70 of 130 on CREMA-D); a method here does not know the
  epoch, so PMR is applied throughout.
- the distance is ``sqrt(max(|.|^2, 1e-20))``: the official ``sqrt`` gives a NaN gradient
  when a feature equals its prototype (possible here at the first step).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dgl_engine.methods.base import Method, Param, cross_entropy

MODALITIES = ("audio", "visual")


def prototype_logits(h: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """-Euclidean distance of each feature to each class prototype: (B, D), (C, D) -> (B, C)."""
    sq = ((h[:, None, :] - prototypes[None, :, :]) ** 2).sum(-1)
    return -sq.clamp_min(1e-20).sqrt()


@torch.no_grad()
def class_sums(h: torch.Tensor, labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class feature sums (C, D) and counts (C,) of a batch, detached, in the features' dtype."""
    sums = torch.zeros(num_classes, h.shape[1], device=h.device, dtype=h.dtype).index_add_(0, labels, h.detach())
    counts = torch.zeros(num_classes, device=h.device, dtype=h.dtype).index_add_(0, labels, torch.ones_like(h[:, 0]))
    return sums, counts


def true_class_score(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed softmax probability of the true class over the batch (official ``score_*_p``)."""
    return F.softmax(logits, dim=1).gather(1, labels[:, None]).sum()


class PMR(Method):
    family = "gradient modulation"
    name = "pmr"
    routing = ("CE(f(h_a, h_v)) trains everything; the weaker modality's encoder (by prototype scores) also gets "
               "alpha * CE of its distances to the class prototypes.")
    params = {
        "alpha": Param(2.0, 0.0, 100.0, "weight of the weaker modality's prototypical loss (official CREMA-D: 2)"),
        "momentum": Param(0.0, 0.0, 1.0, "share of the old prototype kept at a refresh (official runs: 0)"),
        "update_every": Param(50.0, 1.0, 100000.0, "steps between prototype refreshes (official: every epoch)"),
    }

    def __init__(self, params=None, generator=None):
        super().__init__(params, generator)
        self.prototypes: dict[str, torch.Tensor] | None = None  # modality -> (C, D)
        self._sums: dict[str, torch.Tensor] = {}  # modality -> (C, D) feature sums since the last refresh
        self._counts: torch.Tensor | None = None  # (C,)
        self._steps = 0

    def backward(self, model, audio, visual, labels):
        feats = {"audio": model.encode("audio", audio), "visual": model.encode("visual", visual)}  # (B, D) each
        logits = model.fusion_head(feats["audio"], feats["visual"])  # (B, C)
        if self.prototypes is None:
            self._start(feats, labels, logits.shape[1])

        sims = {m: prototype_logits(feats[m], self.prototypes[m]) for m in MODALITIES}  # (B, C)
        with torch.no_grad():
            ratio = float(true_class_score(sims["audio"], labels) / true_class_score(sims["visual"], labels))
        alpha = self.hp["alpha"]
        coeff = {"audio": alpha if ratio < 1 else 0.0, "visual": alpha if ratio > 1 else 0.0}
        fused = cross_entropy(logits, labels)
        proto = {m: cross_entropy(sims[m], labels) for m in MODALITIES}
        total = fused + coeff["audio"] * proto["audio"] + coeff["visual"] * proto["visual"]
        total.backward()

        self._accumulate(feats, labels)
        return {"total": total.detach(), "fused": fused.detach(),
                "proto_audio": proto["audio"].detach(), "proto_visual": proto["visual"].detach(),
                "ratio": torch.tensor(ratio), "coeff_audio": torch.tensor(coeff["audio"]),
                "coeff_visual": torch.tensor(coeff["visual"])}

    def _start(self, feats, labels, num_classes: int) -> None:
        """First prototypes: the first batch's class means (its overall mean for absent classes)."""
        self.prototypes, self._sums = {}, {}
        for m in MODALITIES:
            sums, counts = class_sums(feats[m], labels, num_classes)
            protos = feats[m].detach().mean(0).expand(num_classes, -1).clone()  # (C, D)
            seen = counts > 0
            protos[seen] = sums[seen] / counts[seen, None]
            self.prototypes[m], self._sums[m] = protos, torch.zeros_like(sums)
        self._counts = torch.zeros_like(counts)

    def _accumulate(self, feats, labels) -> None:
        for m in MODALITIES:
            sums, counts = class_sums(feats[m], labels, len(self._counts))
            self._sums[m] += sums
        self._counts += counts
        self._steps += 1
        if self._steps % int(self.hp["update_every"]) == 0:
            self._refresh(self.hp["momentum"])

    def _refresh(self, momentum: float) -> None:
        """Official ``calculate_prototype``: (1 - momentum) * class mean + momentum * previous."""
        seen = self._counts > 0
        for m in MODALITIES:
            mean = self._sums[m][seen] / self._counts[seen, None]
            self.prototypes[m][seen] = (1 - momentum) * mean + momentum * self.prototypes[m][seen]
            self._sums[m].zero_()
        self._counts.zero_()
