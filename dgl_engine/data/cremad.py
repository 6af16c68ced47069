"""CREMA-D (Cao et al. 2014): 7,442 clips of 91 actors saying 12 sentences in 6 emotions.

Layouts accepted under the root:
- the release: ``AudioWAV/<clip>.wav`` and ``VideoFlash/<clip>.flv``; without ``AudioWAV/`` the
  sound is the FLV's own (MP3) track;
- the official DGL/OGM-GE code's: ``AudioWAV/<clip>.wav`` (or ``<clip>.wav`` in the root) and
  frames extracted at 1 fps in ``Image-01-FPS/<clip>/*.jpg`` (used before ``VideoFlash/``).

The label is in the name, ``{actor}_{sentence}_{EMOTION}_{level}``. Splits: the OGM-GE/DGL
``train.csv`` and ``test.csv`` (rows ``clip,EMOTION``) in the root, in ``splits/`` or in the
folder ``DataConfig.splits`` names; clips they list but the root lacks are counted and reported.
A malformed row (not ``clip,EMOTION``, a label its name contradicts, a clip in both files) is
skipped and reported with its line and why. Without split files, a seeded split by actor (10%
of actors for test). Validation: 10% of the training clips, whole actors when there are enough.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from dgl_engine.errors import ConfigError
from dgl_engine.data.catalog import Catalog, Sample, assign_splits, carve_val, skipped_rows_note, text_rows, with_split

# The official code's label order (class_dict in OGM-GE/DGL's CramedDataset).
EMOTIONS = ("NEU", "HAP", "SAD", "FEA", "DIS", "ANG")
NAMES = {"NEU": "neutral", "HAP": "happy", "SAD": "sad", "FEA": "fear", "DIS": "disgust", "ANG": "anger"}
CLIP = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")
FRAMES = "Image-01-FPS"


def detect(root: Path) -> bool:
    return any((root / d).is_dir() for d in ("AudioWAV", "VideoFlash", FRAMES))


def _files(folder: Path, suffix: str) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in folder.iterdir() if p.suffix.lower() == suffix and CLIP.match(p.stem)}


def find_split_files(root: Path, splits: str | None, resolve) -> tuple[Path, Path] | None:
    """(train.csv, test.csv): in the folder `splits` names (relative to the root, or a path
    inside a data root), else in the root or root/splits; None when there are none."""
    if splits:
        inside = Path(os.path.abspath(root / splits)).is_relative_to(root)  # by name, no '..' out of it
        if Path(splits).is_absolute():
            folder = resolve(splits)  # refused outside the data roots
        elif inside and (root / splits).is_dir():
            folder = root / splits  # a folder of the dataset (it may be a link, like its other folders)
        else:
            try:
                folder = resolve(splits)
            except ConfigError:
                raise ConfigError(f"splits folder {splits!r} not found in {root} or the data roots; expected a folder "
                                  "with train.csv and test.csv (rows clip,EMOTION)") from None
        candidates = [folder]
    else:
        candidates = [root, root / "splits"]
    for folder in candidates:
        train, test = folder / "train.csv", folder / "test.csv"
        if train.is_file() and test.is_file():
            return train, test
        if train.is_file() != test.is_file():
            have, lack = (train, test) if train.is_file() else (test, train)
            raise ConfigError(f"{folder}: found {have.name} but not {lack.name}; CREMA-D splits need both")
    if splits:
        raise ConfigError(f"--splits {splits}: expected train.csv and test.csv (rows clip,EMOTION) in {candidates[0]}")
    return None


def _row_problem(row: list[str]) -> str | None:
    """Why a split-file row is not 'clip,EMOTION' with a matching name (None: it is)."""
    if len(row) < 2 or not CLIP.match(row[0].strip()) or row[1].strip() not in EMOTIONS:
        return (f"expected 'clip,EMOTION' (e.g. 1001_DFA_ANG_XX,ANG, EMOTION one of {' '.join(EMOTIONS)}), "
                f"got {','.join(row)[:60]!r}")
    clip, emotion = row[0].strip(), row[1].strip()
    if CLIP.match(clip).group(3) != emotion:
        return f"{clip} is labelled {emotion}, but its name says {CLIP.match(clip).group(3)}"
    return None


def read_split_file(path: Path) -> tuple[dict[str, str], list[dict]]:
    """({clip: EMOTION}, skipped rows [{"file": "<name> line N", "reason"}]) from an OGM-GE
    split CSV: a malformed row is skipped and reported, never fatal."""
    lines, skipped = text_rows(path, lambda line: next(csv.reader([line]), []))
    rows = {}
    for n, row in lines:
        problem = _row_problem(row)
        if problem is not None:
            skipped.append({"file": f"{path.name} line {n}", "reason": problem})
            continue
        rows[row[0].strip()] = row[1].strip()
    return rows, skipped


def scan(root: Path, data, seed: int, resolve) -> Catalog:
    """The CREMA-D clips under `root` with their splits (see the module docstring)."""
    wavs = _files(root / "AudioWAV", ".wav") or _files(root, ".wav")
    flvs = _files(root / "VideoFlash", ".flv")
    frame_dir = root / FRAMES
    frames = {p.name: p for p in frame_dir.iterdir() if p.is_dir() and CLIP.match(p.name)} if frame_dir.is_dir() else {}
    pictures: dict[str, Path] = {**flvs, **frames}  # extracted frames win: the official pipeline's
    skipped, notes = [], []
    samples = []
    for clip in sorted(set(wavs) | set(pictures)):
        if clip not in pictures:
            skipped.append({"file": str(wavs[clip].relative_to(root)), "reason": "no video (VideoFlash/ or Image-01-FPS/)"})
            continue
        if clip not in wavs and clip in frames and clip not in flvs:
            skipped.append({"file": f"{FRAMES}/{clip}", "reason": "no audio (AudioWAV/)"})
            continue
        # No WAV: the FLV's own track (when the pictures are extracted frames, from the FLV file).
        audio = wavs.get(clip) or (flvs.get(clip) if clip in frames else None)
        samples.append(Sample(clip=clip, label=CLIP.match(clip).group(3), audio=str(audio) if audio else None,
                              visual=str(pictures[clip]), group=clip[:4]))
    if not samples:
        raise ConfigError(
            f"{root}: no CREMA-D clips found; expected AudioWAV/<actor>_<sentence>_<EMOTION>_<level>.wav with "
            f"VideoFlash/<clip>.flv or {FRAMES}/<clip>/*.jpg"
        )
    sound = "AudioWAV" if wavs else "the FLV audio track"
    picture = FRAMES if frames else "VideoFlash"
    layout = f"CREMA-D: sound from {sound}, pictures from {picture}"
    if not wavs:
        notes.append("no AudioWAV/ folder: the sound is taken from each FLV's own audio track")
    info: dict = {}
    split_files = find_split_files(root, data.splits, resolve)
    if split_files is not None:
        listed, bad_rows = {}, []
        for name, path in zip(("train", "test"), split_files):
            listed[name], bad = read_split_file(path)
            bad_rows += bad
        present = {s.clip for s in samples}
        both = sorted(set(listed["train"]) & set(listed["test"]))
        for clip in both:  # contradictory: left out of both
            bad_rows.append({"file": f"{clip}", "reason": "listed in both train.csv and test.csv: left out"})
            del listed["train"][clip], listed["test"][clip]
        skipped += bad_rows
        if bad_rows:
            notes.append(skipped_rows_note(bad_rows, "train.csv / test.csv"))
        if not present & (set(listed["train"]) | set(listed["test"])):
            raise ConfigError(
                f"{split_files[0].parent}: train.csv/test.csv list {len(listed['train']) + len(listed['test'])} clips, "
                f"none of the {len(present)} CREMA-D clips in {root}; expected the split files of this dataset"
            )
        missing = {k: sorted(set(v) - present) for k, v in listed.items()}
        unlisted = sorted(present - set(listed["train"]) - set(listed["test"]))
        samples = [s for s in samples if s.clip not in unlisted]
        samples = with_split(samples, set(listed["test"]), "test")
        samples = carve_val(samples, seed, data.val_fraction)
        layout += f"; splits from {split_files[0].parent.name}/train.csv, test.csv"
        info["split_files"] = {"train": str(split_files[0]), "test": str(split_files[1]),
                               "missing": {k: len(v) for k, v in missing.items()},
                               "missing_examples": {k: v[:5] for k, v in missing.items()},
                               "unlisted": len(unlisted), "skipped_rows": len(bad_rows)}
        n_missing = sum(len(v) for v in missing.values())
        if n_missing:
            notes.append(f"{n_missing} clips listed in the split files are not in {root.name} "
                         f"({len(missing['train'])} train, {len(missing['test'])} test)")
        if unlisted:
            notes.append(f"{len(unlisted)} clips are in no split file and are left out")
    else:
        samples = assign_splits(samples, seed, val_fraction=data.val_fraction)
        layout += "; seeded split by actor (no train.csv/test.csv)"
    info["emotions"] = NAMES
    return Catalog("cremad", root, layout, EMOTIONS, samples, skipped, notes, info)
