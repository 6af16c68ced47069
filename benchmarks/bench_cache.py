"""Feature cache: caching throughput, and one epoch's input time from the cache vs decoding on the fly.

Run from the repository root: ``.venv/bin/python benchmarks/bench_cache.py``. Prints figures only.
Datasets: a folder of 60 clips written by the synthetic exporter (3 classes x 20, 1 s H.264 +
AAC), and the CREMA-D samples of ../shared/data (6 FLV clips of actor 1001 with AudioWAV), in
the ``lab`` and ``paper`` presets. Each epoch figure covers every clip once in batches of 64:
"from cache" is what the trainer does (index the in-memory split tensors), "on the fly" decodes
and computes features for every clip, and "model" is a joint forward + backward of the tiny
encoders on the same batches, for scale: input time far below model time = not input-bound.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from dgl_engine.config import DataConfig, ModelConfig  # noqa: E402
from dgl_engine.data import registry  # noqa: E402
from dgl_engine.data.export import write_folder  # noqa: E402
from dgl_engine.data.preprocess import sample_inputs  # noqa: E402

DATA = REPO.parent / "shared" / "data"
BATCH = 64


def epoch_from_cache(data) -> float:
    t0 = time.perf_counter()
    order = torch.randperm(len(data.train))
    for b in range(0, len(order), BATCH):
        index = order[b: b + BATCH]
        _ = data.train.audio[index], data.train.visual[index], data.train.labels[index]
    return time.perf_counter() - t0


def epoch_on_the_fly(catalog, data) -> float:
    """Sequential, one torch thread (as the cache's decoding, so the comparison is fair)."""
    train = [s for s in catalog.samples if s.split == "train"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    for s in train:
        sample_inputs(s, data.audio_spec, data.visual_spec)
    seconds = time.perf_counter() - t0
    torch.set_num_threads(threads)
    return seconds


def epoch_model(data) -> float:
    from dgl_engine.models.av_model import build_model

    model = build_model(ModelConfig(encoder="tiny"), data.num_classes, seed=0).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    n = len(data.train)
    t0 = time.perf_counter()
    for b in range(0, n, BATCH):
        index = torch.arange(b, min(n, b + BATCH))
        if len(index) < 2:
            continue
        loss = torch.nn.functional.cross_entropy(model(data.train.audio[index], data.train.visual[index]), data.train.labels[index])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def bench(name: str, data_cfg: DataConfig, home: Path) -> None:
    catalog = registry._catalog(data_cfg, seed=0)
    n = len(catalog.samples)
    rates = []
    for workers in (1, None):
        sub = home / f"w{workers}"
        t0 = time.perf_counter()
        stats = registry.cache_features(data_cfg, seed=0, home=sub, workers=workers)
        seconds = time.perf_counter() - t0
        rates.append(f"{stats['decoded'] / seconds:6.1f} clips/s ({workers or min(8, os.cpu_count() or 1)} thread{'s' if workers != 1 else ''})")
    t0 = time.perf_counter()
    data = registry.load_real(data_cfg, seed=0, home=home / "w1")
    load = time.perf_counter() - t0
    cache_s, fly_s, model_s = epoch_from_cache(data), epoch_on_the_fly(catalog, data), epoch_model(data)
    print(f"{name} [{data_cfg.preprocessing}]: {n} clips, train {len(data.train)}, audio {tuple(data.train.audio.shape[1:])}, "
          f"visual {tuple(data.train.visual.shape[1:])}")
    print(f"  caching: {', '.join(rates)}")
    print(f"  load from warm cache: {load * 1000:7.1f} ms (all splits, normalised)")
    print(f"  one epoch of inputs: from cache {cache_s * 1000:8.2f} ms | on the fly {fly_s * 1000:8.1f} ms "
          f"({fly_s / max(cache_s, 1e-9):,.0f}x) | tiny model fwd+bwd {model_s * 1000:7.1f} ms")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["DGL_LAB_DATA"] = str(tmp / "data")
        t0 = time.perf_counter()
        write_folder(tmp / "data" / "clips", num_classes=3, per_class=20, seed=0)
        print(f"wrote 60 synthetic clips in {time.perf_counter() - t0:.1f} s; torch threads {torch.get_num_threads()}, "
              f"{os.cpu_count()} CPUs")
        bench("folder (synthetic exporter)", DataConfig(dataset="folder", preprocessing="lab", root="clips"), tmp / "h1")
        bench("folder (synthetic exporter)", DataConfig(dataset="folder", preprocessing="paper", root="clips"), tmp / "h2")
        cremad = DATA / "cremad"
        if cremad.is_dir():
            root = tmp / "data" / "cremad"
            root.mkdir()
            (root / "AudioWAV").symlink_to(cremad / "AudioWAV_resampled", target_is_directory=True)
            (root / "VideoFlash").symlink_to(cremad / "VideoFlash", target_is_directory=True)
            for preset in ("lab", "paper"):
                bench("CREMA-D samples", DataConfig(dataset="cremad", preprocessing=preset, root="cremad"), tmp / f"c{preset}")
        else:
            print(f"CREMA-D samples: missing ({DATA} not present)")


if __name__ == "__main__":
    main()
