"""What every training method provides.

A method turns a batch into gradients on the model (``backward``) and returns its named loss
terms; the trainer then clips and steps. ``predict`` gives the logits the method answers with
(the fused head for multimodal methods, the unimodal logits for unimodal ones).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from dgl_engine.config import TrainConfig
from dgl_engine.models.av_model import AVModel


class Method:
    name: ClassVar[str]
    # Modalities the method reads and trains; unimodal methods name one.
    modalities: ClassVar[tuple[str, ...]] = ("audio", "visual")
    # A sentence for the UI: what trains what.
    routing: ClassVar[str] = ""

    def __init__(self, train: TrainConfig, generator: torch.Generator):
        self.train = train
        self.generator = generator  # for methods with randomness of their own (OGM-GE's noise)

    @property
    def multimodal(self) -> bool:
        return len(self.modalities) == 2

    def backward(self, model: AVModel, audio: torch.Tensor, visual: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Compute the loss terms on a batch, back-propagate them, return them (detached)."""
        raise NotImplementedError

    def predict(self, model: AVModel, h_a: torch.Tensor | None, h_v: torch.Tensor | None) -> torch.Tensor:
        """The method's answer (B, C) from encoder features."""
        if not self.multimodal:
            m = self.modalities[0]
            return model.fusion_head.unimodal_logits(m, h_a if m == "audio" else h_v)
        return model.fusion_head(h_a, h_v)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels)
