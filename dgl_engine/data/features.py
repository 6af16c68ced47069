"""Feature code shared by every dataset, by the cache and by prediction.

A waveform or a stack of decoded frames becomes model input here and nowhere else (through
``inputs.clip_to_inputs`` for a decoded clip), so a clip uploaded for prediction is processed
exactly as the training data was. Which
settings were used travels with each checkpoint (its JSON sidecar), as ``AudioFeatures``
and ``VisualFeatures`` turned into dicts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from functools import lru_cache

import torch

from dgl_engine import compat  # noqa: F401  (before torchaudio)
import torchaudio


@dataclass(frozen=True)
class AudioFeatures:
    """How a waveform becomes a (1, F, T) spectrogram."""

    sample_rate: int = 8000  # Hz; every clip is resampled to this
    clip_seconds: float = 1.0  # waveforms are cropped (centre) or tiled/padded to this length
    kind: str = "logmel"  # "logmel" (lab) or "logstft" (the official CREMA-D pipeline)
    n_fft: int = 256
    hop_length: int = 128
    n_mels: int = 40  # ignored for logstft
    f_min: float = 50.0
    f_max: float = 4000.0
    pad_mode: str = "zeros"  # "zeros" or "tile": how a short clip reaches clip_seconds
    # Which part of a long clip is heard: "centre", or "start" = the official CREMA-D loader's
    # np.tile(x, 3)[:n] clipped to [-1, 1] (its first seconds).
    crop: str = "centre"

    @property
    def num_samples(self) -> int:
        return int(round(self.sample_rate * self.clip_seconds))

    @property
    def shape(self) -> tuple[int, int, int]:
        """(1, F, T) of the features this spec produces."""
        bins = self.n_mels if self.kind == "logmel" else self.n_fft // 2 + 1
        frames = self.num_samples // self.hop_length + 1
        return (1, bins, frames)

    def to_dict(self) -> dict:
        return _spec_dict(self)


@dataclass(frozen=True)
class VisualFeatures:
    """How decoded RGB frames become a (T, 3, H, W) float tensor."""

    frames: int = 1  # frames per clip, sampled evenly over the clip at `fps`
    fps: float = 1.0  # frame rate the clip is sampled at before choosing `frames`
    size: int = 32  # frames are resized (shorter side) and centre-cropped to size x size
    # Per-channel mean/std; None means "use the training set's statistics" (stored in the
    # checkpoint sidecar once known).
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    # Which frames: "middle" (one frame: the middle one; several: evenly spaced) or "first" (the
    # clip's first frames: the official loader takes the first file os.listdir returns).
    frame: str = "middle"
    # "crop": shorter side to `size`, centre crop (the model's input as is). "full": the whole
    # frame resized to size x width, nothing cut off: squashed to size x size for evaluation and
    # prediction, random-resized-cropped for training (data/frames.py), as the official pipeline
    # does on the original frame.
    geometry: str = "crop"
    width: int | None = None  # geometry "full": the stored frame's width

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(T, 3, H, W) of what ``visual_features`` returns and the cache stores."""
        return (self.frames, 3, self.size, self.width if self.geometry == "full" and self.width else self.size)

    @property
    def model_shape(self) -> tuple[int, int, int, int]:
        """(T, 3, size, size): what the visual encoder is given."""
        return (self.frames, 3, self.size, self.size)

    @property
    def decode_max_side(self) -> int:
        """The shorter side decoding may shrink frames to. "full": 720, so CREMA-D's 480x360
        frames are kept native (their squash then matches the official Resize of the original
        to ~1/1000, against ~1/200 from 256) while a 4K upload still shrinks; else 256."""
        return 720 if self.geometry == "full" else max(256, self.size)

    def to_dict(self) -> dict:
        return _spec_dict(self)


# Fields added after caches and checkpoints existed are written only when they differ from their
# defaults, so the cache keys and sidecars of the presets that do not use them stay as they were.
_ADDED_LATER = {"crop": "centre", "frame": "middle", "geometry": "crop", "width": None}


def _spec_dict(spec) -> dict:
    d = asdict(spec)
    for f in fields(spec):
        if f.name in _ADDED_LATER and d[f.name] == _ADDED_LATER[f.name]:
            del d[f.name]
    return d


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def audio_features_from_dict(d: dict) -> AudioFeatures:
    return AudioFeatures(**{k: v for k, v in d.items() if k in AudioFeatures.__dataclass_fields__})


