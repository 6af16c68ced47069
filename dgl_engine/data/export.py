"""Write the synthetic dataset out as real media files in the layouts the real loaders read:
a folder of clips (``root/<class>/<clip>.mp4``) and a tiny AVE (``AVE/*.mp4`` plus its
annotation files). Tests and benchmarks use them; users can too, to see the real-data path
work end to end before they bring their own clips.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch

from dgl_engine.config import SyntheticSettings
from dgl_engine.data.encode import write_mp4
from dgl_engine.data.synthetic import CLIP_SECONDS, REGIMES, SAMPLE_RATE, class_names, generate_raw


def synthetic_clips(num_classes: int, per_class: int, seed: int = 0, frames: int = 2,
                    settings: SyntheticSettings | None = None) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """[(class name, waveform (8000,) at 8 kHz, frames (T, 32, 32, 3) uint8)], per_class per class."""
    base = settings or REGIMES["balanced"]
    spc = math.ceil(per_class / base.split[0]) + 2  # generate_raw's train split holds ~62.5%
    s = dataclasses.replace(base, num_classes=num_classes, samples_per_class=spc, frames=frames)
    waves, pictures, labels = generate_raw(s, seed, "train")
    names = class_names(num_classes)
    out, taken = [], [0] * num_classes
    for wave, picture, label in zip(waves, pictures, labels.tolist()):
        if taken[label] < per_class:
            taken[label] += 1
            rgb = (picture.permute(0, 2, 3, 1) * 255).round().to(torch.uint8)  # (T, H, W, 3)
            out.append((names[label], wave, rgb))
    return out


def write_folder(dest, num_classes: int = 3, per_class: int = 6, seed: int = 0, frames: int = 2) -> Path:
    """A folder dataset ``dest/<class>/<class>_<k>.mp4`` (1 s clips: H.264 + AAC)."""
    dest = Path(dest)
    counts: dict[str, int] = {}
    for name, wave, rgb in synthetic_clips(num_classes, per_class, seed, frames):
        k = counts[name] = counts.get(name, 0) + 1
        (dest / name).mkdir(parents=True, exist_ok=True)
        write_mp4(dest / name / f"{name}_{k:03d}.mp4", rgb, rgb.shape[0] / CLIP_SECONDS, wave, SAMPLE_RATE)
    return dest


def write_ave(dest, num_classes: int = 3, per_class: int = 6, seed: int = 0) -> Path:
    """A tiny AVE layout: ``AVE/<id>.mp4``, ``Annotations.txt`` (with its header line) and
    ``trainSet.txt``/``valSet.txt``/``testSet.txt`` (4/1/1 of every 6 clips of a class). Each
    clip is 1 s; its event window is the whole clip, written as 0&1."""
    dest = Path(dest)
    (dest / "AVE").mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    counts: dict[str, int] = {}
    for name, wave, rgb in synthetic_clips(num_classes, per_class, seed, frames=2):
        k = counts[name] = counts.get(name, 0) + 1
        video = f"{name.replace('-', '')}{k:04d}"
        write_mp4(dest / "AVE" / f"{video}.mp4", rgb, rgb.shape[0] / CLIP_SECONDS, wave, SAMPLE_RATE)
        split = "test" if k % 6 == 0 else "val" if k % 6 == 5 else "train"
        rows[split].append(f"{name}&{video}&good&0&1")
    header = "Category&VideoID&Quality&StartTime&EndTime"
    everything = rows["train"] + rows["val"] + rows["test"]
    (dest / "Annotations.txt").write_text("\n".join([header, *everything]) + "\n")
    for split, file in (("train", "trainSet.txt"), ("val", "valSet.txt"), ("test", "testSet.txt")):
        (dest / file).write_text("\n".join(rows[split]) + "\n")
    return dest
