"""Checking an ExperimentConfig against the schema and the registries.

    config = resolve(config)        # the protocol's settings and the chosen methods' hyperparameters filled in
    warnings = validate(config)     # ConfigError (one line, what is valid) or risky-but-allowed notes

Ranges, choices and registries come from the schema's field metadata (``config.setting``); the
checks that span several fields follow. Everything that names a registry entry is resolved
through ``REGISTRIES``, so an unknown name always lists the valid ones.
"""

from __future__ import annotations

import dataclasses
import math

from dgl_engine.config import ExperimentConfig
from dgl_engine.errors import ConfigError, unknown
from dgl_engine.schema import Leaf, get, leaves


def registry_names(registry: str) -> tuple[str, ...]:
    """The valid names of a registry the schema refers to."""
    if registry == "method":
        from dgl_engine.methods import METHODS

        return tuple(METHODS)
    if registry == "encoder":
        from dgl_engine.models.encoders import ENCODERS

        return tuple(ENCODERS)
    if registry == "fusion":
        from dgl_engine.models.fusion import FUSIONS

        return tuple(FUSIONS)
    if registry == "dataset":
        from dgl_engine.data.registry import DATASETS

        return ("synthetic", *DATASETS)
    if registry == "regime":
        from dgl_engine.data.synthetic import REGIMES

        return tuple(REGIMES)
    if registry == "preprocessing":
        from dgl_engine.data.preprocess import PREPROCESSING

        return tuple(PREPROCESSING)
    raise KeyError(registry)


# How an unknown name of each registry is introduced ("unknown preprocessing preset 'x'; valid: ...").
REGISTRY_WORDS = {"preprocessing": "preprocessing preset"}


def _unknown(registry: str, value) -> ConfigError:
    return unknown(REGISTRY_WORDS.get(registry, registry), value, registry_names(registry))


def _number_ok(leaf: Leaf, x) -> bool:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    if leaf.kind == "int" and not isinstance(x, int):
        return False
    if not math.isfinite(x):
        return False
    if leaf.min is not None and (x <= leaf.min if leaf.min_open else x < leaf.min):
        return False
    return leaf.max is None or (x < leaf.max if leaf.max_open else x <= leaf.max)


def check_leaf(leaf: Leaf, value) -> None:
    """ConfigError naming the setting (by its CLI flag) if ``value`` is not valid for it."""
    name = f"{leaf.label} ({leaf.flag})"  # read by people in the app and on the CLI
    if value is None:
        if not leaf.optional:
            raise ConfigError(f"{name} must be set")
        return
    if leaf.kind in ("int", "float"):
        if not _number_ok(leaf, value):
            what = "a whole number" if leaf.kind == "int" else "a number"
            raise ConfigError(f"{name} must be {what} in {leaf.range_text()}, got {value!r}")
    elif leaf.kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
    elif leaf.kind in ("strs", "floats"):
        items = value if isinstance(value, (tuple, list)) else None
        if items is None:
            raise ConfigError(f"{name} must be a list, got {value!r}")
        for item in items:
            if leaf.kind == "floats" and not _number_ok(leaf, item):
                raise ConfigError(f"{name}: every value must be a number in {leaf.range_text()}, got {item!r}")
            if leaf.kind == "strs" and not isinstance(item, str):
                raise ConfigError(f"{name}: every entry must be text, got {item!r}")
            if leaf.registry and item not in registry_names(leaf.registry):
                raise _unknown(leaf.registry, item)
    else:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be text, got {value!r}")
        if leaf.max_len is not None and len(value) > leaf.max_len:
            raise ConfigError(f"{name} must be at most {leaf.max_len} characters")
        if leaf.choices and value not in leaf.choices:
            raise unknown(leaf.flag.lstrip("-"), value, leaf.choices)
        if leaf.registry and value not in registry_names(leaf.registry):
            raise _unknown(leaf.registry, value)


