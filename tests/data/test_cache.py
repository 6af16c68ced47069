"""The feature cache: hits, resuming an interrupted run, invalidation, failures remembered."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from dgl_engine.config import DataConfig
from dgl_engine.data import cache as cache_mod
from dgl_engine.data import registry
from dgl_engine.data.export import write_folder


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("cachedata")
    write_folder(base / "clips", num_classes=3, per_class=6, seed=2)
    return base


@pytest.fixture(autouse=True)
def data_env(root: Path, monkeypatch):
    monkeypatch.setenv("DGL_LAB_DATA", str(root))


def folder(preset: str = "lab", **kw) -> DataConfig:
    return DataConfig(dataset="folder", preprocessing=preset, root="clips", **kw)


def chunks(home: Path) -> list[Path]:
    return sorted(home.glob(".cache/features/*/chunk-*.pt"))


def test_second_load_hits_the_cache(tmp_path: Path):
    seen = []
    first = registry.load_real(folder(), seed=0, home=tmp_path, progress=lambda d, t: seen.append((d, t)))
    assert first.info["cache"]["decoded"] == 18 and first.info["cache"]["hits"] == 0
    assert seen[0] == (0, 18) and seen[-1] == (18, 18) and len(seen) == 19
    assert Path(first.info["cache"]["dir"]).parent == tmp_path / ".cache" / "features"
    seen.clear()
    second = registry.load_real(folder(), seed=0, home=tmp_path, progress=lambda d, t: seen.append((d, t)))
    assert second.info["cache"]["decoded"] == 0 and second.info["cache"]["hits"] == 18
    assert seen == [(18, 18)]
    for split in ("train", "val", "test"):
        a, b = getattr(first, split), getattr(second, split)
        assert torch.equal(a.audio, b.audio) and torch.equal(a.visual, b.visual) and torch.equal(a.labels, b.labels)
        assert a.audio.is_contiguous() and a.visual.dtype == torch.float32  # one tensor per split, in memory


def test_subsets_and_presets_reuse_or_separate(tmp_path: Path):
    small = registry.load_real(folder(per_class=2), seed=0, home=tmp_path)
    assert small.info["cache"]["decoded"] == len(small.train) + len(small.val) + len(small.test)
    full = registry.load_real(folder(), seed=0, home=tmp_path)
    assert full.info["cache"]["hits"] == small.info["cache"]["decoded"]  # the subset's clips were reused
    paper = registry.cache_features(folder("paper"), seed=0, home=tmp_path)
    assert paper["decoded"] == 18 and paper["cache_dir"] != full.info["cache"]["dir"]  # preprocessing is in the key


def test_interrupted_caching_resumes(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(cache_mod, "CHUNK", 4)

    def stop_after(n):
        def progress(done, total):
            if done >= n:
                raise KeyboardInterrupt
        return progress

    with pytest.raises(KeyboardInterrupt):
        registry.cache_features(folder(), seed=0, home=tmp_path, progress=stop_after(10), workers=1)
    assert 8 <= sum(len(torch.load(c, weights_only=True)["keys"]) for c in chunks(tmp_path)) <= 11
    resumed = registry.cache_features(folder(), seed=0, home=tmp_path)
    assert resumed["cached"] >= 8 and resumed["cached"] + resumed["decoded"] == 18
    fresh = registry.load_real(folder(), seed=0, home=tmp_path / "fresh")
    again = registry.load_real(folder(), seed=0, home=tmp_path)
    assert again.info["cache"]["decoded"] == 0
    assert torch.equal(fresh.train.audio, again.train.audio) and torch.equal(fresh.test.visual, again.test.visual)


def test_a_changed_file_is_decoded_again(tmp_path: Path, root: Path):
    registry.cache_features(folder(), seed=0, home=tmp_path)
    clip = sorted((root / "clips").glob("*/*.mp4"))[0]
    st = clip.stat()
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    stats = registry.cache_features(folder(), seed=0, home=tmp_path)
    assert (stats["cached"], stats["decoded"]) == (17, 1)


def test_failures_are_remembered_and_reported(tmp_path: Path, monkeypatch):
    from dgl_engine.data.decode import MediaError
    from dgl_engine.data.preprocess import sample_inputs

    calls = []

    def flaky(sample, a, v):
        calls.append(sample.clip)
        if sample.clip.endswith("_002"):
            raise MediaError(f"{Path(sample.visual).name}: truncated or corrupt file (test)")
        return sample_inputs(sample, a, v)

    catalog = registry._catalog(folder(), seed=0)
    fc = registry._cache(catalog, folder(), tmp_path)
    stats = fc.fill(catalog.samples, extract=flaky)
    assert stats == {"cached": 0, "decoded": 15, "failed": 3}
    calls.clear()
    assert fc.fill(catalog.samples, extract=flaky)["failed"] == 0 and calls == []  # not retried
    data = registry.load_real(folder(), seed=0, home=tmp_path)
    assert data.info["failed"] == 3
    assert sorted(s["reason"] for s in data.info["skipped"]) == [
        f"{c}_002.mp4: truncated or corrupt file (test)" for c in data.classes]
    described = registry.describe(folder(), home=tmp_path)
    assert described["skipped_total"] == 3 and all(s["file"].endswith("_002.mp4") for s in described["skipped"])


def test_a_damaged_chunk_is_rebuilt(tmp_path: Path):
    registry.cache_features(folder(), seed=0, home=tmp_path)
    (chunk,) = chunks(tmp_path)
    chunk.write_bytes(b"not a torch file")
    stats = registry.cache_features(folder(), seed=0, home=tmp_path)
    assert stats["decoded"] == 18 and len(chunks(tmp_path)) == 1


def test_a_cache_of_another_version_is_not_trusted_and_is_kept(tmp_path: Path, monkeypatch):
    """A cache written before a change to what is decoded (CACHE_VERSION) is decoded afresh beside it."""
    old = registry.load_real(folder(), seed=0, home=tmp_path)
    monkeypatch.setattr(cache_mod, "CACHE_VERSION", cache_mod.CACHE_VERSION + 1)
    new = registry.load_real(folder(), seed=0, home=tmp_path)
    assert new.info["cache"]["decoded"] == 18 and new.info["cache"]["hits"] == 0
    assert new.info["cache"]["dir"] != old.info["cache"]["dir"] and Path(old.info["cache"]["dir"]).is_dir()
