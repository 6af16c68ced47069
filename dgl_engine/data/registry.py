"""Real datasets, in a small registry, and the data roots users may load from.

Interface used by the engine, the CLI and the app:

- ``data_roots() -> list[Path]``: folders named by ``DGL_LAB_DATA`` (os.pathsep-separated).
- ``resolve_root(path) -> Path``: a typed path, refused (ConfigError) unless it exists and lies
  inside a data root once symlinks are resolved (a link in a data root that points elsewhere
  is refused). A relative path is looked up in each data root.
- ``discover() -> list[dict]``: datasets found in the data roots (each root and its
  subfolders that resolve inside it), each ``{"dataset": name, "root": str, "label": str}``.

What is trusted: the dataset folder, because someone put it in a data root. Inside it, files
and folders may link anywhere (``AudioWAV/`` shared by two layouts, a split folder kept
elsewhere), as a dataset's own layout choice; the dataset folder itself may not.
- ``check_root(DataConfig)``: refuse an unknown dataset or an unusable root, split file or
  class before anything is written.
- ``describe(DataConfig, seed) -> dict``: classes, counts per class and split, skipped files and a
  few sample file paths per class for previews, without decoding features.
- ``load_real(DataConfig, seed, home, progress) -> AVData``: features through the shared media
  and feature code, cached on disk under the run home.
- ``cache_features(DataConfig, seed, home, progress) -> dict``: fill the cache only (the CLI's
  ``cache`` command); ``preview_clip(DataConfig, clip)``: one clip decoded, for the app.

Every refusal is a ConfigError whose message is one line saying what was expected and where.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dgl_engine.config import DataConfig
from dgl_engine.errors import ConfigError, unknown
from dgl_engine.data import ave, avmnist, cremad, folder
from dgl_engine.data.catalog import SPLITS, Catalog, select

MAX_LISTED = 100  # skipped files listed in AVData.info (all are counted)


@dataclass(frozen=True)
class RealDataset:
    """One kind of real dataset: how to recognise its layout and list its clips."""

    name: str
    label: str
    layout: str  # the expected layout, for messages
    detect: Callable[[Path], bool]
    scan: Callable[[Path, DataConfig, int], Catalog]


DATASETS: dict[str, RealDataset] = {
    "cremad": RealDataset(
        "cremad", "CREMA-D (6 emotions, actors speaking)",
        "AudioWAV/*.wav with VideoFlash/*.flv or Image-01-FPS/<clip>/*.jpg",
        cremad.detect, lambda root, data, seed: cremad.scan(root, data, seed, resolve_root)),
    "folder": RealDataset(
        "folder", "Folder of clips (one subfolder per class)",
        "<class>/<clip>.mp4 or {train,val,test}/<class>/<clip>.mp4",
        folder.detect, lambda root, data, seed: folder.scan(root, data, seed)),
    "kinetics-sounds": RealDataset(
        "kinetics-sounds", "Kinetics-Sounds (folder of clips, classes checked)",
        "<class>/<clip>.mp4 or {train,val,test}/<class>/<clip>.mp4, classes such as playing_guitar",
        folder.detect, lambda root, data, seed: folder.scan(root, data, seed, kinetics=True)),
    "ave": RealDataset(
        "ave", "AVE (28 audio-visual event categories)",
        "AVE/<VideoID>.mp4 with Annotations.txt (trainSet.txt, valSet.txt, testSet.txt)",
        ave.detect, lambda root, data, seed: ave.scan(root, data, seed)),
    "avmnist": RealDataset(
        "avmnist", "AV-MNIST (spoken digits + MNIST)",
        "recordings/{digit}_{speaker}_{take}.wav with MNIST idx files (t10k-images-idx3-ubyte.gz ...)",
        avmnist.detect, lambda root, data, seed: avmnist.scan(root, data, seed)),
}
DETECT_ORDER = ("cremad", "ave", "avmnist", "folder")  # folder last: the loosest layout


# ----------------------------------------------------------------------------- data roots


def data_roots() -> list[Path]:
    raw = os.environ.get("DGL_LAB_DATA", "")
    return [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == r or path.is_relative_to(r) for r in roots)


def resolve_root(path) -> Path:
    """The folder a user typed, if it lies inside a data root; ConfigError otherwise."""
    roots = data_roots()
    if not roots:
        raise ConfigError(
            "real datasets load only from folders named by the environment variable DGL_LAB_DATA, which is "
            f"not set; set it to the folder holding your datasets (e.g. export DGL_LAB_DATA=/data/av; several: "
            f"separated by '{os.pathsep}') and restart"
        )
    if not path:
        raise ConfigError(f"no dataset folder given; expected a folder inside {', '.join(map(str, roots))}")
    typed = Path(path).expanduser()
    if not typed.is_absolute():
        found = [r / typed for r in roots if (r / typed).exists()]
        typed = found[0] if found else roots[0] / typed
    lexical = Path(os.path.abspath(typed))  # '..' removed, symlinks kept
    real = lexical.resolve()
    if not _inside(real, roots):  # judged by where it really is: a symlink in a root may point anywhere
        via = f" (a link to {real})" if _inside(lexical, roots) else ""
        raise ConfigError(f"{path}: outside the data roots{via}; datasets load only from {', '.join(map(str, roots))} "
                          "(DGL_LAB_DATA)")
    if not lexical.exists():
        raise ConfigError(f"{path}: no such folder (looked for {lexical})")
    if not lexical.is_dir():
        raise ConfigError(f"{path}: not a folder")
    return lexical


def _detect(path: Path) -> str | None:
    for name in DETECT_ORDER:
        try:
            if DATASETS[name].detect(path):
                if name == "folder" and _looks_kinetics(path):
                    return "kinetics-sounds"
                return name
        except OSError:
            return None
    return None


def _looks_kinetics(path: Path) -> bool:
    base = path / "train" if (path / "train").is_dir() else path
    names = [d.name for d in folder.class_dirs(base)]
    hits = sum(folder.ks_name(n) is not None for n in names)
    return hits >= 3 and hits >= len(names) / 2


def discover() -> list[dict]:
    """Datasets in the data roots: each root and its direct subfolders, by layout."""
    out = []
    roots = data_roots()
    for root in roots:
        if not root.is_dir():
            continue
        found = [(p, _detect(p)) for p in sorted(root.iterdir())
                 if p.is_dir() and not p.name.startswith(".") and _inside(p.resolve(), roots)]  # what resolve_root accepts
        found = [(p, name) for p, name in found if name is not None]
        itself = _detect(root)
        # A root holding datasets also looks like a folder dataset (its datasets as classes).
        if itself is not None and not (itself in ("folder", "kinetics-sounds") and found):
            found.insert(0, (root, itself))
        for path, name in found:
            out.append({"dataset": name, "root": str(path), "label": f"{DATASETS[name].label}: {path.name}"})
    return out


# ----------------------------------------------------------------------------- catalogs


def _catalog(data: DataConfig, seed: int) -> Catalog:
    """The selected clips of a dataset (ConfigError for anything unusable)."""
    from dgl_engine.data.preprocess import PREPROCESSING

    if data.dataset not in DATASETS:
        raise unknown("dataset", data.dataset, ("synthetic", *DATASETS))
    if data.preprocessing not in PREPROCESSING:
        raise unknown("preprocessing preset", data.preprocessing, PREPROCESSING)
    kind = DATASETS[data.dataset]
    root = resolve_root(data.root)
    if not kind.detect(root):
        found = _detect(root)
        hint = f" (it looks like a {found} dataset)" if found else ""
        raise ConfigError(f"{root}: not a {data.dataset} dataset{hint}; expected {kind.layout}")
    catalog = kind.scan(root, data, seed)
    return select(catalog, data.classes, data.per_class, data.fraction, seed)


def check_root(data: DataConfig, seed: int = 0) -> Catalog | None:
    """Refuse a dataset, root, split file or class that cannot be used, before anything is
    written; the subset's catalog otherwise (``load_real`` reuses it instead of scanning again)."""
    if data.dataset == "synthetic":
        return None
    catalog = _catalog(data, seed)
    n_train = sum(s.split == "train" for s in catalog.samples)
    if n_train < 2:
        raise ConfigError(f"{catalog.root}: {n_train} training clip(s) in the chosen subset; training needs at least 2")
    return catalog


