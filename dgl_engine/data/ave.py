"""AVE, the Audio-Visual Event dataset (Tian et al. 2018): 4,143 ten-second YouTube videos of
28 event categories, each with the seconds where the event is both heard and seen.

    root/AVE/<VideoID>.mp4
    root/Annotations.txt                   Category&VideoID&Quality&StartTime&EndTime
    root/trainSet.txt valSet.txt testSet.txt   the same format (the official split)

The first line of each file may be that header. A clip's features come from its annotated
event window (StartTime to EndTime), where sound and picture agree. Without the split files,
a seeded split (10% test, 10% validation per category). Videos an annotation names but the
folder lacks are counted and reported. A malformed row (the official Annotations.txt has one
with an empty event window, ``Church bell&VWi2ENBuTbw&good&0&0``) is skipped and reported with
its line and why; only a file with no usable row at all is refused.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from dgl_engine.errors import ConfigError
from dgl_engine.data.catalog import Catalog, Sample, assign_splits, carve_val, skipped_rows_note, text_rows
from dgl_engine.data.decode import SUPPORTED_VIDEO

ANNOTATIONS = "Annotations.txt"
SPLIT_FILES = {"train": "trainSet.txt", "val": "valSet.txt", "test": "testSet.txt"}
HEADER = ("category", "videoid", "quality", "starttime", "endtime")


def detect(root: Path) -> bool:
    return (root / ANNOTATIONS).is_file()


def _row_problem(fields: list[str]) -> str | None:
    """Why a row is not Category&VideoID&Quality&StartTime&EndTime (None: it is)."""
    if len(fields) != 5:
        return f"expected 5 fields Category&VideoID&Quality&StartTime&EndTime, got {len(fields)}"
    category, video, _quality, start, end = fields
    if not category or not video:
        return "empty category or video id"
    try:
        start_s, end_s = float(start), float(end)
    except ValueError:
        return f"start and end must be seconds, got {start[:20]!r} and {end[:20]!r}"
    if not (math.isfinite(start_s) and math.isfinite(end_s)) or start_s < 0:
        return f"start and end must be seconds from 0, got {start[:20]!r} and {end[:20]!r}"
    if end_s == start_s:
        return f"empty event window ({start}-{end} s)"
    if end_s < start_s:
        return f"the event window ends before it starts ({start}-{end} s)"
    return None


def read_annotations(path: Path) -> tuple[list[tuple[str, str, float, float]], list[dict]]:
    """([(category, video_id, start, end)], skipped rows [{"file": "<name> line N", "reason"}]).
    ConfigError only when no row at all can be used."""
    lines, skipped = text_rows(path, lambda line: [x.strip() for x in line.split("&")])
    rows = []
    for n, fields in lines:
        if n == lines[0][0] and tuple(x.lower().replace(" ", "") for x in fields) == HEADER:
            continue
        problem = _row_problem(fields)
        if problem is not None:
            skipped.append({"file": f"{path.name} line {n}", "reason": problem})
            continue
        category, video, _quality, start, end = fields
        rows.append((category, video, float(start), float(end)))
    if not rows:
        first = f" (e.g. {skipped[0]['file']}: {skipped[0]['reason']})" if skipped else ""
        raise ConfigError(f"{path}: no usable rows{first}; expected Category&VideoID&Quality&StartTime&EndTime "
                          "(e.g. Church bell&RUhOCu3LNXM&good&0&10)")
    return rows, sorted(skipped, key=lambda s: int(s["file"].rsplit(" ", 1)[1]))


def scan(root: Path, data, seed: int) -> Catalog:
    rows, skipped = read_annotations(root / ANNOTATIONS)
    videos_dir = root / "AVE" if (root / "AVE").is_dir() else root
    videos = {p.stem: p for p in videos_dir.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_VIDEO}
    if not videos:
        raise ConfigError(f"{root}: no videos; expected AVE/<VideoID>.mp4 next to {ANNOTATIONS}")
    seen: dict[str, int] = {}
    samples, missing = [], []
    for category, video, start, end in rows:
        if video not in videos:
            missing.append(video)
            continue
        seen[video] = seen.get(video, 0) + 1
        clip = video if seen[video] == 1 else f"{video}#{seen[video]}"
        samples.append(Sample(clip=clip, label=category, audio=None, visual=str(videos[video]),
                              group=video, window=(start, end)))
    if not samples:
        raise ConfigError(f"{root}: {ANNOTATIONS} names {len(rows)} videos, none of them in {videos_dir.name}/; "
                          "expected <VideoID>.mp4 files named as in the annotations")
    notes, info = [], {}
    annotated = {s.group for s in samples}
    unlisted = sorted(set(videos) - annotated)
    split_paths = {k: root / v for k, v in SPLIT_FILES.items() if (root / v).is_file()}
    if split_paths:
        if "train" not in split_paths or "test" not in split_paths:
            raise ConfigError(f"{root}: found {', '.join(p.name for p in split_paths.values())}; "
                              f"the AVE split needs {SPLIT_FILES['train']} and {SPLIT_FILES['test']} ({SPLIT_FILES['val']} optional)")
        where = {}
        for split, path in split_paths.items():
            split_rows, bad = read_annotations(path)
            skipped += bad
            for _, video, start, end in split_rows:
                where[(video, start, end)] = split
        samples = [dataclasses.replace(s, split=where[(s.group, *s.window)]) for s in samples
                   if (s.group, *s.window) in where]
        if not samples:
            raise ConfigError(f"{root}: the split files list none of the annotated videos found; expected the AVE split files")
        samples = carve_val(samples, seed, data.val_fraction)
        layout = "AVE: annotated videos, official split files"
    else:
        samples = assign_splits(samples, seed, test_fraction=0.1, val_fraction=data.val_fraction)
        layout = "AVE: annotated videos, seeded split (no trainSet.txt/testSet.txt)"
    if skipped:
        notes.append(skipped_rows_note(skipped, "the annotation and split files"))
    if missing:
        notes.append(f"{len(missing)} annotated videos are not in {videos_dir.name}/ (e.g. {missing[0]})")
    if unlisted:
        notes.append(f"{len(unlisted)} videos in {videos_dir.name}/ have no annotation and are left out")
    info["annotations"] = {"rows": len(rows), "missing_videos": len(missing), "missing_examples": missing[:5],
                           "unannotated_videos": len(unlisted), "skipped_rows": len(skipped)}
    classes = tuple(sorted({s.label for s in samples}))
    return Catalog("ave", root, layout, classes, samples, skipped, notes, info)
