"""The run lifecycle in-process: a method that raises or diverges fails its run with one line
in run.json and a traceback beside it; nothing propagates to the caller."""

from __future__ import annotations

import torch

from dgl_engine.lifecycle import run
from dgl_engine.methods.joint import Joint
from dgl_engine.store import RunStore
from tests.conftest import small_config


def test_a_raising_or_diverging_method_fails_its_run_with_a_readable_reason(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    original = Joint.backward

    def boom(self, *args):
        raise RuntimeError("boom in the method\nsecond line of detail")

    monkeypatch.setattr(Joint, "backward", boom)
    failed = run(small_config(methods=("joint",), samples_per_class=20, epochs=1), store)
    assert (failed.status, failed.error) == ("failed", "RuntimeError: boom in the method")
    assert store.read(failed.run_id)["status"] == "failed" and store.read(failed.run_id)["error"] == failed.error
    assert "Traceback" in (store.run_dir(failed.run_id) / "traceback.txt").read_text()

    def nan_loss(self, model, audio, visual, labels):
        return {**original(self, model, audio, visual, labels), "total": torch.tensor(float("nan"))}

    monkeypatch.setattr(Joint, "backward", nan_loss)
    diverged = run(small_config(methods=("joint",), samples_per_class=20, epochs=1), store)
    assert diverged.status == "failed" and "diverged" in diverged.error and "\n" not in diverged.error
    assert "joint" in diverged.error and "learning rate" in diverged.error
