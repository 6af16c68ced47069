"""Unimodal references: one encoder and its own linear head, trained alone.

The head is the matching slice of the concat head (f(h_a, 0)), so the unimodal model starts
from exactly the function the multimodal methods start from.
"""

from __future__ import annotations

from dgl_engine.methods.base import Method, cross_entropy


class _Unimodal(Method):
    def backward(self, model, audio, visual, labels):
        m = self.modalities[0]
        h = model.encode(m, audio if m == "audio" else visual)
        loss = cross_entropy(model.fusion_head.unimodal_logits(m, h), labels)
        loss.backward()
        return {"total": loss.detach(), m: loss.detach()}


class AudioOnly(_Unimodal):
    name = "audio-only"
    modalities = ("audio",)
    routing = "CE(f(h_a, 0)) trains the audio encoder and its head; vision is unused."


class VisualOnly(_Unimodal):
    name = "visual-only"
    modalities = ("visual",)
    routing = "CE(f(0, h_v)) trains the visual encoder and its head; audio is unused."
