"""Experiment configuration: frozen dataclasses shared by the CLI, the app and the store.

The UI form and the CLI both build an ``ExperimentConfig``; ``validate`` refuses impossible
settings with one readable message before anything starts; ``asdict`` goes into run.json
and ``experiment_from_dict`` reads it back.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field


class ConfigError(ValueError):
    """A setting that cannot work; the message says what is valid."""


@dataclass(frozen=True)
class ModalitySettings:
    """The two knobs a user turns on each synthetic modality."""

    # 0 = trivially easy cue, 1 = barely learnable (noise, clutter, contrast scale with it).
    difficulty: float = 0.5
    # Fraction of samples whose cue is present and matches the label; the rest carry no cue
    # ("drop") or another class's cue ("swap"), so the modality alone tops out below 100%.
    reliability: float = 1.0
    unreliable: str = "drop"  # "drop" or "swap"


@dataclass(frozen=True)
class SyntheticSettings:
    """The built-in procedurally generated audio-visual dataset (see data/synthetic.py)."""

    # Default: audio learned almost at once but sometimes missing, vision always there but
    # slower to learn; the regime in which the joint model suppresses vision.
    audio: ModalitySettings = ModalitySettings(difficulty=0.5, reliability=0.8)
    visual: ModalitySettings = ModalitySettings(difficulty=0.5, reliability=1.0)
    # The shape's colour carries the class too (makes vision easy: the balanced control).
    visual_colour_cue: bool = False
    num_classes: int = 6
    samples_per_class: int = 800
    # Train / validation / test fractions of each class's samples.
    split: tuple[float, float, float] = (0.625, 0.125, 0.25)
    frames: int = 1  # RGB frames per clip; >1 makes the shape drift over time


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, which subset of it, and how its media become features."""

    dataset: str = "synthetic"  # synthetic | cremad | folder | ave | avmnist
    preset: str = "default"  # synthetic preset, or preprocessing preset (lab | paper) for real data
    synthetic: SyntheticSettings = SyntheticSettings()
    root: str | None = None  # real datasets: folder inside a data root (DGL_LAB_DATA)
    classes: tuple[str, ...] = ()  # subset of classes (empty = all)
    per_class: int | None = None  # at most this many training clips per class
    fraction: float = 1.0  # keep this fraction of each split (seeded)
    splits: str | None = None  # CREMA-D: folder holding train.csv/test.csv
    test_speakers: tuple[str, ...] = ()  # AV-MNIST: speakers held out for test


@dataclass(frozen=True)
class ModelConfig:
    encoder: str = "tiny"  # tiny (small CNN, CPU default) | resnet18 (torchvision, from scratch)
    fusion: str = "concat"  # concat | sum


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 6  # the imbalance is a finite-budget effect: largest after 3-6 epochs
    batch_size: int = 64
    # 0.03, not the paper's 2e-3: short runs need it (at 2e-3 vision is at chance after 6 epochs).
    lr: float = 0.03
    momentum: float = 0.9
    weight_decay: float = 1e-4
    grad_clip: float = 40.0  # total gradient norm, as in the official code
    optimizer: str = "sgd"  # sgd | adam (under Adam, DGL's alpha has no effect: scale-invariant)
    alpha: float = 2.0  # DGL's unimodal loss scale; alpha*lr too large collapses the weak encoder
    ogm_alpha: float = 0.8  # OGM-GE's modulation strength
    lr_decay_epoch: int | None = None  # multiply lr by 0.1 from this epoch (official: 70 of 100)
    evals_per_epoch: int = 2  # validation points per epoch for the live curves
    diagnostics_every: int = 20  # steps between gradient diagnostics
    precise_bn_samples: int = 512  # training samples used to re-estimate BN statistics before evals


@dataclass(frozen=True)
class ExperimentConfig:
    """One dataset subset, one seed, shared hyperparameters, several methods in lockstep."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    methods: tuple[str, ...] = ("audio-only", "visual-only", "joint", "dgl")
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    name: str = ""  # optional label shown in the app

    def to_dict(self) -> dict:
        return asdict(self)


def _build(cls, d: dict):
    """Rebuild a (nested) frozen dataclass from ``asdict`` output, ignoring unknown keys."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        v = d[f.name]
        if dataclasses.is_dataclass(f.default) and isinstance(v, dict):
            v = _build(type(f.default), v)
        elif isinstance(v, list):
            v = tuple(v)
        kwargs[f.name] = v
    return cls(**kwargs)


