"""The central effect, on the default experiment (seed 0), as the README and the Why page state
it: inside the joint model the visual encoder is far weaker than trained alone, and DGL's fused
model beats joint's. Trains the real default run (about 40 s on a 2-core CPU)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from dgl_engine.config import ExperimentConfig
from dgl_engine.lifecycle import run
from dgl_engine.store import RunStore


@pytest.mark.slow
def test_joint_starves_vision_and_dgl_fixes_the_fused_model(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        outcome = run(dataclasses.replace(ExperimentConfig(), device="cpu"), RunStore(tmp_path))
    finally:
        torch.set_num_threads(threads)
    assert outcome.status == "finished", outcome.error
    r = outcome.results
    gap = (r["visual-only"]["probe_visual"] - r["joint"]["probe_visual"]) * 100
    gain = (r["dgl"]["acc"] - r["joint"]["acc"]) * 100
    assert gap >= 10, f"joint's visual probe only {gap:.1f} points under visual-only's"
    assert gain >= 3, f"DGL's fused accuracy only {gain:+.1f} points over joint's"
