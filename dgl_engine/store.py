"""The run store: one folder per run under ``DGL_LAB_HOME`` (default ``./runs``).

    <home>/<run_id>/run.json           config, status, timings, versions, seed, summary
    <home>/<run_id>/metrics.jsonl      append-only events (see events.py)
    <home>/<run_id>/models/<m>.pt      state dict: tensors only, loads with weights_only=True
    <home>/<run_id>/models/<m>.json    sidecar: classes, preprocessing, normalisation, model config

run.json, checkpoints and sidecars are written atomically (``files.atomic_write``). A run whose process died
while it was queued or running is marked ``interrupted`` by ``mark_interrupted``. A run folder
whose run.json cannot be trusted (not JSON, not an object, a time stamp that is not a number,
a run id that names another folder ...) is listed with status ``damaged`` and the reason in
``error``; ``read`` refuses it with that reason, and nothing is ever written over it.
"""

from __future__ import annotations

import errno
import json
import math
import os
import platform
import re
import secrets
import shutil
import socket
import time
from pathlib import Path

import torch

from dgl_engine import limits
from dgl_engine.files import atomic_write, atomic_write_text

STATUSES = ("queued", "running", "finished", "failed", "cancelled", "interrupted", "damaged")
TERMINAL = ("finished", "failed", "cancelled", "interrupted", "damaged")
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
    """'20260101-120000-3f9a0c1b2d4e': readable time, then enough random bits that a burst of
    submits in one second does not collide (``create`` also claims the folder exclusively)."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(limits.RUN_ID_RANDOM_BITS // 8)


_KIND_WORDS = {dict: "an object", list: "a list", str: "text", int: "a whole number"}
_METRICS = ("acc", "acc_audio", "acc_visual", "probe_audio", "probe_visual", "macro_f1", "loss", "imbalance_ratio")


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def record_problem(folder: str, record) -> str | None:
    """Why a run.json cannot be used as a run record (None: it can): the fields the store, the
    CLI and the app read must have their types, and it must name its own folder."""
    if not isinstance(record, dict):
        return f"run.json is not an object (it is a {type(record).__name__})"
    if record.get("run_id") != folder:
        return f"run.json names run {str(record.get('run_id'))[:40]!r}, but its folder is {folder!r}"
    if record.get("status") not in STATUSES:
        return f"unknown status {str(record.get('status'))[:40]!r}"
    for key in ("created", "started", "finished", "seconds"):
        if record.get(key) is not None and not _number(record[key]):
            return f"{key} is {str(record[key])[:40]!r}, not a number"
    if record.get("created") is None:
        return "created is missing"
    config = record.get("config") if isinstance(record.get("config"), dict) else {}  # a wrong type is named below
    for key, value, kind in (("config", record.get("config"), dict), ("results", record.get("results"), dict),
                             ("data", record.get("data"), dict), ("warnings", record.get("warnings"), list),
                             ("error", record.get("error"), str), ("host", record.get("host"), str),
                             ("pid", record.get("pid"), int), ("config.data", config.get("data"), dict),
                             ("config.train", config.get("train"), dict), ("config.model", config.get("model"), dict),
                             ("config.methods", config.get("methods"), list)):
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            return f"{key} is {str(value)[:40]!r}, not {_KIND_WORDS[kind]}"
    if not all(isinstance(m, str) for m in config.get("methods") or ()):
        return "config.methods is not a list of names"
    for method, metrics in (record.get("results") or {}).items():
        if not isinstance(metrics, dict) or not all(v is None or _number(v) for k, v in metrics.items() if k in _METRICS):
            return f"results of {str(method)[:40]!r} are not numbers"
    return None


def _damaged(d: Path, why: str) -> dict:
    """The listing entry of a run folder whose run.json cannot be used."""
    try:
        created = (d / "run.json").stat().st_mtime
    except OSError:
        created = 0.0
    return {"run_id": d.name, "status": "damaged", "error": why, "created": created, "config": {},
            "results": {}, "warnings": [], "damaged": True}


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
        """A new run folder with its run.json (queued) and an empty metrics.jsonl. A generated
        id claims its folder with an exclusive mkdir, and draws again if another process got
        there first; if run.json cannot be written (a full disk), the folder is removed, so a
        failed submit leaves nothing behind."""
        given = run_id is not None
        for _ in range(10):
            run_id = run_id if given else new_run_id()
            d = self.run_dir(run_id)
            d.parent.mkdir(parents=True, exist_ok=True)
            try:
                d.mkdir()
                break
            except FileExistsError:
                if given:
                    raise
        else:
            raise StoreError(f"could not find a free run id in {self.home}")
        try:
            self._write_new(d, run_id, config, status, warnings, fields)
        except BaseException:
            shutil.rmtree(d, ignore_errors=True)
            raise
        return run_id

    def _write_new(self, d: Path, run_id: str, config: dict, status: str, warnings, fields: dict) -> None:
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

    def read(self, run_id: str) -> dict:
        """The run's record; StoreError for an unknown run, and for a damaged one (saying why)."""
        path = self.run_dir(run_id) / "run.json"
        try:
            if path.stat().st_size > limits.MAX_RECORD_BYTES:
                raise StoreError(f"run {run_id!r} is damaged: run.json is over {limits.MAX_RECORD_BYTES // 2**20} MB")
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(f"no run {run_id!r} in {self.home}") from None
        except (ValueError, RecursionError) as e:  # JSONDecodeError, bad UTF-8, absurd nesting
            raise StoreError(f"run {run_id!r} is damaged: run.json is not valid JSON ({' '.join(str(e).split())[:120]})") from None
        problem = record_problem(run_id, record)
        if problem is not None:
            raise StoreError(f"run {run_id!r} is damaged: {problem}")
        return record

    def update(self, run_id: str, **fields) -> dict:
        record = self.read(run_id)  # a damaged record is refused, never written over
        record.update(fields)
        atomic_write_text(self.run_dir(run_id) / "run.json", json.dumps(record, indent=2))
        return record

    def overwrite_in_place(self, run_id: str, **fields) -> None:
        """``update`` for a full disk only: run.json rewritten in its own blocks (compact JSON,
        no temporary copy). Not atomic: a crash mid-write leaves a damaged run.json, which is
        listed as damaged rather than as a run stuck 'running'."""
        record = self.read(run_id)
        record.update(fields)
        with open(self.run_dir(run_id) / "run.json", "r+", encoding="utf-8") as f:
            f.write(json.dumps(record, separators=(",", ":")))
            f.truncate()

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
        """run.json of every run, newest first. A folder whose run.json cannot be used is
        listed as ``{"run_id", "status": "damaged", "error": why, "created": its mtime, "config": {}}``,
        so the other runs, the CLI and the app carry on beside it."""
        if not self.home.is_dir():
            return []
        records = []
        for d in self.home.iterdir():
            if not _RUN_ID.fullmatch(d.name) or not (d / "run.json").is_file():
                continue  # .cache/, stray files: not runs
            try:
                records.append(self.read(d.name))
            except StoreError as exc:
                records.append(_damaged(d, str(exc)))
        return sorted(records, key=lambda r: r["created"], reverse=True)

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

        def save(tmp: Path) -> None:
            try:
                torch.save(tensors, tmp)
            except RuntimeError as exc:  # torch says "file write failed", without the errno
                if shutil.disk_usage(tmp.parent).free < 2**20:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from exc
                raise
        atomic_write(path, save)
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
        for path, limit in ((pt, limits.MAX_CHECKPOINT_BYTES), (side, limits.MAX_SIDECAR_BYTES)):
            if path.stat().st_size > limit:
                raise StoreError(f"run {run_id!r}: {path.name} is over the {limit // 2**20} MB limit")
        state = torch.load(pt, map_location="cpu", weights_only=True)
        try:
            sidecar = json.loads(side.read_text(encoding="utf-8"))
        except (ValueError, RecursionError) as e:
            raise StoreError(f"run {run_id!r}: {side.name} is not valid JSON ({' '.join(str(e).split())[:120]})") from None
        return state, sidecar