def describe(data: DataConfig, seed: int = 0, home=None) -> dict:
    """What a dataset subset holds, without decoding: {"dataset", "root", "layout", "classes",
    "counts": {split: {class: n}}, "total", "skipped": [{"file", "reason"}], "notes",
    "previews": {class: [{"clip", "split", "audio", "visual", "image", "window"}]}, **info}.
    With `home`, clips that failed to decode in an earlier caching run are listed too."""
    catalog = _catalog(data, seed)
    skipped = list(catalog.skipped)
    if home is not None:
        skipped += _cached_failures(catalog, data, home)
    return {
        "dataset": catalog.dataset, "root": str(catalog.root), "layout": catalog.layout,
        "classes": list(catalog.classes), "counts": catalog.counts(), "total": len(catalog.samples),
        "skipped": skipped[:MAX_LISTED], "skipped_total": len(skipped), "notes": list(catalog.notes),
        "previews": catalog.previews(), **catalog.info,
    }


def preview_clip(data: DataConfig, clip: str, seed: int = 0, sample_rate: int = 16000, fps: float = 2.0):
    """One clip of the dataset decoded (sound and pictures, AV-MNIST images included) as a
    decode.DecodedClip, for the app's previews. MediaError if it cannot be read."""
    from dgl_engine.data.preprocess import decode_sample

    catalog = _catalog(dataclasses.replace(data, classes=(), per_class=None, fraction=1.0), seed)
    sample = next((s for s in catalog.samples if s.clip == clip), None)
    if sample is None:
        raise ConfigError(f"no clip {clip!r} in {catalog.root}")
    return decode_sample(sample, sample_rate, fps)


