"""Experiment configuration: the one schema, shared by the CLI, the app, the store and the engine.

Pure frozen dataclasses that import nothing from the project. Every field carries its help,
its range and, where it names a registry entry, which registry (``setting(...)``); the CLI's
options (``dgl_engine/schema.py``), the Experiment form's widgets and the checks in
``dgl_engine/validate.py`` are all read from here, so they cannot drift apart.

Method hyperparameters are not fields here: each method declares its own
(``dgl_engine/methods/``) and the config carries their values per method in
``method_params``, e.g. ``{"dgl": {"alpha": 2.0}, "ogm-ge": {"alpha": 0.8}}``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any


def setting(default: Any = dataclasses.MISSING, help: str = "", *, min: float | None = None, max: float | None = None,
            min_open: bool = False, max_open: bool = False, choices: tuple[str, ...] | None = None,
            registry: str | None = None, flag: str | None = None, prefix: str | None = None,
            max_len: int | None = None, label: str | None = None, default_factory: Any = dataclasses.MISSING):
    """A schema field: ``min``/``max`` bound numbers (``*_open``: the bound itself is refused),
    ``choices`` lists literal values, ``registry`` names the registry whose names are valid,
    ``flag`` overrides the CLI flag, ``prefix`` prefixes the flags of a nested section, ``label``
    names the setting for people (default: its flag in words)."""
    meta = {"help": help, "min": min, "max": max, "min_open": min_open, "max_open": max_open,
            "choices": choices, "registry": registry, "flag": flag, "prefix": prefix, "max_len": max_len,
            "label": label}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ModalitySettings:
    """The two knobs a user turns on each synthetic modality."""

    difficulty: float = setting(0.5, "0 = trivially easy cue, 1 = barely learnable (noise, clutter and contrast scale with it)",
                                min=0.0, max=1.0)
    # The modality alone tops out below 100% when its cue is sometimes absent or wrong.
    reliability: float = setting(1.0, "fraction of clips whose cue is present and matches the label", min=0.0, max=1.0)
    unreliable: str = setting("drop", "what the other clips carry: no cue (drop) or another class's cue (swap)",
                              choices=("drop", "swap"))


@dataclass(frozen=True)
class SyntheticSettings:
    """The built-in procedurally generated audio-visual dataset (see data/synthetic.py)."""

    # Default: audio learned almost at once but sometimes missing, vision always there but
    # slower to learn; the regime in which the joint model suppresses vision.
    audio: ModalitySettings = setting(ModalitySettings(difficulty=0.5, reliability=0.8), "the sound", prefix="audio-")
    visual: ModalitySettings = setting(ModalitySettings(difficulty=0.5, reliability=1.0), "the picture", prefix="visual-")
    visual_colour_cue: bool = setting(False, "the shape's colour gives the class away too (makes vision easy: the balanced control)",
                                      flag="--colour-cue")
    num_classes: int = setting(6, "number of classes", min=2, max=8)
    samples_per_class: int = setting(800, "clips per class, split into train / validation / test", min=10, max=20000)
    split: tuple[float, float, float] = setting((0.625, 0.125, 0.25), "train, validation and test fractions of each class",
                                                min=0.0, min_open=True, max=1.0)
    frames: int = setting(1, "RGB frames per clip; more than 1 makes the shape drift over time", min=1, max=16)


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, which subset of it, and how its media become features."""

    dataset: str = setting("synthetic", "the built-in synthetic data, or a real dataset inside a data root", registry="dataset")
    # Two different things, named apart: a synthetic *regime* (how hard each modality is) and a
    # *preprocessing* preset (how real media become features).
    regime: str = setting("default", "synthetic data: which modality is easy and which is reliable", registry="regime")
    preprocessing: str = setting("lab", "real data: how media become features (lab: CPU-sized; paper: the official CREMA-D pipeline)",
                                 registry="preprocessing")
    synthetic: SyntheticSettings = setting(SyntheticSettings(), "synthetic data settings", prefix="")
    root: str | None = setting(None, "real datasets: the dataset folder, inside a data root (DGL_LAB_DATA)", max_len=4096)
    classes: tuple[str, ...] = setting((), "subset of classes (empty = all)")
    per_class: int | None = setting(None, "at most this many training clips per class (validation and test shrink in proportion)",
                                    min=1, max=10**7)
    fraction: float = setting(1.0, "keep this fraction of each split and class (seeded)", min=0.0, min_open=True, max=1.0)
    # The honest default: curves and any model selection see held-out training actors, never the
    # test set. 0 trains on every training clip (the official CREMA-D code does), and the curves
    # then use the test split.
    val_fraction: float = setting(0.1, "share of the training clips moved to validation when the dataset has none "
                                       "(whole actors or speakers where there are enough; 0: none, curves use the test split)",
                                  min=0.0, max=0.5)
    splits: str | None = setting(None, "CREMA-D: folder holding train.csv and test.csv", max_len=4096)
    test_speakers: tuple[str, ...] = setting((), "AV-MNIST: speakers held out for test")


