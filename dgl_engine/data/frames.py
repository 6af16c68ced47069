"""Whole frames: the official CREMA-D pipeline's two views of one picture.

The official loader (``dataset/CramedDataset.py``) never centre-crops. At test it squashes the
whole 480x360 frame to 224x224 (``transforms.Resize(size=(224, 224))``); in training it draws a
``RandomResizedCrop(224)`` and a flip on the *original* frame. So for the ``paper-exact``
preprocessing (``VisualFeatures.geometry == "full"``) the cache keeps the whole frame, resized
to 224 rows x 299 columns (CREMA-D's 4:3 at 224 rows: the squash keeps all 224 rows and only
narrows the columns, and a training crop covers the same fraction of the picture as the
official one), and this module makes the model's views of it:

- ``squash``: (..., 3, size, width) -> (..., 3, size, size), for evaluation, probes and
  prediction (every split's ``visual`` is this view);
- the training split's whole frames stay as uint8 (``AVData.train_frames``), cropped batch by
  batch by ``augment.crop_whole_frames``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dgl_engine.data.dataset import Split
from dgl_engine.data.features import VisualFeatures

CHUNK = 256  # clips squashed at a time: bounds the float copy of a split's frames


def squash(visual: torch.Tensor, spec: VisualFeatures) -> torch.Tensor:
    """Whole frames (..., 3, H, W) -> (..., 3, size, size), aspect ignored (the official test
    transform). Identity for the "crop" geometry. Linear with weights summing to one, so it
    commutes with the per-channel normalisation."""
    if spec.geometry != "full" or tuple(visual.shape[-2:]) == (spec.size, spec.size):
        return visual
    lead = visual.shape[:-3]
    x = visual.reshape(-1, *visual.shape[-3:]).float()
    x = F.interpolate(x, size=(spec.size, spec.size), mode="bilinear", antialias=True, align_corners=False)
    return x.reshape(*lead, 3, spec.size, spec.size)


def squash_split(split: Split, spec: VisualFeatures) -> Split:
    """A split whose visual is whole frames (uint8 in [0, 255] or float in [0, 1]) with its
    visual squashed to the model's input, float in [0, 1], `CHUNK` clips at a time."""
    v = split.visual
    out = torch.empty((v.shape[0], *spec.model_shape))
    for i in range(0, v.shape[0], CHUNK):
        x = v[i: i + CHUNK].float()
        if v.dtype == torch.uint8:
            x = x.div_(255)
        out[i: i + CHUNK] = squash(x, spec).clamp_(0, 1)
    return Split(split.audio, out, split.labels)