# ----------------------------------------------------------------------------- features


def _home(home) -> Path:
    from dgl_engine.store import default_home

    return Path(home) if home is not None else default_home()


def _cache(catalog: Catalog, data: DataConfig, home):
    from dgl_engine.data.cache import FeatureCache
    from dgl_engine.data.preprocess import feature_specs

    audio_spec, visual_spec = feature_specs(data.preprocessing, catalog.dataset)
    return FeatureCache(_home(home), catalog, audio_spec, visual_spec)


def _samples(catalog: Catalog, cache) -> list:
    """The clips as the cache decodes them: a folder of frames stands for the one frame the
    official loader reads from it when the preprocessing says so (data/official.py)."""
    from dgl_engine.data.official import first_listed_frame

    return [first_listed_frame(s, cache.visual_spec) for s in catalog.samples]


def _cached_failures(catalog: Catalog, data: DataConfig, home) -> list[dict]:
    from dgl_engine.data.cache import entry_key

    cache = _cache(catalog, data, home)
    cache.scan()
    return [dict(cache.failed[k]) for k in (entry_key(s) for s in _samples(catalog, cache)) if k in cache.failed]


def cache_features(data: DataConfig, seed: int = 0, home=None, progress=None, workers: int | None = None) -> dict:
    """Decode and cache the subset's features (nothing already cached is decoded again):
    {"dataset", "root", "cache_dir", "clips", "cached", "decoded", "failed", "seconds"}."""
    catalog = _catalog(data, seed)
    cache = _cache(catalog, data, home)
    t0 = time.perf_counter()
    stats = cache.fill(_samples(catalog, cache), progress, workers)
    return {"dataset": catalog.dataset, "root": str(catalog.root), "cache_dir": str(cache.dir),
            "clips": len(catalog.samples), **stats, "seconds": round(time.perf_counter() - t0, 3)}


def load_real(data: DataConfig, seed: int, home=None, progress=None, catalog: Catalog | None = None):
    """The subset's normalised features, from the cache (decoding what is not there yet).
    Unreadable clips are skipped and listed in info["skipped"]; they never stop the load.
    ``catalog``: the subset as ``check_root`` scanned it (else it is scanned here)."""
    from dgl_engine.data.preprocess import build_avdata

    catalog = catalog if catalog is not None else _catalog(data, seed)
    cache = _cache(catalog, data, home)
    samples = _samples(catalog, cache)
    t0 = time.perf_counter()
    stats = cache.fill(samples, progress)
    t1 = time.perf_counter()
    whole = cache.visual_spec.geometry == "full"
    raw, failed = cache.gather(samples, catalog.classes, raw_visual=whole)
    train_frames = None
    if whole:  # whole frames: every split's visual becomes the squashed view, training keeps the frames
        from dgl_engine.data.frames import squash_split

        train_frames = raw["train"].visual
        raw = {k: squash_split(split, cache.visual_spec) for k, split in raw.items()}
    order = _test_file_order(catalog, samples, failed)
    notes = list(catalog.notes)
    if len(raw["train"]) < 2:
        raise ConfigError(f"{catalog.root}: only {len(raw['train'])} training clip(s) could be read "
                          f"({len(failed)} failed, e.g. {failed[0]['file']}: {failed[0]['reason']})" if failed
                          else f"{catalog.root}: fewer than 2 training clips in the chosen subset")
    if len(raw["val"]) == 0:
        raw["val"] = raw["test"]
        notes.append("no readable validation clips: validation curves use the test split")
    if len(raw["test"]) == 0:
        raise ConfigError(f"{catalog.root}: no readable test clips in the chosen subset")
    skipped = list(catalog.skipped) + failed
    n = {s: len(raw[s]) for s in SPLITS}
    info = {
        "dataset": catalog.dataset, "root": str(catalog.root), "layout": catalog.layout, "preprocessing": data.preprocessing,
        "clips": n, "skipped": skipped[:MAX_LISTED], "skipped_total": len(skipped), "failed": len(failed),
        "notes": notes,
        "cache": {"dir": str(cache.dir), "hits": stats["cached"], "decoded": stats["decoded"],
                  "failed_now": stats["failed"], "fill_s": round(t1 - t0, 3),
                  "gather_s": round(time.perf_counter() - t1, 3)},
        **catalog.info,
    }
    data = build_avdata(catalog.dataset, catalog.classes, raw, cache.audio_spec, cache.visual_spec, info)
    return dataclasses.replace(data, train_frames=train_frames, test_file_order=order)


def _test_file_order(catalog: Catalog, samples: list, failed: list[dict]):
    """The test split's rows in its split file's order (None without a split file)."""
    test_csv = (catalog.info.get("split_files") or {}).get("test")
    if not test_csv:
        return None
    from dgl_engine.data.official import file_order

    lost = {f.get("clip") for f in failed}
    clips = [s.clip for s in samples if s.split == "test" and s.clip not in lost]
    return file_order(clips, list(cremad.read_split_file(Path(test_csv))[0]))  # rows, not the skipped ones
