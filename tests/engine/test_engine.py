"""The engine: a worker thread and a queue; immutable snapshots; cancel; failing runs isolated;
impossible settings refused before anything is written."""

from __future__ import annotations

import dataclasses
import time

import pytest
import torch

from dgl_engine.errors import ConfigError
from dgl_engine.engine import Engine, RunSnapshot
from dgl_engine.lifecycle import Prepared, describe_error
from dgl_engine.store import StoreError
from dgl_engine.trainer import Diverged
from dgl_engine.methods.joint import Joint

from tests.conftest import small_config, wait_for


def _quick(**kw):
    kw.setdefault("methods", ("joint", "dgl"))
    kw.setdefault("samples_per_class", 20)
    kw.setdefault("epochs", 1)
    return small_config(**kw)


def _long():
    """A run that takes far longer than any test waits for (cancelled by the test)."""
    return small_config(methods=("joint", "dgl"), samples_per_class=20, epochs=1000)


@pytest.fixture
def engine(tmp_path):
    e = Engine(home=tmp_path / "runs", workers=1)
    yield e
    e.shutdown(timeout=10)


def test_submitted_run_finishes_with_all_event_kinds_and_is_stored(engine):
    run_id = engine.submit(_quick())
    snap = engine.wait(run_id, timeout=300)
    assert snap.status == "finished", snap.error
    assert snap.progress == 1.0 and snap.done

    full = engine.snapshot(run_id)
    types = {e["type"] for e in full.events}
    assert {"step", "eval", "diagnostics", "test", "progress"} <= types
    assert set(full.results) == {"joint", "dgl"}
    test_events = {e["method"]: e["metrics"] for e in full.events if e["type"] == "test"}
    assert full.results == test_events  # the snapshot's results are the test events' metrics
    assert full.next_offset == len(full.events)

    k = len(full.events) // 2
    newer = engine.snapshot(run_id, since=k)
    assert newer.events == full.events[k:]
    assert newer.next_offset == len(full.events)
    assert engine.snapshot(run_id, since=full.next_offset).events == ()

    record = engine.store.read(run_id)
    assert record["status"] == "finished"
    assert set(engine.store.models(run_id)) == {"joint", "dgl"}
    assert [r["run_id"] for r in engine.runs()] == [run_id]

    # A fresh engine on the same home serves the same run from disk.
    other = Engine(home=engine.store.home, start=False)
    stored = other.snapshot(run_id)
    assert stored.status == "finished"
    assert len(stored.events) == len(full.events)
    assert {e["type"] for e in stored.events} == types
    assert stored.results.keys() == full.results.keys()


def test_once_a_snapshot_says_done_run_json_says_so_too(engine, monkeypatch):
    """Scripts do `engine.wait(run_id)` and then read the store (or another process lists it)."""
    original = engine.store.update

    def slow_final_write(run_id, **fields):
        if fields.get("status") in ("finished", "failed", "cancelled"):
            time.sleep(0.5)  # a slow disk
        return original(run_id, **fields)

    monkeypatch.setattr(engine.store, "update", slow_final_write)
    run_id = engine.submit(_quick(methods=("joint",)))
    assert engine.wait(run_id, timeout=300).status == "finished"
    record = engine.store.read(run_id)
    assert record["status"] == "finished" and record["finished"] is not None


