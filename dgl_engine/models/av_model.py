"""The audio-visual model every method trains: two encoders and one fusion head.

Unimodal methods use the same model and train only their encoder through the head's
unimodal logits, so every method in an experiment starts from the same function.
"""

from __future__ import annotations

import torch
from torch import nn

from dgl_engine.config import ModelConfig
from dgl_engine.models.encoders import create_encoder
from dgl_engine.models.fusion import create_fusion

MODALITIES = ("audio", "visual")
HEAD_NAMES = ("audio", "visual", "shared")  # what a method's own heads may be (Method.heads)
HEAD_SEED_OFFSET = 104729  # the heads' generator: seed + this, apart from the shared weights'


class AVModel(nn.Module):
    def __init__(self, config: ModelConfig, num_classes: int):
        super().__init__()
        self.config = config
        self.num_classes = num_classes
        self.audio_encoder = create_encoder(config.encoder, "audio")
        self.visual_encoder = create_encoder(config.encoder, "visual")
        self.fusion_head = create_fusion(
            config.fusion, self.audio_encoder.out_dim, self.visual_encoder.out_dim, num_classes
        )

    def encoder(self, modality: str) -> nn.Module:
        return self.audio_encoder if modality == "audio" else self.visual_encoder

    def encode(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        """audio (B, 1, F, T) or visual (B, T, 3, H, W) -> features (B, D)."""
        return self.encoder(modality)(x)

    def add_heads(self, names, seed: int) -> None:
        """The method's own heads (``Method.heads``) as ``self.heads``: a linear classifier per name
        ("audio"/"visual": on that encoder's features; "shared": on either, so both encoders must
        have one width), Xavier-initialised from a generator of their own seeded by ``seed``: the
        encoders and the fusion head keep the weights every method of the run starts from."""
        d = {"audio": self.audio_encoder.out_dim, "visual": self.visual_encoder.out_dim}
        if "shared" in names and d["audio"] != d["visual"]:
            raise ValueError(f"a shared head needs equal feature widths, got audio {d['audio']} and visual {d['visual']}")
        unknown = set(names) - set(HEAD_NAMES)
        if unknown:
            raise ValueError(f"unknown head {sorted(unknown)[0]!r}; valid: {', '.join(HEAD_NAMES)}")
        device = next(self.parameters()).device
        heads = nn.ModuleDict({n: nn.Linear(d.get(n, d["audio"]), self.num_classes) for n in names})
        if heads and next(heads.parameters()).device.type != "meta":  # meta: weights come from a checkpoint
            init_weights(heads, torch.Generator().manual_seed(seed + HEAD_SEED_OFFSET), self.config.linear_init)
        self.heads = heads.to(device)

    def head_logits(self, name: str, h: torch.Tensor) -> torch.Tensor:
        """One of the method's own heads on features (B, D) -> logits (B, C)."""
        return self.heads[name](h)

    def forward(self, audio: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        """Fused logits (B, C)."""
        return self.fusion_head(self.encode("audio", audio), self.encode("visual", visual))


def init_weights(model: nn.Module, generator: torch.Generator, linear: str = "xavier-uniform") -> None:
    """Kaiming for convolutions, Xavier (uniform or normal) for linear layers, from an explicit
    generator so the initialisation depends on the seed alone."""
    xavier = nn.init.xavier_normal_ if linear == "xavier-normal" else nn.init.xavier_uniform_
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
        elif isinstance(m, nn.Linear):
            xavier(m.weight, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for m in model.modules():
        if hasattr(m, "bias") and isinstance(m.bias, nn.Parameter) and not isinstance(m, (nn.Linear, nn.Conv2d, nn.BatchNorm2d)):
            nn.init.zeros_(m.bias)


def build_model(config: ModelConfig, num_classes: int, seed: int) -> AVModel:
    """A freshly initialised model; equal seeds give identical weights."""
    model = AVModel(config, num_classes)
    init_weights(model, torch.Generator().manual_seed(seed), config.linear_init)
    return model.to(memory_format=torch.channels_last)
