"""Real datasets, in a small registry: ``DATASETS[name]`` -> a loader module.

Each loader lists a dataset's clips and labels; ``load_real`` turns them into an ``AVData``
through the shared media and feature code (with an on-disk feature cache).
"""

from __future__ import annotations

from dgl_engine.config import ConfigError, DataConfig

DATASETS: dict[str, object] = {}


def check_root(data: DataConfig) -> None:
    """Refuse a dataset or root that cannot be used, before anything is written."""
    if data.dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {data.dataset!r}; valid: synthetic" + "".join(f", {n}" for n in DATASETS))


def load_real(data: DataConfig, seed: int, home=None, progress=None):
    check_root(data)
    raise ConfigError(f"dataset {data.dataset!r} cannot be loaded")
