"""OPM: On-the-fly Prediction Modulation (Wei et al., TPAMI 2024, "On-the-fly Modulation for
Balanced Multimodal Learning").

Follows the official code, GeWu-Lab/BML_TPAMI2024: ``code/models/Classifier.py``,
``Classifier.forward`` (lines 93-153), ``calcu_q`` (lines 58-72), ``Modality_drop.execute_drop``
(lines 31-55) with ``custom_autograd`` (lines 9-21), and ``code/main.py``, ``train``
(lines 77-177: warm-up, the selected samples, ``loss.backward()`` on the fused loss only).
On a batch:

- scores: ``s_m = sum_i softmax(t_m)_i,y`` with ``t_m = W_m h_m + b / 2``, the modality's slice
  of the fused head (official ``performance_1`` / ``_2``; our ``imbalance_scores``);
- drop probabilities: ``q_a = q_base (1 + lam tanh(relu(s_a / s_v - 1)))`` if audio scores
  higher, else 0; ``q_v`` likewise; clipped to [0, 1]. Only the dominant modality can be dropped;
- with probability ``p_exe`` the drop is executed: each sample's feature of modality m is zeroed
  with probability ``q_m`` (independently per sample and modality), and every feature is divided
  by ``1 - theta``, ``theta = (D_a q_a + D_v q_v) / (D_a + D_v)`` (inverted-dropout rescale, the
  same factor on the gradient); samples that lost both features are left out of the loss;
- loss ``CE(f(h_a', h_v'), y)``, one backward: the dropped features' encoders get no gradient
  from the dropped samples, so the dominant encoder learns less and the head must rely on the
  other modality.
- no drop during a warm-up at the start (official ``warm_up = 1 if epoch <= 5``, epochs from 0,
  of ``cfg.epochs = 100`` in ``code/config.py``).
Evaluation uses the plain fused head on all features (official ``val`` calls ``warm_up=1``).

Defaults are the official ``code/scripts/train_opm.sh`` (= the ``main.py`` argparse defaults):
q_base 0.5, lam 0.5, p_exe 0.7; ``warmup_share`` 0.06 (epochs 0-5 of 100, hard-coded in ``train``).

Deliberate differences from the official code:
- the warm-up is a share of the run, ``warmup_share`` = 6/100: dropping starts at epoch
  ceil(warmup_share x epochs), so short lab runs use OPM too (six epochs of warm-up would be the
  whole default run, and OPM would train exactly like ``joint``).
- the official model is a concat head; here the scores use ``slice_logits`` of either fusion
  head (concat: W_a h_a + b / 2; sum: W_a h_a + b / 2 as well), and ``D_m`` are our encoders'
  feature sizes instead of the configured ``cfg.d = [512, 512]``.
- when every sample lost both features the official step is skipped (``continue``); here the
  method backpropagates a zero loss (the trainer still steps: momentum and weight decay act).
  With the defaults this cannot happen (only one modality has q > 0, and q <= 0.75).
- randomness comes from the method's own generator (official: ``np.random`` and torch's
  global generator), so runs are deterministic per seed.
- OPM's official script does not combine it with OGM (``--use_modulation`` off); neither do we.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dgl_engine.imbalance import imbalance_scores
from dgl_engine.methods.base import Method, Param


def drop_probabilities(score_a: float, score_v: float, q_base: float, lam: float) -> tuple[float, float]:
    """Official ``calcu_q``: (q_a, q_v); the one whose score is lower gets 0."""
    ratio_a = math.tanh(max(score_a / score_v - 1, 0.0))
    ratio_v = math.tanh(max(score_v / score_a - 1, 0.0))
    q_a = q_base * (1 + lam * ratio_a) if ratio_a > 0 else 0.0
    q_v = q_base * (1 + lam * ratio_v) if ratio_v > 0 else 0.0
    return min(max(q_a, 0.0), 1.0), min(max(q_v, 0.0), 1.0)


class OPM(Method):
    family = "gradient modulation"
    name = "opm"
    routing = ("CE(f(h_a', h_v')) trains everything, where the dominant modality's features (by slice scores) are "
               "dropped per sample with probability q and all features rescaled by 1 / (1 - theta).")
    params = {
        "q_base": Param(0.5, 0.0, 1.0, "base drop probability of the dominant modality (official 0.5)"),
        "lam": Param(0.5, 0.0, 10.0, "how much the score discrepancy raises the drop probability (official 0.5)"),
        "p_exe": Param(0.7, 0.0, 1.0, "probability that a step drops at all (official 0.7)"),
        "warmup_share": Param(0.06, 0.0, 1.0, "share of the run at the start without dropping (official: epochs 0-5 of 100)"),
    }

    def __init__(self, params=None, generator=None):
        super().__init__(params, generator)
        self.active = self.hp["warmup_share"] == 0  # off during the warm-up

    def start_epoch(self, model, epoch, steps_per_epoch, epochs):
        self.active = epoch >= math.ceil(self.hp["warmup_share"] * epochs - 1e-9)

    def backward(self, model, audio, visual, labels):
        h_a = model.encode("audio", audio)  # (B, D_a)
        h_v = model.encode("visual", visual)  # (B, D_v)
        head = model.fusion_head
        q_a = q_v = 0.0
        keep = torch.ones(labels.shape[0], 2, dtype=torch.bool)  # (B, [audio, visual]) features kept
        if self.active:
            with torch.no_grad():
                score_a, score_v = imbalance_scores(head, h_a, h_v, labels)
            q_a, q_v = drop_probabilities(float(score_a), float(score_v.clamp_min(1e-8)), self.hp["q_base"], self.hp["lam"])
            execute = float(torch.rand(1, generator=self.generator)) >= 1 - self.hp["p_exe"]
            if execute:
                # Bernoulli(1 - q_m) per sample and modality, on the host generator (B, 2)
                keep = torch.rand(labels.shape[0], 2, generator=self.generator) >= torch.tensor([q_a, q_v])
                d_a, d_v = h_a.shape[1], h_v.shape[1]
                theta = (d_a * q_a + d_v * q_v) / (d_a + d_v)
                mask = keep.to(device=h_a.device, dtype=h_a.dtype) / (1 - theta)  # (B, 2), inverted dropout
                h_a, h_v = h_a * mask[:, :1], h_v * mask[:, 1:]
        rows = keep.any(1).to(labels.device)  # official update_flag: samples with a feature left
        logits = head(h_a, h_v)  # (B, C)
        if bool(rows.all()):
            loss = F.cross_entropy(logits, labels)
        elif bool(rows.any()):
            loss = F.cross_entropy(logits[rows], labels[rows])
        else:  # nothing left: no update (official `continue`)
            loss = logits.sum() * 0
        loss.backward()
        dropped = (~keep).float().mean(0)  # (2,) share of the batch whose feature was zeroed
        return {"total": loss.detach(), "fused": loss.detach(),
                "q_audio": torch.tensor(q_a), "q_visual": torch.tensor(q_v),
                "dropped_audio": dropped[0], "dropped_visual": dropped[1]}
