"""What the Experiment page's widgets turn into: an ExperimentConfig, and what the real-dataset
registry says about the data (guarded: the registry may not offer everything yet)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

from dgl_engine.config import DataConfig, ExperimentConfig, ModalitySettings, ModelConfig, TrainConfig
from dgl_engine.data.synthetic import PRESETS, class_names

DEFAULTS = ExperimentConfig()
PRESET_NOTES = {
    "default": "audio learned at once but missing on 20% of clips; vision always there but slower (the joint model starves vision)",
    "audio-dominant": "same as default",
    "visual-dominant": "the mirror image: vision easy but sometimes missing, audio noisy and slower",
    "balanced": "the control: both easy (the shape's colour gives the class away), so the effect should vanish",
}


@dataclass(frozen=True)
class FormValues:
    """The Experiment page's choices (defaults = ExperimentConfig defaults)."""

    dataset: str = "synthetic"
    root: str | None = None
    preset: str = DEFAULTS.data.preset
    audio_difficulty: float = DEFAULTS.data.synthetic.audio.difficulty
    audio_reliability: float = DEFAULTS.data.synthetic.audio.reliability
    visual_difficulty: float = DEFAULTS.data.synthetic.visual.difficulty
    visual_reliability: float = DEFAULTS.data.synthetic.visual.reliability
    visual_colour_cue: bool = DEFAULTS.data.synthetic.visual_colour_cue
    num_classes: int = DEFAULTS.data.synthetic.num_classes
    samples_per_class: int = DEFAULTS.data.synthetic.samples_per_class
    classes: tuple[str, ...] = ()
    per_class: int | None = None
    fraction: float = 1.0
    methods: tuple[str, ...] = DEFAULTS.methods
    encoder: str = DEFAULTS.model.encoder
    fusion: str = DEFAULTS.model.fusion
    epochs: int = DEFAULTS.train.epochs
    batch_size: int = DEFAULTS.train.batch_size
    lr: float = DEFAULTS.train.lr
    optimizer: str = DEFAULTS.train.optimizer
    alpha: float = DEFAULTS.train.alpha
    ogm_alpha: float = DEFAULTS.train.ogm_alpha
    seed: int = DEFAULTS.seed
    device: str = DEFAULTS.device
    name: str = ""


def preset_values(preset: str) -> dict:
    """Slider values of a synthetic preset, keyed like FormValues."""
    s = PRESETS[preset]
    return {
        "audio_difficulty": s.audio.difficulty, "audio_reliability": s.audio.reliability,
        "visual_difficulty": s.visual.difficulty, "visual_reliability": s.visual.reliability,
        "visual_colour_cue": s.visual_colour_cue,
    }


def build_config(v: FormValues) -> ExperimentConfig:
    """The ExperimentConfig these choices describe (validated later by engine.submit)."""
    if v.dataset == "synthetic":
        base = PRESETS.get(v.preset, PRESETS["default"])
        synthetic = dataclasses.replace(
            base,
            audio=dataclasses.replace(base.audio, difficulty=v.audio_difficulty, reliability=v.audio_reliability),
            visual=dataclasses.replace(base.visual, difficulty=v.visual_difficulty, reliability=v.visual_reliability),
            visual_colour_cue=v.visual_colour_cue,
            num_classes=int(v.num_classes),
            samples_per_class=int(v.samples_per_class),
        )
        data = DataConfig(dataset="synthetic", preset=v.preset, synthetic=synthetic)
    else:
        data = DataConfig(
            dataset=v.dataset, preset=v.preset, root=v.root, classes=tuple(v.classes),
            per_class=int(v.per_class) if v.per_class else None, fraction=float(v.fraction),
        )
    train = dataclasses.replace(
        TrainConfig(), epochs=int(v.epochs), batch_size=int(v.batch_size), lr=float(v.lr),
        optimizer=v.optimizer, alpha=float(v.alpha), ogm_alpha=float(v.ogm_alpha),
    )
    return ExperimentConfig(
        data=data, model=ModelConfig(encoder=v.encoder, fusion=v.fusion), train=train,
        methods=tuple(v.methods), seed=int(v.seed), device=v.device, name=v.name.strip(),
    )


def synthetic_counts(num_classes: int, samples_per_class: int) -> pd.DataFrame:
    """Clips per class and split of the synthetic dataset (every class the same)."""
    split = DEFAULTS.data.synthetic.split
    train = int(round(samples_per_class * split[0]))
    val = int(round(samples_per_class * split[1]))
    rows = [{"class": c, "train": train, "validation": val, "test": samples_per_class - train - val}
            for c in class_names(num_classes)]
    return pd.DataFrame(rows)


# ----- real datasets (dgl_engine.data.registry; may be partly implemented) --------------------
def discover_datasets() -> tuple[list[dict], str | None]:
    """([{dataset, root, label}], problem): real datasets found in the data roots."""
    try:
        from dgl_engine.data import registry

        found = registry.discover()
        return [d for d in found if isinstance(d, dict) and d.get("dataset")], None
    except (ImportError, AttributeError):
        return [], None  # the registry does not offer discovery yet: synthetic only
    except Exception as exc:  # noqa: BLE001 - a broken data root must not break the page
        return [], f"could not look for datasets: {exc}"


def describe_dataset(data: DataConfig, seed: int) -> dict | None:
    """The registry's description (classes, counts per class and split), or None."""
    from dgl_engine.data import registry

    describe = getattr(registry, "describe", None)
    return describe(data, seed) if describe else None


def counts_frame(description: dict) -> pd.DataFrame:
    """Counts per class from ``describe()``: accepts {split: [n per class]}, {split: {class: n}}
    or {class: {split: n}} under "counts"."""
    classes = list(description.get("classes") or [])
    counts = description.get("counts") or {}
    table: dict[str, dict[str, int]] = {c: {} for c in classes}
    for key, value in counts.items():
        if isinstance(value, (list, tuple)):  # split -> per class list
            for c, n in zip(classes, value):
                table.setdefault(c, {})[key] = n
        elif isinstance(value, dict) and key in classes:  # class -> split -> n
            table.setdefault(key, {}).update(value)
        elif isinstance(value, dict):  # split -> class -> n
            for c, n in value.items():
                table.setdefault(c, {})[key] = n
        else:  # class -> n
            table.setdefault(key, {})["clips"] = value
    frame = pd.DataFrame([{"class": c, **splits} for c, splits in table.items()])
    return frame.fillna(0)
