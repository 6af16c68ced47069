"""The app's door to the engine: everything it names exists, and the dataset helpers it adds
find, describe and decode a real folder dataset."""

from __future__ import annotations

import pytest

from dgl_engine import api
from dgl_engine.data.export import write_folder


def test_every_exported_name_exists():
    missing = [name for name in api.__all__ if not hasattr(api, name)]
    assert missing == []


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_folder(root / "clips", num_classes=2, per_class=4, seed=0)
    return root


def test_a_folder_dataset_is_found_described_and_previewed(data_root, monkeypatch):
    monkeypatch.setenv("DGL_LAB_DATA", str(data_root))
    found, problem = api.discover_datasets()
    assert problem is None
    assert [(d["dataset"], d["root"]) for d in found] == [("folder", str(data_root / "clips"))]

    data = api.DataConfig(dataset="folder", root=found[0]["root"], preprocessing="lab")
    description = api.describe_dataset(data, seed=0)
    assert len(description["classes"]) == 2 and description["total"] == 8
    clip = next(iter(description["previews"].values()))[0]["clip"]
    decoded = api.preview_clip(data, clip, 0, sample_rate=16000, fps=2.0)
    assert decoded.frames is not None and decoded.waveform is not None
    assert api.wav_bytes(decoded.waveform, decoded.sample_rate)[:4] == b"RIFF"


def test_a_broken_data_root_is_reported_not_raised(monkeypatch):
    def broken():
        raise PermissionError("/data/av: permission denied")

    monkeypatch.setattr(api.registry, "discover", broken)
    assert api.discover_datasets() == ([], "could not look for datasets: /data/av: permission denied")


def test_an_unusable_dataset_is_refused(data_root, monkeypatch):
    monkeypatch.setenv("DGL_LAB_DATA", str(data_root))
    with pytest.raises(api.ConfigError, match="not a cremad dataset"):
        api.describe_dataset(api.DataConfig(dataset="cremad", root=str(data_root / "clips"), preprocessing="lab"), seed=0)
