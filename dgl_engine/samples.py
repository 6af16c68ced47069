"""Sample clips from a run's own test split, as real media files to try prediction on.

Synthetic runs: the test split is regenerated deterministically from the run's config
(``generate_raw(settings, seed, "test")``, the very samples the run was tested on) and written
with ``encode.write_mp4``: frames (T, 3, 32, 32) in [0, 1] become uint8 (T, H, W, 3) video at the
model's frame rate, the 8 kHz waveform becomes its sound. Real-dataset runs: a few of the
dataset's test clips (the registry's previews: sound and pictures as the loader pairs them)
transcoded to MP4, when the dataset can still be listed; otherwise ``SamplesUnavailable``.

Files are named ``<class>_<n>.mp4``: n is the sample's index in the synthetic test split, or a
count per class for real datasets.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from dgl_engine.config import ExperimentConfig, experiment_from_dict
from dgl_engine.data.decode import MediaError
from dgl_engine.data.encode import write_mp4
from dgl_engine.files import atomic_write
from dgl_engine.store import RunStore, StoreError


class SamplesUnavailable(ValueError):
    """The run's dataset gives no sample clips (one line saying why)."""


@dataclass(frozen=True, eq=False)
class SyntheticSample:
    """One synthetic test sample as media."""

    index: int  # position in the test split
    label: int
    class_name: str
    waveform: torch.Tensor  # (L,) float32 in [-1, 1] at sample_rate
    frames: torch.Tensor  # (T, H, W, 3) uint8
    sample_rate: int
    fps: float

    @property
    def filename(self) -> str:
        return f"{self.class_name}_{self.index}.mp4"


def run_config(store: RunStore, run_id: str) -> ExperimentConfig:
    record = store.read(run_id)  # StoreError for an unknown run
    if not isinstance(record.get("config"), dict):
        raise StoreError(f"run {run_id}: run.json has no config")
    return experiment_from_dict(record["config"])


def pick_indices(labels: torch.Tensor, n: int, start: int = 0) -> list[int]:
    """``n`` test indices taking classes in turn (class 0's first sample, class 1's first, ...,
    then each class's second ...), skipping the first ``start`` picks."""
    per_class = [torch.nonzero(labels == c).flatten().tolist() for c in range(int(labels.max()) + 1)]
    order = [idx[k] for k in range(max(map(len, per_class))) for idx in per_class if k < len(idx)]
    return order[start : start + n] if order else []


