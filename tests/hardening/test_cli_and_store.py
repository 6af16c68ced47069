"""Absurd numbers, run-id bursts, unexpected errors and a full disk: one line each, nothing left half-made."""

from __future__ import annotations

import errno
import json
import re
import threading

import pytest

from dgl_engine import cli, store as store_module
from dgl_engine.cli import main
from dgl_engine.config import ExperimentConfig
from dgl_engine.lifecycle import create_run, describe_error, execute_run, prepare
from dgl_engine.methods import METHODS
from dgl_engine.schema import leaves
from dgl_engine.store import RunStore, new_run_id
from tests.conftest import small_config

# ----------------------------------------------------------------------------- numbers


def test_every_number_in_the_schema_is_bounded():
    for leaf in leaves(ExperimentConfig):
        if leaf.kind in ("int", "float", "floats"):
            assert leaf.min is not None and leaf.max is not None, leaf.path
    for name, method in METHODS.items():
        for p, spec in method.params.items():
            assert spec.min is not None and spec.max is not None, f"{name}.{p}"


@pytest.mark.parametrize("args", [
    ["--seed", str(2**80)], ["--seed", "-1"], ["--epochs", str(10**12)], ["--lr", "1e400"], ["--lr", "nan"],
    ["--batch-size", "-1"], ["--param", "dgl.alpha=nan"], ["--param", "dgl.alpha=1e308"], ["--alpha", "inf"],
    ["--samples-per-class", str(10**9)], ["--per-class", str(10**30)], ["--fraction", "0"], ["--audio-difficulty", "inf"],
    ["--num-classes", "1e3"], ["--split", "0.5,0.5,1e308"], ["--evals-per-epoch", "99999999999999999999"],
])
def test_absurd_numbers_are_refused_in_one_line(tmp_path, capsys, args):
    assert main(["train", *args, "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- run ids


def test_run_ids_have_48_random_bits_and_do_not_collide():
    ids = [new_run_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{12}", i) for i in ids)


def test_a_burst_of_submits_gets_distinct_runs(tmp_path):
    store, made, errors = RunStore(tmp_path), [], []

    def submit():
        try:
            for _ in range(40):
                made.append(store.create({"seed": 0}))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
    threads = [threading.Thread(target=submit) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and len(set(made)) == 320
    assert all(store.read(r)["run_id"] == r for r in made)


def test_a_taken_id_is_drawn_again(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    taken = store.create({}, run_id="20260101-000000-aaaaaaaaaaaa")
    draws = iter([taken, taken, "20260101-000000-bbbbbbbbbbbb"])
    monkeypatch.setattr(store_module, "new_run_id", lambda: next(draws))
    assert store.create({}) == "20260101-000000-bbbbbbbbbbbb"
    with pytest.raises(FileExistsError):
        store.create({}, run_id=taken)  # a given id is never replaced


# ----------------------------------------------------------------------------- unexpected errors


def test_an_unexpected_error_is_one_line_without_traceback(monkeypatch, capsys):
    def boom(a):
        raise RuntimeError("something broke\nin two lines")
    monkeypatch.setitem(cli.COMMANDS, "methods", boom)
    monkeypatch.delenv("DGL_LAB_DEBUG", raising=False)
    assert main(["methods"]) == 1
    err = capsys.readouterr().err
    assert err == "error: RuntimeError: something broke (set DGL_LAB_DEBUG=1 for the traceback)\n"
    monkeypatch.setenv("DGL_LAB_DEBUG", "1")
    with pytest.raises(RuntimeError):  # the interpreter prints the traceback
        main(["methods"])


def test_every_json_the_cli_prints_is_strict(capsys):
    from dgl_engine.report import dump_json

    assert dump_json({"acc": float("nan"), "x": [float("inf"), 1.0]}) == '{"acc": null, "x": [null, 1.0]}'
    source = (cli.__file__)
    text = open(source).read()
    assert "json.dumps(" not in text  # every JSON goes through dump_json (allow_nan=False)
    assert main(["methods", "--json"]) == 0
    json.loads(capsys.readouterr().out, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


# ----------------------------------------------------------------------------- a full disk


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "/runs/x/run.json")


def test_a_submit_on_a_full_disk_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "atomic_write_text", _enospc)
    with pytest.raises(OSError):
        RunStore(tmp_path).create({"seed": 0})
    assert list(tmp_path.iterdir()) == []
    assert describe_error(OSError(errno.ENOSPC, "No space left on device", "/a/b/run.json")).startswith(
        "disk full: no space left on the device writing run.json")


def _fill_the_disk(monkeypatch):
    """The feature cache's next chunk (or a checkpoint) finds the disk full."""
    from dgl_engine import lifecycle

    monkeypatch.setattr(lifecycle, "load_data", _enospc)


def test_a_run_that_fills_the_disk_fails_with_disk_full_in_both_places(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    prepared = prepare(small_config(methods=("joint",), samples_per_class=12, epochs=1, evals_per_epoch=1))
    run_id = create_run(store, prepared, status="running")
    _fill_the_disk(monkeypatch)
    outcome = execute_run(prepared, store, run_id)
    assert outcome.status == "failed" and outcome.error.startswith("disk full: ")
    record = store.read(run_id)
    assert record["status"] == "failed" and record["error"] == outcome.error


def test_when_even_run_json_cannot_be_replaced_it_is_rewritten_in_place(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    prepared = prepare(small_config(methods=("joint",), samples_per_class=12, epochs=1, evals_per_epoch=1))
    run_id = create_run(store, prepared, status="running")
    _fill_the_disk(monkeypatch)
    real_update = RunStore.update

    def update(self, rid, **fields):
        if fields.get("status") == "failed":  # the final write: the disk refuses a temporary copy
            _enospc()
        return real_update(self, rid, **fields)
    monkeypatch.setattr(RunStore, "update", update)
    outcome = execute_run(prepared, store, run_id)
    record = store.read(run_id)
    assert record["status"] == "failed" and record["error"] == outcome.error and "disk full" in outcome.error


def test_torch_reports_a_full_disk_without_errno(tmp_path, monkeypatch):
    import shutil

    import torch

    def save(obj, f):
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0")
    monkeypatch.setattr(torch, "save", save)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(100, 100, 0))
    store = RunStore(tmp_path)
    run_id = store.create({})
    with pytest.raises(OSError) as exc:
        store.save_model(run_id, "dgl", {"w": torch.zeros(2)}, {})
    assert describe_error(exc.value).startswith("disk full: ")
