"""Trained runs for the prediction tests (session-scoped: trained once)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import small_config


def train_run(home, config, run_id: str) -> str:
    """Train `config` into the store at `home` with one intra-op thread (much faster on a busy
    2-core machine) and mark it finished."""
    from dgl_engine.lifecycle import execute_run, prepare
    from dgl_engine.store import RunStore

    store = RunStore(home)
    prepared = prepare(config)
    store.create(prepared.config.to_dict(), run_id=run_id, status="running")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        outcome = execute_run(prepared, store, run_id)
    finally:
        torch.set_num_threads(threads)
    assert outcome.status == "finished", outcome.error
    return run_id


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """(home, run_id): joint + DGL trained well enough that DGL's test accuracy is above 80%."""
    home = tmp_path_factory.mktemp("predict-runs")
    config = small_config(methods=("joint", "dgl"), samples_per_class=300, epochs=4, lr=0.03,
                          evals_per_epoch=1, diagnostics_every=1000)
    return home, train_run(home, config, "accurate")


@pytest.fixture(scope="session")
def unimodal_run(tmp_path_factory):
    """(home, run_id): quick audio-only and visual-only models (accuracy irrelevant)."""
    home = tmp_path_factory.mktemp("predict-unimodal")
    config = small_config(methods=("audio-only", "visual-only"), samples_per_class=30, epochs=1,
                          evals_per_epoch=1, diagnostics_every=1000)
    return home, train_run(home, config, "unimodal")


def bad_files(tmp_path, shared_data):
    """(file, words its message must hold) for every way an upload can be bad."""
    from dgl_engine.data import decode, encode

    webm = (shared_data / "clips" / "big_buck_bunny_432_433.webm").read_bytes()
    mp4 = (shared_data / "clips" / "example2.mp4").read_bytes()
    cases = {
        "empty.mp4": (b"", "empty file"),
        "notes.mp4": (b"shopping list\n- milk\n- eggs\n" * 20, "not a media file"),
        "cut.mp4": (mp4[: len(mp4) // 3], "truncated or corrupt"),
        "cut.webm": (webm[: len(webm) // 3], "truncated or corrupt"),
        "codec.webm": (webm.replace(b"V_VP8", b"V_QQ8").replace(b"A_VORBIS", b"A_QQRBIS"), "unsupported codec"),
        "notes.txt": (b"hello", "unsupported file type"),
    }
    paths = {}
    for name, (data, words) in cases.items():
        (tmp_path / name).write_bytes(data)
        paths[tmp_path / name] = words
    encode.write_wav(tmp_path / "blip.wav", np.zeros(40, np.float32), 8000)  # shorter than a spectrogram frame
    paths[tmp_path / "blip.wav"] = "shorter than one spectrogram frame"
    with open(tmp_path / "huge.mp4", "wb") as f:  # sparse: over the limit without writing 200 MB
        f.truncate(decode.DEFAULT_MAX_BYTES + 1)
    paths[tmp_path / "huge.mp4"] = "over the 200 MB limit"
    return paths