def experiment_from_dict(d: dict) -> ExperimentConfig:
    return _build(ExperimentConfig, d)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate(config: ExperimentConfig) -> list[str]:
    """Raise ConfigError for impossible settings; return warnings for risky ones."""
    from dgl_engine.methods import METHODS
    from dgl_engine.models.encoders import ENCODERS
    from dgl_engine.models.fusion import FUSIONS

    warnings: list[str] = []
    _check(len(config.methods) > 0, "choose at least one method")
    for m in config.methods:
        _check(m in METHODS, f"unknown method {m!r}; valid: {', '.join(METHODS)}")
    _check(len(set(config.methods)) == len(config.methods), "each method may appear once")
    _check(config.model.encoder in ENCODERS, f"unknown encoder {config.model.encoder!r}; valid: {', '.join(ENCODERS)}")
    _check(config.model.fusion in FUSIONS, f"unknown fusion {config.model.fusion!r}; valid: {', '.join(FUSIONS)}")
    _check(config.device in ("auto", "cpu", "cuda"), f"unknown device {config.device!r}; valid: auto, cpu, cuda")
    if config.device == "cuda":
        import torch

        _check(torch.cuda.is_available(), "device cuda asked for, but no CUDA GPU is available; use auto or cpu")
    _check(isinstance(config.seed, int) and config.seed >= 0, "seed must be a whole number >= 0")

    t = config.train
    _check(1 <= t.epochs <= 1000, "epochs must be between 1 and 1000")
    _check(2 <= t.batch_size <= 4096, "batch size must be between 2 and 4096")
    _check(math.isfinite(t.lr) and 0 < t.lr <= 10, "learning rate must be > 0 and <= 10")
    _check(0 <= t.momentum < 1, "momentum must be in [0, 1)")
    _check(0 <= t.weight_decay < 1, "weight decay must be in [0, 1)")
    _check(t.grad_clip > 0, "gradient clip must be > 0")
    _check(t.optimizer in ("sgd", "adam"), f"unknown optimizer {t.optimizer!r}; valid: sgd, adam")
    _check(math.isfinite(t.alpha) and 0 < t.alpha <= 100, "alpha must be > 0 and <= 100")
    _check(0 <= t.ogm_alpha <= 10, "OGM-GE alpha must be in [0, 10]")
    _check(1 <= t.evals_per_epoch <= 20, "evaluations per epoch must be between 1 and 20")
    _check(t.diagnostics_every >= 1, "diagnostics interval must be >= 1 step")
    _check(t.precise_bn_samples >= 0, "precise-BN samples must be >= 0")
    if t.optimizer == "adam" and "dgl" in config.methods:
        warnings.append("Under Adam, DGL's alpha has no effect: Adam is invariant to the scale of the loss.")
    if t.optimizer == "sgd" and "dgl" in config.methods and t.alpha * t.lr > 0.12:
        warnings.append(
            f"alpha x lr = {t.alpha * t.lr:.3g} is large: DGL's weaker encoder may collapse "
            "(alpha 2 with lr 0.03 is safe on the synthetic data)."
        )
    if config.model.fusion == "sum" and "ogm-ge" in config.methods:
        warnings.append("OGM-GE's slice split is defined for concat fusion; with sum it uses each branch's term.")

    d = config.data
    _check(0 < d.fraction <= 1, "fraction must be in (0, 1]")
    _check(d.per_class is None or d.per_class >= 1, "clips per class must be >= 1")
    if d.dataset == "synthetic":
        from dgl_engine.data.synthetic import PRESETS

        _check(d.preset in PRESETS, f"unknown preset {d.preset!r}; valid: {', '.join(PRESETS)}")
        s = d.synthetic
        _check(2 <= s.num_classes <= 8, "synthetic classes must be between 2 and 8")
        _check(10 <= s.samples_per_class <= 20000, "samples per class must be between 10 and 20000")
        _check(1 <= s.frames <= 16, "frames per clip must be between 1 and 16")
        _check(len(s.split) == 3 and all(f > 0 for f in s.split), "split needs three positive fractions")
        _check(abs(sum(s.split) - 1) < 1e-6, "train/validation/test fractions must add up to 1")
        for name, m in (("audio", s.audio), ("visual", s.visual)):
            _check(0 <= m.difficulty <= 1, f"{name} difficulty must be in [0, 1]")
            _check(0 <= m.reliability <= 1, f"{name} reliability must be in [0, 1]")
            _check(m.unreliable in ("drop", "swap"), f"{name}: unreliable must be drop or swap")
        n_train = int(s.samples_per_class * s.split[0] * d.fraction)
        _check(n_train >= 2, "fewer than 2 training samples per class: raise samples per class")
    else:
        from dgl_engine.data.registry import DATASETS

        _check(d.dataset in DATASETS, f"unknown dataset {d.dataset!r}; valid: synthetic, {', '.join(DATASETS)}")
        _check(d.preset in ("lab", "paper"), f"unknown preprocessing preset {d.preset!r}; valid: lab, paper")
        _check(bool(d.root), f"dataset {d.dataset} needs a root folder")
    return warnings