def synthetic_samples(config: ExperimentConfig, n: int = 6, start: int = 0) -> list[SyntheticSample]:
    """``n`` samples of a synthetic run's test split, classes in turn (deterministic)."""
    from dgl_engine.data.synthetic import SAMPLE_RATE, VISUAL_SPEC, class_names, generate_raw

    settings = config.data.synthetic
    waves, frames, labels = generate_raw(settings, config.seed, "test")  # (N, L), (N, T, 3, H, W), (N,)
    names = class_names(settings.num_classes)
    out = []
    for i in pick_indices(labels, n, start):
        rgb = (frames[i].clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()  # (T, H, W, 3)
        label = int(labels[i])
        # Written at the model's frame rate, so decoding at that rate gives back each frame.
        out.append(SyntheticSample(i, label, names[label], waves[i].float(), rgb, SAMPLE_RATE, VISUAL_SPEC.fps))
    return out


def _write_synthetic(sample: SyntheticSample, path: Path) -> None:
    atomic_write(path, lambda p: write_mp4(p, sample.frames, sample.fps, sample.waveform, sample.sample_rate))


# ----------------------------------------------------------------------------- real datasets


def _real_clips(config: ExperimentConfig) -> list[tuple[str, str]]:
    """(class, clip name) of a few test clips of a real-dataset run (validation / training
    clips when the test split has none), classes in turn, from the dataset registry's
    previews; [] when the dataset cannot be listed (moved, or a registry without previews)."""
    try:
        from dgl_engine.data import registry

        previews = registry.describe(config.data, config.seed)["previews"]  # {class: [{"clip", "split", ...}]}
    except Exception:  # noqa: BLE001 - no dataset there any more: then there are no samples
        return []
    rank = {"test": 0, "val": 1, "train": 2}
    by_class = {c: sorted(v, key=lambda e: rank.get(e.get("split"), 3)) for c, v in previews.items() if v}
    return [(c, entries[k]["clip"]) for k in range(max(map(len, by_class.values()), default=0))
            for c, entries in by_class.items() if k < len(entries)]


def _write_real(config: ExperimentConfig, clip: str, path: Path) -> None:
    """One dataset clip (its sound and pictures, as the loader pairs them) as an MP4."""
    from dgl_engine.data import registry

    decoded = registry.preview_clip(config.data, clip, config.seed, sample_rate=16000, fps=15.0)
    if decoded.frames is None:
        raise MediaError(f"{clip}: no picture to write as a sample clip")
    fps = 15.0 if decoded.frames.shape[0] > 1 else 1.0
    atomic_write(path, lambda p: write_mp4(p, decoded.frames, fps, decoded.waveform, 16000))


def _unavailable(run_id: str, config: ExperimentConfig) -> SamplesUnavailable:
    return SamplesUnavailable(
        f"run {run_id} uses the {config.data.dataset} dataset: sample clips are not available "
        f"(its clips could not be listed at {config.data.root or 'its root'})")


# ----------------------------------------------------------------------------- entry points


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "clip"


def write_samples(store: RunStore, run_id: str, out_dir: str | os.PathLike, n: int = 6) -> list[Path]:
    """Write ``n`` test clips of the run as ``<class>_<n>.mp4`` into ``out_dir`` (created if
    needed). Raises StoreError (unknown run), SamplesUnavailable (a real dataset whose files
    cannot be found), MediaError; nothing is written before the run is known to have samples."""
    config = run_config(store, run_id)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SamplesUnavailable(f"--out {out}: not a folder")
    if config.data.dataset == "synthetic":
        samples = synthetic_samples(config, n)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for s in samples:
            _write_synthetic(s, out / s.filename)
            paths.append(out / s.filename)
        return paths
    clips = _real_clips(config)[:n]
    if not clips:
        raise _unavailable(run_id, config)
    out.mkdir(parents=True, exist_ok=True)
    paths, counts = [], {}
    for cls, clip in clips:
        counts[cls] = counts.get(cls, -1) + 1
        path = out / f"{_safe(cls)}_{counts[cls]}.mp4"
        _write_real(config, clip, path)
        paths.append(path)
    return paths


def sample_clip(store: RunStore, run_id: str, k: int = 0) -> tuple[str, bytes]:
    """The run's k-th sample clip (classes in turn, wrapping around) as (file name, MP4 bytes),
    made in memory / a temporary folder: for the app's "try a sample"."""
    config = run_config(store, run_id)
    if config.data.dataset == "synthetic":
        from dgl_engine.data.synthetic import split_sizes

        settings = config.data.synthetic
        total = split_sizes(settings)["test"] * settings.num_classes
        (s,) = synthetic_samples(config, 1, start=k % total)
        with tempfile.TemporaryDirectory(prefix="dgl-sample-") as tmp:
            path = Path(tmp) / s.filename
            _write_synthetic(s, path)
            return s.filename, path.read_bytes()
    clips = _real_clips(config)
    if not clips:
        raise _unavailable(run_id, config)
    cls, clip = clips[k % len(clips)]
    with tempfile.TemporaryDirectory(prefix="dgl-sample-") as tmp:
        path = Path(tmp) / f"{_safe(cls)}_{k % len(clips)}.mp4"
        _write_real(config, clip, path)
        return path.name, path.read_bytes()


__all__ = ["SamplesUnavailable", "SyntheticSample", "pick_indices", "sample_clip", "synthetic_samples",
           "write_samples", "run_config"]
