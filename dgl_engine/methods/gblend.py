"""Gradient-Blending (Wang, Tran & Feiszli, "What Makes Training Multi-modal Classification
Networks Hard?", CVPR 2020), online version.

The model has three outputs: the fused head ``f(h_a, h_v)`` and one unimodal head of its own per
encoder (``heads = ("audio", "visual")``: the paper's late-fusion model with a classifier per
modality, Sec. 3.3). It trains on the blended loss (Sec. 3.3)

    L_blend = w_fused CE(f(h_a, h_v)) + w_audio CE(g_a(h_a)) + w_visual CE(g_v(h_v)),  sum w = 1,

every term reaching every parameter it depends on. The weights come from each output's
overfitting-to-generalisation behaviour over the last *super-epoch* of ``super_epoch`` epochs
(paper Sec. 3.2-3.3): with ``L^T`` and ``L^V`` an output's loss on the training and on the
held-out validation split, at the super-epoch's start N and end N + n,

    G_k = L^V_N - L^V_{N+n}                      (generalisation: how much validation loss fell)
    O_k = (L^V_{N+n} - L^T_{N+n}) - (L^V_N - L^T_N)   (overfitting: how much the gap grew)
    w_k = (G_k / O_k^2) / sum_j (G_j / O_j^2)    (Sec. 3.3, the optimal blend: w* ~ G / O^2)

There is no official code. The estimate follows the paper's definitions (overfitting and
generalisation over a window, Sec. 3.2) and its weight-estimation and online algorithms
(Sec. 3.3); the schedule follows the widely used reimplementation in GeWu-Lab/BalanceBenchmark, ``balancemm/trainer/GBlending_trainer.py``: ``fit`` (lines 83-106:
weights re-estimated when ``current_epoch % super_epoch == 0``), ``training_step`` (lines
292-303: ``sum_k weights[k] * CE(output_k)``) and ``super_epoch_origin`` (lines 306-376: G, O
and ``|G| / O^2`` normalised). Default ``super_epoch`` = 10 (its ``configs/trainer_config.yaml``,
GBlending: method online, super_epoch 10).

Deliberate differences from the paper and from BalanceBenchmark:
- the trajectory: both estimate G and O by training a *copy* of the model on each output alone
  for a super-epoch (BalanceBenchmark: three extra copies trained ``super_epoch`` epochs each,
  i.e. about four times the cost of joint training). Here the losses are measured along the
  model's own training: at every super-epoch boundary each output's training and validation
  loss is taken, and G, O compare this boundary with the previous one. The run stays one
  lockstep pass (its step costs about a joint step plus two linear heads), at the price of
  measuring each output while it trains on the blend rather than alone. Until the first
  estimate (the first super-epoch) the weights are uniform (1/3 each), as in a plain
  multi-task start.
- G is floored at 0 (an output whose validation loss rose gets weight 0; BalanceBenchmark takes
  ``|G|``, which rewards it); O^2 is floored at ``1e-8``; if every G is 0 the weights are kept.
- losses are measured in eval mode on at most ``max_samples`` clips of each split (fixed at the
  start from ``self.generator``), not on the whole training set.
- the held-out split is the run's validation split. A run without one (its validation split is
  the test split) gets a fixed 10% of the training split instead, chosen from
  ``self.generator``: those clips are trained on too, so G measures less; the test split is
  never used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dgl_engine.methods.base import Method, Param, cross_entropy

OUTPUTS = ("fused", "audio", "visual")


def blend_weights(before: dict, after: dict, previous: dict) -> dict:
    """The optimal blend (paper Sec. 3.3): w_k ~ max(G_k, 0) / max(O_k^2, 1e-8), normalised; ``before`` / ``after``:
    {output: (train loss, validation loss)} at the super-epoch's ends. Keeps ``previous`` when no
    output generalised."""
    raw = {}
    for k in OUTPUTS:
        (t0, v0), (t1, v1) = before[k], after[k]
        gain = max(v0 - v1, 0.0)
        overfit = (v1 - t1) - (v0 - t0)
        raw[k] = gain / max(overfit**2, 1e-8)
    total = sum(raw.values())
    if not total > 0:
        return dict(previous)
    return {k: raw[k] / total for k in OUTPUTS}


class GBlend(Method):
    family = "objectives and regularisers"
    name = "gblend"
    heads = ("audio", "visual")
    routing = ("w_f CE(f(h_a, h_v)) + w_a CE(g_a(h_a)) + w_v CE(g_v(h_v)) trains both encoders, the fusion head and "
               "each modality's own head; w ~ G/O^2 from each output's train/validation losses, re-estimated every super-epoch.")
    params = {
        "super_epoch": Param(10.0, 1.0, 1000.0, "epochs between weight estimates (BalanceBenchmark: 10)"),
        "max_samples": Param(512.0, 16.0, 100000.0, "clips of each split the losses are measured on"),
    }

    def __init__(self, params=None, generator=None):
        super().__init__(params, generator)
        self.weights = {k: 1.0 / len(OUTPUTS) for k in OUTPUTS}  # uniform until the first estimate
        self._train = self._val = None  # Split subsets the losses are measured on
        self._last: dict | None = None  # {output: (train loss, val loss)} at the last boundary

    def on_data(self, train, val) -> None:
        n = int(self.hp["max_samples"])
        order = torch.randperm(len(train), generator=self.generator)
        if val is None:  # no validation split: a fixed tenth of the training split stands in
            k = max(1, len(train) // 10)
            val, rest = train.subset(order[:k].to(train.labels.device)), order[k:]
        else:
            rest = order
            val = val.subset(torch.randperm(len(val), generator=self.generator)[:n].to(val.labels.device))
        self._train = train.subset(rest[:n].to(train.labels.device))
        self._val = val

    def start_epoch(self, model, epoch, steps_per_epoch, epochs):
        if self._train is None or epoch % int(self.hp["super_epoch"]) != 0:
            return
        now = {k: (t, v) for k, t, v in zip(OUTPUTS, *(self.output_losses(model, s) for s in (self._train, self._val)))}
        if self._last is not None:
            self.weights = blend_weights(self._last, now, self.weights)
        self._last = now

    @torch.no_grad()
    def output_losses(self, model, split, batch_size: int = 128) -> list[float]:
        """Mean CE of the fused, audio-head and visual-head outputs on ``split``, eval mode."""
        was_training = model.training
        model.eval()
        sums = torch.zeros(len(OUTPUTS), dtype=torch.float64, device=split.labels.device)
        for start in range(0, len(split), batch_size):
            y = split.labels[start : start + batch_size]
            h_a = model.encode("audio", split.audio[start : start + batch_size])  # (b, D_a)
            h_v = model.encode("visual", split.visual[start : start + batch_size])  # (b, D_v)
            logits = (model.fusion_head(h_a, h_v), model.head_logits("audio", h_a), model.head_logits("visual", h_v))
            sums += torch.stack([F.cross_entropy(z, y, reduction="sum").double() for z in logits])
        model.train(was_training)
        return (sums / max(len(split), 1)).tolist()

    def backward(self, model, audio, visual, labels):
        h_a = model.encode("audio", audio)  # (B, D_a)
        h_v = model.encode("visual", visual)  # (B, D_v)
        losses = {"fused": cross_entropy(model.fusion_head(h_a, h_v), labels),
                  "audio": cross_entropy(model.head_logits("audio", h_a), labels),
                  "visual": cross_entropy(model.head_logits("visual", h_v), labels)}
        total = sum(self.weights[k] * losses[k] for k in OUTPUTS)
        total.backward()
        return {"total": total.detach(), **{k: v.detach() for k, v in losses.items()},
                **{f"w_{k}": torch.tensor(self.weights[k]) for k in OUTPUTS}}
