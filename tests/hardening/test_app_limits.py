"""The app's side: one upload limit, no tracebacks for users, no work redone on a rerun, and a
README whose "Limits" section lists every bound."""

from __future__ import annotations

import io
import re
import tomllib
import wave
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dgl_engine import limits

REPO = Path(__file__).resolve().parents[2]
PAGES = REPO / "app" / "pages"


def test_the_upload_limit_is_one_number():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == limits.MAX_UPLOAD_MB
    page = (PAGES / "predict.py").read_text()
    assert "MAX_UPLOAD_MB" in page and not re.search(r"MAX_UPLOAD_MB\s*=", page)  # the engine's, not a copy
    assert config["client"]["showErrorDetails"] in ("type", "none")  # no traceback with server paths


def test_the_readme_lists_every_limit():
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Limits"):]
    section = section[: section.index("\n## ", 5)]
    for name in limits.names():
        assert f"`{name}`" in section, name


def _wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as f:
        f.setnchannels(1), f.setsampwidth(2), f.setframerate(16000)
        f.writeframes((0.3 * np.sin(np.arange(16000) / 5) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


@pytest.fixture
def two_models(model_home, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(model_home / "hostile", tmp_path / "hostile")
    models = tmp_path / "hostile" / "models"
    for suffix in (".pt", ".json"):
        shutil.copy(models / f"dgl{suffix}", models / f"joint{suffix}")
    sidecar = (models / "joint.json").read_text().replace('"method": "dgl"', '"method": "joint"')
    (models / "joint.json").write_text(sidecar)
    monkeypatch.setenv("DGL_LAB_HOME", str(tmp_path))
    from app import state

    state._engine_for.clear()
    yield tmp_path
    state._engine_for.clear()


def test_predict_page_decodes_a_file_once(two_models, monkeypatch):
    import dgl_engine.api as api

    calls = []
    real = api.predict_many
    monkeypatch.setattr(api, "predict_many", lambda predictors, *a, **k: calls.append([p.method for p in predictors])
                        or real(predictors, *a, **k))
    at = AppTest.from_file(str(PAGES / "predict.py"), default_timeout=60)
    at.run()
    at.session_state["predict_mode"] = "Upload a clip"
    at.run()
    at.file_uploader[0].set_value(("tone.wav", _wav(), "audio/wav"))
    at.run()
    assert not at.exception and calls == [["joint", "dgl"]]
    at.multiselect(key="predict_methods_hostile").set_value(["dgl"]).run()  # a widget changes: nothing decoded
    at.run()
    at.multiselect(key="predict_methods_hostile").set_value(["dgl", "joint"]).run()
    assert not at.exception and calls == [["joint", "dgl"]]


def test_results_page_builds_downloads_only_on_request(two_models, monkeypatch):
    import json
    import pathlib

    from app import tables

    record = {"run_id": "hostile", "status": "finished", "config": {"methods": ["dgl"]}, "created": 1.0,
              "results": {}, "warnings": [], "error": None}
    (two_models / "hostile" / "run.json").write_text(json.dumps(record))
    (two_models / "hostile" / "metrics.jsonl").write_text("")
    read = []
    real = pathlib.Path.read_bytes
    monkeypatch.setattr(pathlib.Path, "read_bytes", lambda self: read.append(self.name) or real(self))
    monkeypatch.setattr(tables, "metrics_csv", lambda events: pytest.fail("CSV built on a rerun"))
    at = AppTest.from_file(str(PAGES / "results.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert not [n for n in read if n.endswith(".pt")]
    labels = [b.proto.label for b in at.get("download_button")]
    assert "dgl model (.pt)" in labels and any("CSV" in label for label in labels)
