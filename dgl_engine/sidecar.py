"""A model's sidecar, checked before anything is built from it.

The sidecar (``models/<method>.json``, written by ``lifecycle.model_sidecar``) says how to
rebuild the model and how its inputs were made. It is a text file anyone can edit, so before
``predict.load_predictor`` uses it every field it reads is checked: its type, its range (the
bounds are in ``limits.py``) and its agreement with the checkpoint's tensors. An edited sidecar
that asks for 10**12 classes, a spectrogram of a billion bins or a standard deviation of 0
gives one line naming the field, never an allocation of terabytes or a NaN probability.

    spec = read_spec(sidecar, state_dict, method)   # SidecarError naming the field, or a ModelSpec
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from dgl_engine import limits
from dgl_engine.config import ModelConfig
from dgl_engine.data.dataset import Normalization
from dgl_engine.data.features import AudioFeatures, VisualFeatures
from dgl_engine.models.av_model import HEAD_NAMES, MODALITIES

# The tiny encoder pools three times: a spectrogram or a frame under 8 px has nothing left.
MIN_INPUT_SIDE = 8
MAX_NORM = 1e6  # |mean| and std of the normalisation; std below MIN_STD divides by ~0
MIN_STD = 1e-7


class SidecarError(ValueError):
    """A sidecar field that cannot be used; the message names it ("audio_features.n_fft ...")."""


@dataclass(frozen=True)
class ModelSpec:
    """What a checked sidecar says: enough to rebuild the model and make its inputs."""

    config: ModelConfig
    num_classes: int
    classes: tuple[str, ...]
    modalities: tuple[str, ...]
    audio_spec: AudioFeatures
    visual_spec: VisualFeatures
    normalization: Normalization
    heads: tuple[str, ...] = ()  # the method's own heads the checkpoint holds (``heads.<name>.*``)


def _number(value, name: str, lo: float, hi: float, *, integer: bool = False, lo_open: bool = False):
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value):
        raise SidecarError(f"{name} must be {'a whole number' if integer else 'a number'}, got {value!r:.40}")
    if value < lo or (lo_open and value == lo) or value > hi:
        raise SidecarError(f"{name} must be in {'(' if lo_open else '['}{lo:g}, {hi:g}], got {value!r}")
    return value


def _section(sidecar: dict, key: str) -> dict:
    value = sidecar.get(key)
    if not isinstance(value, dict):
        raise SidecarError(f"{key} must be an object, got {type(value).__name__}")
    return value


def _choice(value, name: str, valid) -> str:
    if value not in valid:
        raise SidecarError(f"{name} must be one of {', '.join(valid)}, got {value!r:.40}")
    return value


def _triple(value, name: str, lo: float, hi: float) -> tuple[float, float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise SidecarError(f"{name} must be 3 numbers (one per colour channel), got {value!r:.40}")
    return tuple(float(_number(x, f"{name}[{i}]", lo, hi)) for i, x in enumerate(value))


def _build(cls, d: dict, name: str):
    """The features dataclass from its dict: known keys only, the rest take their defaults."""
    known = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in d.items() if k in known})
    except TypeError as exc:
        raise SidecarError(f"{name}: {exc}") from None


def _audio(d: dict) -> AudioFeatures:
    a = _build(AudioFeatures, d, "audio_features")
    n = "audio_features."
    _number(a.sample_rate, n + "sample_rate", limits.MIN_SAMPLE_RATE, limits.MAX_MODEL_SAMPLE_RATE, integer=True)
    _number(a.clip_seconds, n + "clip_seconds", 0, limits.MAX_CLIP_SECONDS, lo_open=True)
    _choice(a.kind, n + "kind", ("logmel", "logstft"))
    _choice(a.pad_mode, n + "pad_mode", ("zeros", "tile"))
    _number(a.n_fft, n + "n_fft", 16, limits.MAX_N_FFT, integer=True)
    _number(a.hop_length, n + "hop_length", 1, a.n_fft, integer=True)
    if a.kind == "logmel":
        _number(a.n_mels, n + "n_mels", MIN_INPUT_SIDE, a.n_fft // 2 + 1, integer=True)
        _number(a.f_min, n + "f_min", 0, a.sample_rate / 2, lo_open=False)
        _number(a.f_max, n + "f_max", a.f_min, math.inf, lo_open=True)
    if a.num_samples < a.n_fft:
        raise SidecarError(f"{n}clip_seconds: {a.clip_seconds:g} s at {a.sample_rate} Hz is shorter than one FFT ({a.n_fft})")
    _, bins, frames = a.shape
    if bins < MIN_INPUT_SIDE or frames < MIN_INPUT_SIDE or bins * frames > limits.MAX_AUDIO_FEATURES:
        raise SidecarError(f"{n}: a {bins} x {frames} spectrogram; each side at least {MIN_INPUT_SIDE}, "
                           f"at most {limits.MAX_AUDIO_FEATURES} values")
    return a


def _visual(d: dict) -> VisualFeatures:
    d = dict(d)
    n = "visual_features."
    for key, lo in (("mean", -MAX_NORM), ("std", MIN_STD)):
        if d.get(key) is not None:
            d[key] = _triple(d[key], n + key, lo, MAX_NORM)
    v = _build(VisualFeatures, d, "visual_features")
    _number(v.frames, n + "frames", 1, limits.MAX_MODEL_FRAMES, integer=True)
    _number(v.fps, n + "fps", 0, limits.MAX_FPS, lo_open=True)
    _number(v.size, n + "size", MIN_INPUT_SIDE, limits.MAX_FRAME_SIZE, integer=True)
    if v.frames * v.size * v.size > limits.MAX_VISUAL_PIXELS:
        raise SidecarError(f"{n}: {v.frames} frames of {v.size} px, over {limits.MAX_VISUAL_PIXELS} pixels per clip")
    return v


def _normalization(d: dict) -> Normalization:
    n = "normalization."
    return Normalization(
        float(_number(d.get("audio_mean"), n + "audio_mean", -MAX_NORM, MAX_NORM)),
        float(_number(d.get("audio_std"), n + "audio_std", MIN_STD, MAX_NORM)),
        _triple(d.get("visual_mean"), n + "visual_mean", -MAX_NORM, MAX_NORM),
        _triple(d.get("visual_std"), n + "visual_std", MIN_STD, MAX_NORM),
    )


def _classes(sidecar: dict) -> tuple[str, ...]:
    classes = sidecar.get("classes")
    if not isinstance(classes, list) or not 1 <= len(classes) <= limits.MAX_CLASSES:
        raise SidecarError(f"classes must be a list of 1 to {limits.MAX_CLASSES} names, got {classes!r:.40}")
    if not all(isinstance(c, str) and 0 < len(c) <= 200 for c in classes) or len(set(classes)) != len(classes):
        raise SidecarError("classes must be distinct names of 1 to 200 characters")
    return tuple(classes)


def _check_state(state, num_classes: int) -> None:
    """The checkpoint holds finite tensors only, and its fusion head has one row per class."""
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(t, torch.Tensor) for k, t in state.items()):
        raise SidecarError("the checkpoint is not a dict of named tensors")
    for key, t in state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise SidecarError(f"the checkpoint's {key} holds NaN or infinite values")
    rows = {key: t.shape[0] for key, t in state.items() if key.startswith(("fusion_head.", "heads.")) and t.dim() >= 1}
    wrong = {k: r for k, r in rows.items() if r != num_classes}
    if not rows or wrong:
        key, r = next(iter(wrong.items())) if wrong else ("fusion_head", 0)
        raise SidecarError(f"model.num_classes is {num_classes}, but the checkpoint's {key} has {r} rows")


def read_spec(sidecar, state, method: str) -> ModelSpec:
    """The checked contents of a sidecar, given the checkpoint it goes with (SidecarError
    naming the first field that cannot be used)."""
    from dgl_engine.models.encoders import ENCODERS
    from dgl_engine.models.fusion import FUSIONS

    if not isinstance(sidecar, dict):
        raise SidecarError(f"the sidecar must be a JSON object, got {type(sidecar).__name__}")
    if sidecar.get("method", method) != method:
        raise SidecarError(f"method is {sidecar.get('method')!r:.40}, but the file is the {method} model")
    classes = _classes(sidecar)
    m = _section(sidecar, "model")
    config = ModelConfig(encoder=_choice(m.get("encoder"), "model.encoder", tuple(ENCODERS)),
                         fusion=_choice(m.get("fusion"), "model.fusion", tuple(FUSIONS)))
    num_classes = _number(m.get("num_classes", len(classes)), "model.num_classes", 1, limits.MAX_CLASSES, integer=True)
    if num_classes != len(classes):
        raise SidecarError(f"model.num_classes is {num_classes}, but classes lists {len(classes)}")
    given = sidecar.get("modalities") or list(MODALITIES)
    if not isinstance(given, list) or not given or len(set(given)) != len(given) or not set(given) <= set(MODALITIES):
        raise SidecarError(f"modalities must list audio and/or visual, got {given!r:.40}")
    modalities = tuple(x for x in MODALITIES if x in given)
    audio_spec = _audio(_section(sidecar, "audio_features"))
    visual_spec = _visual(_section(sidecar, "visual_features"))
    normalization = _normalization(_section(sidecar, "normalization"))
    _check_state(state, num_classes)
    return ModelSpec(config, num_classes, classes, modalities, audio_spec, visual_spec, normalization, state_heads(state))


def state_heads(state: dict) -> tuple[str, ...]:
    """The method's own heads a checkpoint holds, from its ``heads.<name>.weight`` tensors
    (SidecarError for a name no method has)."""
    names = tuple(dict.fromkeys(k.split(".")[1] for k in state if k.startswith("heads.") and k.count(".") >= 2))
    for name in names:
        if name not in HEAD_NAMES:
            raise SidecarError(f"the checkpoint has a head {name[:40]!r}; heads are {', '.join(HEAD_NAMES)}")
    return names
