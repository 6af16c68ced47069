"""Protocols: settings taken together from one source, applied where the config is resolved.

    config = apply(config)        # validate.resolve calls it: the CLI, the app and the store
                                  # all see the resolved settings
    departures(config)            # warnings for the settings a run keeps against its protocol

- ``lab``: this project's own defaults (the schema's): CPU-sized, a validation split carved
  from the training actors, BatchNorm statistics re-estimated before every evaluation, and the
  final epoch reported on every test clip. Nothing to apply.
- ``paper``: every setting of the official DGL code for CREMA-D (shicaiwei123/ICCV2025-GDL,
  ``cramed_dgl.sh`` -> ``main_dgl.py``), each with the file and line it comes from (``PAPER``).

Who wins. A setting the protocol sets takes the protocol's value unless the user chose it:
it is named in ``protocol_keep`` (the CLI puts there every protocol setting given as a flag,
the Experiment form every widget moved away from the protocol's value), or, in a config built
in code, it differs from the lab default. A chosen value wins; where it differs from the
protocol's it is a *departure*: the resolved config lists it in ``protocol_keep`` (so the run
record says so, and resolving again changes nothing) and ``departures`` warns that the run's
numbers are not the protocol's. Nothing is refused except a dataset the protocol has no
official recipe for.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dgl_engine.config import ExperimentConfig
from dgl_engine.errors import ConfigError, unknown
from dgl_engine.schema import get, leaf, override

ABSENT = object()


@dataclass(frozen=True)
class Setting:
    path: str  # a schema path, or method_params.<method>.<name>
    value: object
    source: str  # where the official code sets it


REPO = "shicaiwei123/ICCV2025-GDL"
PAPER = (
    Setting("data.preprocessing", "paper-exact", "dataset/CramedDataset.py:60-66 (audio), 76-101 (frames)"),
    Setting("data.val_fraction", 0.0, "main_dgl.py:275, dataset/CramedDataset.py:40-52 (every train.csv row trains)"),
    Setting("model.encoder", "resnet18", "main_dgl.py:237, models/basic_model.py:43-44"),
    Setting("model.fusion", "concat", "main_dgl.py:31 (default), models/fusion_modules.py ConcatFusion_DGL"),
    Setting("model.linear_init", "xavier-normal", "main_dgl.py:238, utils/utils.py weight_init (xavier_normal_)"),
    Setting("train.optimizer", "sgd", "main_dgl.py:43, 248-249"),
    Setting("train.lr", 0.002, "cramed_dgl.sh (--learning_rate 0.002)"),
    Setting("train.momentum", 0.9, "main_dgl.py:249"),
    Setting("train.weight_decay", 1e-4, "main_dgl.py:249"),
    Setting("train.batch_size", 64, "main_dgl.py:40, 284-288"),
    Setting("train.grad_clip", 40.0, "main_dgl.py:129"),
    Setting("train.epochs", 100, "main_dgl.py:41"),
    Setting("train.lr_decay_epoch", 69, "main_dgl.py:45-46, 250 (MultiStepLR([70], 0.1)), 73-74 (stepped before each epoch)"),
    Setting("train.precise_bn_samples", 0, "main_dgl.py:186 (model.eval(): the running statistics)"),
    Setting("train.evals_per_epoch", 1, "main_dgl.py:342 (valid() on the test loader after every epoch)"),
    Setting("train.official_scores", True, "main_dgl.py:287-288 (drop_last test loader), 349-350 (best epoch)"),
    Setting("train.precision", "fp32", "main_dgl.py:100 (no autocast)"),
    Setting("method_params.dgl.alpha", 4.0, "cramed_dgl.sh (--alpha 4: 77.48; --alpha 5: 78.12)"),
)
PROTOCOLS: dict[str, tuple[Setting, ...]] = {"lab": (), "paper": PAPER}
DATASETS = {"paper": ("cremad",)}  # the datasets each protocol has an official recipe for


def settings(protocol: str) -> tuple[Setting, ...]:
    if protocol not in PROTOCOLS:
        raise unknown("protocol", protocol, PROTOCOLS)
    return PROTOCOLS[protocol]


def read(config: ExperimentConfig, path: str):
    """The config's value at a protocol path (ABSENT: a method hyperparameter not given)."""
    if path.startswith("method_params."):
        _, method, name = path.split(".")
        return (config.method_params.get(method) or {}).get(name, ABSENT)
    return get(config, path)


