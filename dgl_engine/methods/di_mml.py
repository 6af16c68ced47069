"""DI-MML: Detached and Interactive Multimodal Learning (Fan, Xu, Wu, Zhang & Zhang, ACM MM 2024).

Follows the official code, fanyunfeng-bit/DI-MML. Training, ``main_CFT.py``, ``train_epoch``
(lines 54-105): each encoder is trained by its own loss through its own classifier, and through
one classifier shared by both (``classifier = nn.Linear(embed_dim, n_classes)``, line 246):

    L = CE(g_a(h_a)) + CE(g_v(h_v)) + weight (CE(s(h_a)) + CE(s(h_v))) + L_DUC     (line 95)

with ``heads = ("audio", "visual", "shared")``. No fused loss reaches an encoder: the modalities
are trained detached from each other, and interact only through the shared classifier (which
aligns their feature spaces) and the dimension-decoupled unidirectional contrastive loss.

DUC (``loss/contrast_loss.py``, ``SupConLoss.forward``, lines 9-34), from the epoch ``20`` on
(line 93). At that epoch (``main``, lines 318-320) ``get_indices`` (lines 154-210) splits the
feature dimensions on the whole training split (eval mode): per modality, the class means
``mu_m[k]``; per dimension d, the share of clips whose nearest class mean *along d alone*
(``argmin_k |h_m[d] - mu_m[k, d]|``) is their class; the dimensions above that modality's mean
share are its effective ones; ``A`` = audio's effective dimensions that are not visual's,
``V`` = visual's that are not audio's. Then, with T the temperature,

    L_DUC = mean_i -log softmax_j(h_v[i, A] . sg(h_a[j, A]) / T)_i
          + mean_i -log softmax_j(h_a[i, V] . sg(h_v[j, V]) / T)_i

(sg = stop-gradient): on audio's own dimensions vision learns from audio, and on vision's own
dimensions audio learns from vision, each in one direction only.

Fusion at test time, ``main_CFT_stage2.py``: a fusion head is trained by ``CE(f(h_a, h_v))`` on
the frozen encoders (``train_combine_classifier_epoch``, lines 57-121), and the answer mixes
the three classifiers by their confidence (``valid_combine_classifier``, lines 176-186):

    w = softmax_k(max_c softmax(z_k)_c / T_f) over k in (audio head, visual head, fused),
    answer = sum_k w_k z_k      (z_k: logits; per clip)

Defaults: temperature 50, fusion temperature 1 (the CREMA-D commands of the official README:
``main_CFT.py --temperature 50``, ``main_CFT_stage2.py --temperature 1``), weight 1 (argparse
default, line 44), DUC from epoch 20 of 150 (lines 93, 318; ``--epochs`` default 150).

Deliberate differences from the official code:
- one stage instead of two: the fusion head trains in the same step on detached features,
  ``CE(f(sg(h_a), sg(h_v)))``, so it never reaches an encoder (as the official stage 2, where
  the encoders are frozen), but it sees train-mode features of encoders still training, for the
  same number of steps as the rest, with the run's optimiser (officially: a second run of 20
  epochs, ``main_CFT_stage2.py`` ``--epochs`` default, line 29, SGD lr 1e-3 on the fusion head
  alone, encoders in eval mode).
- the DUC start is a share of the run, ``contrast_start`` = 20/150: it starts (and the
  dimensions are chosen) at epoch ceil(contrast_start x epochs), so short runs use it too.
- the dimensions are chosen on the training split the trainer passes (``on_data``), in eval
  mode with the current BatchNorm statistics, in batches (officially one clip at a time).
- the shared classifier needs both encoders to have one feature width (true of both encoders
  here: 64 for tiny, 512 for resnet18).
- the ``zero``/``slice`` modes still read the fusion head; the ``head`` mode reads the own heads
  (the official ``valid`` reports those: ``out1``, ``out2``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dgl_engine.methods.base import Method, Param, cross_entropy


@torch.no_grad()
def effective_dims(h: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Official ``get_indices`` for one modality: a boolean (D,) mask of the dimensions whose
    per-dimension nearest-class-mean accuracy is above the mean over dimensions. h (N, D)."""
    sums = torch.zeros(num_classes, h.shape[1], dtype=h.dtype, device=h.device).index_add_(0, labels, h)
    counts = torch.bincount(labels, minlength=num_classes).to(h.dtype)
    means = sums / counts[:, None]  # (C, D); NaN for an absent class, as the official 0/0
    dist = (h[:, None, :] - means[None]).abs().nan_to_num(nan=math.inf)  # (N, C, D)
    hit = (dist.argmin(dim=1) == labels[:, None]).to(h.dtype)  # (N, D)
    per_dim = hit.mean(0)  # (D,)
    return per_dim > per_dim.mean()


