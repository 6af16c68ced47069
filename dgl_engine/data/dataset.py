"""The in-memory form every dataset takes once its media are features.

Training, evaluation and the linear probes only ever see an ``AVData``: normalised feature
tensors per split plus what is needed to process new media the same way (feature specs and
normalisation statistics, stored in each checkpoint's sidecar).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from dgl_engine.data.features import AudioFeatures, VisualFeatures


@dataclass(frozen=True)
class Split:
    """One split's features. audio (N, 1, F, T), visual (N, T, 3, H, W), labels (N,)."""

    audio: torch.Tensor
    visual: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: torch.Tensor) -> "Split":
        return Split(self.audio[index], self.visual[index], self.labels[index])

    def class_counts(self, num_classes: int) -> list[int]:
        return torch.bincount(self.labels, minlength=num_classes).tolist()


@dataclass(frozen=True)
class Normalization:
    """Statistics of the training split, applied to every split and to uploaded clips."""

    audio_mean: float
    audio_std: float
    visual_mean: tuple[float, float, float]
    visual_std: tuple[float, float, float]

    @staticmethod
    def fit(audio: torch.Tensor, visual: torch.Tensor) -> "Normalization":
        """audio (N, 1, F, T) log-spectrograms, visual (N, T, 3, H, W) in [0, 1]."""
        v = visual.transpose(0, 2).reshape(3, -1)  # (3, N*T*H*W)
        return Normalization(
            audio_mean=float(audio.mean()),
            audio_std=float(audio.std().clamp(min=1e-6)),
            visual_mean=tuple(float(x) for x in v.mean(1)),
            visual_std=tuple(float(x) for x in v.std(1).clamp(min=1e-6)),
        )

    def audio(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.audio_mean) / self.audio_std

    def visual(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., 3, H, W) in [0, 1]."""
        m = torch.tensor(self.visual_mean, dtype=x.dtype).view(3, 1, 1)
        s = torch.tensor(self.visual_std, dtype=x.dtype).view(3, 1, 1)
        return (x - m) / s

    def to_dict(self) -> dict:
        return {
            "audio_mean": self.audio_mean,
            "audio_std": self.audio_std,
            "visual_mean": list(self.visual_mean),
            "visual_std": list(self.visual_std),
        }

    @staticmethod
    def from_dict(d: dict) -> "Normalization":
        return Normalization(
            float(d["audio_mean"]), float(d["audio_std"]), tuple(d["visual_mean"]), tuple(d["visual_std"])
        )


@dataclass(frozen=True)
class AVData:
    """A dataset subset ready for training: normalised splits and how they were made."""

    name: str
    classes: tuple[str, ...]
    train: Split
    val: Split
    test: Split
    audio_spec: AudioFeatures
    visual_spec: VisualFeatures
    normalization: Normalization
    # Human-readable facts shown in the UI and stored in run.json (counts, skipped files...).
    info: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def summary(self) -> dict:
        n = self.num_classes
        return {
            "name": self.name,
            "classes": list(self.classes),
            "counts": {
                "train": self.train.class_counts(n),
                "val": self.val.class_counts(n),
                "test": self.test.class_counts(n),
            },
            "audio_shape": list(self.train.audio.shape[1:]),
            "visual_shape": list(self.train.visual.shape[1:]),
            **self.info,
        }


def normalized_data(
    name: str,
    classes,
    raw: dict[str, Split],
    audio_spec: AudioFeatures,
    visual_spec: VisualFeatures,
    info: dict | None = None,
) -> AVData:
    """Fit normalisation on raw['train'] (log-spectrograms, frames in [0, 1]) and apply it to all."""
    norm = Normalization.fit(raw["train"].audio, raw["train"].visual)

    def apply(s: Split) -> Split:
        return Split(norm.audio(s.audio).contiguous(), norm.visual(s.visual).contiguous(), s.labels)

    return AVData(
        name=name,
        classes=tuple(classes),
        train=apply(raw["train"]),
        val=apply(raw["val"]),
        test=apply(raw["test"]),
        audio_spec=audio_spec,
        visual_spec=visual_spec,
        normalization=norm,
        info=dict(info or {}),
    )
