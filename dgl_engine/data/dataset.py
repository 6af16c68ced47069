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

    def to(self, device) -> "Split":
        """The split on ``device`` (itself when it is already there): moved once per run, not per step."""
        return Split(self.audio.to(device), self.visual.to(device), self.labels.to(device))

    def class_counts(self, num_classes: int) -> list[int]:
        return torch.bincount(self.labels, minlength=num_classes).tolist()


def _channel_stats(visual: torch.Tensor, chunk: int = 256) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (unbiased) std of (N, T, 3, H, W). Up to 64M values: at once, in the
    tensor's dtype (the published synthetic figures were made this way, and training amplifies
    a 1e-7 change in the statistics into about a point of accuracy). Larger (the paper preset's
    training frames take gigabytes): `chunk` clips at a time in float64, no copy of the whole."""
    if visual.numel() <= 2**26:
        v = visual.transpose(0, 2).reshape(3, -1)  # (3, N*T*H*W)
        return tuple(float(x) for x in v.mean(1)), tuple(float(x) for x in v.std(1).clamp(min=1e-6))
    total = torch.zeros(3, dtype=torch.float64)
    squares = torch.zeros(3, dtype=torch.float64)
    count = 0
    for i in range(0, visual.shape[0], chunk):
        x = visual[i: i + chunk].double()
        total += x.sum(dim=(0, 1, 3, 4))
        squares += (x * x).sum(dim=(0, 1, 3, 4))
        count += x.numel() // 3
    mean = total / max(count, 1)
    var = (squares - count * mean * mean) / max(count - 1, 1)
    return tuple(float(m) for m in mean), tuple(float(s) for s in var.clamp(min=1e-12).sqrt().clamp(min=1e-6))


@dataclass(frozen=True)
class Normalization:
    """Statistics of the training split, applied to every split and to uploaded clips.

    ``fit`` is the one place they are computed; ``audio`` / ``visual`` (or ``apply`` for a
    whole split) the one place they are applied, for training data and predictions alike."""

    audio_mean: float
    audio_std: float
    visual_mean: tuple[float, float, float]
    visual_std: tuple[float, float, float]

    @staticmethod
    def fit(audio: torch.Tensor, visual: torch.Tensor, *,
            audio_stats: tuple[float, float] | None = None,
            visual_stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None) -> "Normalization":
        """Statistics of audio (N, 1, F, T) log-spectrograms and visual (N, T, 3, H, W) frames in
        [0, 1]: one mean/std for audio, one per colour channel for visual (stds at least 1e-6).
        `audio_stats` = (mean, std) / `visual_stats` = (means, stds): fixed statistics used
        instead of fitting that modality (a preset's own, e.g. ImageNet's)."""
        if audio_stats is None:
            audio_stats = (float(audio.mean()), float(audio.std().clamp(min=1e-6)))
        if visual_stats is None:
            visual_stats = _channel_stats(visual)
        (audio_mean, audio_std), (visual_mean, visual_std) = audio_stats, visual_stats
        return Normalization(float(audio_mean), float(audio_std),
                             tuple(float(x) for x in visual_mean), tuple(float(x) for x in visual_std))

    def audio(self, x: torch.Tensor, *, in_place: bool = False) -> torch.Tensor:
        """x (..., 1, F, T) log spectrogram -> standardised; `in_place` overwrites x."""
        return x.sub_(self.audio_mean).div_(self.audio_std) if in_place else (x - self.audio_mean) / self.audio_std

    def visual(self, x: torch.Tensor, *, in_place: bool = False) -> torch.Tensor:
        """x (..., 3, H, W) in [0, 1] -> per-channel standardised; `in_place` overwrites x."""
        m = torch.tensor(self.visual_mean, dtype=x.dtype).view(3, 1, 1)
        s = torch.tensor(self.visual_std, dtype=x.dtype).view(3, 1, 1)
        return x.sub_(m).div_(s) if in_place else (x - m) / s

    def apply(self, split: Split, *, in_place: bool = False) -> Split:
        """The split with both modalities standardised (labels unchanged). `in_place`
        overwrites its tensors instead of copying them: a real dataset's features take
        gigabytes."""
        return Split(self.audio(split.audio, in_place=in_place).contiguous(),
                     self.visual(split.visual, in_place=in_place).contiguous(), split.labels)

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
    # The "full" frame geometry (paper-exact): the training clips' whole frames, uint8
    # (N, T, 3, size, width), cropped to the model's input batch by batch (augment.py).
    train_frames: torch.Tensor | None = field(default=None, repr=False)
    # Rows of the test split in the order its split file lists them (CREMA-D's test.csv): the
    # official test loader scores a prefix of this order (data/official.py).
    test_file_order: torch.Tensor | None = field(default=None, repr=False)

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
            **({"train_frames_shape": list(self.train_frames.shape[1:])} if self.train_frames is not None else {}),
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
    return AVData(
        name=name,
        classes=tuple(classes),
        train=norm.apply(raw["train"]),
        val=norm.apply(raw["val"]),
        test=norm.apply(raw["test"]),
        audio_spec=audio_spec,
        visual_spec=visual_spec,
        normalization=norm,
        info=dict(info or {}),
    )
