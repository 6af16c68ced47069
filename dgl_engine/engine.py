"""The engine: a long-lived object in the server that queues runs fairly and trains each one in
its own worker process, several at once.

    engine = Engine(home="runs")
    run_id = engine.submit(config, owner=token)   # checked first: ConfigError / QueueFull
    snap = engine.snapshot(run_id, since=0)       # immutable, bounded: status, progress, events
    engine.cancel(run_id, owner=token)            # takes effect within a second, in every phase
    engine.runs()                                 # every run, live and stored
    study_id = engine.submit_study(study, owner)  # seeds x swept values, each a normal run
    engine.study(study_id), engine.study_results(study_id)   # status; mean, std, paired CIs

A dispatcher thread starts runs as workers free up and streams their events into snapshots; a
worker that dies fails only its run, with the signal or exit code and its likely cause, and a
store that refuses a write fails only that run. Runs belong to the owner that submitted them:
only that owner (or ``admin=True``) may stop or delete one. On start, running runs whose worker
is gone (known by a kernel lock, not a PID) are marked interrupted and queued ones are queued
again. The engine never touches any UI.
"""

from __future__ import annotations

import secrets
import threading
import time

from dgl_engine.config import ExperimentConfig, experiment_from_dict
from dgl_engine.errors import ConfigError
from dgl_engine.fair_queue import FairQueue, QueueFull
from dgl_engine.lifecycle import Prepared, create_run, prepare
from dgl_engine.live_run import LiveRun, RunSnapshot
from dgl_engine.locks import FileLock
from dgl_engine.store import TERMINAL, RunStore, StoreError
from dgl_engine.study import Study, StudyStore, run_ids, study_status, summarise

STOP_GRACE_S = 0.5  # cooperative stop first; then the worker process is ended
TICK_S = 0.02


class NotYours(StoreError):
    """Only the session that started a run (or an admin) may stop or delete it."""


