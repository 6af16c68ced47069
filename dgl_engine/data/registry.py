"""Real datasets, in a small registry, and the data roots users may load from.

Interface used by the engine, the CLI and the app (the loaders fill ``DATASETS``):

- ``data_roots() -> list[Path]``: folders named by ``DGL_LAB_DATA`` (os.pathsep-separated).
- ``resolve_root(path) -> Path``: a typed path, refused (ConfigError) unless it exists and lies
  inside a data root.
- ``discover() -> list[dict]``: datasets found in the data roots, each
  ``{"dataset": name, "root": str, "label": str}``.
- ``check_root(DataConfig)``: refuse an unknown dataset or an unusable root before anything is
  written.
- ``describe(DataConfig, seed) -> dict``: classes, counts per class and split, skipped files and a
  few sample file paths per class for previews, without decoding features.
- ``load_real(DataConfig, seed, home, progress) -> AVData``: features through the shared media
  and feature code, cached on disk under the run home.
"""

from __future__ import annotations

import os
from pathlib import Path

from dgl_engine.config import ConfigError, DataConfig

DATASETS: dict[str, object] = {}


def data_roots() -> list[Path]:
    raw = os.environ.get("DGL_LAB_DATA", "")
    return [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]


def check_root(data: DataConfig) -> None:
    """Refuse a dataset or root that cannot be used, before anything is written."""
    if data.dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {data.dataset!r}; valid: synthetic" + "".join(f", {n}" for n in DATASETS))


def load_real(data: DataConfig, seed: int, home=None, progress=None):
    check_root(data)
    raise ConfigError(f"dataset {data.dataset!r} cannot be loaded")
