"""MMPareto: Boosting Multimodal Learning with Innocent Unimodal Assistance (Wei & Hu, ICML 2024).

Follows the official training step, GeWu-Lab/MMPareto_ICML2024 ``code/MMPareto.py``,
``train_epoch`` (lines 93-209), with ``MinNormSolver._min_norm_element_from2`` of
``code/min_norm_solvers.py`` (lines 9-30). Losses: ``L_mm = CE(f(h_a, h_v))``,
``L_a = CE(z_a)``, ``L_v = CE(z_v)``. For each encoder m, with ``g_mm`` and ``g_m`` the gradients
of ``L_mm`` and of its own unimodal loss on that encoder's parameters:

1. direction: ``cos = cosine(g_mm, g_m)`` over the whole encoder (all its parameters
   concatenated). If ``cos > 0`` the weights are ``k = (1/2, 1/2)``; otherwise the two-task
   MGDA min-norm weights: ``k_mm = (g_m.g_m - g_mm.g_m) / |g_mm - g_m|^2`` (0.999 if
   ``g_mm.g_m >= g_mm.g_mm``, 0.001 if ``g_mm.g_m >= g_m.g_m``), ``k_m = 1 - k_mm``;
2. magnitude, per parameter tensor: ``new = 2 k_mm g_mm + 2 k_m g_m``; with
   ``s = |g_mm + g_m| / |new|`` (the norm of the plain sum's gradient over the new one) the
   gradient becomes ``gamma * s * new`` if ``s > 1``, else ``gamma * new``; gamma = 1.5.
The fusion head keeps the plain gradient of ``L_mm + L_a + L_v`` (official: ``loss.backward()``;
head parameters are skipped by the rewrite).

Deliberate differences from the official code:
- unimodal logits: the official model has separate unimodal heads (``head_audio``,
  ``head_video`` in ``code/models/models.py``, ``AVClassifier``); here they are the shared head
  with the other modality zeroed, ``z_a = f(h_a, 0)``, ``z_v = f(0, h_v)`` (as DGL, and as our
  ``zero`` evaluation mode). So the one head receives the sum of what the official three heads
  receive: ``grad(L_mm + L_a + L_v)``.
- gradients come from two autograd passes (``L_mm``, then ``L_a + L_v``: each unimodal loss
  reaches only its own encoder) instead of the official four backward passes; same numbers.
- the official solver's dot products count every tensor twice (its per-tensor dict also holds
  the concatenated vector); the weights are scale-free, so this changes nothing and is not
  reproduced. A parameter whose combined gradient is exactly zero keeps it (the official
  ``0/0`` is NaN and also takes the ``else`` branch).
- the trainer clips the total gradient norm (40) after the method; the official MMPareto step
  does not clip (``--clip_grad`` is parsed but unused).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dgl_engine.methods.base import Method, Param, fused_and_unimodal_losses


def min_norm_weight(v1v1: float, v1v2: float, v2v2: float) -> float:
    """Weight c of x1 in the min-norm point c*x1 + (1-c)*x2 of the segment, from the inner
    products (official ``_min_norm_element_from2``: 0.999 / 0.001 at the ends)."""
    if v1v2 >= v1v1:
        return 0.999
    if v1v2 >= v2v2:
        return 0.001
    return -1.0 * ((v1v2 - v2v2) / (v1v1 + v2v2 - 2 * v1v2))


def _flat(grads) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for g in grads])


def _accumulate(p: torch.Tensor, g: torch.Tensor) -> None:
    """Leave ``g`` on ``p.grad`` the way ``backward`` would (summing into what is there)."""
    if p.grad is None:
        p.grad = g.detach().clone()
    else:
        p.grad.add_(g)


class MMPareto(Method):
    family = "gradient modulation"
    name = "mmpareto"
    routing = ("The head trains on CE(f(h_a, h_v)) + unimodal CEs; each encoder gets its fused and unimodal gradients "
               "summed if they agree (cos > 0), else MGDA-weighted, rescaled to at least the sum's norm, times gamma.")
    params = {"gamma": Param(1.5, 0.0, 10.0, "magnitude enhancement of the integrated encoder gradient (official 1.5)", min_open=True)}

    def backward(self, model, audio, visual, labels):
        h_a, h_v, fused, loss_a, loss_v = fused_and_unimodal_losses(model, audio, visual, labels)

        enc = {m: [p for p in model.encoder(m).parameters() if p.requires_grad] for m in ("audio", "visual")}
        head_params = [p for p in model.fusion_head.parameters() if p.requires_grad]
        params = enc["audio"] + enc["visual"] + head_params
        g_mm = torch.autograd.grad(fused, params, retain_graph=True, allow_unused=True)
        # L_a reaches only the audio encoder and L_v only the visual one: one pass gives both.
        g_uni = torch.autograd.grad(loss_a + loss_v, params, allow_unused=True)
        g_mm = [torch.zeros_like(p) if g is None else g for p, g in zip(params, g_mm)]
        g_uni = [torch.zeros_like(p) if g is None else g for p, g in zip(params, g_uni)]

        n_a, n_v = len(enc["audio"]), len(enc["visual"])
        for p, a, b in zip(head_params, g_mm[n_a + n_v :], g_uni[n_a + n_v :]):
            _accumulate(p, a + b)  # the head: plain gradient of L_mm + L_a + L_v

        gamma = self.hp["gamma"]
        signals = {}
        for m, lo, hi in (("audio", 0, n_a), ("visual", n_a, n_a + n_v)):
            gm, gu = g_mm[lo:hi], g_uni[lo:hi]
            fm, fu = _flat(gm), _flat(gu)
            cos = F.cosine_similarity(fm, fu, dim=0)
            if cos > 0:
                k_mm, k_uni = 0.5, 0.5
            else:
                k_mm = min_norm_weight(float(fm @ fm), float(fm @ fu), float(fu @ fu))
                k_uni = 1.0 - k_mm
            for p, a, b in zip(enc[m], gm, gu):
                new = 2 * k_mm * a + 2 * k_uni * b
                new_norm = new.norm()
                # official `diff`: the plain sum's norm over the new one (a 0/0 keeps `new`)
                ratio = torch.where(new_norm > 0, (a + b).norm() / new_norm, torch.zeros_like(new_norm))
                _accumulate(p, new * (torch.clamp(ratio, min=1.0) * gamma))  # no host sync per tensor
            signals[f"cosine_{m}"] = cos.detach()
            signals[f"k_fused_{m}"] = torch.tensor(k_mm)

        total = fused + loss_a + loss_v  # what the official code reports; the update is the integrated one
        return {"total": total.detach(), "fused": fused.detach(), "audio": loss_a.detach(), "visual": loss_v.detach(), **signals}
