"""`python -m dgl_engine study`: the JSON contract on a tiny study, the stored study and its runs,
`runs --json` naming each run's study, and bad seeds or sweeps refused before anything is written."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest

from dgl_engine.cli import SUMMARY_KEYS, main
from dgl_engine.report import format_study

TINY = ["--samples-per-class", "20", "--epochs", "1", "--batch-size", "16", "--device", "cpu"]


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    """`study --json` over 2 seeds x dgl.alpha = 1, 4 (4 tiny runs, in this process)."""
    home = tmp_path_factory.mktemp("study")
    capture = pytest.MonkeyPatch()
    out, err = io.StringIO(), io.StringIO()
    capture.setattr(sys, "stdout", out)
    capture.setattr(sys, "stderr", err)
    try:
        rc = main(["study", *TINY, "--methods", "joint,dgl", "--seeds", "0,1", "--sweep", "dgl.alpha=1,4",
                   "--home", str(home), "--json"])
    finally:
        capture.undo()
    return rc, out.getvalue(), err.getvalue(), home


def test_study_json_is_one_object_with_summary_and_paired_differences(tiny_study):
    rc, out, err, home = tiny_study
    assert rc == 0, err
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"stdout must be exactly one JSON object, got:\n{out}"
    result = json.loads(lines[0])
    assert {"study_id", "runs", "summary", "paired"} <= set(result) and result["status"] == "finished"
    assert len(result["runs"]) == 4 and result["sweep"] == {"key": "dgl.alpha", "values": [1.0, 4.0]}
    assert set(result["summary"]) == set(result["paired"]) == {"1", "4"}
    records = {rid: json.loads((home / rid / "run.json").read_text()) for rid in result["runs"]}
    study = json.loads((home / ".studies" / f"{result['study_id']}.json").read_text())
    assert study["status"] == "finished" and [p["run_id"] for p in study["points"]] == result["runs"]
    for p in study["points"]:
        r = records[p["run_id"]]
        assert r["study"] == result["study_id"] and r["status"] == "finished" and r["config"]["seed"] == p["seed"]
        assert r["config"]["method_params"] == {"dgl": {"alpha": float(p["value"])}}  # each run has its swept value
    for value in ("1", "4"):
        mine = [records[p["run_id"]]["results"] for p in study["points"] if p["value"] == value]
        for m in ("joint", "dgl"):
            assert set(result["summary"][value][m]) == set(SUMMARY_KEYS)
            for k in SUMMARY_KEYS:
                x = [r[m][k] for r in mine]
                s = result["summary"][value][m][k]
                assert s["n"] == 2 and s["mean"] == pytest.approx(np.mean(x), abs=1e-4)
                assert s["std"] == pytest.approx(np.std(x, ddof=1), abs=1e-4)
        pair = result["paired"][value]
        assert set(pair) == {"dgl-joint"} and set(pair["dgl-joint"]) == set(SUMMARY_KEYS)
        d = [r["dgl"]["acc"] - r["joint"]["acc"] for r in mine]
        acc = pair["dgl-joint"]["acc"]
        assert acc["n"] == 2 and acc["mean"] == pytest.approx(np.mean(d), abs=1e-4)
        lo, hi = acc["ci95"]  # two seeds: the resampled means lie between the two differences
        assert min(d) - 1e-4 <= lo <= acc["mean"] <= hi <= max(d) + 1e-4
    assert "study " in err and "runs" in err  # the progress bar and its announcement are on stderr


def test_runs_json_names_each_runs_study(tiny_study, capsys):
    _, out, _, home = tiny_study
    result = json.loads(out)
    assert main(["runs", "--home", str(home), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["run_id"] for r in rows) == sorted(result["runs"])
    assert {r["study"] for r in rows} == {result["study_id"]}


def test_the_table_shows_mean_std_and_paired_intervals_in_points(tiny_study):
    result = json.loads(tiny_study[1])
    text = format_study(result, "dgl.alpha")
    assert "dgl.alpha = 1" in text and "dgl.alpha = 4" in text and "mean ± sample std" in text
    acc = result["summary"]["4"]["dgl"]["acc"]
    assert f"{acc['mean'] * 100:.1f} ± {acc['std'] * 100:.1f}" in text
    pair = result["paired"]["4"]["dgl-joint"]["acc"]
    assert f"{pair['mean'] * 100:+.1f} [{pair['ci95'][0] * 100:+.1f}, {pair['ci95'][1] * 100:+.1f}]" in text


def test_without_joint_paired_is_empty_and_stderr_says_why(tmp_path, capsys):
    assert main(["study", *TINY, "--methods", "dgl", "--seeds", "3", "--home", str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["paired"] == {} and result["summary"]["-"]["dgl"]["acc"]["n"] == 1
    assert result["summary"]["-"]["dgl"]["acc"]["std"] is None  # one seed: no sample std
    assert "no paired differences" in captured.err and "joint" in captured.err


@pytest.mark.parametrize("args, words", [
    (["--sweep", "telepathy=1,2"], ["telepathy", "train.lr", "data.synthetic.visual.difficulty", "dgl.alpha"]),
    (["--sweep", "dgl.alpha=1,-2"], ["--sweep dgl.alpha", "-2"]),
    (["--sweep", "train.lr=0.01,fast"], ["--sweep train.lr", "fast"]),
    (["--sweep", "ogm-ge.alpha=1"], ["ogm-ge", "dgl.alpha"]),
    (["--seeds", "0,zero"], ["--seeds", "zero"]),
    (["--seed", "4"], ["--seeds"]),
    (["--seeds", "0,1", "--sweep", "data.fraction=1,0.1"], ["fewer than 2 training samples"]),
])
def test_bad_seeds_or_sweeps_exit_2_with_one_line_and_write_nothing(args, words, tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    assert main(["study", *TINY, "--methods", "joint,dgl", *args, "--home", str(home), "--json"]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("error: ") and captured.out == ""
    for word in words:
        assert word in line
    assert list(home.iterdir()) == []


def test_a_stopped_run_stops_the_study_and_leaves_it_incomplete(tmp_path, capsys, monkeypatch):
    """Ctrl-C (or SIGTERM) inside a run: execute_run records it cancelled; the study trains no more."""
    from dgl_engine import lifecycle

    calls = []

    def stopped(prepared, store, run_id, observers=(), should_stop=None):
        calls.append(run_id)
        store.update(run_id, status="cancelled", error="stopped by the user")
        return lifecycle.Outcome(run_id, "cancelled", "stopped by the user", {}, 0.1)

    monkeypatch.setattr(lifecycle, "execute_run", stopped)
    rc = main(["study", *TINY, "--methods", "joint,dgl", "--seeds", "0,1,2", "--home", str(tmp_path), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert rc == 1 and result["status"] == "incomplete" and result["runs"] == calls and len(calls) == 1
    study = json.loads((tmp_path / ".studies" / f"{result['study_id']}.json").read_text())
    assert study["status"] == "incomplete" and [p["run_id"] for p in study["points"]] == [calls[0], None, None]
    assert result["summary"] == {"-": {"joint": {}, "dgl": {}}}  # nothing finished: nothing to average
