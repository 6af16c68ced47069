"""The run store: one folder per run under ``DGL_LAB_HOME`` (default ``./runs``).

    <home>/<run_id>/run.json           config, status, timings, versions, seed, summary
    <home>/<run_id>/metrics.jsonl      append-only events (see events.py)
    <home>/<run_id>/models/<m>.pt      state dict: tensors only, loads with weights_only=True
    <home>/<run_id>/models/<m>.json    sidecar: classes, preprocessing, normalisation, model config

run.json, checkpoints and sidecars are written atomically (``files.atomic_write``). A run whose process died
while it was queued or running is marked ``interrupted`` by ``mark_interrupted``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import shutil
import socket
import time
from pathlib import Path

import torch

from dgl_engine.files import atomic_write, atomic_write_text

STATUSES = ("queued", "running", "finished", "failed", "cancelled", "interrupted")
TERMINAL = ("finished", "failed", "cancelled", "interrupted")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")
_METHOD = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")


class StoreError(ValueError):
    """A run or model that does not exist, or a name that cannot be one."""


def default_home() -> Path:
    return Path(os.environ.get("DGL_LAB_HOME", "runs"))


def versions() -> dict:
    import numpy

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.version.cuda,
    }


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


class RunStore:
    def __init__(self, home: str | os.PathLike | None = None):
        self.home = Path(home) if home is not None else default_home()

    # ----- paths -------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):  # fullmatch: `$` lets 'x\n' through
            raise StoreError(f"not a valid run id: {run_id!r}")
        return self.home / run_id

    def _model_path(self, run_id: str, method: str, suffix: str) -> Path:
        if not isinstance(method, str) or not _METHOD.fullmatch(method):
            raise StoreError(f"not a valid method name: {method!r}")
        return self.run_dir(run_id) / "models" / f"{method}{suffix}"

    def exists(self, run_id: str) -> bool:
        try:
            return (self.run_dir(run_id) / "run.json").is_file()
        except StoreError:
            return False

    # ----- runs --------------------------------------------------------------------------
    def create(self, config: dict, run_id: str | None = None, status: str = "queued", warnings: list[str] = (),
               **fields) -> str:
        for attempt in range(8 if run_id is None else 1):  # new ids are per second: a study makes many at once
            rid = run_id or new_run_id()
            d = self.run_dir(rid)
            try:
                d.mkdir(parents=True, exist_ok=False)
                break
            except FileExistsError:
                if run_id is not None or attempt == 7:
                    raise
        run_id = rid
        record = {
            "run_id": run_id,
            "status": status,
            "config": config,
            "seed": config.get("seed"),
            "created": time.time(),
            "started": None,
            "finished": None,
            "error": None,
            "warnings": list(warnings),
            "versions": versions(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            **fields,
        }
        atomic_write_text(d / "run.json", json.dumps(record, indent=2))
        (d / "metrics.jsonl").touch()
        return run_id

    def read(self, run_id: str) -> dict:
        path = self.run_dir(run_id) / "run.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(f"no run {run_id!r} in {self.home}") from None
        except json.JSONDecodeError as e:
            raise StoreError(f"run {run_id!r}: run.json is damaged ({e})") from None

    def update(self, run_id: str, **fields) -> dict:
        record = self.read(run_id)
        record.update(fields)
        atomic_write_text(self.run_dir(run_id) / "run.json", json.dumps(record, indent=2))
        return record

    def append_events(self, run_id: str, events: list[dict]) -> None:
        if not events:
            return
        with open(self.run_dir(run_id) / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write("".join(json.dumps(e) + "\n" for e in events))
            f.flush()

    def read_events(self, run_id: str) -> list[dict]:
        """All events; a torn last line (a crash mid-write) is skipped."""
        path = self.run_dir(run_id) / "metrics.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def list(self) -> list[dict]:
        """run.json of every run, newest first; damaged folders are skipped."""
        if not self.home.is_dir():
            return []
        records = []
        for d in self.home.iterdir():
            if (d / "run.json").is_file():
                try:
                    records.append(self.read(d.name))
                except StoreError:
                    continue
        return sorted(records, key=lambda r: r.get("created") or 0, reverse=True)

    def delete(self, run_id: str) -> None:
        d = self.run_dir(run_id)
        if not (d / "run.json").is_file():
            raise StoreError(f"no run {run_id!r} in {self.home}")
        shutil.rmtree(d)

    def mark_interrupted(self) -> list[str]:
        """Runs left "running" by a process that is gone -> interrupted (their curves so far are
        kept). Alive is decided by the run's kernel lock (``locks.py``), which its executing
        process holds, never by a PID: after a container restart the new server can have the
        old one's PID. Queued runs are left for the engine to queue again."""
        from dgl_engine.locks import is_held

        marked = []
        for record in self.list():
            run_id = record.get("run_id")
            if record.get("status") != "running" or not isinstance(run_id, str):
                continue
            try:
                if is_held(self.run_dir(run_id) / ".lock"):
                    continue
                self.update(run_id, status="interrupted",
                            error=record.get("error") or "the process running it stopped before it finished")
            except (OSError, StoreError):
                continue
            marked.append(run_id)
        return marked

    # ----- models ------------------------------------------------------------------------
    def save_model(self, run_id: str, method: str, state_dict: dict, sidecar: dict) -> Path:
        path = self._model_path(run_id, method, ".pt")
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
        atomic_write(path, lambda tmp: torch.save(tensors, tmp))
        atomic_write_text(self._model_path(run_id, method, ".json"), json.dumps(sidecar, indent=2))
        return path

    def models(self, run_id: str) -> list[str]:
        d = self.run_dir(run_id) / "models"
        return sorted(p.stem for p in d.glob("*.pt")) if d.is_dir() else []

    def model_path(self, run_id: str, method: str) -> Path:
        return self._model_path(run_id, method, ".pt")

    def load_model(self, run_id: str, method: str) -> tuple[dict, dict]:
        """(state_dict, sidecar). Tensors only: loaded with weights_only=True, never unpickled."""
        pt = self._model_path(run_id, method, ".pt")
        side = self._model_path(run_id, method, ".json")
        if not pt.is_file() or not side.is_file():
            raise StoreError(f"run {run_id!r} has no trained model for method {method!r}")
        state = torch.load(pt, map_location="cpu", weights_only=True)
        return state, json.loads(side.read_text(encoding="utf-8"))
