"""The run store: run.json round trip, append-only events, tensor-only checkpoints, safe names,
interrupted runs, delete."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from dgl_engine.engine import Engine
from dgl_engine.store import RunStore, StoreError


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "home")


CONFIG = {"seed": 3, "methods": ["joint", "dgl"], "train": {"epochs": 2}}


def test_create_update_read_round_trip(store):
    run_id = store.create(CONFIG)
    record = store.read(run_id)
    assert record["run_id"] == run_id
    assert record["status"] == "queued"
    assert record["config"] == CONFIG and record["seed"] == 3
    assert record["versions"]["torch"] == torch.__version__
    assert record["pid"] == os.getpid()

    updated = store.update(run_id, status="finished", results={"dgl": {"acc": 0.5}}, seconds=1.5)
    assert updated == store.read(run_id)
    again = store.read(run_id)
    assert again["status"] == "finished" and again["results"] == {"dgl": {"acc": 0.5}} and again["seconds"] == 1.5
    assert again["config"] == CONFIG  # untouched fields survive an update
    assert json.loads((store.home / run_id / "run.json").read_text())["status"] == "finished"
    assert not [p for p in (store.home / run_id).iterdir() if p.name.endswith(".tmp")]  # atomic writes leave no temp files

    other = store.create(CONFIG)
    assert other != run_id
    assert {r["run_id"] for r in store.list()} == {run_id, other}
    assert store.exists(run_id) and not store.exists("nope")
    with pytest.raises(StoreError):
        store.read("nope")


def test_events_append_in_order_and_a_torn_last_line_is_skipped(store):
    run_id = store.create(CONFIG)
    assert store.read_events(run_id) == []
    first = [{"type": "step", "step": 1}, {"type": "step", "step": 2}]
    store.append_events(run_id, first)
    store.append_events(run_id, [{"type": "eval", "step": 2, "metrics": {"acc": 0.25}}])
    assert store.read_events(run_id) == first + [{"type": "eval", "step": 2, "metrics": {"acc": 0.25}}]

    with open(store.home / run_id / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write('{"type": "step", "st')  # a crash mid-write
    events = store.read_events(run_id)
    assert len(events) == 3
    assert events[-1]["type"] == "eval"


def test_model_round_trip_loads_tensors_only(store, tmp_path):
    run_id = store.create(CONFIG)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(), torch.nn.LazyLinear(3))
    model(torch.randn(2, 1, 8, 8))
    sidecar = {"method": "dgl", "classes": ["a", "b", "c"], "model": {"encoder": "tiny"}}
    path = store.save_model(run_id, "dgl", model.state_dict(), sidecar)
    assert path.is_file()
    assert store.models(run_id) == ["dgl"]

    state, side = store.load_model(run_id, "dgl")
    assert side == sidecar
    expected = model.state_dict()
    assert state.keys() == expected.keys()
    for k in expected:
        assert torch.equal(state[k], expected[k]), k
    # Plain torch can read it with weights_only=True too (what other tools will do).
    assert torch.load(path, weights_only=True).keys() == expected.keys()

    with pytest.raises(StoreError):
        store.load_model(run_id, "joint")  # no such model


class _Payload:
    """Unpickling this runs code (creates a file): what weights_only=True must refuse."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_model_refuses_a_pickled_object(store, tmp_path):
    run_id = store.create(CONFIG)
    store.save_model(run_id, "joint", {"w": torch.zeros(2)}, {"method": "joint"})
    marker = tmp_path / "pwned"
    torch.save({"w": torch.zeros(2), "evil": _Payload(str(marker))}, store.model_path(run_id, "joint"))
    with pytest.raises(Exception) as err:
        store.load_model(run_id, "joint")
    assert not isinstance(err.value, AssertionError)
    assert not marker.exists(), "load_model unpickled an arbitrary object"


@pytest.mark.parametrize("bad", ["../x", "..", "a/b", "", "/etc", "x\\y", "a b", "runs/../../x", "abc\n"])
def test_invalid_run_ids_raise_store_error(store, bad):
    for call in (store.read, store.delete, store.run_dir, lambda r: store.update(r, status="x"), lambda r: store.append_events(r, [{}])):
        with pytest.raises(StoreError):
            call(bad)
    if bad:  # an empty id means "make one up"
        with pytest.raises(StoreError):
            store.create(CONFIG, run_id=bad)
    assert not store.exists(bad)
    assert not store.home.exists() or not any(store.home.iterdir())


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", "", "Joint", "x.pt", "dgl\n"])
def test_invalid_method_names_raise_store_error(store, bad):
    run_id = store.create(CONFIG)
    with pytest.raises(StoreError):
        store.save_model(run_id, bad, {"w": torch.zeros(1)}, {})
    with pytest.raises(StoreError):
        store.load_model(run_id, bad)
    assert not (store.home / run_id / "models").exists()
    assert not (store.home / "x.pt").exists() and not (store.home.parent / "x.pt").exists()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_mark_interrupted_uses_the_run_lock_not_the_pid(store):
    """A running run is alive while some process holds its lock, whatever PIDs say (after a
    container restart the new server can have the dead one's PID)."""
    from dgl_engine.locks import run_lock

    dead_running = store.create(CONFIG, status="running")
    queued = store.create(CONFIG)
    alive = store.create(CONFIG, status="running")
    finished = store.create(CONFIG, status="running")
    store.update(dead_running, pid=os.getpid())  # our own PID: a PID check would call it alive
    store.update(finished, status="finished")
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'w'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
                               str(store.run_dir(alive) / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert store.mark_interrupted() == [dead_running]
        assert store.read(dead_running)["status"] == "interrupted" and store.read(dead_running)["error"]
        assert store.read(queued)["status"] == "queued"  # left for the engine to queue again
        assert store.read(alive)["status"] == "running"
        assert store.read(finished)["status"] == "finished"
        assert store.mark_interrupted() == []  # idempotent
    finally:
        holder.kill()
        holder.wait()
    assert store.mark_interrupted() == [alive]  # its holder died: the kernel dropped the lock
    with run_lock(store.run_dir(queued)):
        pass


def test_a_new_engine_marks_runs_of_a_dead_process_interrupted(store):
    from dgl_engine.locks import run_lock

    orphan = store.create(CONFIG, status="running")
    store.update(orphan, pid=_dead_pid())
    live = store.create(CONFIG, status="running")
    lock = run_lock(store.run_dir(live))
    assert lock.acquire()  # this process runs it
    engine = Engine(home=store.home, start=False)
    assert engine.interrupted == [orphan]
    assert engine.snapshot(orphan).status == "interrupted"
    assert engine.snapshot(live).status == "running"


def test_delete_removes_the_run_folder(store):
    run_id = store.create(CONFIG)
    store.save_model(run_id, "dgl", {"w": torch.ones(2)}, {})
    keep = store.create(CONFIG)
    store.delete(run_id)
    assert not (store.home / run_id).exists()
    assert [r["run_id"] for r in store.list()] == [keep]
    with pytest.raises(StoreError):
        store.delete(run_id)
