"""Time estimates scale with this machine: measured / estimated seconds of the store's recent
finished synthetic CPU runs (estimated at 10 s or more), their median, clamped; other runs do
not count."""

from __future__ import annotations

import dataclasses

import pytest

from dgl_engine import resources
from dgl_engine.config import DataConfig, ExperimentConfig
from dgl_engine.lifecycle import run
from dgl_engine.resources import CALIBRATION_MIN_S, CALIBRATION_RANGE, estimate_seconds, speed_factor
from dgl_engine.store import RunStore
from tests.conftest import small_config


@pytest.fixture(autouse=True)
def _no_cached_factors(monkeypatch):
    monkeypatch.setattr(resources, "_calibrations", {})


def fresh_factor(home) -> float:
    """speed_factor as the next read after its cache expires (prepare() has just read it)."""
    resources._calibrations.clear()
    return speed_factor(home)


def test_without_runs_or_with_only_short_ones_the_estimate_is_the_measured_step_costs(tmp_path):
    config = small_config(methods=("joint",), samples_per_class=20, epochs=1)
    assert speed_factor(tmp_path) == 1.0 and speed_factor(tmp_path / "missing") == 1.0
    assert estimate_seconds(config, home=tmp_path) == estimate_seconds(config)
    # A real short run takes many times its estimate (data and probes are fixed costs): ignored.
    assert estimate_seconds(config) < CALIBRATION_MIN_S
    run(config, RunStore(tmp_path))
    assert fresh_factor(tmp_path) == 1.0


def test_the_median_of_recent_runs_scales_the_estimate_and_only_synthetic_cpu_runs_count(tmp_path):
    store = RunStore(tmp_path)
    short = small_config(methods=("joint",), samples_per_class=20, epochs=1)
    ids = [run(dataclasses.replace(short, seed=s), store).run_id for s in range(6)]
    # Recorded as what the default experiment took on three machines (its estimate is over 10 s).
    default = ExperimentConfig()
    base = estimate_seconds(default)
    assert base >= CALIBRATION_MIN_S
    as_default = default.to_dict()  # as run records store a config
    for run_id, ratio in zip(ids[:3], (1.5, 2.0, 3.0)):
        store.update(run_id, seconds=base * ratio, config=as_default)
    assert fresh_factor(tmp_path) == pytest.approx(2.0)
    bigger = dataclasses.replace(default, train=dataclasses.replace(default.train, epochs=12))
    assert estimate_seconds(bigger, home=tmp_path) == pytest.approx(estimate_seconds(bigger) * 2.0)
    # A run on a GPU, one on a real dataset and a failed one are left out, whatever they took.
    gpu, real, failed = ids[3:]
    store.update(gpu, seconds=base * 0.01, config={**as_default, "device": "cuda"})
    store.update(real, seconds=base * 100,
                 config={**as_default, "data": dataclasses.asdict(DataConfig(dataset="avmnist", root="x"))})
    store.update(failed, seconds=base * 100, config=as_default, status="failed")
    assert fresh_factor(tmp_path) == pytest.approx(2.0)
    # An absurd ratio says more about the runs than the machine: clamped.
    for run_id in ids[:3]:
        store.update(run_id, seconds=base * 1000)
    assert fresh_factor(tmp_path) == CALIBRATION_RANGE[1]



def test_a_method_that_needs_two_backward_passes_is_estimated_dearer():
    joint = small_config(methods=("joint",), samples_per_class=200, epochs=4)
    mmpareto = dataclasses.replace(joint, methods=("mmpareto",))
    both = dataclasses.replace(joint, methods=("joint", "mmpareto"))
    assert estimate_seconds(mmpareto) > 1.5 * estimate_seconds(joint)  # bench_methods: 1.67-1.68x
    assert estimate_seconds(both) == pytest.approx(estimate_seconds(joint) + estimate_seconds(mmpareto))


@pytest.mark.parametrize("fields", [
    {"config": [1, 2]}, {"config": "x"}, {"config": {"train": {"epochs": "many"}}}, {"config": {"methods": 5}},
    {"config": {"data": {"synthetic": []}}}, {"config": {"data": {"synthetic": {"samples_per_class": 10**12}}}},
    {"seconds": float("nan")}, {"seconds": float("inf")}, {"seconds": True}, {"seconds": "87"}, {"versions": ["cuda"]},
])
def test_a_malformed_record_is_left_out_and_the_estimate_still_comes(tmp_path, fields):
    """run.json is a file anyone with the folder can edit: a bad one never fails an estimate."""
    store = RunStore(tmp_path)
    config = small_config(methods=("joint",), samples_per_class=20, epochs=1)
    run_id = run(config, store).run_id
    store.update(run_id, **{"seconds": estimate_seconds(ExperimentConfig()) * 2, "config": ExperimentConfig().to_dict(),
                            **fields})
    assert fresh_factor(tmp_path) == 1.0
    assert estimate_seconds(ExperimentConfig(), home=tmp_path) == estimate_seconds(ExperimentConfig())
