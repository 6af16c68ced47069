"""A real dataset as a list of clips, before anything is decoded: what each clip is made of,
its class, its split, and the group (actor, speaker, source video) it belongs to.

Each dataset module (``cremad``, ``folder``, ``ave``, ``avmnist``) turns a root folder into a
``Catalog``; ``select`` keeps the subset a ``DataConfig`` asks for; the feature cache turns the
selected clips into tensors. Splits are assigned on the whole catalog first and subsets are
prefixes of fixed seeded orders, so asking for fewer clips never moves a clip to another split
and a larger subset contains the smaller one (its cached features are reused).
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass, field
from pathlib import Path
import torch

from dgl_engine.errors import ConfigError

SPLITS = ("train", "val", "test")
VAL_FRACTION = 0.1  # validation carved from train when a dataset has none
MIN_GROUPS = 5  # split by group (actor, speaker) only when there are at least this many


@dataclass(frozen=True)
class Sample:
    """One clip. Paths are strings as found under the root (symlinks are not resolved)."""

    clip: str  # unique name shown to users and used in split files, e.g. "1001_DFA_ANG_XX"
    label: str  # class name
    split: str = "train"  # train | val | test
    audio: str | None = None  # file the sound comes from; None: the visual file's own track
    visual: str | None = None  # video or image file, a folder of frames (*.jpg), or an MNIST idx file
    group: str = ""  # actor / speaker / source video; a split never divides a group
    image: int | None = None  # AV-MNIST: row of the MNIST idx image file
    window: tuple[float, float] | None = None  # AVE: the annotated event (start, end) in seconds

    def files(self) -> list[str]:
        return [f for f in (self.audio, self.visual) if f]


@dataclass
class Catalog:
    """Every usable clip of one dataset root, with its split."""

    dataset: str
    root: Path
    layout: str  # what was found, in words ("AudioWAV + VideoFlash, OGM-GE split CSVs")
    classes: tuple[str, ...]  # in label order
    samples: list[Sample]
    skipped: list[dict] = field(default_factory=list)  # files not usable as clips: {"file", "reason"}
    notes: list[str] = field(default_factory=list)  # facts to show the user
    info: dict = field(default_factory=dict)  # dataset-specific facts for AVData.info

    def counts(self) -> dict[str, dict[str, int]]:
        """{split: {class: clips}} over every class, zeros included."""
        out = {s: {c: 0 for c in self.classes} for s in SPLITS}
        for s in self.samples:
            out[s.split][s.label] += 1
        return out

    def previews(self, per_class: int = 3) -> dict[str, list[dict]]:
        """A few clips per class (test first: they are the ones a model has not seen)."""
        out: dict[str, list[dict]] = {c: [] for c in self.classes}
        order = {"test": 0, "val": 1, "train": 2}
        for s in sorted(self.samples, key=lambda s: (order[s.split], s.clip)):
            if len(out[s.label]) < per_class:
                out[s.label].append({"clip": s.clip, "split": s.split, "audio": s.audio, "visual": s.visual,
                                     "image": s.image, "window": s.window})
        return out


def skipped_rows_note(skipped: list[dict], what: str) -> str:
    """One note for rows of an annotation or split file that were left out: how many, the
    first one and why ("3 rows of train.csv skipped (e.g. train.csv line 12: ...)")."""
    first = skipped[0]
    return (f"{len(skipped)} row{'s' if len(skipped) > 1 else ''} of {what} skipped "
            f"(e.g. {first['file']}: {first['reason']}); the other rows are used")


def text_rows(path: Path, split) -> tuple[list[tuple[int, list[str]]], list[dict]]:
    """([(line number, fields)], skipped) of a text file of rows: `split` turns a line into
    its fields. Empty lines are skipped and reported, except at the end of the file (where
    editors leave them); so is a file that is not text."""
    rows, blank, skipped = [], [], []
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                blank.append(n)
                continue
            skipped += [{"file": f"{path.name} line {b}", "reason": "empty line"} for b in blank]
            blank = []
            rows.append((n, split(line.strip("\r\n"))))
    return rows, skipped


def generator(seed: int, purpose: str) -> torch.Generator:
    """A generator for one purpose (so changing one random choice leaves the others alone)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(purpose.encode()))


def _round(x: float) -> int:
    """Half rounds up (Python's round sends 2.5 to 2)."""
    return int(x + 0.5)


def _permuted(items: list, g: torch.Generator) -> list:
    return [items[i] for i in torch.randperm(len(items), generator=g).tolist()]