class Engine:
    def __init__(self, home=None, start: bool = True, workers: int | None = None):
        from dgl_engine import resources

        self.store = RunStore(home)
        self.store.home.mkdir(parents=True, exist_ok=True)
        self.study_store = StudyStore(self.store.home)
        self.instance = secrets.token_hex(8)
        # The sole engine on this home may take over queued runs another engine left behind.
        self._home_lock = FileLock(self.store.home / ".engine.lock")
        self.sole = self._home_lock.acquire()
        self.interrupted = self.store.mark_interrupted()
        self.workers = workers or resources.workers()
        self.threads = resources.threads_per_worker(self.workers)
        self.memory_limit = resources.worker_memory_budget()
        self._lock = threading.Lock()
        self._live: dict[str, LiveRun] = {}
        self._loaded: dict[str, tuple[dict, ...]] = {}  # events of finished stored runs
        self._queue = FairQueue()
        self._running: dict[str, object] = {}  # run_id -> worker.WorkerHandle
        self._closing = False
        self.requeued = self._requeue_stored() if self.sole else []
        self._thread = threading.Thread(target=self._dispatch, name="dgl-engine", daemon=True)
        if start:
            self._thread.start()

    # ----- public API --------------------------------------------------------------------
    def submit(self, config: ExperimentConfig, owner: str = "local") -> str:
        """Check and queue an experiment; its run id. ConfigError (QueueFull) if refused."""
        prepared = prepare(config, self.store.home)  # a wrong setting, path or size is refused before anything is written
        with self._lock:
            self._queue.check(owner)
        run_id = create_run(self.store, prepared, owner=owner, engine=self.instance)
        self._enqueue(run_id, prepared, owner)
        return run_id

    def _enqueue(self, run_id: str, prepared: Prepared, owner: str, study: str = "") -> None:
        from dgl_engine.resources import estimate_seconds

        state = LiveRun(run_id, prepared, owner, warnings=list(prepared.warnings),
                        estimate_s=estimate_seconds(prepared.config, home=self.store.home), study=study)
        with self._lock:
            self._live[run_id] = state
            self._queue.push(owner, run_id, bulk=bool(study))

    # ----- studies: seeds x swept values, each a normal run ---------------------------------
    def submit_study(self, study: Study, owner: str = "local") -> str:
        """Check every run of a study, record it and queue its runs (they take the owner's
        turns, beside its single runs); its id. ConfigError before anything is written."""
        points = study.points()
        prepared = [prepare(p.config, self.store.home) for p in points]
        with self._lock:
            self._queue.check_bulk(len(prepared))
        study_id = self.study_store.new_id()
        ids = [create_run(self.store, p, owner=owner, engine=self.instance, study=study_id) for p in prepared]
        self.study_store.create(study_id, study, owner, ids)
        for run_id, p in zip(ids, prepared):
            self._enqueue(run_id, p, owner, study_id)
        return study_id

    def _status_of(self, run_id: str) -> str:
        with self._lock:
            state = self._live.get(run_id)
            if state is not None:
                return state.status
        try:
            return str(self.store.read(run_id).get("status") or "interrupted")
        except StoreError:
            return "deleted"

    def study(self, study_id: str) -> dict:
        """The study's record with its live status and each run's (``run_status``)."""
        record = self.study_store.read(study_id)
        record["run_status"] = {rid: self._status_of(rid) for rid in run_ids(record)}
        record["status"] = study_status(record, record["run_status"].get)
        return record

    def studies(self) -> list[dict]:
        """Every study, newest first, with its live status."""
        return [self.study(r["study_id"]) for r in self.study_store.list() if r.get("study_id")]

    def study_results(self, study_id: str) -> dict:
        """{"summary", "paired"} over the study's finished runs (``study.summarise``)."""
        record = self.study_store.read(study_id)
        runs = {rid: self.store.read(rid) for rid in run_ids(record) if self.store.exists(rid)}
        return summarise(record, runs)

    def cancel_study(self, study_id: str, owner: str | None = None, admin: bool = False) -> int:
        """Stop every queued or running run of a study; how many were stopped."""
        return sum(self.cancel(rid, owner, admin) for rid in run_ids(self.study_store.read(study_id)))

    def _refresh_study(self, study_id: str) -> None:
        try:
            record = self.study_store.read(study_id)
            status = study_status(record, self._status_of)
            if status != record.get("status"):
                self.study_store.update(study_id, status=status)
        except (OSError, StoreError, ValueError):
            pass

    def rerun(self, run_id: str, owner: str = "local") -> str:
        """The same config again, as a new run (e.g. an interrupted one, from Results)."""
        record = self.store.read(run_id)
        return self.submit(experiment_from_dict(record.get("config") or {}), owner=owner)

    def owner_of(self, run_id: str) -> str:
        with self._lock:
            state = self._live.get(run_id)
        if state is not None:
            return state.owner
        return str(self.store.read(run_id).get("owner") or "")

    def _check_owner(self, run_id: str, owner: str | None, admin: bool, what: str) -> None:
        if owner is None or admin:
            return
        run_owner = self.owner_of(run_id)
        if run_owner and run_owner != owner:
            raise NotYours(f"only the session that started run {run_id} can {what} it")

    def cancel(self, run_id: str, owner: str | None = None, admin: bool = False) -> bool:
        """Stop a queued or running run; False if it is not live. NotYours if not the owner's."""
        self._check_owner(run_id, owner, admin, "stop")
        with self._lock:
            state = self._live.get(run_id)
            if state is None or state.status not in ("queued", "running"):
                return False
            state.cancel_requested = True
            handle = self._running.get(run_id)
            if handle is not None:
                handle.request_stop()
                return True
            self._queue.remove(run_id)
            state.status, state.phase, state.error = "cancelled", "cancelled", "stopped before it started"
        self._record(run_id, status="cancelled", error="stopped before it started", finished=time.time())
        if state.study:
            self._refresh_study(state.study)
        return True

    def snapshot(self, run_id: str, since: int = 0) -> RunSnapshot:
        """Immutable view of a run; raises StoreError if there is no such run."""
        with self._lock:
            state = self._live.get(run_id)
            if state is not None:
                position = self._queue.position(run_id)
                return state.snapshot(since, position, self._start_in(run_id) if position else None)
        return self._stored_snapshot(run_id, since)

    def runs(self) -> list[dict]:
        """Every run (stored and live), newest first: run.json plus live status."""
        records = self.store.list()
        with self._lock:
            for r in records:
                state = self._live.get(r.get("run_id"))
                if state is not None:
                    r["status"] = state.status
                    r["progress"] = state.step / state.total_steps if state.total_steps else 0.0
        return records

    def delete(self, run_id: str, owner: str | None = None, admin: bool = False) -> None:
        self._check_owner(run_id, owner, admin, "delete")
        with self._lock:
            state = self._live.get(run_id)
            if state is not None and state.status in ("queued", "running"):
                raise StoreError("stop (cancel) the run before deleting it")
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
        """Stop every worker (cooperatively, then by force) and the dispatcher."""
        with self._lock:
            self._closing = True
            handles = dict(self._running)
        for handle in handles.values():
            handle.request_stop()
        deadline = time.monotonic() + timeout
        for handle in handles.values():
            handle.join(max(0.0, deadline - time.monotonic()))
            handle.terminate()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._home_lock.release()

    # ----- the dispatcher ----------------------------------------------------------------
    def _dispatch(self) -> None:
        while True:
            with self._lock:
                closing = self._closing
            try:
                for run_id in list(self._running):
                    self._service(run_id)
                if not closing:
                    self._start_waiting()
            except Exception:  # noqa: BLE001 - the dispatcher outlives any one run's trouble
                pass
            if closing and not self._running:
                return
            time.sleep(TICK_S)

    def _start_waiting(self) -> None:
        while True:
            with self._lock:
                if len(self._running) >= self.workers:
                    return
                run_id = self._queue.pop()
                if run_id is None:
                    return
                state = self._live[run_id]
                state.status, state.phase = "running", "starting"
                slot = len(self._running)
            try:
                handle = self._launch(state.prepared, run_id, slot)
            except Exception as exc:  # noqa: BLE001 - e.g. no more processes: fail this run only
                self._finish(run_id, "failed", f"could not start a worker process: {exc}")
                continue
            with self._lock:
                self._running[run_id] = handle

    def _launch(self, prepared: Prepared, run_id: str, slot: int):
        """A handle on the run's execution: a local worker process, or a Ray task when
        DGL_LAB_RAY_ADDRESS names a cluster (both: drain, request_stop, terminate, join)."""
        from dgl_engine import ray_runner

        if ray_runner.address():
            return ray_runner.RayHandle.start(prepared, self.store, run_id)
        from dgl_engine.worker import WorkerHandle

        return WorkerHandle.start(prepared, self.store.home, run_id, self.threads, self.memory_limit, gpu=self._gpu(slot))

    def _gpu(self, slot: int) -> int | None:
        import torch

        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return slot % n if n else None

    def _service(self, run_id: str) -> None:
        """Bring a running run's events in; end it when its worker has reported or died."""
        handle = self._running[run_id]
        events = handle.drain()
        with self._lock:
            state = self._live[run_id]
            for d in events:
                state.apply(d)
        if handle.result is not None:
            status, error, results, seconds = handle.result
            handle.join(1.0)
            self._finish(run_id, status, error, results, record=False)  # the worker wrote run.json
            with self._lock:
                self._live[run_id].elapsed_s = seconds  # one duration everywhere: the whole run's
        elif not handle.alive:
            events = handle.drain()  # what it sent before it went
            with self._lock:
                for d in events:
                    state.apply(d)
            if handle.result is not None:
                self._service(run_id)
                return
            if state.cancel_requested:
                self._finish(run_id, "cancelled", "stopped by the user", record=True)
            else:
                self._finish(run_id, "failed", handle.exit_reason(), record=True)
        elif handle.stop_requested is not None and time.monotonic() - handle.stop_requested > STOP_GRACE_S:
            handle.terminate()  # did not stop in time (e.g. inside data generation): end it

    def _finish(self, run_id: str, status: str, error: str | None, results: dict | None = None, record: bool = True) -> None:
        handle = self._running.pop(run_id, None)
        if handle is not None:
            handle.close()
        if record and status != "finished":  # a worker that reported has written run.json itself
            self._record(run_id, status=status, error=error, finished=time.time())
        with self._lock:
            state = self._live[run_id]
            state.status, state.phase, state.error = status, status, error
            if results:
                state.results.update(results)
        if state.study:
            self._refresh_study(state.study)

    def _record(self, run_id: str, **fields) -> None:
        """Into run.json, if the store allows; a refusing store never stops the dispatcher."""
        try:
            self.store.update(run_id, **fields)
        except (OSError, StoreError, ValueError):
            pass

    def _start_in(self, run_id: str) -> float:
        """About how long until a queued run starts: the work ahead of it, shared by the workers."""
        order = self._queue.order()
        ahead = order[: order.index(run_id)] if run_id in order else []
        running = sorted(self._live[r].remaining_s() for r in self._running if r in self._live)
        if len(running) < self.workers and not ahead:
            return 0.0
        work = sum(running) + sum(self._live[r].estimate_s for r in ahead if r in self._live)
        return work / self.workers

    # ----- runs left by an earlier engine ------------------------------------------------
    def _requeue_stored(self) -> list[str]:
        """Queue again the runs an engine that is gone left queued (a restart loses nothing)."""
        from dgl_engine.resources import estimate_seconds

        requeued = []
        for record in sorted(self.store.list(), key=lambda r: r.get("created") or 0):
            if record.get("status") != "queued" or not record.get("run_id"):
                continue
            run_id, owner = record["run_id"], str(record.get("owner") or "local")
            try:
                prepared = prepare(experiment_from_dict(record.get("config") or {}), self.store.home)
            except (ConfigError, TypeError, ValueError) as exc:
                self._record(run_id, status="failed", error=f"could not queue it again after a restart: {exc}")
                continue
            study = str(record.get("study") or "")
            state = LiveRun(run_id, prepared, owner, warnings=list(record.get("warnings") or ()),
                            created=record.get("created") or time.time(),
                            estimate_s=estimate_seconds(prepared.config, home=self.store.home),
                            study=study)
            try:
                self._queue.push(owner, run_id, bulk=bool(study))
            except QueueFull:
                self._record(run_id, status="interrupted", error="the queue was full when the server restarted")
                continue
            self._live[run_id] = state
            self._record(run_id, engine=self.instance)
            requeued.append(run_id)
        return requeued

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
            len(events), record.get("created") or 0.0, owner=str(record.get("owner") or ""),
        )


__all__ = ["Engine", "RunSnapshot", "ConfigError", "QueueFull", "NotYours"]
