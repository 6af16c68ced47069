"""MLA: Multimodal Representation Learning by Alternating Unimodal Adaptation (Zhang et al.,
CVPR 2024).

Follows the official code, Cecile-hi/Multimodal-Learning-with-Alternating-Unimodal-Adaptation:
``main.py``, ``train_epoch`` (the ``gs_flag`` branch, lines 419-477: an audio step, then a
visual step, each through the shared head ``fusion_module.fc_out`` and each followed by
``gs_plugin.before_update`` and ``optimizer.step``), ``valid`` (lines 622-651: unimodal logits
fused with entropy weights, ``--dynamic``) with ``calculate_entropy`` / ``calculate_gating_weights``
(lines 65-87), and ``utils/utils.py``, ``GSPlugin`` (lines 12-41, the gradient modification).

- training alternates modalities: a step trains one modality only, ``CE(f(h_m, 0))`` through the
  shared head, so that step's gradient reaches encoder m and the head; the other encoder idles;
- gradient modification of the head (orthogonal weight modification): the projector ``P``
  (start: identity over the head's input) is updated with the step's mean head input ``r``
  (1, D): ``k = P r^T``, ``P <- P - k k^T / (alpha + r k)``, ``P <- P / |P|_F``, with
  ``alpha = 0.1 ** (1 + batch / batches_per_epoch)``; then ``grad W <- grad W P^T``. The head's
  weight then moves (nearly) orthogonally to the inputs it has seen, so one modality's step
  does not undo what the other's taught it. The very first step is not modified (official
  ``train_exp_counter != 0``); the bias is never modified;
- at test time (``predict``): ``z_m = f(h_m, 0)``; entropies ``e_m = -sum_c p_c log p_c`` of
  ``softmax(z_m)``; weights ``w_m = exp(max(e) - e_m) / sum`` (the surer modality weighs more);
  answer ``w_a z_a + w_v z_v``. With ``dynamic`` 0: ``av_alpha z_a + (1 - av_alpha) z_v``.

The "shared head": the official head is one ``Linear(512, C)`` applied to either modality's
feature. Here it is our fusion head's ``unimodal_logits``: ``f(h_a, 0) = W_a h_a + b`` and
``f(0, h_v) = W_v h_v + b`` (concat or sum head). The bias is shared, the weights are the
head's two blocks; the projector acts on the head's whole input ``[h_a; h_v]``, with the
step's input ``[h_a; 0]`` or ``[0; h_v]`` (exactly what ``f(h_a, 0)`` sees).

Defaults: ``dynamic`` 1 (the README's "MLA (dynamic fusion)" command for CREMA-D), ``av_alpha``
0.5 (``--av_alpha``), ``gs`` 1 (see below).

Deliberate differences from the official code:
- one step, one modality: the official code makes two optimiser steps per batch (audio, then
  visual); the lockstep trainer makes one step per batch, so here steps alternate (audio on
  even steps, visual on odd ones) and each modality trains on every other batch.
- the official ``GSPlugin.before_update`` tests ``n == "module.weight"``, a name the bare
  ``fc_out`` Linear's parameters (``weight``, ``bias``) never have, so the official script as
  written never modifies the gradient. The paper's modification is applied here (``gs`` 1);
  ``gs`` 0 gives the official script's effective behaviour.
- the projector is over our head's input, ``D_a + D_v`` (official: 512, the shared input), and
  is detached (the official one keeps the features' autograd history across steps).
- the official ``calculate_entropy`` takes the softmax over the batch (``dim=0``) and one
  entropy per test batch of 64; here entropies and weights are per sample (the paper's
  formulation; ``dim=1`` is the official code's commented-out line), so the answer on a clip
  does not depend on which clips are evaluated with it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dgl_engine.methods.base import Method, Param


def entropy_weights(z_a: torch.Tensor, z_v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample gating weights (B, 1) each: exp(max entropy - own entropy), normalised."""
    ent = [-(F.softmax(z, 1) * F.log_softmax(z, 1)).sum(1, keepdim=True) for z in (z_a, z_v)]  # (B, 1)
    top = torch.maximum(ent[0], ent[1])
    g_a, g_v = torch.exp(top - ent[0]), torch.exp(top - ent[1])
    return g_a / (g_a + g_v), g_v / (g_a + g_v)


