"""`python -m dgl_engine`: bad arguments exit 2 with one line and write nothing; `train --json`
prints exactly one JSON object; runs are stored and listed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dgl_engine.cli import SUMMARY_KEYS
from dgl_engine.methods import METHODS

REPO = Path(__file__).resolve().parents[2]


def _env(home: Path) -> dict:
    env = dict(os.environ)
    # One torch thread: tiny models, and the machine may be busy with other tests.
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", DGL_LAB_HOME=str(home / "default-home"))
    return env


def _start(args, home: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dgl_engine", *args], cwd=REPO, env=_env(home),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _finish(proc: subprocess.Popen, timeout=180):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


BAD = {
    "unknown-method": (["--methods", "joint,telepathy"], ["telepathy", *METHODS]),
    "unknown-preset": (["--preset", "loud"], ["loud", "default", "audio-dominant", "visual-dominant", "balanced"]),
    "negative-epochs": (["--epochs", "-3"], ["--epochs", "-3"]),
    "zero-batch-size": (["--batch-size", "0"], ["--batch-size"]),
    "missing-home": (None, ["--home", "no such folder"]),
    "unknown-encoder": (["--encoder", "vit-huge"], ["vit-huge", "tiny", "resnet18"]),
    "not-a-number": (["--lr", "fast"], ["--lr", "fast"]),
    "unknown-command": (["fly"], ["fly"]),
}


def _bad_argv(name: str, home: Path) -> list[str]:
    args = BAD[name][0]
    if args is None:
        return ["train", "--home", str(home / "missing"), "--samples-per-class", "10", "--epochs", "1"]
    if args[0] == "fly":
        return args
    return ["train", *args, "--home", str(home), "--samples-per-class", "10", "--epochs", "1"]


def _check_refused(name, rc, out, err, home):
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    assert lines[0].startswith("error: ")
    for word in BAD[name][1]:
        assert word in lines[0], f"{word!r} missing from {lines[0]!r}"
    assert out == ""
    assert list(home.iterdir()) == [], "a refused command wrote to the run store"


@pytest.mark.parametrize("name", list(BAD))
def test_bad_arguments_exit_2_with_one_line_and_write_nothing(name, tmp_path, capsys):
    """In-process (fast): the same main() that `python -m dgl_engine` calls."""
    from dgl_engine.cli import main

    home = tmp_path / "home"
    home.mkdir()
    rc = main(_bad_argv(name, home))
    captured = capsys.readouterr()
    _check_refused(name, rc, captured.out, captured.err, home)


SUBPROCESS_BAD = ("unknown-method", "negative-epochs", "missing-home")


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory):
    """A few bad invocations as real processes, run concurrently: name -> (rc, out, err, home)."""
    procs = {}
    for name in SUBPROCESS_BAD:
        home = tmp_path_factory.mktemp(name)
        procs[name] = (_start(_bad_argv(name, home), home), home)
    return {name: (*_finish(proc), home) for name, (proc, home) in procs.items()}


@pytest.mark.parametrize("name", SUBPROCESS_BAD)
def test_bad_arguments_as_a_real_process(bad_runs, name):
    """Exit status 2 and one line on stderr from the real entry point (no import noise)."""
    _check_refused(name, *bad_runs[name])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One `train --json` run (joint, dgl, audio-only) and one plain `train`, concurrently."""
    home_json = tmp_path_factory.mktemp("cli-json")
    home_text = tmp_path_factory.mktemp("cli-text")
    common = ["train", "--samples-per-class", "30", "--epochs", "1", "--device", "cpu"]
    p_json = _start([*common, "--methods", "joint,dgl,audio-only", "--home", str(home_json), "--json"], home_json)
    p_text = _start([*common, "--samples-per-class", "10", "--methods", "joint,dgl", "--home", str(home_text)], home_text)
    return {"json": (*_finish(p_json), home_json), "text": (*_finish(p_text), home_text)}


@pytest.mark.slow
def test_train_json_prints_one_json_object_with_per_method_metrics(trained):
    rc, out, err, home = trained["json"]
    assert rc == 0, err
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"stdout must be exactly one JSON object, got:\n{out}"
    result = json.loads(lines[0])
    assert isinstance(result, dict)
    assert {"run_id", "status", "seconds", "methods"} <= set(result)
    assert result["status"] == "finished"
    methods = result["methods"]
    assert set(methods) == {"joint", "dgl", "audio-only"}
    for m in ("joint", "dgl"):
        assert set(methods[m]) == set(SUMMARY_KEYS), m
    assert set(methods["audio-only"]) == {"acc", "acc_audio", "probe_audio", "macro_f1"}

    record = json.loads((home / result["run_id"] / "run.json").read_text())
    assert record["status"] == "finished"
    # The printed metrics are the stored test results, rounded; the duration is run.json's.
    assert methods == {m: {k: round(v, 4) for k, v in r.items() if k in SUMMARY_KEYS} for m, r in record["results"].items()}
    assert result["seconds"] == record["seconds"]
    assert record["finished"] - record["started"] == pytest.approx(record["seconds"], abs=0.5)
    assert sorted(p.name for p in (home / result["run_id"] / "models").glob("*.pt")) == ["audio-only.pt", "dgl.pt", "joint.pt"]


@pytest.mark.slow
def test_runs_lists_the_stored_run_as_json_and_as_a_table(trained, tmp_path):
    _, out, _, home = trained["json"]
    run_id = json.loads(out)["run_id"]
    p_json = _start(["runs", "--json", "--home", str(home)], tmp_path)
    p_text = _start(["runs", "--home", str(home)], tmp_path)
    rc, listing, err = _finish(p_json)
    assert rc == 0, err
    rows = json.loads(listing)
    assert [r["run_id"] for r in rows] == [run_id]
    assert rows[0]["status"] == "finished"
    assert rows[0]["methods"] == ["joint", "dgl", "audio-only"]
    assert set(rows[0]["results"]) == {"joint", "dgl", "audio-only"}

    rc, table, err = _finish(p_text)
    assert rc == 0, err
    (line,) = [line for line in table.splitlines() if run_id in line]
    assert "finished" in line and "synthetic" in line and "dgl" in line and "%" in line


@pytest.mark.slow
def test_train_without_json_prints_a_readable_table(trained):
    rc, out, err, home = trained["text"]
    assert rc == 0, err
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("method"))
    for col in ("acc", "acc_audio", "acc_visual", "probe_audio", "probe_visual", "macro_f1"):
        assert col in header
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0] in ("joint", "dgl")}
    assert set(rows) == {"joint", "dgl"}
    assert all(row.count("%") == 6 for row in rows.values())
    (run_dir,) = [p for p in home.iterdir() if (p / "run.json").is_file()]
    assert f"run {run_dir.name}: finished" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)
