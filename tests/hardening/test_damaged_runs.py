"""Damaged run folders are listed as damaged, with the reason, and everything else carries on.

Before, a run.json that was ``[]``, one with ``"created": "yesterday"`` and one naming another
folder each made engine start-up raise, so every page of the app showed a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dgl_engine.engine import Engine
from dgl_engine.store import RunStore, StoreError

REPO = Path(__file__).resolve().parents[2]
PAGES = REPO / "app" / "pages"


def _record(run_id: str, **fields) -> dict:
    return {"run_id": run_id, "status": "finished", "config": {"methods": ["dgl"], "data": {"dataset": "synthetic"}},
            "created": 1_700_000_000.0, "results": {"dgl": {"acc": 0.5}}, "error": None, "warnings": [], **fields}


DAMAGED = {  # folder: (run.json text, words of the reason)
    "list": ("[]", "not an object"),
    "yesterday": (json.dumps(_record("yesterday", created="yesterday")), "created is 'yesterday'"),
    "impostor": (json.dumps(_record("good")), "names run 'good'"),
    "torn": ('{"run_id": "torn", "status": "runn', "not valid JSON"),
    "empty": ("", "not valid JSON"),
    "binary": ("\udcff\x00\x01", "not valid JSON"),
    "nested": ("[" * 50_000 + "]" * 50_000, "not"),
    "status": (json.dumps(_record("status", status="exploded")), "unknown status"),
    "acc-text": (json.dumps(_record("acc-text", results={"dgl": {"acc": "high"}})), "results of 'dgl'"),
    "methods-text": (json.dumps(_record("methods-text", config={"methods": "dgl"})), "config.methods"),
    "config-list": (json.dumps(_record("config-list", config=[1, 2])), "config is '[1, 2]'"),
    "pid-text": (json.dumps(_record("pid-text", status="running", pid="abc")), "pid"),
    "nan-created": ('{"run_id": "nan-created", "status": "finished", "created": NaN}', "created"),
}


@pytest.fixture
def home(tmp_path) -> Path:
    for folder, (text, _) in DAMAGED.items():
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "run.json").write_text(text, encoding="utf-8", errors="surrogateescape")
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "run.json").write_text(json.dumps(_record("good")))
    (tmp_path / "good" / "metrics.jsonl").write_text("")
    (tmp_path / ".cache").mkdir()  # not a run
    return tmp_path


def _tree(folder: Path) -> dict:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_store_lists_damaged_runs_with_the_reason(home):
    before = _tree(home)
    records = {r["run_id"]: r for r in RunStore(home).list()}
    assert set(records) == {*DAMAGED, "good"}
    assert records["good"]["status"] == "finished"
    for folder, (_, words) in DAMAGED.items():
        assert records[folder]["status"] == "damaged" and words in records[folder]["error"], records[folder]
        with pytest.raises(StoreError, match="is damaged"):
            RunStore(home).read(folder)
        with pytest.raises(StoreError):
            RunStore(home).update(folder, status="finished")  # never written over
    assert RunStore(home).mark_interrupted() == []
    assert _tree(home) == before


def test_the_engine_starts_and_lists_beside_them(home):
    engine = Engine(home=home, start=False)
    runs = {r["run_id"]: r["status"] for r in engine.runs()}
    assert runs["good"] == "finished" and runs["list"] == "damaged"
    assert engine.snapshot("good").status == "finished"
    with pytest.raises(StoreError, match="is damaged"):
        engine.snapshot("impostor")
    engine.delete("list")  # a damaged run can be deleted
    assert not (home / "list").exists()


def test_the_cli_lists_them(home):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "dgl_engine", "runs", "--home", str(home), "--json"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = {row["run_id"]: row for row in json.loads(r.stdout)}
    assert rows["yesterday"]["status"] == "damaged" and "created is 'yesterday'" in rows["yesterday"]["error"]
    r = subprocess.run([sys.executable, "-m", "dgl_engine", "runs", "--home", str(home)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and "damaged" in r.stdout and "Traceback" not in r.stderr


@pytest.mark.parametrize("page", ["results", "live", "predict", "why", "experiment"])
def test_every_page_works_beside_them(home, monkeypatch, page):
    monkeypatch.setenv("DGL_LAB_HOME", str(home))
    from app import state

    state._engine_for.clear()
    try:
        at = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=60).run()
        assert not at.exception, at.exception
        if page == "results":
            table = at.dataframe[0].value
            assert table["status"].tolist().count("damaged") == len(DAMAGED)
            assert "created is 'yesterday'" in table.set_index("run").loc["yesterday", "name"]
    finally:
        state._engine_for.clear()


def test_selecting_a_damaged_run_says_why(home, monkeypatch):
    monkeypatch.setenv("DGL_LAB_HOME", str(home))
    from app import state

    state._engine_for.clear()
    try:
        at = AppTest.from_file(str(PAGES / "results.py"), default_timeout=60)
        at.query_params["run"] = "yesterday"
        at.run()
        assert not at.exception
        assert any("is damaged: created is 'yesterday'" in e.value for e in at.error)
    finally:
        state._engine_for.clear()
