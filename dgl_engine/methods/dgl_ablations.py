"""The DGL paper's two ablations (Wei, Luo, Luo, ICCV 2025): DGL with one of its two gradient
truncations removed.

The official code (shicaiwei123/ICCV2025-GDL) names DGL's parts in its README ("Key point of
DGL"): unimodal regularization (unimodal logits from the shared head, ``ConcatFusion_DGL.forward``
in ``models/fusion_modules.py``), multimodal gradient truncation (the ``.detach()`` of the fused
features there) and unimodal gradient truncation (the head's gradients cleared after the
unimodal backward, ``main_dgl.py``, ``train_epoch``, line 114). It ships no ablation script; each
ablation below is ``methods/dgl.py`` with one truncation undone:

- ``dgl-no-fused-cut``: ``CE(f(h_a, h_v))`` undetached (the fused loss also reaches the
  encoders) + ``alpha * (CE(f(h_a, 0)) + CE(f(0, h_v)))`` through a detached head.
  Encoders: ``grad(CE(z)) + alpha * grad(unimodal)``; head: ``grad(CE(z))``.
- ``dgl-no-uni-cut``: ``CE(f(sg h_a, sg h_v))`` + ``alpha * (CE(f(h_a, 0)) + CE(f(0, h_v)))``
  with the head *not* detached (the unimodal losses also update the head).
  Encoders: ``alpha * grad(unimodal)``; head: ``grad(CE(z)) + alpha * grad(unimodal)``.

Removing both gives ``uni-aux``. alpha defaults to DGL's value in this project (2.0, which suits
the synthetic data at lr 0.03); the official runs use 4-5 on CREMA-D (``cramed_dgl.sh``) and
2-3 on Kinetics-Sounds.
"""

from __future__ import annotations

from typing import ClassVar

from dgl_engine.methods.base import Method, Param, cross_entropy

_ALPHA = Param(2.0, 0.0, 100.0, "scale of the unimodal losses (DGL's alpha; official 4-5 on CREMA-D)", min_open=True)


class _DGLAblation(Method):
    family = "DGL and its ablations"
    cut_fused: ClassVar[bool]  # fused loss on detached features: it trains only the head
    cut_unimodal: ClassVar[bool]  # unimodal logits through a detached head: they train only the encoders
    params = {"alpha": _ALPHA}

    def backward(self, model, audio, visual, labels):
        h_a = model.encode("audio", audio)  # (B, D_a)
        h_v = model.encode("visual", visual)  # (B, D_v)
        head = model.fusion_head
        if self.cut_fused:
            fused = cross_entropy(head(h_a.detach(), h_v.detach()), labels)
        else:
            fused = cross_entropy(head(h_a, h_v), labels)
        loss_a = cross_entropy(head.unimodal_logits("audio", h_a, detach_head=self.cut_unimodal), labels)
        loss_v = cross_entropy(head.unimodal_logits("visual", h_v, detach_head=self.cut_unimodal), labels)
        total = fused + self.hp["alpha"] * (loss_a + loss_v)
        total.backward()
        return {"total": total.detach(), "fused": fused.detach(), "audio": loss_a.detach(), "visual": loss_v.detach()}


class DGLNoFusedCut(_DGLAblation):
    name = "dgl-no-fused-cut"
    routing = "DGL without the multimodal truncation: CE(f(h_a, h_v)) trains the head and both encoders; alpha*unimodal CEs (head detached) train only the encoders."
    cut_fused, cut_unimodal = False, True


class DGLNoUniCut(_DGLAblation):
    name = "dgl-no-uni-cut"
    routing = "DGL without the unimodal truncation: CE(f(sg h_a, sg h_v)) trains the head; alpha*unimodal CEs train their encoder and the head."
    cut_fused, cut_unimodal = True, False
