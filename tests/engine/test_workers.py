"""Runs train in worker processes: a killed worker fails only its run; Stop works in every
phase; a restart (same PID) finds interrupted runs and queues queued ones again; over-budget
runs are refused before anything is written; only a run's owner (or an admin) may stop it."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from dgl_engine.config import ExperimentConfig
from dgl_engine.engine import Engine, NotYours
from dgl_engine.errors import ConfigError
from dgl_engine.fair_queue import FairQueue, QueueFull
from dgl_engine.schema import override
from dgl_engine.store import RunStore
from tests.conftest import small_config, wait_for


def _long():
    return small_config(methods=("joint",), samples_per_class=20, epochs=1000)


def _quick():
    return small_config(methods=("joint",), samples_per_class=20, epochs=1)


def test_a_killed_worker_fails_only_its_run_and_the_next_run_starts(tmp_path):
    engine = Engine(home=tmp_path, workers=2)
    try:
        victim = engine.submit(_long())
        survivor = engine.submit(small_config(methods=("joint",), samples_per_class=40, epochs=3))
        waiting = engine.submit(_quick())
        assert wait_for(lambda: engine.snapshot(victim).step >= 1 and engine.snapshot(survivor).status == "running")
        assert engine.snapshot(waiting).status == "queued"
        os.kill(engine._running[victim].process.pid, signal.SIGKILL)
        snap = engine.wait(victim, timeout=30)
        assert snap.status == "failed" and "SIGKILL" in snap.error and "out-of-memory" in snap.error
        assert engine.store.read(victim)["status"] == "failed"
        assert engine.wait(survivor, timeout=300).status == "finished"
        assert engine.wait(waiting, timeout=300).status == "finished"
        assert os.getpid() == engine.store.read(victim)["pid"]  # the server process itself lives on
    finally:
        engine.shutdown(timeout=10)


@pytest.mark.parametrize("phase, config", [
    ("data", override(small_config(methods=("joint",), samples_per_class=8000, epochs=1),
                      {"data.synthetic.num_classes": 2})),  # generating 16,000 clips: not cooperative
    ("train", _long()),
])
def test_stop_takes_effect_within_a_second_in_each_phase(tmp_path, phase, config):
    engine = Engine(home=tmp_path, workers=1)
    try:
        run_id = engine.submit(config)
        assert wait_for(lambda: engine.snapshot(run_id).phase == phase)
        time.sleep(0.3)
        t0 = time.monotonic()
        engine.cancel(run_id)
        snap = engine.wait(run_id, timeout=10)
        took = time.monotonic() - t0
        assert snap.status == "cancelled"
        assert took < 2.0, f"stop in the {phase} phase took {took:.2f} s"  # 1 s promised; a busy test machine
        assert wait_for(lambda: engine.store.read(run_id)["status"] == "cancelled", timeout=5)
    finally:
        engine.shutdown(timeout=10)


def test_a_restart_with_the_same_pid_finds_the_interrupted_run_and_requeues_the_queued(tmp_path):
    store = RunStore(tmp_path)
    config = small_config(methods=("joint",), samples_per_class=20, epochs=1)
    running = store.create(config.to_dict(), status="running", owner="alice")  # its worker died with the server
    queued = store.create(config.to_dict(), status="queued", owner="bob")
    store.append_events(running, [{"type": "progress", "step": 3, "total_steps": 9, "epoch": 0.3, "elapsed_s": 1.0, "eta_s": 2.0}])
    for run_id in (running, queued):
        assert store.read(run_id)["pid"] == os.getpid()  # what a PID check would wrongly call alive
    engine = Engine(home=tmp_path, workers=1)
    try:
        assert engine.interrupted == [running] and engine.requeued == [queued]
        interrupted = engine.snapshot(running)
        assert interrupted.status == "interrupted" and interrupted.step == 3  # partial curves kept
        assert engine.wait(queued, timeout=300).status == "finished"
        again = engine.rerun(running, owner="alice")  # Results' one-click "run it again"
        assert again != running and engine.wait(again, timeout=300).status == "finished"
        same = json.loads(json.dumps(engine.snapshot(again).config))
        original = json.loads(json.dumps(engine.snapshot(running).config))
        assert same == original | {"name": same["name"]} and same["name"]  # unnamed before: a default name now
    finally:
        engine.shutdown(timeout=10)


def test_an_over_budget_run_is_refused_before_anything_is_written(tmp_path, monkeypatch, capsys):
    from dgl_engine.cli import main

    monkeypatch.setenv("DGL_LAB_WORKER_MEMORY", "200M")
    engine = Engine(home=tmp_path / "app", start=False)
    with pytest.raises(ConfigError, match=r"needs about .* GB of memory, over the 0.2 GB"):
        engine.submit(ExperimentConfig())
    assert [p.name for p in (tmp_path / "app").iterdir()] == [".engine.lock"]
    (tmp_path / "cli").mkdir()
    assert main(["train", "--home", str(tmp_path / "cli")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "DGL_LAB_WORKER_MEMORY" in err
    assert list((tmp_path / "cli").iterdir()) == []


def test_only_the_owner_or_an_admin_can_stop_or_delete_a_run(tmp_path):
    engine = Engine(home=tmp_path, workers=1)
    try:
        run_id = engine.submit(_long(), owner="alice")
        with pytest.raises(NotYours, match="only the session that started"):
            engine.cancel(run_id, owner="bob")
        assert engine.snapshot(run_id).status in ("queued", "running") and engine.snapshot(run_id).owner == "alice"
        assert engine.cancel(run_id, owner="bob", admin=True) is True
        assert engine.wait(run_id, timeout=10).status == "cancelled"
        with pytest.raises(NotYours):
            engine.delete(run_id, owner="bob")
        engine.delete(run_id, owner="alice")
        assert not engine.store.exists(run_id)
    finally:
        engine.shutdown(timeout=10)


def test_the_queue_is_fair_between_owners_and_bounded():
    q = FairQueue(limit=6, per_owner=3)
    for run_id in ("a1", "a2", "a3"):
        q.push("alice", run_id)
    q.push("bob", "b1")
    q.push("carol", "c1")
    assert q.order() == ["a1", "b1", "c1", "a2", "a3"] and q.position("b1") == 2
    with pytest.raises(QueueFull, match="3 runs waiting"):
        q.push("alice", "a4")
    q.push("bob", "b2")
    with pytest.raises(QueueFull, match="queue is full"):
        q.push("dave", "d1")
    assert [q.pop() for _ in range(6)] == ["a1", "b1", "c1", "a2", "b2", "a3"]
    assert q.pop() is None


def test_a_worker_does_not_run_the_parents_main_script(tmp_path, monkeypatch):
    """Streamlit leaves the last page it ran installed as ``__main__`` (in the server and under
    AppTest); a spawned worker must not run that script again."""
    import sys
    import types

    marker = tmp_path / "ran"
    script = tmp_path / "page.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\nraise SystemExit('a page ran in the worker')\n")
    page = types.ModuleType("__main__")
    page.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", page)
    engine = Engine(home=tmp_path / "runs", workers=1)
    try:
        snap = engine.wait(engine.submit(_quick()), timeout=180)
    finally:
        engine.shutdown()
    assert snap.status == "finished", snap.error
    assert not marker.exists()
    assert sys.modules["__main__"] is page  # put back for the parent
