"""Runs on a Ray cluster, for when one machine is not enough: set DGL_LAB_RAY_ADDRESS (``auto``
or ``host:port``) and the app's engine and the CLI's ``train`` send each run to the cluster as
an actor, with resources from its config (a CPU; a quarter of a GPU when it trains on CUDA, so
several small runs share one GPU).

No shared filesystem is assumed: the actor trains into a temporary run store on its node, its
events stream back through Ray (the server polls them), and at the end run.json's fields, the
models and their sidecars come back into the local run store. Real datasets must sit at the
same path on every node. The engine's code travels with each job (``runtime_env`` py_modules);
each node needs the project's requirements installed. Without the variable nothing imports Ray.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace

ENV = "DGL_LAB_RAY_ADDRESS"
GPU_SHARE = 0.25
POLL_TIMEOUT_S = 10.0
_ACTOR = None


def address() -> str | None:
    return os.environ.get(ENV, "").strip() or None


def connect():
    """Ray, connected to the cluster at DGL_LAB_RAY_ADDRESS (once per process)."""
    import ray

    import dgl_engine

    if not ray.is_initialized():
        ray.init(address=address(), runtime_env={"py_modules": [str(Path(dgl_engine.__file__).parent)]},
                 log_to_driver=False, configure_logging=False)
    return ray


def run_resources(config, cluster: dict) -> dict:
    """What one run asks the cluster for."""
    wants_gpu = config.device == "cuda" or (config.device == "auto" and cluster.get("GPU", 0) > 0)
    return {"num_cpus": 1, "num_gpus": GPU_SHARE if wants_gpu else 0}


class _RunActor:
    """Executes one run on a cluster node; the server polls its events and takes its artifacts."""

    def __init__(self):
        self._events: list[dict] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def run(self, prepared, run_id: str) -> dict:
        import shutil
        import tempfile

        from dgl_engine.lifecycle import create_run, execute_run
        from dgl_engine.store import RunStore

        home = Path(tempfile.mkdtemp(prefix="dgl-ray-"))
        try:
            store = RunStore(home)
            create_run(store, prepared, status="running", run_id=run_id)
            outcome = execute_run(prepared, store, run_id, [self._observe], should_stop=self._stop.is_set)
            record = store.read(run_id)
            models = {m: (store.model_path(run_id, m).read_bytes(),
                          store.model_path(run_id, m).with_suffix(".json").read_text()) for m in store.models(run_id)}
            tb = store.run_dir(run_id) / "traceback.txt"
            return {"outcome": (outcome.status, outcome.error, outcome.results, outcome.seconds),
                    "record": {k: record.get(k) for k in ("started", "finished", "data", "results", "seconds", "status", "error")},
                    "models": models, "traceback": tb.read_text() if tb.exists() else None}
        finally:
            shutil.rmtree(home, ignore_errors=True)

    def _observe(self, event) -> None:
        with self._lock:
            self._events.append(event.to_dict())

    def poll(self) -> list[dict]:
        with self._lock:
            out, self._events = self._events, []
        return out

    def request_stop(self) -> None:
        self._stop.set()


def _actor_class():
    global _ACTOR
    if _ACTOR is None:
        import ray

        _ACTOR = ray.remote(max_concurrency=4)(_RunActor)
    return _ACTOR


class RayHandle:
    """The server's handle on a run executing on the cluster (the same verbs as a worker's)."""

    def __init__(self, ray, actor, ref, store, run_id: str):
        self.ray, self.actor, self.ref, self.store, self.run_id = ray, actor, ref, store, run_id
        self.result: tuple | None = None
        self.stop_requested: float | None = None
        self.error: str | None = None

    @classmethod
    def start(cls, prepared, store, run_id: str) -> "RayHandle":
        ray = connect()
        actor = _actor_class().options(**run_resources(prepared.config, ray.cluster_resources())).remote()
        ref = actor.run.remote(prepared, run_id)
        store.update(run_id, status="running", started=time.time(), ray_address=address())
        return cls(ray, actor, ref, store, run_id)

    def drain(self) -> list[dict]:
        if self.result is not None or self.error is not None:
            return []
        done = bool(self.ray.wait([self.ref], timeout=0)[0])
        try:
            events = self.ray.get(self.actor.poll.remote(), timeout=POLL_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - the actor is gone; the result says why
            events = []
        if events:
            self.store.append_events(self.run_id, events)
        if done:
            self._collect()
        return events

    def _collect(self) -> None:
        """The finished run's artifacts into the local store."""
        try:
            payload = self.ray.get(self.ref)
        except Exception as exc:  # noqa: BLE001 - actor died, node lost, ...
            self.error = f"the Ray task failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            return
        for method, (weights, sidecar) in payload["models"].items():
            path = self.store.model_path(self.run_id, method)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(weights)
            path.with_suffix(".json").write_text(sidecar)
        if payload.get("traceback"):
            (self.store.run_dir(self.run_id) / "traceback.txt").write_text(payload["traceback"])
        self.store.update(self.run_id, **payload["record"])
        self.result = tuple(payload["outcome"])

    @property
    def alive(self) -> bool:
        return self.result is None and self.error is None

    def request_stop(self) -> None:
        if self.stop_requested is None:
            self.stop_requested = time.monotonic()
            self.actor.request_stop.remote()

    def terminate(self) -> None:
        try:
            self.ray.kill(self.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        if self.result is None and self.error is None:
            self.error = "ended on the Ray cluster"

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.alive and time.monotonic() < deadline:
            self.drain()
            time.sleep(0.05)

    def exit_reason(self) -> str:
        return self.error or "the Ray task ended without a result"

    def close(self) -> None:
        if self.result is not None or self.error is not None:
            try:
                self.ray.kill(self.actor, no_restart=True)
            except Exception:  # noqa: BLE001
                pass


def run_on_ray(prepared, store, run_id: str, observers=()):
    """The CLI's path: run on the cluster, feed the events to ``observers``, return the Outcome."""
    from dgl_engine.lifecycle import Outcome

    handle = RayHandle.start(prepared, store, run_id)
    try:
        while handle.alive:
            for d in handle.drain():
                event = SimpleNamespace(**d)
                for observe in observers:
                    observe(event)
            time.sleep(0.05)
    except KeyboardInterrupt:
        handle.request_stop()
        handle.join(5.0)
        if handle.alive:
            handle.terminate()
    if handle.result is not None:
        status, error, results, seconds = handle.result
        return Outcome(run_id, status, error, results, seconds)
    status = "cancelled" if handle.stop_requested else "failed"
    error = "stopped by the user" if handle.stop_requested else handle.exit_reason()
    store.update(run_id, status=status, error=error, finished=time.time())
    return Outcome(run_id, status, error, {}, 0.0)
