"""Training-time augmentation of the visual input, as the official CREMA-D pipeline:
``RandomResizedCrop(224)`` then ``RandomHorizontalFlip()`` on each training frame
(``dataset/CramedDataset.py`` lines 77-82).

Applied once per batch, before the methods' steps, from a seeded generator: every method of
a lockstep experiment sees the same augmented batch. The crop box is drawn exactly as
torchvision's ``RandomResizedCrop.get_params`` draws it (same calls in the same order, so a
generator seeded like torch's global one gives the same boxes), then the flip as
``RandomHorizontalFlip`` does.

- ``random_resized_crop_flip``: on the cached input itself (the ``paper`` preset: a 224 centre
  crop), output the same size;
- ``crop_whole_frames``: on the whole frames the ``paper-exact`` preset keeps, output the
  model's size x size, normalised (the official crop acts on the original frame).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SCALE = (0.08, 1.0)
RATIO = (3 / 4, 4 / 3)


def crop_box(h: int, w: int, generator: torch.Generator, scale=SCALE, ratio=RATIO) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a random resized crop of an h x w picture:
    torchvision's ``RandomResizedCrop.get_params``, line for line, drawing from ``generator``."""
    area = h * w
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(scale[0], scale[1], generator=generator).item()
        aspect = torch.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1], generator=generator)).item()
        cw = int(round(math.sqrt(target_area * aspect)))
        ch = int(round(math.sqrt(target_area / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(torch.randint(0, h - ch + 1, size=(1,), generator=generator).item())
            left = int(torch.randint(0, w - cw + 1, size=(1,), generator=generator).item())
            return top, left, ch, cw
    # Fallback to a central crop of the allowed aspect (torchvision's).
    in_ratio = w / h
    if in_ratio < min(ratio):
        cw, ch = w, int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        ch, cw = h, int(round(h * max(ratio)))
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def random_resized_crop_flip(
    visual: torch.Tensor, generator: torch.Generator, scale: tuple[float, float] = SCALE,
    ratio: tuple[float, float] = RATIO, size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """visual (B, T, 3, H, W) -> (B, T, 3, *size) (default: H, W); one crop and flip per clip,
    shared by its frames."""
    b, t, c, h, w = visual.shape
    size = size or (h, w)
    out = torch.empty((b, t, c, *size), dtype=visual.dtype, device=visual.device)
    for i in range(b):
        top, left, ch, cw = crop_box(h, w, generator, scale, ratio)
        crop = visual[i, :, :, top : top + ch, left : left + cw]  # (T, 3, ch, cw)
        crop = F.interpolate(crop, size=size, mode="bilinear", align_corners=False, antialias=True)
        if torch.rand(1, generator=generator).item() < 0.5:
            crop = crop.flip(-1)
        out[i] = crop
    return out


def crop_whole_frames(frames: torch.Tensor, generator: torch.Generator, size: int, normalization) -> torch.Tensor:
    """Whole frames, uint8 (B, T, 3, H, W) -> the training batch (B, T, 3, size, size): each
    clip randomly resized-cropped and flipped from its whole frame, in [0, 1], then normalised
    with the dataset's ``Normalization`` (as ToTensor and Normalize follow the crop)."""
    x = random_resized_crop_flip(frames.float().div_(255), generator, size=(size, size)).clamp_(0, 1)
    mean = torch.tensor(normalization.visual_mean, device=x.device).view(3, 1, 1)
    std = torch.tensor(normalization.visual_std, device=x.device).view(3, 1, 1)
    return x.sub_(mean).div_(std)
