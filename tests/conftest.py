"""Fixtures shared by every test layer: small *real* training runs in a temporary store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dgl_engine.config import ExperimentConfig, SyntheticSettings, TrainConfig
from dgl_engine.data.synthetic import REGIMES

SHARED_DATA = next(
    (p for p in (Path(__file__).resolve().parents[1] / "shared" / "data", Path(__file__).resolve().parents[2] / "shared" / "data") if p.is_dir()),
    Path(__file__).resolve().parents[2] / "shared" / "data",
)


def wait_for(predicate, timeout: float = 120.0) -> bool:
    """Poll ``predicate`` every 20 ms until it holds (True) or ``timeout`` passes (False)."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def small_config(methods=("audio-only", "visual-only", "joint", "dgl"), samples_per_class=60, epochs=2, seed=0, **train) -> ExperimentConfig:
    """A few-second experiment on a small synthetic dataset."""
    synthetic = dataclasses.replace(REGIMES["default"], samples_per_class=samples_per_class)
    base = ExperimentConfig()
    return dataclasses.replace(
        base,
        data=dataclasses.replace(base.data, synthetic=synthetic),
        train=dataclasses.replace(TrainConfig(), epochs=epochs, batch_size=32, precise_bn_samples=128, **train),
        methods=tuple(methods),
        seed=seed,
        device="cpu",
    )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample data not found at {SHARED_DATA} (see ../shared/data/README.md)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """(home, run_id): a finished 4-method run on a small synthetic dataset, stored on disk."""
    from dgl_engine.lifecycle import run
    from dgl_engine.store import RunStore

    home = tmp_path_factory.mktemp("runs")
    outcome = run(small_config(), RunStore(home))
    assert outcome.status == "finished", outcome.error
    return home, outcome.run_id
