"""What the Experiment form shows and what it turns into, read from the schema (no Streamlit).

Every widget is one schema leaf (``dgl_engine/config.py``): its key (``exp_<flag words>``), its
bounds and its help come from the leaf, and the chosen values become an ExperimentConfig
through the same ``override`` the CLI uses. Method hyperparameters come from each method's own
declaration (``exp_param_<method>_<name>``). ``FORM_SECTIONS`` lists what the form shows; the
test in tests/app/test_forms.py fails when a schema leaf is neither shown nor named in
``NOT_IN_FORM``.
"""

from __future__ import annotations

import base64
import json

import pandas as pd

from dgl_engine.api import (
    REGIMES,
    ExperimentConfig,
    Leaf,
    class_names,
    describe_methods,
    get,
    leaf,
    leaves,
    override,
    protocol_departures,
    protocol_settings,
)

DEFAULTS = ExperimentConfig()
REGIME_NOTES = {
    "default": "audio learned at once but missing on 20% of clips; vision always there but slower (the joint model starves vision)",
    "audio-dominant": "same as default",
    "visual-dominant": "the mirror image: vision easy but sometimes missing, audio noisy and slower",
    "balanced": "the control: both easy (the shape's colour gives the class away), so the effect should vanish",
}

# Which leaves the form shows where (paths). Real-data leaves show only for real datasets;
# `splits` only for CREMA-D and `test_speakers` only for AV-MNIST, which use them.
SYNTHETIC = ("data.regime", "data.synthetic.audio.difficulty", "data.synthetic.audio.reliability",
             "data.synthetic.visual.difficulty", "data.synthetic.visual.reliability",
             "data.synthetic.visual_colour_cue", "data.synthetic.num_classes", "data.synthetic.samples_per_class")
SYNTHETIC_ADVANCED = ("data.synthetic.audio.unreliable", "data.synthetic.visual.unreliable", "data.synthetic.frames",
                      "data.synthetic.split")
REAL = ("data.preprocessing", "data.classes", "data.per_class", "data.fraction", "data.val_fraction")
# The paper protocol is the official CREMA-D recipe: offered on CREMA-D only.
REAL_BY_DATASET = {"cremad": ("protocol", "data.splits"), "avmnist": ("data.test_speakers",)}
TRAINING = ("methods", "model.encoder", "model.fusion", "train.epochs", "train.batch_size", "train.lr",
            "train.optimizer", "seed", "device", "name")
TRAINING_ADVANCED = ("model.linear_init", "train.precision", "train.momentum", "train.weight_decay", "train.grad_clip", "train.lr_decay_epoch",
                     "train.evals_per_epoch", "train.diagnostics_every", "train.precise_bn_samples",
                     "train.official_scores")
FORM_SECTIONS = SYNTHETIC + SYNTHETIC_ADVANCED + REAL + sum(REAL_BY_DATASET.values(), ()) + TRAINING + TRAINING_ADVANCED
# Chosen by the dataset picker rather than typed; protocol_keep is worked out from the widgets.
NOT_IN_FORM = ("data.dataset", "data.root", "protocol_keep")
PROTOCOL_COST = ("The paper protocol trains two ResNet-18s per method for 100 epochs on all 6,698 CREMA-D training "
                 "clips: hours on a CPU, minutes on a GPU. Fewer epochs are allowed, but then the numbers are not the "
                 "paper protocol's.")

# Steps for number widgets where the schema's range alone gives an awkward one.
STEPS = {"train.lr": 0.005, "train.batch_size": 16, "data.synthetic.samples_per_class": 50, "data.per_class": 10,
         "train.weight_decay": 1e-4, "train.grad_clip": 1.0, "data.fraction": 0.05, "train.precise_bn_samples": 64}


def key(path: str) -> str:
    return leaf(path).key


def param_key(method: str, name: str) -> str:
    return f"exp_param_{method}_{name}"


def widget_value(x: Leaf, value):
    """A config value as its widget holds it: lists for multiselects, 0 for "no limit", text for tuples of numbers."""
    if x.kind == "strs":
        return list(value)
    if x.kind == "floats":
        return ", ".join(f"{v:g}" for v in value)
    if x.optional and x.kind == "int":
        return value or 0
    if x.optional and x.kind == "str":
        return value or ""
    return value


def config_value(x: Leaf, value):
    """The inverse of ``widget_value`` (a tuple of numbers is parsed by the schema)."""
    from dgl_engine.api import parse

    if x.kind == "strs":
        return tuple(value)
    if x.kind == "floats":
        return parse(x, str(value))
    if x.optional and x.kind == "int":
        return int(value) or None
    if x.optional and x.kind == "str":
        return str(value).strip() or None
    if x.kind == "int":
        return int(value)
    if x.kind == "float":
        return float(value)
    return value


def defaults() -> dict[str, object]:
    """{widget key: value} of the default experiment, method hyperparameters included."""
    out = {x.key: widget_value(x, get(DEFAULTS, x.path)) for x in leaves() if x.path in FORM_SECTIONS}
    for method, info in describe_methods().items():
        for name, spec in info["params"].items():
            out[param_key(method, name)] = float(spec["default"])
    return out


