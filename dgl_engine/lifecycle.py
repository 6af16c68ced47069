"""The one run lifecycle: check and record a run, load its data, train, save, record the outcome.

    prepared = prepare(config)                          # ConfigError before anything is written
    run_id = create_run(store, prepared)                # run.json (queued), metrics.jsonl
    outcome = execute_run(prepared, store, run_id, observers, should_stop)

The engine calls ``prepare``/``create_run`` when a run is submitted and ``execute_run`` when it
starts; the CLI and the test fixtures call ``run`` (all three at once). ``execute_run`` never
raises for a failing run: it records the status and a readable reason in run.json (durable
before it returns) and returns them. A real dataset's catalog is scanned once, in ``prepare``.
"""

from __future__ import annotations

import dataclasses
import errno
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dgl_engine.config import ExperimentConfig
from dgl_engine.data.dataset import AVData
from dgl_engine.events import Event, Observer, PhaseEvent
from dgl_engine.locks import run_lock
from dgl_engine.store import RunStore, StoreError
from dgl_engine.trainer import Cancelled, Diverged, TrainResult, train_experiment
from dgl_engine.validate import resolve, validate


@dataclass(frozen=True)
class Prepared:
    """A checked config (method hyperparameters filled in), its warnings and, for real data,
    the catalog of the chosen subset (scanned once, reused when the run loads its data)."""

    config: ExperimentConfig
    warnings: tuple[str, ...] = ()
    catalog: object | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Outcome:
    run_id: str
    status: str  # finished | failed | cancelled
    error: str | None
    results: dict  # method -> test metrics (finished runs)
    seconds: float


def default_name(config: ExperimentConfig) -> str:
    """A readable name from the dataset and the methods: "joint vs dgl on synthetic (default)"."""
    d = config.data
    where = f"synthetic ({d.regime})" if d.dataset == "synthetic" else f"{d.dataset} ({Path(d.root or '?').name})"
    methods = " vs ".join(config.methods) if len(config.methods) <= 3 else f"{len(config.methods)} methods"
    return f"{methods} on {where}"[:80]


def prepare(config: ExperimentConfig, home=None) -> Prepared:
    """Everything that can be refused before a run exists: schema ranges, names, the data root.
    ``home``: the run store whose recent runs calibrate the time estimate (``speed_factor``)."""
    warnings = validate(config)
    config = resolve(config)
    if not config.name.strip():
        config = dataclasses.replace(config, name=default_name(config))
    from dgl_engine.resources import check_budget, estimate_seconds

    catalog = None
    if config.data.dataset != "synthetic":
        from dgl_engine.data.registry import check_root

        catalog = check_root(config.data, config.seed)
    clips = len(catalog.samples) if catalog is not None else None
    check_budget(config, clips)  # a run that cannot fit one worker's memory never starts
    minutes = estimate_seconds(config, clips, home) / 60
    if minutes > 10:
        warnings.append(f"this run should take about {minutes:.0f} minutes on a CPU like this "
                        f"{'machine' if home is not None else 'project'}'s (much less on a GPU)")
    return Prepared(config, tuple(warnings), catalog)


def create_run(store: RunStore, prepared: Prepared, status: str = "queued", **fields) -> str:
    """run.json for a prepared run (``fields``: e.g. its owner), and an empty metrics.jsonl."""
    return store.create(prepared.config.to_dict(), status=status, warnings=list(prepared.warnings), **fields)


def _disk_full(exc: BaseException) -> BaseException | None:
    """The ENOSPC error behind `exc`, if any (torch.save wraps it in a RuntimeError)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC or "No space left on device" in str(exc):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def describe_error(exc: BaseException) -> str:
    """One readable line for a failed run."""
    import torch

    if isinstance(exc, Diverged):
        return str(exc)
    full = _disk_full(exc)
    if full is not None:
        where = f" writing {Path(full.filename).name}" if getattr(full, "filename", None) else ""
        return f"disk full: no space left on the device{where}; free some space and run it again"
    if isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)) or "out of memory" in str(exc).lower():
        return "out of memory: lower the batch size, the number of samples or use the tiny encoder"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_data(config: ExperimentConfig, store_home=None, progress: Callable[[int, int], None] | None = None,
              catalog=None) -> AVData:
    """The experiment's dataset subset as features."""
    d = config.data
    if d.dataset == "synthetic":
        from dgl_engine.data.synthetic import load_synthetic

        return load_synthetic(d.synthetic, config.seed)
    from dgl_engine.data.registry import load_real

    return load_real(d, seed=config.seed, home=store_home, progress=progress, catalog=catalog)


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
        "method_params": dict(config.method_params.get(method) or {}),  # a method's predict may read them (DI-MML)
        "audio_features": data.audio_spec.to_dict(),
        "visual_features": data.visual_spec.to_dict(),
        "normalization": data.normalization.to_dict(),
        "dataset": config.data.dataset,
        "data_config": config.to_dict()["data"],
        "seed": config.seed,
        "test_metrics": metrics,
    }


