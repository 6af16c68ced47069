"""AGM: Adaptive Gradient Modulation (Li et al., ICCV 2023, "Boosting Multi-modal Model
Performance with Adaptive Gradient Modulation").

Follows the official CREMA-D audio-visual path of lihongcs/AGM: ``GradMod`` with
``Modality_Audio`` / ``Modality_Visual`` / ``Modality_out`` and its backward hooks ``hooka`` /
``hookv`` (the CREMA-D model file, ``GradMod.forward``), and the multimodal branch of
``train`` in ``run/CREMAD_main.py`` (scores, ratios, coefficients, running averages, the
AGM-only clip of the head gradient), defaults from ``utils/config.py``. The repository could
not be fetched here; the code was read from copies of those files in a code index, so no line
numbers are given.

On a batch, with phi(S) the fused head's logits with the modalities outside S zeroed:

- Shapley mono-modal responses (B, C):
  ``m_a = (phi(a, v) - phi(0, v) + phi(a, 0)) / 2``, ``m_v = (phi(a, v) - phi(a, 0) + phi(0, v)) / 2``;
  ``m_a + m_v = phi(a, v)``, the fused logits;
- scores: ``s_m = mean_i -log softmax(m_m)_i,y`` (a probability under 1e-8 counts as 1e-8);
- ratios ``r_a = exp(s_v - s_a)``, ``r_v = 1 / r_a``; targets from the running averages of the
  scores *before* this step, ``t_a = exp(S_v - S_a)``, ``t_v = 1 / t_a`` (S start at 0);
- coefficients ``c_m = exp(alpha * min(t_m - r_m, 10))``;
- running averages over every step so far: ``S_m <- S_m (n - 1) / n + s_m / n`` (n = this step);
- loss ``CE(m_a + m_v, y)``, the gradient reaching ``m_m`` multiplied by ``c_m`` (the hooks):
  every parameter gets ``c_a * d<g, m_a> + c_v * d<g, m_v>``, g = dCE/dlogits;
- then, if an entry of the head's weight gradient is outside [-1, 1], the whole gradient is
  clipped to norm 1 (the official ``clip_grad_norm_(model.parameters(), max_norm=1.0)``).

With our linear heads, ``m_a = W_a h_a + b / 2`` and ``m_v = W_v h_v + b / 2``: the audio
encoder and the audio weights get ``c_a`` times their joint gradient, the visual ones ``c_v``,
the bias ``(c_a + c_v) / 2``: "the gradients of each encoder scaled by its coefficient".

Defaults: ``alpha`` 1.0 (``utils/config.py``, ``parse_args``: ``--alpha`` default 1.0; its
``Cramed_config`` does not override it; the paper tunes alpha per dataset and the value of its
CREMA-D runs could not be read here), ``head_clip`` 1.0 (the official hard-coded threshold
and max norm).

Deliberate differences from the official code:
- phi with a modality zeroed is the head on a zeroed *feature* (``unimodal_logits``, our
  ``zero`` mode, as ``shapley.py``), not the whole network run in eval mode on a zeroed
  *input* (``pad_audio`` / ``pad_visual``): no extra encoder passes, no BN mode switch within a
  step, and the zeroed encoder's response to a blank input does not enter the update.
- the official code modulates only between ``--modulation_starts`` and ``--modulation_ends``
  (epochs; defaults 0 and 20, with ``--EPOCHS`` 10: the whole run); here AGM modulates at every
  step of the run. The running averages carry over
  epochs as the official ones do (they are passed from epoch to epoch).
- the coefficients scale the gradient with ``c * m + (1 - c) * m.detach()`` (same value, same
  gradient as the official backward hooks), and everything stays on the device (no ``.item()``
  per step): the condition of the head clip is applied as a factor.
- our trainer clips the total gradient norm (40) after the method, on top of AGM's own clip.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dgl_engine.methods.base import Method, Param


def scale_grad(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``x`` in the forward pass, ``c * dx`` in the backward one (the official hooks)."""
    return c * x + (1 - c) * x.detach()