def visual_features_from_dict(d: dict) -> VisualFeatures:
    d = {k: v for k, v in d.items() if k in VisualFeatures.__dataclass_fields__}
    for key in ("mean", "std"):
        if d.get(key) is not None:
            d[key] = tuple(float(x) for x in d[key])
    return VisualFeatures(**d)


def fit_length(waveform: torch.Tensor, num_samples: int, pad_mode: str = "zeros", crop: str = "centre") -> torch.Tensor:
    """Crop (centre, or from the start) or pad a (..., L) waveform to (..., num_samples).
    ``crop="start"`` also clips the samples to [-1, 1], as the official loader does."""
    if crop == "start":
        waveform = waveform.clamp(-1.0, 1.0)
    length = waveform.shape[-1]
    if length == num_samples:
        return waveform
    if length > num_samples:
        start = 0 if crop == "start" else (length - num_samples) // 2
        return waveform[..., start : start + num_samples]
    if pad_mode == "tile" and length > 0:
        reps = math.ceil(num_samples / length)
        return waveform.repeat(*([1] * (waveform.dim() - 1)), reps)[..., :num_samples]
    pad = num_samples - length
    return torch.nn.functional.pad(waveform, (0, pad))


@lru_cache(maxsize=8)
def _transform(spec: AudioFeatures) -> torch.nn.Module:
    if spec.kind == "logmel":
        return torchaudio.transforms.MelSpectrogram(
            sample_rate=spec.sample_rate,
            n_fft=spec.n_fft,
            hop_length=spec.hop_length,
            n_mels=spec.n_mels,
            f_min=spec.f_min,
            f_max=min(spec.f_max, spec.sample_rate / 2),
            power=2.0,
        )
    if spec.kind == "logstft":
        return torchaudio.transforms.Spectrogram(n_fft=spec.n_fft, hop_length=spec.hop_length, power=1.0)
    raise ValueError(f"unknown audio feature kind {spec.kind!r}; valid: logmel, logstft")


def audio_features(waveform: torch.Tensor, spec: AudioFeatures) -> torch.Tensor:
    """Waveform(s) at ``spec.sample_rate`` -> log spectrogram.

    waveform: (L,) or (N, L) mono float in [-1, 1]. Returns (1, F, T) or (N, 1, F, T).
    """
    single = waveform.dim() == 1
    x = fit_length(waveform.float().reshape(-1, waveform.shape[-1]), spec.num_samples, spec.pad_mode, spec.crop)
    with torch.no_grad():
        spec_ = _transform(spec)(x)  # (N, F, T)
    # logmel: log power as in the lab recipe; logstft: log magnitude as in the official code.
    eps = 1e-4 if spec.kind == "logmel" else 1e-7
    feats = torch.log(spec_ + eps).unsqueeze(1)  # (N, 1, F, T)
    return feats[0] if single else feats


def visual_features(frames: torch.Tensor, spec: VisualFeatures) -> torch.Tensor:
    """uint8 frames (T, H, W, 3) -> float ``spec.shape`` = (spec.frames, 3, size, size) in
    [0, 1], resized and centre-cropped (geometry "full": (spec.frames, 3, size, width), the whole
    frame resized), with T resampled to ``spec.frames`` (evenly spaced, or the first ones;
    repeated when short).

    Normalisation is separate (``dataset.Normalization``) because its statistics may come from
    the training set.
    """
    if frames.dim() != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected frames (T, H, W, 3), got {tuple(frames.shape)}")
    t = frames.shape[0]
    if t == 0:
        raise ValueError("no frames")
    if spec.frame == "first":
        idx = torch.arange(spec.frames).clamp(max=t - 1)
    else:
        idx = torch.linspace(0, t - 1, spec.frames).round().long() if spec.frames > 1 else torch.tensor([t // 2])
    x = frames[idx].permute(0, 3, 1, 2).float() / 255.0  # (T', 3, H, W)
    if spec.geometry == "full":
        _, _, size, width = spec.shape
        x = torch.nn.functional.interpolate(x, size=(size, width), mode="bilinear", antialias=True, align_corners=False)
        return x.clamp(0, 1).contiguous()
    h, w = x.shape[-2:]
    scale = spec.size / min(h, w)
    nh, nw = max(spec.size, round(h * scale)), max(spec.size, round(w * scale))
    x = torch.nn.functional.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (nh - spec.size) // 2, (nw - spec.size) // 2
    return x[..., top : top + spec.size, left : left + spec.size].clamp(0, 1).contiguous()

