"""What every training method provides.

A method turns a batch into gradients on the model (``backward``) and returns its named loss
terms; the trainer then clips and steps. ``predict`` gives the logits the method answers with
(the fused head for multimodal methods, the unimodal logits for unimodal ones).

A method owns its hyperparameters: ``params`` declares each one (default, range, help), the
config carries their values under ``method_params[name]``, and ``self.hp`` holds the values
for this run (defaults filled in).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from dgl_engine.errors import ConfigError
from dgl_engine.models.av_model import AVModel


@dataclass(frozen=True)
class Param:
    """One hyperparameter of a method: its default (the official code's), its range, its help."""

    default: float
    min: float
    max: float
    help: str
    min_open: bool = False  # the minimum itself is refused (e.g. alpha > 0)

    def check(self, method: str, name: str, value) -> None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
        ok = ok and (value > self.min if self.min_open else value >= self.min) and value <= self.max
        if not ok:
            lo = "(" if self.min_open else "["
            raise ConfigError(f"{method}.{name} must be a number in {lo}{self.min:g}, {self.max:g}], got {value!r}")

    def to_dict(self) -> dict:
        return {"default": self.default, "min": self.min, "max": self.max, "help": self.help}


class Method:
    name: ClassVar[str]
    # Modalities the method reads and trains; unimodal methods name one.
    modalities: ClassVar[tuple[str, ...]] = ("audio", "visual")
    # A sentence for the UI: what trains what.
    routing: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    # One of FAMILIES: how the app's Methods picker groups it.
    family: ClassVar[str] = "references"
    # Heads of its own the method trains beside the fusion head (``AVModel.add_heads``):
    # "audio" / "visual" (a linear classifier on that encoder's features; evaluated as the
    # ``head`` mode, ``acc_<m>_head``) and "shared" (one classifier applied to either modality).
    heads: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Mapping[str, float] | None = None, generator: torch.Generator | None = None):
        self.hp = resolve_params(type(self), params or {})
        self.generator = generator or torch.Generator()  # for methods with randomness of their own (OGM-GE's noise)

    @property
    def multimodal(self) -> bool:
        return len(self.modalities) == 2

    def on_data(self, train, val) -> None:
        """Called once before training with the training split and the held-out validation split
        (``None`` when the run has none: its validation split is the test split). Nothing by
        default; methods that measure themselves on data outside the batches (G-Blend's
        validation losses, DI-MML's per-dimension class separation) keep them here."""

    def start_epoch(self, model: AVModel, epoch: int, steps_per_epoch: int, epochs: int) -> None:
        """Called before epoch ``epoch`` (from 0) of ``epochs``; nothing by default. Methods whose
        update depends on where training is (an epoch window, a schedule) keep it here."""

    def backward(self, model: AVModel, audio: torch.Tensor, visual: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Compute the loss terms on a batch, back-propagate them, return them (detached)."""
        raise NotImplementedError

    def predict(self, model: AVModel, h_a: torch.Tensor | None, h_v: torch.Tensor | None) -> torch.Tensor:
        """The method's answer (B, C) from encoder features."""
        if not self.multimodal:
            m = self.modalities[0]
            return model.fusion_head.unimodal_logits(m, h_a if m == "audio" else h_v)
        return model.fusion_head(h_a, h_v)


def resolve_params(cls: type[Method], given: Mapping[str, float]) -> dict[str, float]:
    """The method's hyperparameters: defaults, overridden by ``given``; ConfigError for an
    unknown name or a value out of range."""
    unknown = sorted(set(given) - set(cls.params))
    if unknown:
        valid = ", ".join(cls.params) or "none"
        raise ConfigError(f"{cls.name} has no hyperparameter {unknown[0]!r}; valid: {valid}")
    out = {}
    for name, p in cls.params.items():
        value = given.get(name, p.default)
        p.check(cls.name, name, value)
        out[name] = float(value)
    return out


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels)


def fused_and_unimodal_losses(model: AVModel, audio: torch.Tensor, visual: torch.Tensor, labels: torch.Tensor):
    """(h_a, h_v, CE(f(h_a, h_v)), CE(f(h_a, 0)), CE(f(0, h_v))), nothing detached: the terms
    the methods that add unimodal losses to the joint one start from."""
    h_a = model.encode("audio", audio)  # (B, D_a)
    h_v = model.encode("visual", visual)  # (B, D_v)
    head = model.fusion_head
    fused = cross_entropy(head(h_a, h_v), labels)
    loss_a = cross_entropy(head.unimodal_logits("audio", h_a), labels)
    loss_v = cross_entropy(head.unimodal_logits("visual", h_v), labels)
    return h_a, h_v, fused, loss_a, loss_v
