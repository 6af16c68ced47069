"""MLB: Multi-Loss Balanced gradient modulation (Kontras et al., "Improving Multimodal Learning
with Multi-Loss Gradient Modulation", BMVC 2024; extended as "Multimodal Learning with
Balance"; code: kkontras/MLB).

Follows the official code:
- the loss, ``agents/general_agent/helpers/Trainer.py``, ``calculate_loss`` (lines 222-236):
  ``sum_k w_k CE(preds_k)`` over the fused output ``combined`` and the unimodal outputs ``c``
  (audio) and ``g`` (video), with ``multi_supervised_w = {combined: 1, c: 1, g: 1}``
  (``configs/CREMA_D/res/MLB.json``), one backward (line 254);
- the unimodal outputs are each encoder's own linear classifier (``AClassifier_CREMAD_linearcls``,
  ``models/OGM_Model.py`` lines 212-257, and ``VClassifier_CREMAD_linearcls`` from line 18:
  ``aclassifier`` on the pooled features; ``ConcatClassifier_CREMAD_OGM_pre.forward``, lines
  1028-1063, returns them as ``c`` / ``g`` beside the fused ``combined``): here
  ``heads = ("audio", "visual")``;
- the balancing, ``Bias_Infusion_MLB`` (``method: "OGM-Mine"``, selected in
  ``pick_bias_infuser``), ``on_backward_end`` (lines 334-395) and ``_equalize_gradients``
  (lines 398-407), after the backward and before the optimiser step:

      s_a = mean_i softmax(g_a(h_a))_{i, y_i},   s_v likewise (unimodal heads, detached)
      c_a = 1 + tanh(alpha (s_v / s_a - 1)),     c_v = 1 + tanh(alpha (s_a / s_v - 1))

  and every gradient of the audio branch is multiplied by c_a, of the visual branch by c_v:
  parameters named ``enc_0`` (the audio encoder *and* its own classifier, which lives inside
  it) or ``fc_0_lin.weight`` (the fused head's audio weights; its bias is not scaled), and
  ``enc_1`` / ``fc_1_lin.weight`` for video. The weaker modality (lower mean true-class
  probability) gets a coefficient above 1, the stronger one below 1; both lie in (0, 2).

Defaults: alpha 0.8 (``configs/CREMA_D/res/MLB.json`` and ``configs/AVE/res/MLB.json``; 1.0 on
UCF101); the official window ``starting_epoch 0`` to ``ending_epoch 1500`` covers all training.

Deliberate differences from the official code:
- the fused head is ours (concat or sum). Its audio part is ``W[:, :D_a]`` of the concat head
  (``fc_audio.weight`` of the sum head) and is scaled by c_a, its visual part by c_v; the bias
  (one, shared) is not scaled, as the official ``fc_0_lin.bias``. The official concat head is
  ``W_0 h_a + b/2 + W_1 h_v + b/2``, the same function as our concat head.
- the official ``tanh_mode`` 2 variant (a separate ceiling beta) is off in its configs and is
  not offered.
- the trainer clips the total gradient norm (40) after the method; the MLB configs use
  ``clip_grad: false``.
"""

from __future__ import annotations

import torch

from dgl_engine.methods.base import Method, Param, cross_entropy
from dgl_engine.models.fusion import ConcatFusion


def true_class_probability(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean softmax probability of the true class (official ``score_0``): (B, C), (B,) -> ()."""
    z = logits.detach().to(torch.promote_types(logits.dtype, torch.float32))  # bf16 logits: at least float32
    return torch.softmax(z, dim=1).gather(1, labels[:, None]).mean()


def fused_weight_grad_scale(model, c_a: torch.Tensor, c_v: torch.Tensor) -> None:
    """Multiply the fused head's audio weights' gradient by c_a and its visual weights' by c_v
    (official ``fc_0_lin.weight`` / ``fc_1_lin.weight``); the bias keeps its gradient."""
    head = model.fusion_head
    if isinstance(head, ConcatFusion):
        g = head.fc.weight.grad  # (C, D_a + D_v)
        if g is not None:
            g[:, : head.d_audio] *= c_a
            g[:, head.d_audio :] *= c_v
        return
    for layer, c in ((head.fc_audio, c_a), (head.fc_visual, c_v)):  # sum head: one layer per modality
        if layer.weight.grad is not None:
            layer.weight.grad *= c


class MLB(Method):
    family = "gradient modulation"
    name = "mlb"
    heads = ("audio", "visual")
    routing = ("CE(f(h_a, h_v)) + CE(g_a(h_a)) + CE(g_v(h_v)) trains everything (g_m: each modality's own head); "
               "each modality's branch gradients (encoder, own head, its fused-head weights) x 1 + tanh(alpha (s_other/s_m - 1)).")
    params = {"alpha": Param(0.8, 0.0, 100.0, "steepness of the coefficients' tanh (official CREMA-D / AVE: 0.8)")}

    def backward(self, model, audio, visual, labels):
        h_a = model.encode("audio", audio)  # (B, D_a)
        h_v = model.encode("visual", visual)  # (B, D_v)
        z_a, z_v = model.head_logits("audio", h_a), model.head_logits("visual", h_v)  # (B, C) each
        fused = cross_entropy(model.fusion_head(h_a, h_v), labels)
        loss_a, loss_v = cross_entropy(z_a, labels), cross_entropy(z_v, labels)
        total = fused + loss_a + loss_v
        total.backward()

        # Coefficients from the unimodal heads' confidence on this batch (tensors: no host sync).
        s_a, s_v = true_class_probability(z_a, labels), true_class_probability(z_v, labels)
        alpha = self.hp["alpha"]
        c_a = 1 + torch.tanh(alpha * (s_v / s_a - 1))
        c_v = 1 + torch.tanh(alpha * (s_a / s_v - 1))
        for m, c in (("audio", c_a), ("visual", c_v)):
            for p in [*model.encoder(m).parameters(), *model.heads[m].parameters()]:
                if p.grad is not None:
                    p.grad *= c.to(p.grad.dtype)
        fused_weight_grad_scale(model, c_a, c_v)
        return {"total": total.detach(), "fused": fused.detach(), "audio": loss_a.detach(), "visual": loss_v.detach(),
                "score_audio": s_a, "score_visual": s_v, "coeff_audio": c_a.detach(), "coeff_visual": c_v.detach()}
