"""A new user's path from the command line: cache and train on real data, refusals exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dgl_engine.cli import main
from dgl_engine.data.export import write_folder

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("clidata")
    write_folder(base / "clips", num_classes=3, per_class=6, seed=0)
    return base


def run_cli(*args: str, data: Path | None, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DGL_LAB_DATA"}
    if data is not None:
        env["DGL_LAB_DATA"] = str(data)
    env["DGL_LAB_HOME"] = str(home)
    # One intra-op thread: on a busy CPU torch's spinning worker threads made these tiny
    # trainings 6x slower (26 s vs 4.5 s measured on 2 cores at load 9).
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, "-m", "dgl_engine", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_train_joint_and_dgl_on_a_folder_dataset(data_root: Path, tmp_path: Path):
    r = run_cli("train", "--dataset", "folder", "--root", "clips", "--methods", "joint,dgl", "--epochs", "1",
                "--batch-size", "8", "--device", "cpu", "--json", data=data_root, home=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "finished" and set(out["methods"]) == {"joint", "dgl"}
    assert "caching features" in r.stderr  # the progress bar
    sidecar = json.loads((tmp_path / out["run_id"] / "models" / "dgl.json").read_text())
    assert sidecar["classes"] == ["disk-low-up", "square-high-up", "triangle-low-down"]
    assert sidecar["audio_features"]["sample_rate"] == 16000 and sidecar["visual_features"]["size"] == 64
    run = json.loads((tmp_path / out["run_id"] / "run.json").read_text())
    assert run["data"]["clips"] == {"train": 12, "val": 3, "test": 3}


def test_cache_then_train_on_an_avmnist_subset(shared_data: Path, tmp_path: Path, monkeypatch, capsys):
    root = tmp_path / "data" / "avmnist"
    root.mkdir(parents=True)
    (root / "recordings").symlink_to(shared_data / "fsdd-test" / "recordings", target_is_directory=True)
    for f in (shared_data / "mnist-test").glob("t10k-*"):
        (root / f.name).symlink_to(f)
    home = tmp_path / "home"
    monkeypatch.setenv("DGL_LAB_DATA", str(tmp_path / "data"))
    assert main(["cache", "--dataset", "avmnist", "--root", "avmnist", "--per-class", "4", "--test-speakers", "theo",
                 "--home", str(home), "--json"]) == 0
    cached = json.loads(capsys.readouterr().out)
    assert cached["decoded"] == cached["clips"] == 40 + 10 + 10 and cached["failed"] == 0
    assert cached["counts"]["test"] == {str(d): 1 for d in range(10)} and cached["clips_per_s"] > 0
    r = run_cli("train", "--dataset", "avmnist", "--root", "avmnist", "--per-class", "4", "--test-speakers", "theo",
                "--methods", "joint,dgl", "--epochs", "1", "--batch-size", "16", "--device", "cpu", "--json",
                data=tmp_path / "data", home=home)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "finished"
    run = json.loads((home / out["run_id"] / "run.json").read_text())
    assert run["data"]["test_speakers"] == ["theo"] and run["data"]["clips"]["train"] == 40
    assert run["data"]["cache"]["decoded"] == 0  # everything came from the cache filled above


@pytest.mark.parametrize("args, data, message", [
    (("--root", "clips"), None, "DGL_LAB_DATA, which is not set"),
    (("--root", "/"), "data", "outside the data roots"),
    (("--root", "missing"), "data", "missing: no such folder"),
    (("--root", "clips", "--classes", "disk-low-up,nope"), "data", "unknown class 'nope'"),
    (("--root", "clips", "--preset", "fast"), "data", "unknown preprocessing preset 'fast'"),
])
def test_refusals_exit_2_with_one_line(data_root: Path, tmp_path: Path, monkeypatch, capsys, args, data, message):
    """cli.main in-process (the subprocess tests above cover the real entry point)."""
    monkeypatch.delenv("DGL_LAB_DATA", raising=False)
    if data:
        monkeypatch.setenv("DGL_LAB_DATA", str(data_root))
    for command in ("train", "cache"):
        assert main([command, "--dataset", "folder", *args, "--home", str(tmp_path)]) == 2, command
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and err.startswith("error: "), err
    assert not list(tmp_path.iterdir())  # nothing written
