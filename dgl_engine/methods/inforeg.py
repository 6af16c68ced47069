"""InfoReg: Adaptive Unimodal Regulation for Balanced Multimodal Information Acquisition
(Huang et al., CVPR 2025).

Follows the official code, GeWu-Lab/InfoReg_CVPR2025 ``main.py``, ``train_epoch``
(lines 231-604): the window test at the epoch start (lines 237-243), the reference copy of the
model (line 259), the three losses on the head's slices (lines 359-380), their summed backward
(lines 456-458), the scores and regulation strengths (lines 460-485), the proximal gradient
(lines 489-495), the Fisher accumulation (lines 501-523) and the epoch traces (lines 564-595).

- losses: ``L = CE(f(h_a, h_v))``, ``L_a = CE(W_a h_a + b/2)``, ``L_v = CE(W_v h_v + b/2)`` (the
  modality's slice of the fused head); the gradient is that of ``L + L_a + L_v`` everywhere;
- scores ``s_m = sum_i softmax(slice_m)_i,y``; the faster modality (higher score) is regulated
  while it is in its prime learning window: audio with ``beta_a = 0.95 exp(tanh(s_a - s_v))``,
  visual with ``beta_v = 0.1 exp(tanh(s_v - s_a))``; the slower gets 0;
- regulation: a proximal term toward the weights at the start of the epoch, ``w_0``: the
  regulated encoder's gradient gets ``+ beta (w - w_0)`` (the gradient of ``beta/2 |w - w_0|^2``),
  on every parameter of that encoder;
- Fisher information: each step adds the squared gradients (as left by the method, proximal term
  included) of the encoder's convolution and linear weights; an epoch's trace is the sum over
  those layers of the mean of the accumulated squares;
- prime learning window, at each epoch start: ``tr1 = sum(traces[-10:]) / 10``,
  ``tr2 = sum(traces[-11:-1]) / 10``, ``k = (tr1 - tr2) / tr1`` (epoch 0: k = 1); the window is
  open while ``k > 0.05``: the information the encoder takes in is still growing.

Defaults are the official hard-coded values: beta_audio 0.95, beta_visual 0.1, threshold 0.05,
window 10 epochs.

Deliberate differences from the official code:
- the official window test uses the *audio* trace for both branches (CREMA-D's audio is the
  fast modality); here each modality's window comes from its own encoder's trace, so the visual
  branch is gated by the visual trace. Where audio is the faster modality (CREMA-D) this is
  the official behaviour.
- the official ``head_audio`` / ``head_video`` (unused by the update) do not exist here; the
  slices are ``slice_logits`` of either fusion head.
- the Fisher accumulation keeps one number per encoder (the sum over layers of the per-step
  mean of squares, which equals the official per-layer mean of the summed squares), not a
  tensor per layer.
- if ``backward`` runs before any ``start_epoch``, that first call takes the reference copy
  and opens the window (epoch 0).
- our trainer clips the total gradient norm (40) after the method; the official step does not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dgl_engine.methods.base import Method, Param

MODALITIES = ("audio", "visual")


def fisher_layers(encoder: nn.Module) -> list[torch.nn.Parameter]:
    """Weights of the encoder's Conv2d and Linear layers (official ``fim_audio`` / ``fim_visual``)."""
    return [m.weight for m in encoder.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.requires_grad]


def window_k(traces: list[float], window: int) -> float:
    """Official ``k``: relative growth of the summed trace over the last ``window`` epochs (both
    sums divided by ``window`` as officially, whatever the history's length)."""
    if not traces:
        return 1.0
    tr1 = sum(traces[-window:]) / window
    tr2 = sum(traces[-window - 1 : -1]) / window
    return (tr1 - tr2) / tr1 if tr1 != 0 else 0.0