def lab_default(path: str):
    """What the lab protocol (the schema, the method's declaration) gives at ``path``."""
    if path.startswith("method_params."):
        from dgl_engine.methods import method_class

        _, method, name = path.split(".")
        return method_class(method).params[name].default
    return leaf(path).default


def _write(config: ExperimentConfig, values: dict[str, object]) -> ExperimentConfig:
    params = {m: dict(p) for m, p in config.method_params.items()}
    plain = {}
    for path, value in values.items():
        if path.startswith("method_params."):
            _, method, name = path.split(".")
            params.setdefault(method, {})[name] = value
        else:
            plain[path] = value
    return override(config, {**plain, "method_params": params})


def _applies(config: ExperimentConfig, s: Setting) -> bool:
    """Method hyperparameters apply only to methods the run trains."""
    return not s.path.startswith("method_params.") or s.path.split(".")[1] in config.methods


def apply(config: ExperimentConfig) -> ExperimentConfig:
    """The config with its protocol's settings filled in (see the module docstring for who
    wins); ``protocol_keep`` becomes exactly its departures. Idempotent."""
    table = settings(config.protocol)
    keep = tuple(config.protocol_keep)
    if not table:
        if keep:
            raise ConfigError(f"--protocol-keep ({', '.join(keep)}) names settings a protocol sets; "
                              f"the {config.protocol} protocol sets none")
        return config
    allowed = DATASETS.get(config.protocol, ())
    if config.data.dataset not in allowed:
        raise ConfigError(f"the {config.protocol} protocol reproduces the official CREMA-D script (cramed_dgl.sh) and "
                          f"runs on {', '.join(allowed)} only, not {config.data.dataset}; use --protocol lab "
                          "(with --preprocessing paper for the official features)")
    known = [s.path for s in table]
    for path in keep:
        if path not in known:
            raise unknown("protocol setting", path, known)
    chosen = {}
    for s in table:
        if not _applies(config, s):
            continue
        current = read(config, s.path)
        mine = s.path in keep or (current is not ABSENT and current != lab_default(s.path))
        chosen[s.path] = current if mine and current is not ABSENT else s.value
    config = _write(config, chosen)
    return dataclasses.replace(config, protocol_keep=tuple(s.path for s in table
                                                           if _applies(config, s) and read(config, s.path) != s.value))


def departures(config: ExperimentConfig) -> list[str]:
    """One warning per setting a resolved config keeps against its protocol."""
    by_path = {s.path: s for s in PROTOCOLS.get(config.protocol, ())}
    out = []
    for path in config.protocol_keep:
        s = by_path.get(path)
        if s is not None:
            out.append(f"{path} is {read(config, path)!r} where the {config.protocol} protocol uses {s.value!r} "
                       f"({REPO} {s.source}): these are not the {config.protocol} protocol's numbers")
    return out


def with_given(config: ExperimentConfig, values: dict[str, object]) -> ExperimentConfig:
    """``config`` with the protocol settings a command line gave added to ``protocol_keep``:
    ``values`` {schema path: value} of its flags; its ``method_params`` are the ones given."""
    given = []
    for s in PROTOCOLS.get(config.protocol, ()):
        if s.path.startswith("method_params."):
            if read(config, s.path) is not ABSENT:
                given.append(s.path)
        elif s.path in values:
            given.append(s.path)
    return dataclasses.replace(config, protocol_keep=tuple(dict.fromkeys((*config.protocol_keep, *given))))


def values(protocol: str) -> dict[str, object]:
    """{path: value} a protocol sets; for ``lab``, the lab defaults of every path another
    protocol sets (what the Experiment form moves its widgets to when the protocol changes)."""
    if protocol == "lab":
        paths = dict.fromkeys(s.path for table in PROTOCOLS.values() for s in table)
        return {p: lab_default(p) for p in paths}
    return {s.path: s.value for s in settings(protocol)}


def differing(config: ExperimentConfig) -> tuple[str, ...]:
    """The protocol settings whose value in ``config`` differs from the protocol's (the form's
    ``protocol_keep``: widgets the user moved after choosing the protocol)."""
    return tuple(s.path for s in PROTOCOLS.get(config.protocol, ())
                 if _applies(config, s) and read(config, s.path) not in (ABSENT, s.value))