def duc_loss(h_a: torch.Tensor, h_v: torch.Tensor, audio_only: torch.Tensor, visual_only: torch.Tensor,
             temperature: float) -> torch.Tensor:
    """Official ``SupConLoss.forward``: (B, D) features, index tensors of audio's and visual's own
    dimensions -> the two one-directional InfoNCE terms, summed."""
    target = torch.arange(h_a.shape[0], device=h_a.device)
    v_logits = h_v[:, audio_only] @ h_a[:, audio_only].detach().T / temperature  # (B, B): vision learns from audio
    a_logits = h_a[:, visual_only] @ h_v[:, visual_only].detach().T / temperature  # (B, B): audio learns from vision
    dtype = torch.promote_types(v_logits.dtype, torch.float32)  # bf16 features: the softmax in at least float32
    return F.cross_entropy(v_logits.to(dtype), target) + F.cross_entropy(a_logits.to(dtype), target)


class DIMML(Method):
    family = "objectives and regularisers"
    name = "di-mml"
    heads = ("audio", "visual", "shared")
    routing = ("Each encoder trains on CE of its own head + weight x CE of a shared head, plus the DUC contrastive loss "
               "(each modality's own dimensions teach the other); the fusion head trains on detached features; "
               "the answer mixes the three heads by confidence.")
    params = {
        "temperature": Param(50.0, 0.0, 1e6, "DUC contrastive temperature (official CREMA-D: 50)", min_open=True),
        "weight": Param(1.0, 0.0, 100.0, "weight of the shared-classifier losses (official: 1)"),
        "contrast_start": Param(20 / 150, 0.0, 1.0, "share of the run before DUC starts (official: epoch 20 of 150)"),
        "fusion_temperature": Param(1.0, 0.0, 1e6, "temperature of the test-time confidence weights (official CREMA-D: 1)",
                                    min_open=True),
    }

    def __init__(self, params=None, generator=None):
        super().__init__(params, generator)
        self._train = None
        self.audio_only: torch.Tensor | None = None  # indices of audio's own dimensions, once chosen
        self.visual_only: torch.Tensor | None = None

    def on_data(self, train, val) -> None:
        self._train = train

    def start_epoch(self, model, epoch, steps_per_epoch, epochs):
        if self._train is not None and epoch == math.ceil(self.hp["contrast_start"] * epochs - 1e-9):
            self.choose_dims(model, self._train)

    @torch.no_grad()
    def choose_dims(self, model, split, batch_size: int = 128) -> None:
        """Official ``get_indices`` on ``split``: audio's and visual's own dimensions."""
        was_training = model.training
        model.eval()
        feats = {m: torch.cat([model.encode(m, (split.audio if m == "audio" else split.visual)[i : i + batch_size]).float()
                               for i in range(0, len(split), batch_size)]) for m in ("audio", "visual")}  # (N, D)
        model.train(was_training)
        top_a = effective_dims(feats["audio"], split.labels, model.num_classes)
        top_v = effective_dims(feats["visual"], split.labels, model.num_classes)
        self.audio_only = torch.nonzero(top_a & ~top_v)[:, 0]
        self.visual_only = torch.nonzero(top_v & ~top_a)[:, 0]

    def backward(self, model, audio, visual, labels):
        h_a = model.encode("audio", audio)  # (B, D)
        h_v = model.encode("visual", visual)  # (B, D)
        loss_a = cross_entropy(model.head_logits("audio", h_a), labels)
        loss_v = cross_entropy(model.head_logits("visual", h_v), labels)
        shared_a = cross_entropy(model.head_logits("shared", h_a), labels)
        shared_v = cross_entropy(model.head_logits("shared", h_v), labels)
        fused = cross_entropy(model.fusion_head(h_a.detach(), h_v.detach()), labels)  # trains the fusion head only
        contrast = h_a.new_zeros(())
        if self.audio_only is not None:
            contrast = duc_loss(h_a, h_v, self.audio_only, self.visual_only, self.hp["temperature"])
        total = loss_a + loss_v + self.hp["weight"] * (shared_a + shared_v) + contrast + fused
        total.backward()
        return {"total": total.detach(), "fused": fused.detach(), "audio": loss_a.detach(), "visual": loss_v.detach(),
                "shared_audio": shared_a.detach(), "shared_visual": shared_v.detach(), "contrast": contrast.detach()}

    def predict(self, model, h_a, h_v):
        """Official ``valid_combine_classifier``: the logits of the two own heads and the fusion
        head, mixed per clip by softmax(max probability / T_f). (N, D) each -> (N, C)."""
        logits = torch.stack([model.head_logits("audio", h_a), model.head_logits("visual", h_v),
                              model.fusion_head(h_a, h_v)])  # (3, N, C)
        confidence = torch.softmax(logits.float(), dim=2).amax(dim=2)  # (3, N)
        w = torch.softmax(confidence / self.hp["fusion_temperature"], dim=0)  # (3, N)
        return (w[:, :, None] * logits.float()).sum(0)