class InfoReg(Method):
    family = "objectives and regularisers"
    name = "inforeg"
    routing = ("CE(f(h_a, h_v)) + CE of each modality's head slice trains everything; while the faster modality's "
               "Fisher trace still grows (its prime learning window), its encoder is pulled toward its weights at "
               "the epoch start.")
    params = {
        "beta_audio": Param(0.95, 0.0, 100.0, "proximal strength on the audio encoder when audio is faster (official 0.95)"),
        "beta_visual": Param(0.1, 0.0, 100.0, "proximal strength on the visual encoder when visual is faster (official 0.1)"),
        "threshold": Param(0.05, 0.0, 1.0, "the window is open while the trace's relative growth k exceeds this (official 0.05)"),
        "window": Param(10.0, 1.0, 1000.0, "epochs in the trace sums of k (official 10)"),
    }

    def __init__(self, params=None, generator=None):
        super().__init__(params, generator)
        self.traces: dict[str, list[float]] = {m: [] for m in MODALITIES}  # one trace per finished epoch
        self.current: dict[str, torch.Tensor] | None = None  # this epoch's trace so far, 0-dim on the device
        self.reference: dict[str, list[torch.Tensor]] | None = None  # w_0 per encoder
        self.k: dict[str, float] = {m: 1.0 for m in MODALITIES}
        self.open: dict[str, bool] = {m: True for m in MODALITIES}

    def start_epoch(self, model, epoch, steps_per_epoch, epochs):
        if self.current is not None:  # close the last epoch: its trace joins the history
            for m in MODALITIES:
                self.traces[m].append(float(self.current[m]))
        self.current = None
        for m in MODALITIES:
            self.k[m] = 1.0 if epoch == 0 else window_k(self.traces[m], int(self.hp["window"]))
            self.open[m] = self.k[m] > self.hp["threshold"]
        self.reference = {m: [p.detach().clone() for p in model.encoder(m).parameters()] for m in MODALITIES}

    def backward(self, model, audio, visual, labels):
        if self.reference is None:  # no epoch started: this is epoch 0
            self.start_epoch(model, 0, 1, 1)
        h_a = model.encode("audio", audio)  # (B, D_a)
        h_v = model.encode("visual", visual)  # (B, D_v)
        head = model.fusion_head
        z_a, z_v = head.slice_logits("audio", h_a), head.slice_logits("visual", h_v)  # (B, C), W_m h_m + b/2
        fused = F.cross_entropy(head(h_a, h_v), labels)
        loss_a, loss_v = F.cross_entropy(z_a, labels), F.cross_entropy(z_v, labels)
        total = fused + loss_a + loss_v  # official: three backward passes accumulate
        total.backward()

        with torch.no_grad():
            idx = torch.arange(labels.shape[0], device=labels.device)
            f32 = lambda t: t.to(torch.promote_types(t.dtype, torch.float32))  # bf16 logits on CUDA
            s_a = torch.softmax(f32(z_a), 1)[idx, labels].sum()  # official score_a
            s_v = torch.softmax(f32(z_v), 1)[idx, labels].sum()
            zero = torch.zeros_like(s_a)
            beta = {"audio": torch.where(s_a > s_v, self.hp["beta_audio"] * torch.exp(torch.tanh(s_a - s_v)), zero),
                    "visual": torch.where(s_v > s_a, self.hp["beta_visual"] * torch.exp(torch.tanh(s_v - s_a)), zero)}
            for m in MODALITIES:
                if not self.open[m]:
                    beta[m] = zero
                for p, p0 in zip(model.encoder(m).parameters(), self.reference[m]):
                    if p.grad is not None:
                        p.grad.add_((p - p0) * beta[m].to(p.dtype))  # d/dw of beta/2 |w - w_0|^2
            step_trace = {m: sum((f32(w.grad) ** 2).mean() for w in fisher_layers(model.encoder(m)) if w.grad is not None)
                          for m in MODALITIES}
            if self.current is None:
                self.current = {m: torch.zeros_like(s_a) + step_trace[m] for m in MODALITIES}
            else:
                self.current = {m: self.current[m] + step_trace[m] for m in MODALITIES}

        return {"total": total.detach(), "fused": fused.detach(), "audio": loss_a.detach(), "visual": loss_v.detach(),
                "fisher_trace_audio": self.current["audio"], "fisher_trace_visual": self.current["visual"],
                "window_audio": torch.tensor(float(self.open["audio"])), "window_visual": torch.tensor(float(self.open["visual"])),
                "beta_audio": beta["audio"], "beta_visual": beta["visual"]}
