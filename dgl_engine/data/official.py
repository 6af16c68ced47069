"""What the official CREMA-D loader does beyond features, where it can be copied.

- Frame choice (``dataset/CramedDataset.py`` lines 91-96): ``image_samples = os.listdir(dir)``,
  then ``image_samples[i]`` for i < fps (= 1): the first file the file system lists. The random
  ``select_index`` drawn on line 92 is never used. For a folder of extracted frames
  (``Image-01-FPS/<clip>/``) ``first_listed_frame`` takes that same file, so on the machine
  that holds the folder the frame is the official one. Its order is the file system's own
  (ext4 lists by a hash of the names seeded per file system, so it is an arbitrary but fixed
  frame per clip; tmpfs and some others list in creation order, i.e. the first frame). For a
  video file there is no listing to copy: we take its first frame (``VisualFeatures.frame ==
  "first"``), which is ``00000.jpg`` of the official extraction (``video_preprocessing.py``).
- The test loader (``main_dgl.py`` lines 287-288): ``shuffle=False, drop_last=True`` with the
  training batch size, over test.csv's rows in file order (those whose files exist): it scores
  the first ``len // batch * batch`` of them (704 of CREMA-D's 744 at batch 64).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from dgl_engine.data.catalog import Sample
from dgl_engine.data.decode import SUPPORTED_IMAGE
from dgl_engine.data.features import VisualFeatures


def first_listed_frame(sample: Sample, spec: VisualFeatures) -> Sample:
    """The sample with its folder of frames replaced by the first image os.listdir returns
    (when ``spec.frame == "first"``); any other sample as it is. The cache then keys the clip
    by that one file, so a listing that changes decodes the clip again."""
    folder = Path(sample.visual) if sample.visual else None
    if spec.frame != "first" or folder is None or not folder.is_dir():
        return sample
    try:
        names = [n for n in os.listdir(folder) if Path(n).suffix.lower() in SUPPORTED_IMAGE]
    except OSError:
        return sample  # decoding the folder reports what is wrong with it
    if not names:
        return sample
    return dataclasses.replace(sample, visual=str(folder / names[0]))


def file_order(clips: list[str], listed: list[str]) -> torch.Tensor:
    """Rows of a split whose clips are ``clips`` (in the split's order), reordered as the split
    file lists them (``listed``); clips the file does not list go last, by name."""
    rank = {clip: i for i, clip in enumerate(listed)}
    return torch.tensor(sorted(range(len(clips)), key=lambda r: (rank.get(clips[r], len(rank)), clips[r])),
                        dtype=torch.long)


def drop_last_subset(order: torch.Tensor | None, batch_size: int) -> torch.Tensor | None:
    """The rows a ``DataLoader(shuffle=False, drop_last=True, batch_size)`` over ``order`` would
    score: its first ``len // batch_size * batch_size`` (possibly none); None without an order."""
    if order is None:
        return None
    return order[: len(order) // batch_size * batch_size]
