"""Studies: sweep parsing, expansion into runs, summaries against numpy, persistence across an
engine restart, and the engine training a sweep over a method hyperparameter."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dgl_engine import stats
from dgl_engine.engine import Engine
from dgl_engine.errors import ConfigError
from dgl_engine.fair_queue import PER_OWNER_LIMIT, FairQueue, QueueFull
from dgl_engine.study import (MAX_RUNS, NO_SWEEP, Study, StudyStore, curve_bands, parse_seeds, parse_sweep,
                              run_ids, study_status, summarise, value_label)

from tests.conftest import small_config


def _tiny(**kw):
    return small_config(methods=kw.pop("methods", ("joint", "dgl")), samples_per_class=20, epochs=1, **kw)


# ----- what can be swept -------------------------------------------------------------------------
def test_sweep_keys_are_schema_paths_flag_names_or_method_hyperparameters():
    config = _tiny()
    assert parse_sweep("train.lr=0.01,0.03", config).values == (0.01, 0.03)
    assert parse_sweep("lr=0.01, 0.03", config).key == "train.lr"  # the CLI flag's name works too
    s = parse_sweep("data.synthetic.visual.difficulty=0.2,0.5,0.8", config)
    assert s.key == "data.synthetic.visual.difficulty" and s.labels == ("0.2", "0.5", "0.8")
    epochs = parse_sweep("train.epochs=1,3", config)
    assert epochs.values == (1, 3) and all(type(v) is int for v in epochs.values)
    alpha = parse_sweep("dgl.alpha=1,2,4,8", config)
    assert alpha.key == "dgl.alpha" and alpha.values == (1.0, 2.0, 4.0, 8.0) and alpha.labels == ("1", "2", "4", "8")


@pytest.mark.parametrize("text, words", [
    ("telepathy=1,2", ["unknown sweep key 'telepathy'", "train.lr", "data.synthetic.visual.difficulty", "dgl.alpha"]),
    ("ogm-ge.alpha=1,2", ["ogm-ge is not among the chosen methods", "dgl.alpha"]),
    ("train.optimizer=1", ["unknown sweep key", "train.lr"]),  # not numeric
    ("train.lr", ["KEY=V1,V2", "train.lr"]),
    ("train.lr=0,0.1", ["--sweep train.lr", "(0, 10]", "0.0"]),
    ("dgl.alpha=2,fast", ["--sweep dgl.alpha", "numbers", "fast"]),
    ("dgl.alpha=0", ["--sweep dgl.alpha", "(0, 100]"]),
    ("train.epochs=1,2.5", ["--sweep train.epochs", "whole number"]),
    ("train.lr=0.01,0.010", ["each value may appear once"]),
    ("seed=1,2", ["--seeds"]),
    ("train.lr=", ["at least one value"]),
])
def test_bad_sweeps_are_refused_in_one_line_naming_what_is_valid(text, words):
    with pytest.raises(ConfigError) as e:
        parse_sweep(text, _tiny())
    assert "\n" not in str(e.value)
    for word in words:
        assert word in str(e.value)


def test_seeds_are_whole_numbers_in_range_each_once():
    assert parse_seeds("0,1, 2") == (0, 1, 2)
    for bad, word in (("0,x", "whole numbers"), ("1,1", "once"), ("", "at least one"), ("-1", "--seed")):
        with pytest.raises(ConfigError, match=word):
            parse_seeds(bad)


def test_value_labels_are_short_and_exact():
    assert [value_label(v) for v in (0.03, 2.0, 3, None, 1e-4, 0.1 + 0.2)] == ["0.03", "2", "3", "none", "0.0001",
                                                                                "0.30000000000000004"]


# ----- a study expands into ordinary runs --------------------------------------------------------
def test_points_are_seeds_times_values_with_the_swept_setting_applied():
    config = _tiny()
    study = Study(config, (3, 5), parse_sweep("dgl.alpha=1,8", config))
    points = study.points()
    assert [(p.seed, p.value) for p in points] == [(3, "1"), (3, "8"), (5, "1"), (5, "8")]
    for p in points:
        assert p.config.seed == p.seed
        assert p.config.method_params["dgl"]["alpha"] == float(p.value)
        assert p.config.train == config.train and p.config.methods == config.methods
    lr = Study(config, (0,), parse_sweep("train.lr=0.01,0.02", config)).points()
    assert [p.config.train.lr for p in lr] == [0.01, 0.02] and lr[0].config.method_params == config.method_params
    plain = Study(config, (0, 1)).points()
    assert [(p.seed, p.value) for p in plain] == [(0, NO_SWEEP), (1, NO_SWEEP)]
    with pytest.raises(ConfigError, match=f"at most {MAX_RUNS}"):
        Study(config, tuple(range(40)), parse_sweep("dgl.alpha=1,2", config)).points()


# ----- summaries against numpy -------------------------------------------------------------------
ACC = {  # seed -> (joint acc, dgl acc) for two swept values
    "1": {0: (0.70, 0.75), 1: (0.74, 0.78), 2: (0.69, 0.76)},
    "4": {0: (0.70, 0.72), 1: (0.74, 0.71), 2: (0.69, 0.74)},
}


def _record_and_runs(methods=("joint", "dgl"), failed=()):
    record = {"config": {"methods": list(methods)}, "values": list(ACC), "points": []}
    runs = {}
    for value, seeds in ACC.items():
        for seed, accs in seeds.items():
            rid = f"r{value}-{seed}"
            record["points"].append({"seed": seed, "value": value, "run_id": rid})
            results = {m: {"acc": a, "acc_audio": a - 0.1, "loss": 1.0} for m, a in zip(("joint", "dgl"), accs) if m in methods}
            runs[rid] = {"status": "failed" if rid in failed else "finished", "results": results}
    return record, runs


def test_summary_is_mean_and_sample_std_per_value_and_method():
    record, runs = _record_and_runs()
    out = summarise(record, runs)
    assert set(out["summary"]) == {"1", "4"}
    for value, seeds in ACC.items():
        for i, m in enumerate(("joint", "dgl")):
            x = [accs[i] for accs in seeds.values()]
            s = out["summary"][value][m]
            assert set(s) == {"acc", "acc_audio"}  # only the reported metrics, never loss
            assert s["acc"] == {"mean": round(np.mean(x), 4), "std": round(np.std(x, ddof=1), 4), "n": 3}
        d = [dgl - joint for joint, dgl in seeds.values()]
        p = out["paired"][value]["dgl-joint"]["acc"]
        ref = stats.paired([b for _, b in seeds.values()], [a for a, _ in seeds.values()])
        assert p["mean"] == round(np.mean(d), 4) and p["n"] == 3
        assert p["ci95"] == [round(x, 4) for x in ref["ci95"]]
    assert out["paired"]["1"]["dgl-joint"]["acc"]["ci95"][0] > 0  # every seed gains at alpha 1


def test_summary_skips_runs_that_did_not_finish_and_pairs_only_against_joint():
    record, runs = _record_and_runs(failed=("r1-0",))
    out = summarise(record, runs)
    assert out["summary"]["1"]["dgl"]["acc"]["n"] == 2 and out["summary"]["4"]["dgl"]["acc"]["n"] == 3
    assert out["paired"]["1"]["dgl-joint"]["acc"]["mean"] == pytest.approx(np.mean([0.78 - 0.74, 0.76 - 0.69]), abs=1e-4)
    record, runs = _record_and_runs(methods=("dgl",))
    assert summarise(record, runs)["paired"] == {}


def test_study_status_follows_its_runs():
    record = {"points": [{"run_id": "a"}, {"run_id": "b"}]}
    assert study_status(record, {"a": "queued", "b": "queued"}.get) == "queued"
    assert study_status(record, {"a": "finished", "b": "queued"}.get) == "running"
    assert study_status(record, {"a": "finished", "b": "finished"}.get) == "finished"
    assert study_status(record, {"a": "finished", "b": "failed"}.get) == "incomplete"
    assert study_status({"points": [{"run_id": "a"}, {"run_id": None}]}, {"a": "finished"}.get) == "incomplete"


def test_curve_bands_average_each_epoch_over_the_seeds_of_one_value():
    record = {"config": {"methods": ["joint"]}, "points": [{"value": "-", "run_id": r} for r in ("a", "b", "c")]}

    def evals(accs):
        return [{"type": "eval", "split": "val", "method": "joint", "epoch": 0.5 * (i + 1), "metrics": {"acc": a}}
                for i, a in enumerate(accs)]

    events = {"a": evals([0.2, 0.5, 0.6]), "b": evals([0.4, 0.7, 0.8]), "c": evals([0.3, 0.6])}  # c was cut short
    bands = curve_bands(record, events, "-", kind="minmax")["joint"]
    assert bands["epoch"] == [0.5, 1.0] and bands["n"] == 3
    assert bands["mean"] == pytest.approx([0.3, 0.6]) and bands["low"] == pytest.approx([0.2, 0.5])
    assert bands["high"] == pytest.approx([0.4, 0.7])


# ----- the engine: queue, persistence, restart, training -----------------------------------------
def test_study_runs_take_their_owners_turns_without_counting_against_the_limits():
    q = FairQueue(limit=4, per_owner=2, bulk_limit=5)
    for i in range(4):
        q.push("alice", f"s{i}", bulk=True)  # a 4-run study: more than alice may queue one by one
    q.push("alice", "a1")
    q.push("alice", "a2")
    q.push("bob", "b1")
    with pytest.raises(QueueFull, match="2 runs waiting"):
        q.push("alice", "a3")
    with pytest.raises(QueueFull, match="limit of 5"):
        q.check_bulk(2)
    assert q.order()[:3] == ["s0", "b1", "s1"]  # round robin between sessions, a study included
    q.remove("s1")
    assert [q.pop() for _ in range(6)] == ["s0", "b1", "s2", "s3", "a1", "a2"]
    q.check_bulk(5)  # popped and removed study runs no longer count


def test_a_study_is_stored_and_a_new_engine_lists_it_and_queues_its_runs_again(tmp_path):
    """Queued (no dispatcher): 6 runs, more than one session may queue one by one; after a restart
    the new engine finds the study, its runs and their swept values, and queues them again."""
    home = tmp_path / "runs"
    config = _tiny()
    study = Study(config, (0, 1, 2), parse_sweep("dgl.alpha=1,4", config))
    engine = Engine(home=home, start=False, workers=1)
    try:
        study_id = engine.submit_study(study, owner="alice")
        single = engine.submit(config, owner="alice")  # a study leaves the session room for single runs
        record = engine.study(study_id)
    finally:
        engine.shutdown()
    ids = run_ids(record)
    assert len(ids) == 6 > PER_OWNER_LIMIT and record["status"] == "queued" and single not in ids
    on_disk = json.loads((home / ".studies" / f"{study_id}.json").read_text())
    assert on_disk["seeds"] == [0, 1, 2] and on_disk["sweep"] == {"key": "dgl.alpha", "values": [1.0, 4.0]}
    assert [p["run_id"] for p in on_disk["points"]] == ids

    again = Engine(home=home, start=False, workers=1)
    try:
        assert [s["study_id"] for s in again.studies()] == [study_id]
        assert set(ids) <= set(again.requeued)
        listed = {r["run_id"]: r for r in again.runs()}
        for p in again.study(study_id)["points"]:
            r = listed[p["run_id"]]
            assert r["study"] == study_id and r["owner"] == "alice" and r["status"] == "queued"
            assert r["config"]["seed"] == p["seed"] and r["config"]["method_params"]["dgl"]["alpha"] == float(p["value"])
        assert again.cancel_study(study_id, owner="alice") == 6
        assert again.study(study_id)["status"] == "incomplete"
        assert StudyStore(home).read(study_id)["status"] == "incomplete"
    finally:
        again.shutdown()


def test_a_study_with_an_impossible_run_writes_nothing(tmp_path):
    config = _tiny()
    study = Study(config, (0, 1), parse_sweep("data.fraction=1,0.1", config))
    engine = Engine(home=tmp_path / "runs", start=False, workers=1)
    try:
        with pytest.raises(ConfigError, match="fewer than 2 training samples"):
            engine.submit_study(study)
        assert engine.runs() == [] and engine.studies() == []
    finally:
        engine.shutdown()


@pytest.mark.slow
def test_the_engine_trains_a_sweep_over_a_method_hyperparameter(tmp_path):
    home = tmp_path / "runs"
    config = _tiny()
    engine = Engine(home=home, workers=2)
    try:
        study_id = engine.submit_study(Study(config, (0, 1), parse_sweep("dgl.alpha=0.5,4", config)))
        for rid in run_ids(engine.study(study_id)):
            assert engine.wait(rid, timeout=240).status == "finished"
        record = engine.study(study_id)
        results = engine.study_results(study_id)
    finally:
        engine.shutdown()
    assert record["status"] == "finished" and StudyStore(home).read(study_id)["status"] == "finished"
    stored = {rid: json.loads((home / rid / "run.json").read_text()) for rid in run_ids(record)}
    for p in record["points"]:
        assert stored[p["run_id"]]["config"]["method_params"] == {"dgl": {"alpha": float(p["value"])}}
    assert results == summarise(record, stored)
    assert set(results["summary"]) == {"0.5", "4"} and results["summary"]["4"]["dgl"]["acc"]["n"] == 2
    # joint does not read DGL's alpha: its results are the same at every swept value, seed by seed
    by_seed = {}
    for p in record["points"]:
        by_seed.setdefault(p["seed"], []).append(stored[p["run_id"]]["results"]["joint"]["acc"])
    assert all(len(set(v)) == 1 for v in by_seed.values())