@dataclass(frozen=True)
class ModelConfig:
    encoder: str = setting("tiny", "tiny: a small CNN (CPU default); resnet18: torchvision's, from scratch (GPU)", registry="encoder")
    fusion: str = setting("concat", "concat: W[h_a; h_v] + b (the paper's); sum: W_a h_a + W_v h_v + b", registry="fusion")
    # The official code re-initialises every nn.Linear with xavier_normal_ (utils/utils.py
    # weight_init); ours has always drawn xavier_uniform_, which the lab's figures were made with.
    linear_init: str = setting("xavier-uniform", "how the fusion head's weights start (official: xavier-normal)",
                               choices=("xavier-uniform", "xavier-normal"))


@dataclass(frozen=True)
class TrainConfig:
    # The imbalance is a finite-budget effect: largest after 3-6 epochs.
    epochs: int = setting(6, "passes over the training split", min=1, max=1000)
    batch_size: int = setting(64, "clips per step (the ragged last batch is dropped)", min=2, max=4096)
    # 0.03, not the paper's 2e-3: short runs need it (at 2e-3 vision is at chance after 6 epochs).
    lr: float = setting(0.03, "learning rate", min=0.0, min_open=True, max=10.0, label="learning rate")
    momentum: float = setting(0.9, "SGD momentum", min=0.0, max=1.0, max_open=True)
    weight_decay: float = setting(1e-4, "L2 weight decay", min=0.0, max=1.0, max_open=True)
    grad_clip: float = setting(40.0, "total gradient norm clip, as in the official code", min=0.0, min_open=True, max=1e6)
    # Under Adam, DGL's alpha has no effect: Adam is invariant to the scale of the loss.
    optimizer: str = setting("sgd", "sgd or adam", choices=("sgd", "adam"))
    # bf16 autocast halves the memory traffic of ResNet-18 on a GPU; the tiny encoder on a CPU
    # gains nothing from it. auto: bf16 for resnet18 on CUDA, fp32 otherwise.
    precision: str = setting("auto", "arithmetic of the forward passes (bf16: autocast, CUDA only)",
                             choices=("auto", "fp32", "bf16"))
    # Counted from 0 like the loop: the official MultiStepLR([70]), stepped at the start of every
    # epoch, first trains at lr x 0.1 in epoch 69 (the 70th).
    lr_decay_epoch: int | None = setting(None, "multiply the learning rate by 0.1 from this epoch on, counting from 0 "
                                         "(official CREMA-D: 69, the 70th of 100)", min=1, max=1000)
    evals_per_epoch: int = setting(2, "validation points per epoch for the live curves", min=1, max=20)
    diagnostics_every: int = setting(20, "steps between gradient diagnostics", min=1, max=10**6)
    precise_bn_samples: int = setting(512, "training clips used to re-estimate BatchNorm statistics before each evaluation "
                                      "(0: the running averages of the training batches, as the official code)",
                                      min=0, max=10**6)
    # The official code reports the best test accuracy over its epochs (model selection on the
    # test set) on the clips its drop_last test loader scores; we report the final epoch on every
    # test clip. This adds the official figures beside ours, never instead of them.
    official_scores: bool = setting(False, "also score the test split as the official code does: after every epoch, the "
                                    "best epoch (selected on the test set: optimistic) and the clips its drop_last "
                                    "loader scores")


