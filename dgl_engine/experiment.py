"""Run one experiment end to end: load the data, train in lockstep, save models and metrics.

The engine (worker thread) and the CLI (main thread) both call ``run_experiment``; progress
goes to observers, everything durable goes to the run store.
"""

from __future__ import annotations

import time
from typing import Callable

from dgl_engine.config import ExperimentConfig
from dgl_engine.data.dataset import AVData
from dgl_engine.events import Event, Observer, PhaseEvent
from dgl_engine.store import RunStore
from dgl_engine.trainer import Cancelled, TrainResult, train_experiment


def load_data(config: ExperimentConfig, store_home=None, progress: Callable[[int, int], None] | None = None) -> AVData:
    """The experiment's dataset subset as features."""
    d = config.data
    if d.dataset == "synthetic":
        from dgl_engine.data.synthetic import load_synthetic

        return load_synthetic(d.synthetic, config.seed)
    from dgl_engine.data.registry import load_real

    return load_real(d, seed=config.seed, home=store_home, progress=progress)


def data_progress(observe: Observer, should_stop: Callable[[], bool], every_s: float = 2.0) -> Callable[[int, int], None]:
    """Feature caching progress as 'data' phase events (at most one per `every_s`, and the
    last); raises Cancelled when the run is stopped while its clips are being decoded."""
    last = [-every_s]

    def progress(done: int, total: int) -> None:
        if should_stop():
            raise Cancelled()
        now = time.monotonic()
        if done == total or now - last[0] >= every_s:
            last[0] = now
            observe(PhaseEvent("data", f"caching features: {done}/{total} clips", done, total))

    return progress


class StoreWriter:
    """Observer that appends events to metrics.jsonl in small batches."""

    def __init__(self, store: RunStore, run_id: str, every: int = 64):
        self.store, self.run_id, self.every = store, run_id, every
        self.buffer: list[dict] = []

    def __call__(self, event: Event) -> None:
        self.buffer.append(event.to_dict())
        if len(self.buffer) >= self.every or event.type not in ("step", "progress"):
            self.flush()

    def flush(self) -> None:
        self.store.append_events(self.run_id, self.buffer)
        self.buffer = []


def model_sidecar(config: ExperimentConfig, data: AVData, method: str, metrics: dict) -> dict:
    """What a checkpoint is and how its inputs were made (enough to predict on new media)."""
    from dgl_engine.methods import METHODS

    return {
        "method": method,
        "modalities": list(METHODS[method].modalities),
        "classes": list(data.classes),
        "model": {"encoder": config.model.encoder, "fusion": config.model.fusion, "num_classes": data.num_classes},
        "audio_features": data.audio_spec.to_dict(),
        "visual_features": data.visual_spec.to_dict(),
        "normalization": data.normalization.to_dict(),
        "dataset": config.data.dataset,
        "data_config": config.to_dict()["data"],
        "seed": config.seed,
        "test_metrics": metrics,
    }


def run_experiment(
    config: ExperimentConfig,
    store: RunStore,
    run_id: str,
    observers: list[Observer] = (),
    should_stop: Callable[[], bool] = lambda: False,
) -> TrainResult:
    """Train and save; raises Cancelled/Diverged/other errors for the caller to record."""
    writer = StoreWriter(store, run_id)
    sinks = [writer, *observers]

    def observe(event: Event) -> None:
        for sink in sinks:
            sink(event)

    try:
        observe(PhaseEvent("data", f"loading {config.data.dataset} data"))
        data = load_data(config, store_home=store.home, progress=data_progress(observe, should_stop))
        store.update(run_id, data=data.summary())
        result = train_experiment(config, data, observe, should_stop)
        observe(PhaseEvent("save", "saving models"))
        for name, model in result.models.items():
            store.save_model(run_id, name, model.state_dict(), model_sidecar(config, data, name, result.test[name]))
        store.update(run_id, results=result.test, seconds=round(result.seconds, 2), finished=time.time())
        return result
    finally:
        writer.flush()
