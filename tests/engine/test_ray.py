"""The Ray path end to end on a local cluster (a head bound to 127.0.0.1, stopped by the test):
the CLI's train and the engine send runs there; events and models come back into the local
run store."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    pytest.importorskip("ray")
    port = _free_port()
    tmp = tmp_path_factory.mktemp("ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}
    start = subprocess.run([str(RAY), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                            "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
                            f"--temp-dir={tmp}"], env=env, capture_output=True, text=True, timeout=180)
    assert start.returncode == 0, start.stderr[-2000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True, timeout=120)


@pytest.mark.slow
def test_cli_and_engine_runs_go_to_the_cluster_and_come_back(cluster, tmp_path, monkeypatch):
    env = {**os.environ, "DGL_LAB_RAY_ADDRESS": cluster, "OMP_NUM_THREADS": "1"}
    home = tmp_path / "cli"
    home.mkdir()
    r = subprocess.run([sys.executable, "-m", "dgl_engine", "train", "--methods", "joint,dgl", "--samples-per-class", "20",
                        "--epochs", "1", "--device", "cpu", "--home", str(home), "--json"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"goes to the Ray cluster at {cluster}" in r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "finished" and set(out["methods"]) == {"joint", "dgl"}
    run_dir = home / out["run_id"]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished" and record["ray_address"] == cluster
    assert record["results"]["dgl"]["acc"] == pytest.approx(out["methods"]["dgl"]["acc"], abs=1e-4)
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {"phase", "step", "eval", "diagnostics", "test"} <= {e["type"] for e in events}
    assert sorted(p.name for p in (run_dir / "models").iterdir()) == ["dgl.json", "dgl.pt", "joint.json", "joint.pt"]

    # The app's engine: the same, through its dispatcher; the model loads for prediction.
    import ray

    from dgl_engine.engine import Engine
    from dgl_engine.predict import load_predictor
    from tests.conftest import small_config

    monkeypatch.setenv("DGL_LAB_RAY_ADDRESS", cluster)
    engine = Engine(home=tmp_path / "app", workers=1)
    try:
        run_id = engine.submit(small_config(methods=("joint",), samples_per_class=20, epochs=1))
        snap = engine.wait(run_id, timeout=300)
        assert snap.status == "finished", snap.error
        assert {"step", "eval", "test"} <= {e["type"] for e in engine.snapshot(run_id).events}
        assert load_predictor(engine.store, run_id, "joint").classes
    finally:
        engine.shutdown(timeout=10)
        ray.shutdown()
