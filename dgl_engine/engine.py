"""The engine: a long-lived object owning a worker thread and a queue of experiments.

    engine = Engine(home="runs")
    run_id = engine.submit(config)            # validated first; ConfigError if impossible
    snap = engine.snapshot(run_id, since=0)   # immutable: status, progress, events so far
    engine.cancel(run_id)                     # stops within a second
    engine.runs()                             # every run, live and stored

The worker never touches any UI; the app polls snapshots. A run that raises, diverges or runs
out of memory is marked failed with a readable reason; the engine and the other runs carry on.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

from dgl_engine.config import ExperimentConfig
from dgl_engine.errors import ConfigError
from dgl_engine.events import Event
from dgl_engine.lifecycle import Prepared, create_run, execute_run, prepare
from dgl_engine.store import TERMINAL, RunStore, StoreError


@dataclass(frozen=True)
class RunSnapshot:
    """What a page needs to draw a run, frozen at one instant."""

    run_id: str
    status: str  # queued | running | finished | failed | cancelled | interrupted
    config: dict
    phase: str
    step: int
    total_steps: int
    epoch: float
    elapsed_s: float
    eta_s: float | None
    error: str | None
    warnings: tuple[str, ...]
    results: dict  # method -> test metrics (once finished)
    events: tuple[dict, ...]  # events[since:]
    next_offset: int  # pass as ``since`` to get only newer events
    created: float
    queue_position: int | None = None
    phase_message: str = ""  # e.g. "caching features: 120/744 clips"
    phase_done: int = 0
    phase_total: int = 0

    @property
    def progress(self) -> float:
        if self.status == "finished":
            return 1.0
        if not self.total_steps and self.phase_total:  # before training: e.g. feature caching
            return self.phase_done / self.phase_total
        return self.step / self.total_steps if self.total_steps else 0.0

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


@dataclass
class _RunState:
    run_id: str
    prepared: Prepared
    status: str = "queued"
    phase: str = "queued"
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    elapsed_s: float = 0.0
    eta_s: float | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    results: dict = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    cancel_requested: bool = False
    phase_message: str = ""
    phase_done: int = 0
    phase_total: int = 0


class Engine:
    def __init__(self, home=None, start: bool = True):
        self.store = RunStore(home)
        self.store.home.mkdir(parents=True, exist_ok=True)
        self.interrupted = self.store.mark_interrupted()
        self._lock = threading.Lock()
        self._live: dict[str, _RunState] = {}
        self._loaded: dict[str, tuple[dict, ...]] = {}  # events of finished stored runs
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._order: list[str] = []  # queued run ids, oldest first
        self._thread = threading.Thread(target=self._work, name="dgl-engine", daemon=True)
        if start:
            self._thread.start()

    # ----- public API --------------------------------------------------------------------
    def submit(self, config: ExperimentConfig) -> str:
        """Validate and queue an experiment; returns its run id. Raises ConfigError."""
        prepared = prepare(config)  # a wrong setting or path is refused before anything is written
        run_id = create_run(self.store, prepared)
        state = _RunState(run_id, prepared, warnings=list(prepared.warnings))
        with self._lock:
            self._live[run_id] = state
            self._order.append(run_id)
        self._queue.put(run_id)
        return run_id

    def cancel(self, run_id: str) -> bool:
        """Ask a queued or running run to stop; False if it is not live."""
        with self._lock:
            state = self._live.get(run_id)
            if state is None or state.status not in ("queued", "running"):
                return False
            state.cancel_requested = True
            if state.status == "queued":
                state.status, state.phase = "cancelled", "cancelled"
                if run_id in self._order:
                    self._order.remove(run_id)
        if state.status == "cancelled":
            self.store.update(run_id, status="cancelled", finished=time.time())
        return True

    def snapshot(self, run_id: str, since: int = 0) -> RunSnapshot:
        """Immutable view of a run; raises StoreError if there is no such run."""
        with self._lock:
            state = self._live.get(run_id)
            if state is not None:
                position = self._order.index(run_id) + 1 if run_id in self._order else None
                return RunSnapshot(
                    run_id, state.status, state.prepared.config.to_dict(), state.phase, state.step,
                    state.total_steps, state.epoch, state.elapsed_s, state.eta_s, state.error,
                    tuple(state.warnings), dict(state.results), tuple(state.events[since:]),
                    len(state.events), state.created, position,
                    state.phase_message, state.phase_done, state.phase_total,
                )
        return self._stored_snapshot(run_id, since)

    def runs(self) -> list[dict]:
        """Every run (stored and live), newest first: run.json plus live status."""
        records = self.store.list()
        with self._lock:
            for r in records:
                state = self._live.get(r["run_id"])
                if state is not None:
                    r["status"] = state.status
                    r["progress"] = state.step / state.total_steps if state.total_steps else 0.0
        return records

    def delete(self, run_id: str) -> None:
        with self._lock:
            state = self._live.get(run_id)
            if state is not None and state.status in ("queued", "running"):
                raise StoreError("cancel the run before deleting it")
            self._live.pop(run_id, None)
            self._loaded.pop(run_id, None)
        self.store.delete(run_id)

    def wait(self, run_id: str, timeout: float | None = None) -> RunSnapshot:
        """Block until the run ends (tests, scripts)."""
        deadline = None if timeout is None else time.time() + timeout
        while True:
            snap = self.snapshot(run_id, since=10**9)
            if snap.done or (deadline is not None and time.time() > deadline):
                return snap
            time.sleep(0.05)

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._lock:
            for state in self._live.values():
                if state.status in ("queued", "running"):
                    state.cancel_requested = True
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    # ----- worker ------------------------------------------------------------------------
    def _stored_snapshot(self, run_id: str, since: int) -> RunSnapshot:
        record = self.store.read(run_id)
        events = self._loaded.get(run_id)
        if events is None:
            events = tuple(self.store.read_events(run_id))
            if record.get("status") in TERMINAL:
                self._loaded[run_id] = events
        last = next((e for e in reversed(events) if e.get("type") == "progress"), {})
        return RunSnapshot(
            run_id, record.get("status", "interrupted"), record.get("config", {}), record.get("status", ""),
            last.get("step", 0), last.get("total_steps", 0), last.get("epoch", 0.0),
            float(record.get("seconds") or last.get("elapsed_s", 0.0)), None, record.get("error"),
            tuple(record.get("warnings") or ()), dict(record.get("results") or {}), events[since:],
            len(events), record.get("created") or 0.0,
        )

    def _observe(self, state: _RunState, event: Event) -> None:
        d = event.to_dict()
        with self._lock:
            state.events.append(d)
            if d["type"] == "progress":
                state.step, state.total_steps, state.epoch = d["step"], d["total_steps"], d["epoch"]
                state.elapsed_s, state.eta_s = d["elapsed_s"], d["eta_s"]
            elif d["type"] == "phase":
                state.phase, state.phase_message = d["phase"], d.get("message", "")
                state.phase_done, state.phase_total = d.get("done", 0), d.get("total", 0)
            elif d["type"] == "test":
                state.results[d["method"]] = d["metrics"]

    def _work(self) -> None:
        while True:
            run_id = self._queue.get()
            if run_id is None:
                return
            with self._lock:
                state = self._live.get(run_id)
                if state is None or state.status != "queued":
                    continue
                self._order.remove(run_id)
                state.status, state.phase = "running", "starting"
            # The outcome is durable in run.json before any snapshot says the run is over.
            outcome = execute_run(
                state.prepared, self.store, run_id,
                observers=[lambda e, s=state: self._observe(s, e)],
                should_stop=lambda s=state: s.cancel_requested,
            )
            with self._lock:
                state.status, state.error = outcome.status, outcome.error
                state.phase = outcome.status


__all__ = ["Engine", "RunSnapshot", "ConfigError"]