class MLA(Method):
    family = "gradient modulation"
    name = "mla"
    routing = ("Steps alternate: CE(f(h_a, 0)) trains the audio encoder and the head, then CE(f(0, h_v)) the visual "
               "encoder and the head, the head's weight gradient projected away from the inputs it has seen; the answer "
               "is the entropy-weighted sum of the two unimodal logits.")
    params = {
        "gs": Param(1.0, 0.0, 1.0, "1: project the head's weight gradient (paper); 0: no projection (the official "
                                   "script's effective behaviour)"),
        "dynamic": Param(1.0, 0.0, 1.0, "1: entropy-weighted fusion at test time (official --dynamic); 0: fixed av_alpha"),
        "av_alpha": Param(0.5, 0.0, 1.0, "audio weight of the fixed fusion, when dynamic is 0 (official 0.5)"),
    }
    turn_steps = 2  # steps over which it trains everything it trains (audio, then visual)

    def __init__(self, params=None, generator=None):
        super().__init__(params, generator)
        self.steps = 0  # backward calls so far; official exp_count
        self.batch, self.batches = 0, 1  # step in the epoch, steps per epoch (official batch_step, len_dataloader)
        self.projector: torch.Tensor | None = None  # P, (D_a + D_v, D_a + D_v)

    def start_epoch(self, model, epoch, steps_per_epoch, epochs):
        self.batch, self.batches = 0, max(1, steps_per_epoch)

    def backward(self, model, audio, visual, labels):
        m = "audio" if self.steps % 2 == 0 else "visual"
        h = model.encode(m, audio if m == "audio" else visual)  # (B, D_m); the other encoder does not run
        loss = F.cross_entropy(model.fusion_head.unimodal_logits(m, h), labels)
        loss.backward()
        if self.hp["gs"] and self.steps != 0:
            self._modify_head_gradient(model, m, h.detach())
        self.steps += 1
        self.batch += 1
        return {"total": loss.detach(), m: loss.detach(), "trains_visual": torch.tensor(float(m == "visual"))}

    @torch.no_grad()
    def _modify_head_gradient(self, model, m: str, h: torch.Tensor) -> None:
        """Official ``GSPlugin.before_update`` on the head's weight, its input ``[h_a; 0]`` or ``[0; h_v]``."""
        blocks = self._weight_blocks(model.fusion_head)  # [(param, column slice)] covering the input
        d_a = blocks["audio"][1].stop - blocks["audio"][1].start
        width = d_a + (blocks["visual"][1].stop - blocks["visual"][1].start)
        dtype = torch.promote_types(h.dtype, torch.float32)
        if self.projector is None:
            self.projector = torch.eye(width, device=h.device, dtype=dtype)
        r = torch.zeros(1, width, device=h.device, dtype=dtype)  # (1, D) mean head input of the step
        cols = slice(0, d_a) if m == "audio" else slice(d_a, width)
        r[:, cols] = h.to(dtype).mean(0, keepdim=True)
        alpha = 0.1 ** ((self.batch % self.batches) / self.batches + 1)  # official lamda = batch / len + 1
        k = self.projector @ r.T  # (D, 1)
        p = self.projector - (k @ k.T) / (alpha + r @ k)
        self.projector = p / torch.linalg.matrix_norm(p)  # Frobenius
        # grad W (C, D) <- grad W P^T
        if blocks["audio"][0] is blocks["visual"][0]:  # concat: one weight (C, D_a + D_v)
            w = blocks["audio"][0]
            w.grad.copy_(w.grad.to(dtype) @ self.projector.T)
            return
        # sum: two weights (C, D_a), (C, D_v); only those that got a gradient this step are written
        parts = [w.grad.to(dtype) if w.grad is not None else torch.zeros(w.shape, dtype=dtype, device=w.device)
                 for w, _ in blocks.values()]
        new = torch.cat(parts, 1) @ self.projector.T  # (C, D)
        for w, cols in blocks.values():
            if w.grad is not None:
                w.grad.copy_(new[:, cols])

    @staticmethod
    def _weight_blocks(head) -> dict[str, tuple[torch.nn.Parameter, slice]]:
        """modality -> (the weight holding its columns of W, those columns' place in the full input)."""
        if hasattr(head, "fc"):  # ConcatFusion: W = [W_a | W_v]
            d_a = head.d_audio
            return {"audio": (head.fc.weight, slice(0, d_a)), "visual": (head.fc.weight, slice(d_a, head.fc.in_features))}
        d_a = head.fc_audio.in_features  # SumFusion: W_a h_a + W_v h_v
        return {"audio": (head.fc_audio.weight, slice(0, d_a)),
                "visual": (head.fc_visual.weight, slice(d_a, d_a + head.fc_visual.in_features))}

    def predict(self, model, h_a, h_v):
        head = model.fusion_head
        z_a, z_v = head.unimodal_logits("audio", h_a), head.unimodal_logits("visual", h_v)  # (N, C) each
        if self.hp["dynamic"]:
            f32 = torch.promote_types(z_a.dtype, torch.float32)  # bf16 logits on CUDA
            w_a, w_v = entropy_weights(z_a.to(f32), z_v.to(f32))  # (N, 1) each
            return (w_a * z_a + w_v * z_v).to(z_a.dtype)
        return self.hp["av_alpha"] * z_a + (1 - self.hp["av_alpha"]) * z_v
