"""OGM-GE: On-the-fly Gradient Modulation with Generalisation Enhancement (Peng et al., CVPR 2022).

After the fused backward, the dominant modality's encoder gradients are scaled by
1 - tanh(alpha * rho), rho being the ratio of the dominant modality's to the other's summed
true-class softmax scores (OGM-GE's slice of the concat head), and Gaussian noise with the
gradient's own spread is added (as in the official code: to the convolution weights).
"""

from __future__ import annotations

import math

import torch

from dgl_engine.imbalance import imbalance_ratio
from dgl_engine.methods.base import Method, Param, cross_entropy


class OGMGE(Method):
    family = "gradient modulation"
    name = "ogm-ge"
    routing = "CE(f(h_a, h_v)) trains everything; the dominant encoder's gradient is damped and noised."
    params = {"alpha": Param(0.8, 0.0, 10.0, "modulation strength: the dominant encoder's gradient is scaled by 1 - tanh(alpha * rho)")}

    def backward(self, model, audio, visual, labels):
        h_a = model.encode("audio", audio)
        h_v = model.encode("visual", visual)
        loss = cross_entropy(model.fusion_head(h_a, h_v), labels)
        loss.backward()
        with torch.no_grad():
            ratio = imbalance_ratio(model.fusion_head, h_a, h_v, labels)  # > 1: audio dominates
        alpha = self.hp["alpha"]
        coeff = {"audio": 1.0, "visual": 1.0}
        if ratio > 1:
            coeff["audio"] = 1 - math.tanh(alpha * ratio)  # official: 1 - tanh(alpha * relu(rho))
        else:
            coeff["visual"] = 1 - math.tanh(alpha / max(ratio, 1e-8))
        for modality, c in coeff.items():
            if c == 1.0:
                continue
            for p in model.encoder(modality).parameters():
                if p.grad is None or p.grad.dim() != 4:
                    continue
                noise = torch.randn(p.grad.shape, generator=self.generator).to(p.grad.device)
                std = p.grad.std()  # official: the noise's spread is the unmodulated gradient's
                p.grad.mul_(c).add_(noise * (std + 1e-8))
        return {"total": loss.detach(), "fused": loss.detach(), "ratio": torch.tensor(ratio), "coeff_audio": torch.tensor(coeff["audio"]), "coeff_visual": torch.tensor(coeff["visual"])}
