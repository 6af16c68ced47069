"""Joint (naive) multimodal training: minimise CE(f(h_a, h_v), y); gradients flow everywhere."""

from __future__ import annotations

from dgl_engine.methods.base import Method, cross_entropy


class Joint(Method):
    family = "references"
    name = "joint"
    routing = "CE(f(h_a, h_v)) trains both encoders and the fusion head."

    def backward(self, model, audio, visual, labels):
        loss = cross_entropy(model(audio, visual), labels)
        loss.backward()
        return {"total": loss.detach(), "fused": loss.detach()}