def resolve(config: ExperimentConfig) -> ExperimentConfig:
    """The config with its protocol's settings applied (``protocols.apply``) and
    ``method_params`` holding every hyperparameter of each chosen method (defaults filled in)
    and nothing else; ConfigError for unknown names or bad values."""
    from dgl_engine import protocols
    from dgl_engine.methods import method_class, resolve_params

    if not isinstance(config.method_params, dict):
        raise ConfigError("method_params must map method names to {hyperparameter: value}")
    config = protocols.apply(config)
    given = config.method_params
    for name in given:
        method_class(name)  # an unknown method name lists the valid ones
        if name not in config.methods:
            raise ConfigError(f"hyperparameters given for {name}, which is not among the chosen methods "
                              f"({', '.join(config.methods)})")
    params = {m: resolve_params(method_class(m), given.get(m) or {}) for m in config.methods}
    return dataclasses.replace(config, method_params={m: p for m, p in params.items() if p})


def validate(config: ExperimentConfig) -> list[str]:
    """Raise ConfigError for impossible settings; return warnings for risky ones."""
    synthetic = config.data.dataset == "synthetic"
    for leaf in leaves(ExperimentConfig):
        if leaf.path.startswith("data.synthetic.") and not synthetic:
            continue  # settings of data that is not used
        check_leaf(leaf, get(config, leaf.path))
    if not config.methods:
        raise ConfigError("choose at least one method")
    if len(set(config.methods)) != len(config.methods):
        raise ConfigError("each method may appear once")
    config = resolve(config)  # the checks below see the settings the run will use (its protocol's)
    params = config.method_params
    if config.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device cuda asked for, but no CUDA GPU is available; use auto or cpu")

    from dgl_engine import protocols

    warnings: list[str] = protocols.departures(config)
    if config.protocol == "paper":
        n = config.train.epochs
        warnings.append(f"The paper protocol trains two ResNet-18s per method on every training clip (6,698 in CREMA-D), "
                        + ("for 100 epochs: hours on a CPU, minutes on a GPU." if n == 100 else
                           f"here for {n} epoch{'s' if n != 1 else ''} (its 100 take hours on a CPU, minutes on a GPU)."))
    t = config.train
    if t.optimizer == "adam" and "dgl" in config.methods:
        warnings.append("Under Adam, DGL's alpha has no effect: Adam is invariant to the scale of the loss.")
    alpha = params.get("dgl", {}).get("alpha")
    if t.optimizer == "sgd" and alpha is not None and alpha * t.lr > 0.12:
        warnings.append(f"alpha x lr = {alpha * t.lr:.3g} is large: DGL's weaker encoder may collapse "
                        "(alpha 2 with lr 0.03 is safe on the synthetic data).")
    if t.precision == "bf16" and config.device == "cpu":
        warnings.append("bf16 autocast is used on CUDA only; on the CPU the run trains in fp32.")
    if config.model.fusion == "sum" and "ogm-ge" in config.methods:
        warnings.append("OGM-GE's slice split is defined for concat fusion; with sum it uses each branch's term.")
    warnings += _schedule_warnings(config, params)

    d = config.data
    if synthetic:
        s = d.synthetic
        if len(s.split) != 3:
            raise ConfigError("split needs three positive fractions (train, validation, test)")
        if abs(sum(s.split) - 1) > 1e-6:
            raise ConfigError("train/validation/test fractions must add up to 1")
        if int(s.samples_per_class * s.split[0] * d.fraction) < 2:
            raise ConfigError("fewer than 2 training samples per class: raise samples per class")
    elif not d.root:
        raise ConfigError(f"dataset {d.dataset} needs a root folder")
    return warnings


def _schedule_warnings(config: ExperimentConfig, params: dict) -> list[str]:
    """Methods whose schedule the run is too short for (G-Blend's super-epochs, DI-MML's DUC start)."""
    import math

    from dgl_engine.methods import METHODS

    def value(method: str, name: str) -> float:
        return params.get(method, {}).get(name, METHODS[method].params[name].default)

    out, epochs = [], config.train.epochs
    if "gblend" in config.methods and value("gblend", "super_epoch") >= epochs:
        out.append(f"G-Blend re-estimates its weights every {value('gblend', 'super_epoch'):g} epoch(s): in {epochs} they "
                   "stay uniform (1/3 each); lower gblend.super_epoch.")
    if "di-mml" in config.methods and math.ceil(value("di-mml", "contrast_start") * epochs - 1e-9) >= epochs:
        out.append("DI-MML's contrastive (DUC) loss starts after the last epoch here; lower di-mml.contrast_start.")
    return out
