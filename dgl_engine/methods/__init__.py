"""Training methods, in a small registry: ``METHODS[name]``."""

from __future__ import annotations

import torch

from dgl_engine.config import TrainConfig
from dgl_engine.methods.base import Method
from dgl_engine.methods.dgl import DGL
from dgl_engine.methods.joint import Joint
from dgl_engine.methods.ogm_ge import OGMGE
from dgl_engine.methods.unimodal import AudioOnly, VisualOnly

METHODS: dict[str, type[Method]] = {
    "audio-only": AudioOnly,
    "visual-only": VisualOnly,
    "joint": Joint,
    "dgl": DGL,
    "ogm-ge": OGMGE,
}


def create_method(name: str, train: TrainConfig, generator: torch.Generator) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(METHODS)}")
    return METHODS[name](train, generator)


__all__ = ["METHODS", "Method", "create_method"]