def shapley_responses(head, h_a: torch.Tensor, h_v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(m_a, m_v), (B, C) each: official ``Modality_Audio`` / ``Modality_Visual`` on the fused
    logits and the two zero-padded ones."""
    total = head(h_a, h_v)  # phi(a, v)
    only_a = head.unimodal_logits("audio", h_a)  # phi(a, 0): official pad_visual_out
    only_v = head.unimodal_logits("visual", h_v)  # phi(0, v): official pad_audio_out
    return 0.5 * (total - only_v + only_a), 0.5 * (total - only_a + only_v)


def response_score(m: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean -log of the true-class probability, a probability under 1e-8 counting as 1e-8
    (official per-sample loop). 0-dim, detached, in float32 at least (bf16 logits on CUDA)."""
    p = torch.softmax(m.detach().to(torch.promote_types(m.dtype, torch.float32)), dim=1).gather(1, labels[:, None]).squeeze(1)  # (B,)
    return -torch.log(p.clamp_min(1e-8)).mean()


class AGM(Method):
    family = "gradient modulation"
    name = "agm"
    routing = ("CE(f(h_a, h_v)) trains everything, split into Shapley responses m_a + m_v; the gradient through "
               "m_a (audio encoder, audio weights) is scaled by c_a and through m_v by c_v, from each modality's "
               "score against its running average.")
    params = {
        "alpha": Param(1.0, 0.0, 10.0, "modulation strength: c_m = exp(alpha * min(target_m - ratio_m, 10))"),
        "head_clip": Param(1.0, 0.0, 100.0, "clip the whole gradient to this norm when a head weight gradient "
                                            "entry leaves [-1, 1] (official AGM: 1; 0 = off)"),
    }

    def __init__(self, params=None, generator=None):
        super().__init__(params, generator)
        self.steps = 0  # official `iteration`: steps so far, over all epochs
        self.avg_score: dict[str, torch.Tensor] | None = None  # official train_score_a / _v, 0-dim

    def backward(self, model, audio, visual, labels):
        h_a = model.encode("audio", audio)  # (B, D_a)
        h_v = model.encode("visual", visual)  # (B, D_v)
        m_a, m_v = shapley_responses(model.fusion_head, h_a, h_v)  # (B, C) each

        score_a, score_v = response_score(m_a, labels), response_score(m_v, labels)
        if self.avg_score is None:  # official: both running scores start at 0
            self.avg_score = {"audio": torch.zeros_like(score_a), "visual": torch.zeros_like(score_v)}
        ratio_a = torch.exp(score_v - score_a)  # > 1: audio fits this batch better than visual
        target_a = torch.exp(self.avg_score["visual"] - self.avg_score["audio"])  # the same, on average so far
        coeff_a = torch.exp(self.hp["alpha"] * torch.clamp(target_a - ratio_a, max=10.0))
        coeff_v = torch.exp(self.hp["alpha"] * torch.clamp(1 / target_a - 1 / ratio_a, max=10.0))

        self.steps += 1
        n = self.steps
        self.avg_score = {"audio": self.avg_score["audio"] * (n - 1) / n + score_a / n,
                          "visual": self.avg_score["visual"] * (n - 1) / n + score_v / n}

        out = scale_grad(m_a, coeff_a.to(m_a.dtype)) + scale_grad(m_v, coeff_v.to(m_v.dtype))  # = f(h_a, h_v)
        loss = F.cross_entropy(out, labels)
        loss.backward()
        if self.hp["head_clip"] > 0:
            self._clip(model)
        return {"total": loss.detach(), "fused": loss.detach(), "audio": score_a, "visual": score_v,
                "coeff_audio": coeff_a, "coeff_visual": coeff_v, "ratio_audio": ratio_a, "target_ratio_audio": target_a}

    @torch.no_grad()
    def _clip(self, model) -> None:
        """Official: if max(head weight grad) > 1 or min < -1, clip_grad_norm_(all, max_norm=1).
        As a factor on the device: 1 when the head's gradient is within [-1, 1]."""
        limit = self.hp["head_clip"]
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        head_w = [p.grad for p in model.fusion_head.parameters() if p.grad is not None and p.dim() >= 2]
        if not grads or not head_w:
            return
        big = torch.stack([g.abs().max() for g in head_w]).max() > 1.0
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        factor = torch.where(big, torch.clamp(limit / (norm + 1e-6), max=1.0), torch.ones_like(norm))
        for g in grads:
            g.mul_(factor.to(g.dtype))
