"""Uni-aux: the unimodal-loss multitask baseline, joint training plus unimodal losses with no
truncation anywhere:

    CE(f(h_a, h_v)) + alpha * (CE(f(h_a, 0)) + CE(f(0, h_v)))

Every term reaches every parameter it depends on: the fused loss trains both encoders and the
head, each unimodal loss trains its encoder *and* the head. It is DGL's first component alone
("unimodal regularization" in the official README of shicaiwei123/ICCV2025-GDL, unimodal
logits from the shared head as in ``ConcatFusion_DGL.forward`` of ``models/fusion_modules.py``)
without its two gradient truncations (the ``.detach()`` there, and the head's gradients cleared
in ``main_dgl.py``'s ``train_epoch``, line 114), so the pair uni-aux / dgl isolates what the
truncations add. With alpha = 1 it is also MMPareto's "uniform baseline" (GeWu-Lab/
MMPareto_ICML2024, ``code/uniform_baseline.py``, ``train_epoch``: ``loss_mm + loss_a + loss_v``),
except that there the unimodal logits come from separate unimodal heads; here, as in DGL, they
are the fused head with the other modality zeroed.
"""

from __future__ import annotations

from dgl_engine.methods.base import Method, Param, fused_and_unimodal_losses


class UniAux(Method):
    family = "objectives and regularisers"
    name = "uni-aux"
    routing = "CE(f(h_a, h_v)) + alpha*(CE(f(h_a, 0)) + CE(f(0, h_v))) trains both encoders and the head, nothing truncated."
    params = {"alpha": Param(1.0, 0.0, 100.0, "weight of the unimodal losses (1 = MMPareto's uniform baseline)")}

    def backward(self, model, audio, visual, labels):
        h_a, h_v, fused, loss_a, loss_v = fused_and_unimodal_losses(model, audio, visual, labels)
        total = fused + self.hp["alpha"] * (loss_a + loss_v)
        total.backward()
        return {"total": total.detach(), "fused": fused.detach(), "audio": loss_a.detach(), "visual": loss_v.detach()}