def regime_values(regime: str) -> dict[str, object]:
    """{widget key: value} of a synthetic regime's settings (moved when the regime changes)."""
    base = override(DEFAULTS, {"data.synthetic": REGIMES[regime]})
    return {x.key: widget_value(x, get(base, x.path)) for x in leaves()
            if x.path.startswith("data.synthetic.") and x.path in FORM_SECTIONS}


def protocol_values(protocol: str) -> dict[str, object]:
    """{widget key: value} of the settings a protocol sets (moved when the protocol changes;
    for lab, back to the lab defaults)."""
    out = {}
    for path, value in protocol_settings(protocol).items():
        if path.startswith("method_params."):
            _, method, name = path.split(".")
            out[param_key(method, name)] = float(value)
        else:
            out[key(path)] = widget_value(leaf(path), value)
    return out


def build_config(values: dict[str, object], dataset: str = "synthetic", root: str | None = None) -> ExperimentConfig:
    """The ExperimentConfig the widget values (keyed as ``defaults``) describe; checked later
    by the engine's ``submit``. Settings of the other kind of data are left at their defaults."""
    synthetic = dataset == "synthetic"
    chosen: dict[str, object] = {"data.dataset": dataset, "data.root": root}
    for x in leaves():
        if x.path not in FORM_SECTIONS or x.key not in values:
            continue
        if x.path.startswith("data.") and (x.path in SYNTHETIC + SYNTHETIC_ADVANCED) != synthetic:
            continue
        if x.path in sum(REAL_BY_DATASET.values(), ()) and x.path not in REAL_BY_DATASET.get(dataset, ()):
            continue
        chosen[x.path] = config_value(x, values[x.key])
    base = DEFAULTS
    if synthetic:
        regime = chosen.get("data.regime", "default")
        base = override(base, {"data.synthetic": REGIMES.get(regime, REGIMES["default"])})
    config = override(base, chosen)
    methods = describe_methods()
    params = {m: {name: float(values[param_key(m, name)]) for name in methods[m]["params"] if param_key(m, name) in values}
              for m in config.methods if m in methods}
    config = override(config, {"method_params": {m: p for m, p in params.items() if p}})
    if config.protocol != "lab":  # the widgets moved away from the protocol's values are the user's choices
        config = override(config, {"protocol_keep": protocol_departures(config)})
    return config


MAX_SHARE_CHARS = 4000  # a shared link's settings: far above what the form holds, far below a URL's limit


def share_token(values: dict[str, object]) -> str:
    """The form's settings that differ from the defaults, as URL-safe text for ``?exp=``."""
    base = defaults()
    changed = {k: v for k, v in values.items() if k in base and v != base[k]}
    raw = json.dumps(changed, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def from_share_token(token: str, dataset: str = "synthetic") -> dict[str, object]:
    """{widget key: value} from a shared link, checked like any input: known keys only, values
    of the defaults' types, and a config the schema accepts. ConfigError (one line) otherwise."""
    from dgl_engine.api import ConfigError, validate

    if not isinstance(token, str) or len(token) > MAX_SHARE_CHARS:
        raise ConfigError("the shared settings are too long to be a link this app made")
    try:
        changed = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise ConfigError("the shared settings could not be read: the link is damaged") from None
    base = defaults()
    if not isinstance(changed, dict):
        raise ConfigError("the shared settings could not be read: the link is damaged")
    for k, v in changed.items():
        if k not in base:
            raise ConfigError(f"the shared settings name {k!r}, which this form does not have")
        want = type(base[k])
        if not (isinstance(v, want) or (want is float and isinstance(v, int) and not isinstance(v, bool))):
            raise ConfigError(f"the shared setting {k} should be {want.__name__}, got {v!r}")
    values = {**base, **{k: (float(v) if type(base[k]) is float else v) for k, v in changed.items()}}
    validate(build_config(values, dataset))  # ConfigError naming the setting
    return values


def synthetic_counts(num_classes: int, samples_per_class: int) -> pd.DataFrame:
    """Clips per class and split of the synthetic dataset (every class the same)."""
    split = DEFAULTS.data.synthetic.split
    train = int(round(samples_per_class * split[0]))
    val = int(round(samples_per_class * split[1]))
    rows = [{"class": c, "train": train, "validation": val, "test": samples_per_class - train - val}
            for c in class_names(num_classes)]
    return pd.DataFrame(rows)


def counts_frame(description: dict) -> pd.DataFrame:
    """Clips per class and split from ``describe()``'s {"classes", "counts": {split: {class: n}}}."""
    classes = list(description.get("classes") or [])
    counts = description.get("counts") or {}
    rows = [{"class": c, **{split: per_class.get(c, 0) for split, per_class in counts.items()}} for c in classes]
    return pd.DataFrame(rows)


def study_from(config: ExperimentConfig, seeds: int, sweep_key: str = "", sweep_values: str = ""):
    """The Study the form's study block asks for (seeds seed, seed + 1, ...; optionally one swept
    setting), or None for a single run. ConfigError naming what is valid."""
    from dgl_engine.api import Study, parse_sweep

    if int(seeds) <= 1 and not sweep_key:
        return None
    sweep = parse_sweep(f"{sweep_key}={sweep_values}", config) if sweep_key else None
    return Study(config, tuple(range(config.seed, config.seed + int(seeds))), sweep)
