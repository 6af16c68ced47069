"""Fusion heads, in a small registry. Each maps encoder features to class logits and can also
give the *unimodal logits* DGL trains encoders with (the same head, the other modality zeroed)
and OGM-GE's *slice* logits.

Shapes: h_a (B, D_a), h_v (B, D_v) -> logits (B, C).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dgl_engine.errors import unknown


class ConcatFusion(nn.Module):
    """f(h_a, h_v) = W [h_a; h_v] + b, with W = [W_a | W_v]."""

    def __init__(self, d_audio: int, d_visual: int, num_classes: int):
        super().__init__()
        self.d_audio = d_audio
        self.fc = nn.Linear(d_audio + d_visual, num_classes)

    def forward(self, h_a: torch.Tensor, h_v: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.cat([h_a, h_v], dim=1))

    def _weight(self, modality: str) -> torch.Tensor:
        w = self.fc.weight
        return w[:, : self.d_audio] if modality == "audio" else w[:, self.d_audio :]

    def unimodal_logits(self, modality: str, h: torch.Tensor, detach_head: bool = False) -> torch.Tensor:
        """f(h_a, 0) or f(0, h_v). With ``detach_head`` the head receives no gradient from
        these logits (DGL: unimodal losses train only the encoders)."""
        w, b = self._weight(modality), self.fc.bias
        if detach_head:
            w, b = w.detach(), b.detach()
        return F.linear(h, w, b)

    def slice_logits(self, modality: str, h: torch.Tensor) -> torch.Tensor:
        """OGM-GE's split of the concat head: W_m h_m + b / 2."""
        return F.linear(h, self._weight(modality), self.fc.bias / 2)


class SumFusion(nn.Module):
    """f(h_a, h_v) = W_a h_a + W_v h_v + b."""

    def __init__(self, d_audio: int, d_visual: int, num_classes: int):
        super().__init__()
        self.fc_audio = nn.Linear(d_audio, num_classes, bias=False)
        self.fc_visual = nn.Linear(d_visual, num_classes, bias=False)
        self.bias = nn.Parameter(torch.zeros(num_classes))

    def forward(self, h_a: torch.Tensor, h_v: torch.Tensor) -> torch.Tensor:
        return self.fc_audio(h_a) + self.fc_visual(h_v) + self.bias

    def unimodal_logits(self, modality: str, h: torch.Tensor, detach_head: bool = False) -> torch.Tensor:
        """Each branch's term with the bias (the sum head with the other modality zeroed)."""
        w = (self.fc_audio if modality == "audio" else self.fc_visual).weight
        b = self.bias
        if detach_head:
            w, b = w.detach(), b.detach()
        return F.linear(h, w, b)

    def slice_logits(self, modality: str, h: torch.Tensor) -> torch.Tensor:
        w = (self.fc_audio if modality == "audio" else self.fc_visual).weight
        return F.linear(h, w, self.bias / 2)


FUSIONS = {"concat": ConcatFusion, "sum": SumFusion}


def create_fusion(name: str, d_audio: int, d_visual: int, num_classes: int) -> nn.Module:
    if name not in FUSIONS:
        raise unknown("fusion", name, FUSIONS)
    return FUSIONS[name](d_audio, d_visual, num_classes)