@dataclass(frozen=True)
class ExperimentConfig:
    """One dataset subset, one seed, shared hyperparameters, several methods in lockstep."""

    # A protocol is a set of settings taken together from somewhere (lab: this project's CPU-sized
    # defaults; paper: the official CREMA-D script, cramed_dgl.sh), applied by
    # dgl_engine/protocols.py where the config is resolved.
    protocol: str = setting("lab", "lab: this project's honest, CPU-sized defaults; paper: every setting of the official "
                            "CREMA-D script (ResNet-18s, 100 epochs, alpha 4; see README)", choices=("lab", "paper"))
    protocol_keep: tuple[str, ...] = setting((), "settings that keep their own value under a protocol that sets them "
                                             "(e.g. train.epochs; the CLI fills it in with the flags given)",
                                             flag="--protocol-keep")
    data: DataConfig = setting(DataConfig(), "the data", prefix="")
    model: ModelConfig = setting(ModelConfig(), "the model", prefix="")
    train: TrainConfig = setting(TrainConfig(), "the optimisation", prefix="")
    methods: tuple[str, ...] = setting(("audio-only", "visual-only", "joint", "dgl"), "methods trained in lockstep",
                                       registry="method")
    # {method: {hyperparameter: value}}; each method declares its own (name, default, range).
    method_params: dict[str, dict[str, float]] = setting(help="per-method hyperparameters", default_factory=dict)
    seed: int = setting(0, "seeds the data, the initial weights and the batch order", min=0, max=2**31 - 1)
    device: str = setting("auto", "auto picks a CUDA GPU when there is one", choices=("auto", "cpu", "cuda"))
    name: str = setting("", "optional label shown in the app", max_len=80)

    def to_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------- from dicts

def from_dict(cls, d: dict):
    """Rebuild a (nested) frozen dataclass from ``asdict`` output: unknown keys are ignored,
    lists become tuples. The one way every record in this project is read back."""
    if not isinstance(d, dict):
        raise TypeError(f"{cls.__name__}: expected an object, got {type(d).__name__}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        v = d[f.name]
        nested = f.default if dataclasses.is_dataclass(f.default) else None
        if nested is not None and isinstance(v, dict):
            v = from_dict(type(nested), v)
        elif isinstance(v, list):
            v = tuple(v)
        kwargs[f.name] = v
    return cls(**kwargs)


def experiment_from_dict(d: dict) -> ExperimentConfig:
    """An ExperimentConfig from run.json's ``config``, including records written before the
    schema split presets apart and moved method hyperparameters into ``method_params``."""
    d = dict(d)
    data = dict(d.get("data") or {})
    if "preset" in data:  # old records: one "preset" meant two things
        preset = data.pop("preset")
        key = "regime" if data.get("dataset", "synthetic") == "synthetic" else "preprocessing"
        data.setdefault(key, preset)
    d["data"] = data
    train = dict(d.get("train") or {})
    params = {m: dict(p) for m, p in (d.get("method_params") or {}).items()}
    for old, method in (("alpha", "dgl"), ("ogm_alpha", "ogm-ge")):
        if old in train:
            value = train.pop(old)
            if method in (d.get("methods") or ()):
                params.setdefault(method, {}).setdefault("alpha", value)
    d["train"], d["method_params"] = train, params
    return from_dict(ExperimentConfig, d)