def test_snapshots_are_immutable_and_do_not_grow(engine):
    run_id = engine.submit(_long())
    assert wait_for(lambda: engine.snapshot(run_id).step >= 2)
    snap = engine.snapshot(run_id)
    assert isinstance(snap, RunSnapshot)
    assert isinstance(snap.events, tuple) and isinstance(snap.warnings, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.status = "finished"
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.events = ()
    n = len(snap.events)
    assert wait_for(lambda: engine.snapshot(run_id).next_offset > n + 5)
    assert len(snap.events) == n  # the snapshot taken earlier did not change
    assert snap.status == "running"
    engine.cancel(run_id)
    assert engine.wait(run_id, timeout=10).status == "cancelled"


def test_queue_position_and_cancel_of_queued_and_running_runs(engine):
    first = engine.submit(_long())
    second = engine.submit(_quick())
    assert wait_for(lambda: engine.snapshot(first).status == "running")
    queued = engine.snapshot(second)
    assert queued.status == "queued"
    assert queued.queue_position == 1
    assert engine.snapshot(first).queue_position is None

    # Cancelling a queued run takes effect at once, in memory and on disk.
    assert engine.cancel(second) is True
    assert engine.snapshot(second).status == "cancelled"
    assert engine.store.read(second)["status"] == "cancelled"

    # A running run cannot be deleted; cancel it first.
    with pytest.raises(StoreError, match="cancel"):
        engine.delete(first)
    assert engine.store.exists(first)

    # A running run stops within about a second.
    assert wait_for(lambda: engine.snapshot(first).step >= 1)
    t0 = time.time()
    assert engine.cancel(first) is True
    snap = engine.wait(first, timeout=10)
    stopped_in = time.time() - t0
    assert snap.status == "cancelled"
    assert stopped_in < 1.5, f"cancel took {stopped_in:.2f} s"
    assert wait_for(lambda: engine.store.read(first)["status"] == "cancelled", timeout=5)
    assert engine.cancel(first) is False  # already over

    # The cancelled queued run never starts: the engine goes on with the next one.
    third = engine.submit(_quick())
    assert engine.wait(third, timeout=300).status == "finished"
    assert engine.snapshot(second).status == "cancelled"
    assert engine.snapshot(second).step == 0

    engine.delete(first)  # over now: deletable, gone from memory and disk
    assert not engine.store.exists(first)
    with pytest.raises(StoreError):
        engine.snapshot(first)
    assert {r["run_id"] for r in engine.runs()} == {second, third}


def test_error_descriptions_are_one_readable_line():
    assert describe_error(RuntimeError("bad thing\n  at frame 3")) == "RuntimeError: bad thing"
    assert describe_error(KeyError()) == "KeyError"
    assert describe_error(Diverged("dgl diverged at step 4: loss became nan")) == "dgl diverged at step 4: loss became nan"
    oom = describe_error(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert oom.startswith("out of memory") and "batch size" in oom
    assert describe_error(MemoryError()).startswith("out of memory")


def test_a_failing_run_is_marked_failed_and_the_engine_carries_on(tmp_path, monkeypatch):
    """In its worker, a run whose dataset vanished after it was queued fails with one readable
    line in the snapshot and in run.json; the next run still trains."""
    import shutil

    from dgl_engine.config import DataConfig
    from dgl_engine.data.export import write_folder

    monkeypatch.setenv("DGL_LAB_DATA", str(tmp_path / "data"))
    root = write_folder(tmp_path / "data" / "clips", num_classes=2, per_class=6)
    engine = Engine(home=tmp_path / "runs", workers=1)
    try:
        blocker = engine.submit(_long())
        doomed = engine.submit(dataclasses.replace(_quick(methods=("joint",)), data=DataConfig(dataset="folder", root=str(root))))
        assert wait_for(lambda: engine.snapshot(blocker).status == "running")
        shutil.rmtree(root)
        engine.cancel(blocker)
        snap = engine.wait(doomed, timeout=300)
        assert snap.status == "failed" and "\n" not in snap.error and "training clip" in snap.error, snap.error
        assert engine.store.read(doomed)["error"] == snap.error
        assert "Traceback" in (engine.store.run_dir(doomed) / "traceback.txt").read_text()
        ok = engine.submit(_quick(methods=("joint",)))
        assert engine.wait(ok, timeout=300).status == "finished"
    finally:
        engine.shutdown(timeout=10)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: dataclasses.replace(c, methods=("joint", "magic")), "unknown method"),
        (lambda c: dataclasses.replace(c, train=dataclasses.replace(c.train, epochs=-1)), "epochs"),
        (lambda c: dataclasses.replace(c, train=dataclasses.replace(c.train, batch_size=0)), "batch size"),
        (
            lambda c: dataclasses.replace(
                c, data=dataclasses.replace(c.data, synthetic=dataclasses.replace(c.data.synthetic, split=(0.5, 0.3, 0.3)))
            ),
            "add up to 1",
        ),
        (lambda c: dataclasses.replace(c, model=dataclasses.replace(c.model, encoder="vit")), "unknown encoder"),
    ],
    ids=["unknown-method", "negative-epochs", "zero-batch", "split-not-1", "unknown-encoder"],
)
def test_impossible_settings_are_refused_before_anything_is_written(tmp_path, change, message):
    engine = Engine(home=tmp_path / "runs", start=False)
    with pytest.raises(ConfigError, match=message):
        engine.submit(change(_quick()))
    assert [p.name for p in engine.store.home.iterdir()] == [".engine.lock"]  # the engine's own, no run
    assert engine.runs() == []


def test_snapshot_reports_progress_within_a_phase(tmp_path):
    """Before training starts (e.g. while features are cached) the snapshot carries the phase's
    own progress, which the Live page shows as its progress bar."""
    from dgl_engine.engine import Engine
    from dgl_engine.events import PhaseEvent
    from dgl_engine.live_run import LiveRun

    engine = Engine(home=tmp_path, start=False)
    state = LiveRun("r1", Prepared(small_config()))
    state.status = "running"
    engine._live["r1"] = state
    state.apply(PhaseEvent("data", "caching features: 30/120 clips", 30, 120).to_dict())
    snap = engine.snapshot("r1")
    assert snap.phase == "data" and snap.phase_message == "caching features: 30/120 clips"
    assert snap.progress == 0.25
