"""One run in its own process: the server never holds a training tensor, and a worker that dies
(SIGKILL, a segfault in native code, the OS's out-of-memory killer) fails only its run.

    handle = WorkerHandle.start(prepared, home, run_id, threads=1, memory_limit=6 * 2**30)
    for event in handle.drain(): ...      # event dicts, in order, as the worker emitted them
    handle.request_stop()                 # cooperative first ...
    handle.terminate()                    # ... then the process is ended
    handle.outcome()                      # how it ended, once it has: ("finished", None, results)

Processes are *spawned*, never forked: a fork of a server holding threads and an imported torch
can deadlock. Events cross a multiprocessing queue in small batches (one put per ~50 ms), so a
worker's speed does not depend on who watches it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
import types
from dataclasses import dataclass

_CTX = mp.get_context("spawn")
BATCH_SECONDS = 0.05
_START_LOCK = threading.Lock()


def _start_without_main(process: mp.Process) -> None:
    """Start a spawned process that does not re-run the parent's ``__main__`` script.

    Spawn runs the parent's main script again in the child (as ``__mp_main__``) when
    ``__main__`` has a ``__file__``. Streamlit installs each page it runs as ``__main__`` and
    leaves it there (in the server and under AppTest), so a worker would run app/main.py or a
    page, engine and all. The target needs nothing from it: hide it while the child is prepared.
    """
    with _START_LOCK:
        main = sys.modules.get("__main__")
        stub = types.ModuleType("__main__")
        sys.modules["__main__"] = stub
        try:
            process.start()
        finally:
            if sys.modules.get("__main__") is stub:  # a page that started meanwhile keeps its own
                sys.modules["__main__"] = main


def _limit_memory(limit: int | None) -> None:
    """Cap the worker's address space so an estimate that was wrong ends this run, not the server."""
    if not limit:
        return
    try:
        import resource

        # Imported torch and thread stacks reserve address space they never touch: allow for it.
        cap = limit + 4 * 2**30
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (ImportError, ValueError, OSError):
        pass  # not on this OS: the estimate alone guards


def _main(prepared, home: str, run_id: str, events, stop, threads: int, memory_limit: int | None, gpu: int | None) -> None:
    """The worker process: train the run, stream its events, report its outcome, exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the server's terminal is the server's
    _limit_memory(memory_limit)
    if gpu is not None:
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", str(gpu))
    import torch

    torch.set_num_threads(max(1, threads))
    from dgl_engine.lifecycle import execute_run
    from dgl_engine.store import RunStore

    batch: list[dict] = []
    last = [time.monotonic()]

    def flush() -> None:
        if batch:
            events.put(("events", list(batch)))
            batch.clear()
        last[0] = time.monotonic()

    def observe(event) -> None:
        batch.append(event.to_dict())
        if event.type not in ("step", "progress") or time.monotonic() - last[0] > BATCH_SECONDS:
            flush()

    outcome = execute_run(prepared, RunStore(home), run_id, [observe], should_stop=stop.is_set)
    flush()
    events.put(("outcome", (outcome.status, outcome.error, outcome.results, outcome.seconds)))
    events.close()
    events.join_thread()  # everything put has reached the pipe before the process exits


def exit_reason(code: int | None) -> str:
    """Why a worker that reported nothing ended, in words."""
    if code is None:
        return "the worker process stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        likely = {"SIGKILL": "likely the out-of-memory killer or an administrator",
                  "SIGSEGV": "a crash in native code (PyAV or torch)",
                  "SIGABRT": "a crash in native code", "SIGBUS": "a crash in native code or a full /dev/shm"}
        return f"the worker process was killed by {name} ({likely.get(name, 'from outside')})"
    return f"the worker process exited with code {code} before it finished (likely out of memory or a crash)"


@dataclass
class WorkerHandle:
    process: mp.Process
    events: object  # mp.Queue of ("events", [dict]) | ("outcome", (status, error, results, seconds))
    stop: object  # mp.Event
    started: float
    stop_requested: float | None = None
    result: tuple | None = None

    @classmethod
    def start(cls, prepared, home, run_id: str, threads: int = 1, memory_limit: int | None = None,
              gpu: int | None = None) -> "WorkerHandle":
        events, stop = _CTX.Queue(), _CTX.Event()
        process = _CTX.Process(target=_main, name=f"dgl-run-{run_id}", daemon=True,
                               args=(prepared, str(home), run_id, events, stop, threads, memory_limit, gpu))
        _start_without_main(process)
        return cls(process, events, stop, time.monotonic())

    def drain(self, limit: int = 200) -> list[dict]:
        """Events that have arrived (at most ``limit`` batches per call, so one chatty worker
        cannot starve the others); records the outcome when it arrives."""
        out: list[dict] = []
        for _ in range(limit):
            try:
                kind, payload = self.events.get_nowait()
            except (queue.Empty, EOFError, OSError):
                break
            if kind == "events":
                out.extend(payload)
            else:
                self.result = payload
        return out

    def request_stop(self) -> None:
        if self.stop_requested is None:
            self.stop_requested = time.monotonic()
            self.stop.set()

    def terminate(self) -> None:
        """End the process now (SIGTERM, then SIGKILL if it does not go within 0.2 s)."""
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(0.2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(0.5)

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def join(self, timeout: float) -> None:
        self.process.join(timeout)

    def exit_reason(self) -> str:
        return exit_reason(self.process.exitcode)

    def close(self) -> None:
        try:
            self.events.close()
            self.events.cancel_join_thread()
        except (OSError, ValueError):
            pass
