"""Modality encoders, in a small registry: ``ENCODERS[name](modality) -> nn.Module``.

Every encoder maps its modality to a feature vector (B, D):
- audio input (B, 1, F, T) log-spectrogram;
- visual input (B, T, 3, H, W) frames, encoded one by one and averaged over time (as in the
  official DGL/OGM-GE code).
"""

from __future__ import annotations

import torch
from torch import nn

from dgl_engine import compat  # noqa: F401  (before torchvision)
from dgl_engine.errors import unknown


def _conv_block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class TinyCNN(nn.Module):
    """Four conv3x3-BN-ReLU blocks, max-pool after the first three, global average pool.
    (B, C_in, H, W) -> (B, channels[-1]). Small enough to train four copies in 30 s on CPU."""

    def __init__(self, in_channels: int, channels: tuple[int, ...]):
        super().__init__()
        blocks, c = [], in_channels
        for i, c_out in enumerate(channels):
            blocks.append(_conv_block(c, c_out, pool=i < len(channels) - 1))
            c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.out_dim = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # channels_last: about 2x faster convolutions on CPU (oneDNN) and tensor-core friendly.
        return self.blocks(x.contiguous(memory_format=torch.channels_last)).mean(dim=(2, 3))


class ResNet18(nn.Module):
    """torchvision's ResNet-18 from scratch, classifier removed. (B, C_in, H, W) -> (B, 512)."""

    def __init__(self, in_channels: int):
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None)
        if in_channels != 3:  # 1-channel spectrograms, as in the official code
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        net.fc = nn.Identity()
        self.net = net
        self.out_dim = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.contiguous(memory_format=torch.channels_last))


class FrameEncoder(nn.Module):
    """Applies an image encoder to each frame and averages over time: (B, T, 3, H, W) -> (B, D)."""

    def __init__(self, image_encoder: nn.Module):
        super().__init__()
        self.image_encoder = image_encoder
        self.out_dim = image_encoder.out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        feats = self.image_encoder(x.flatten(0, 1))  # (B*T, D)
        return feats.view(b, t, -1).mean(dim=1)


def tiny(modality: str) -> nn.Module:
    if modality == "audio":
        return TinyCNN(1, (8, 16, 32, 64))
    return FrameEncoder(TinyCNN(3, (16, 32, 64, 64)))


def resnet18(modality: str) -> nn.Module:
    if modality == "audio":
        return ResNet18(1)
    return FrameEncoder(ResNet18(3))


ENCODERS = {"tiny": tiny, "resnet18": resnet18}


def create_encoder(name: str, modality: str) -> nn.Module:
    if name not in ENCODERS:
        raise unknown("encoder", name, ENCODERS)
    return ENCODERS[name](modality)