def hold_out(samples: list[Sample], fraction: float, seed: int, purpose: str) -> set[str]:
    """Clip names of a seeded held-out part of about `fraction` of `samples`: whole groups when
    there are at least MIN_GROUPS of them holding several clips (speaker/actor-independent),
    otherwise clips drawn per class (at least one from each class with two or more clips, at
    least one overall)."""
    if len(samples) < 2:
        return set()
    g = generator(seed, purpose)
    groups: dict[str, list[Sample]] = {}
    for s in sorted(samples, key=lambda s: s.clip):
        groups.setdefault(s.group or s.clip, []).append(s)
    if len(groups) >= MIN_GROUPS and len(groups) < len(samples):
        target = max(1, _round(fraction * len(samples)))
        chosen: set[str] = set()
        for name in _permuted(sorted(groups), g)[: len(groups) - 1]:  # at least one group stays
            if len(chosen) >= target:
                break
            chosen.update(s.clip for s in groups[name])
        return chosen
    chosen = set()
    by_class: dict[str, list[Sample]] = {}
    for s in sorted(samples, key=lambda s: s.clip):
        by_class.setdefault(s.label, []).append(s)
    for label in sorted(by_class):
        clips = by_class[label]
        k = max(1, _round(fraction * len(clips))) if len(clips) >= 2 else 0
        chosen.update(s.clip for s in _permuted(clips, g)[:k])
    if not chosen:
        chosen.add(_permuted(sorted(s.clip for s in samples), g)[0])
    return chosen


def with_split(samples: list[Sample], clips: set[str], split: str) -> list[Sample]:
    return [dataclasses.replace(s, split=split) if s.clip in clips else s for s in samples]


def assign_splits(samples: list[Sample], seed: int, test_fraction: float = 0.1, val_fraction: float = VAL_FRACTION) -> list[Sample]:
    """Seeded train/val/test for a dataset that comes without splits (by group when possible)."""
    samples = [dataclasses.replace(s, split="train") for s in samples]
    samples = with_split(samples, hold_out(samples, test_fraction, seed, "test"), "test")
    return carve_val(samples, seed, val_fraction)


def carve_val(samples: list[Sample], seed: int, fraction: float = VAL_FRACTION) -> list[Sample]:
    """Move a seeded part of the training clips to validation, unless there is one already
    (or `fraction` is 0: every training clip trains)."""
    if fraction <= 0 or any(s.split == "val" for s in samples):
        return samples
    train = [s for s in samples if s.split == "train"]
    return with_split(samples, hold_out(train, fraction, seed, "val"), "val")


def match_classes(wanted: tuple[str, ...], available: tuple[str, ...], where: str) -> tuple[str, ...]:
    """The requested classes in dataset order; names match case-insensitively, ignoring _ and -."""
    if not wanted:
        return available
    norm = {_norm(c): c for c in available}
    unknown = [c for c in wanted if _norm(c) not in norm]
    if unknown:
        raise ConfigError(
            f"unknown class{'es' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} in {where}; "
            f"found: {', '.join(available)}"
        )
    keep = {norm[_norm(c)] for c in wanted}
    return tuple(c for c in available if c in keep)


def _norm(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def select(catalog: Catalog, classes: tuple[str, ...] = (), per_class: int | None = None,
           fraction: float = 1.0, seed: int = 0) -> Catalog:
    """The subset a DataConfig asks for: some classes; at most `per_class` training clips per
    class (validation and test shrink in proportion); a `fraction` of each split and class.
    Clips are taken as prefixes of a seeded order per split and class."""
    keep = match_classes(tuple(classes), catalog.classes, str(catalog.root))
    cells: dict[tuple[str, str], list[Sample]] = {}
    for s in sorted(catalog.samples, key=lambda s: s.clip):
        if s.label in keep:
            cells.setdefault((s.split, s.label), []).append(s)
    chosen: list[Sample] = []
    for (split, label), clips in sorted(cells.items()):
        n = len(clips)
        limit = n
        if per_class is not None:
            n_train = len(cells.get(("train", label), []))
            limit = per_class if split == "train" else max(1, _round(per_class * n / max(n_train, 1)))
            limit = min(limit, n)
        if fraction < 1.0:
            limit = min(limit, max(1, _round(fraction * n)))
        chosen += _permuted(clips, generator(seed, f"subset/{split}/{label}"))[:limit]
    out = dataclasses.replace(catalog, classes=keep, samples=sorted(chosen, key=lambda s: (SPLITS.index(s.split), s.clip)))
    missing = [c for c in keep if not any(s.label == c and s.split == "train" for s in out.samples)]
    if missing:
        out.notes = out.notes + [f"no training clips for {', '.join(missing)}"]
    return out
