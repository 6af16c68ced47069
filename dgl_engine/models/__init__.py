"""Encoders, fusion heads and the audio-visual model that joins them."""

from dgl_engine.models.av_model import AVModel, build_model
from dgl_engine.models.encoders import ENCODERS
from dgl_engine.models.fusion import FUSIONS

__all__ = ["AVModel", "build_model", "ENCODERS", "FUSIONS"]
