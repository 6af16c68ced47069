"""Training-time augmentation of the visual input for the `paper` preset (as the official
CREMA-D pipeline: RandomResizedCrop(224) and RandomHorizontalFlip on each training frame).

Applied once per batch, before the methods' steps, from a seeded generator: every method of
a lockstep experiment sees the same augmented batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_resized_crop_flip(
    visual: torch.Tensor, generator: torch.Generator,
    scale: tuple[float, float] = (0.08, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """visual (B, T, 3, H, W) -> same shape; one crop and flip per clip, shared by its frames."""
    b, t, c, h, w = visual.shape
    out = torch.empty_like(visual)
    area = h * w
    for i in range(b):
        # torchvision's RandomResizedCrop.get_params: 10 tries, then the centre crop.
        ch, cw, top, left = h, w, 0, 0
        for _ in range(10):
            target = area * float(torch.empty(1).uniform_(*scale, generator=generator))
            log_r = torch.empty(1).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
            aspect = float(torch.exp(log_r))
            cw_try = int(round(math.sqrt(target * aspect)))
            ch_try = int(round(math.sqrt(target / aspect)))
            if 0 < cw_try <= w and 0 < ch_try <= h:
                ch, cw = ch_try, cw_try
                top = int(torch.randint(0, h - ch + 1, (1,), generator=generator))
                left = int(torch.randint(0, w - cw + 1, (1,), generator=generator))
                break
        crop = visual[i, :, :, top : top + ch, left : left + cw]  # (T, 3, ch, cw)
        crop = F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        if float(torch.rand(1, generator=generator)) < 0.5:
            crop = crop.flip(-1)
        out[i] = crop
    return out