def _train_and_save(prepared: Prepared, store: RunStore, run_id: str, observe: Observer,
                    should_stop: Callable[[], bool]) -> TrainResult:
    config = prepared.config
    observe(PhaseEvent("data", f"loading {config.data.dataset} data"))
    data = load_data(config, store.home, data_progress(observe, should_stop), prepared.catalog)
    store.update(run_id, data=data.summary())
    result = train_experiment(config, data, observe, should_stop)
    observe(PhaseEvent("save", "calibrating out-of-distribution checks, saving models"))
    from dgl_engine import ood
    from dgl_engine.trainer import resolve_device

    for name, model in result.models.items():
        if should_stop():
            raise Cancelled()
        sidecar = model_sidecar(config, data, name, result.test[name])
        sidecar["ood"] = ood.calibrate(model, data, result.methods[name].modalities, resolve_device(config.device))
        store.save_model(run_id, name, model.state_dict(), sidecar)
    return result


def _record(store: RunStore, run_id: str, **fields) -> None:
    """The outcome into run.json; one retry (a transient error must not leave it 'running').
    On a full disk the atomic write has no room for its temporary copy: then run.json is
    rewritten in place with the status and the reason only (results stay in the events)."""
    for attempt in (0, 1):
        try:
            store.update(run_id, **fields)
            return
        except (OSError, StoreError) as exc:
            if attempt:
                if isinstance(exc, OSError) and _disk_full(exc) is not None:
                    try:
                        store.overwrite_in_place(run_id, **{k: fields[k] for k in ("status", "error", "finished") if k in fields})
                    except (OSError, StoreError):
                        pass
                return  # the folder is gone or the disk refuses: the caller still has the outcome
            time.sleep(0.1)


def execute_run(prepared: Prepared, store: RunStore, run_id: str, observers: Sequence[Observer] = (),
                should_stop: Callable[[], bool] = lambda: False) -> Outcome:
    """Train a created run to its end and record how it ended; never raises for a failing run."""
    writer = StoreWriter(store, run_id)
    sinks = [writer, *observers]

    def observe(event: Event) -> None:
        for sink in sinks:
            sink(event)

    t0 = time.time()
    status, error, results = "finished", None, {}
    lock = None
    try:
        lock = run_lock(store.run_dir(run_id))  # held while this process runs it: how restarts know
        lock.acquire()
        store.update(run_id, status="running", started=t0)
        result = _train_and_save(prepared, store, run_id, observe, should_stop)
        results = result.test
    except (Cancelled, KeyboardInterrupt):
        status, error = "cancelled", "stopped by the user"
    except BaseException as exc:  # noqa: BLE001 - a failing run is recorded, never propagated
        status, error = "failed", describe_error(exc)
        try:
            (store.run_dir(run_id) / "traceback.txt").write_text(traceback.format_exc())
        except OSError:
            pass
    finally:
        try:
            writer.flush()
        except OSError:
            pass
    seconds = round(time.time() - t0, 2)
    _record(store, run_id, status=status, error=error, results=results, seconds=seconds, finished=time.time())
    if lock is not None:
        lock.release()
    return Outcome(run_id, status, error, results, seconds)


def run(config: ExperimentConfig, store: RunStore, observers: Sequence[Observer] = (),
        should_stop: Callable[[], bool] = lambda: False) -> Outcome:
    """Check, create and execute a run in this thread (the CLI, scripts, test fixtures)."""
    prepared = prepare(config, store.home)
    run_id = create_run(store, prepared, status="running")
    return execute_run(prepared, store, run_id, observers, should_stop)
