"""A folder of clips, one subfolder per class: Kinetics-Sounds and users' own recordings.

    root/<class>/<clip>.mp4                      seeded split: 10% test, 10% validation per class
    root/{train,val,test}/<class>/<clip>.mp4     the given split (no val/: 10% of train)

A clip is a video with its own sound, or a video/image plus a sound file of the same name
(``x.mp4`` + ``x.wav``, ``x.jpg`` + ``x.wav``). Any container PyAV reads will do.

Kinetics-Sounds (Arandjelovic & Zisserman 2017) is Kinetics clips of classes one can hear;
papers use 31 to 34 of them. ``KINETICS_SOUNDS`` is the paper's list of 34 in Kinetics
spelling; the folder's classes are checked against it with the dataset name
``kinetics-sounds``, or when most folder names are Kinetics-Sounds classes.
"""

from __future__ import annotations

from pathlib import Path

from dgl_engine.errors import ConfigError
from dgl_engine.data.catalog import SPLITS, Catalog, Sample, assign_splits, carve_val
from dgl_engine.data.decode import SUPPORTED_AUDIO, SUPPORTED_IMAGE, SUPPORTED_VIDEO

# Appendix A1 of "Look, Listen and Learn" (arXiv:1705.08168), in Kinetics-400/600 spelling.
KINETICS_SOUNDS = (
    "blowing nose", "blowing out candles", "bowling", "chopping wood", "dribbling basketball",
    "fingerpicking", "laughing", "mowing lawn", "patting", "playing accordion", "playing bagpipes",
    "playing bass guitar", "playing clarinet", "playing drums", "playing guitar", "playing harmonica",
    "playing keyboard", "playing organ", "playing piano", "playing saxophone", "playing trombone",
    "playing trumpet", "playing violin", "playing xylophone", "ripping paper", "shoveling snow",
    "shuffling cards", "singing", "stomping grapes", "tap dancing", "tapping guitar", "tapping pen",
    "tickling", "typing",
)
# The paper's short names for classes Kinetics spells otherwise.
KS_ALIASES = {"blowing out": "blowing out candles", "dribbling ball": "dribbling basketball",
              "mowing the lawn by pushing lawnmower": "mowing lawn", "stomping": "stomping grapes"}
MEDIA = SUPPORTED_VIDEO + SUPPORTED_AUDIO + SUPPORTED_IMAGE


def ks_name(folder: str) -> str | None:
    """The Kinetics-Sounds class a folder name spells (``playing_guitar``, ``Playing Guitar``)."""
    name = " ".join(folder.lower().replace("_", " ").replace("-", " ").replace("(", " ").replace(")", " ").split())
    name = KS_ALIASES.get(name, name)
    return name if name in KINETICS_SOUNDS else None


def _split_dirs(root: Path) -> dict[str, Path]:
    return {s: root / s for s in SPLITS if (root / s).is_dir()}


def _has_media(folder: Path) -> bool:
    return any(p.is_file() and p.suffix.lower() in MEDIA for p in folder.iterdir())


def class_dirs(base: Path) -> list[Path]:
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".") and _has_media(p))


def _has_visual(folder: Path) -> bool:
    return any(p.suffix.lower() in SUPPORTED_VIDEO + SUPPORTED_IMAGE for p in folder.iterdir() if p.is_file())


def detect(root: Path) -> bool:
    """Class subfolders holding videos or pictures (directly, or under train/val/test).
    A folder of sounds alone (e.g. FSDD's recordings/) is not an audio-visual dataset."""
    splits = _split_dirs(root)
    bases = list(splits.values()) if "train" in splits else [root]
    return any(_has_visual(d) for b in bases for d in class_dirs(b))


def _clips(folder: Path, label: str, split: str, skipped: list, root: Path) -> list[Sample]:
    """Pair the files of one class folder by name: a video, or a picture plus a sound."""
    stems: dict[str, dict[str, Path]] = {}
    for p in sorted(folder.iterdir()):
        ext = p.suffix.lower()
        kind = "video" if ext in SUPPORTED_VIDEO else "audio" if ext in SUPPORTED_AUDIO else "image" if ext in SUPPORTED_IMAGE else None
        if p.is_file() and kind and not p.name.startswith("."):
            stems.setdefault(p.stem, {}).setdefault(kind, p)
    out = []
    for stem, files in stems.items():
        picture = files.get("video") or files.get("image")
        if picture is None:
            skipped.append({"file": str(files["audio"].relative_to(root)), "reason": "a sound with no video or picture of the same name"})
            continue
        if "video" not in files and "audio" not in files:
            skipped.append({"file": str(picture.relative_to(root)), "reason": "a picture with no sound of the same name"})
            continue
        audio = files.get("audio")
        clip = f"{split}/{label}/{stem}" if split else f"{label}/{stem}"
        out.append(Sample(clip=clip, label=label, split=split or "train", audio=str(audio) if audio else None,
                          visual=str(picture)))
    return out


def scan(root: Path, data, seed: int, kinetics: bool = False) -> Catalog:
    splits = _split_dirs(root)
    skipped: list[dict] = []
    samples: list[Sample] = []
    if "train" in splits:
        for split, base in splits.items():
            for d in class_dirs(base):
                samples += _clips(d, d.name, split, skipped, root)
        if "test" not in splits:
            raise ConfigError(f"{root}: found train/ but no test/; expected root/{{train,val,test}}/<class>/<clip>.mp4 (val/ optional)")
        layout = f"folder of clips with given splits ({', '.join(splits)})"
    else:
        for d in class_dirs(root):
            samples += _clips(d, d.name, "", skipped, root)
        layout = "folder of clips, one subfolder per class (seeded split)"
    if not samples:
        raise ConfigError(
            f"{root}: no clips found; expected root/<class>/<clip>.mp4 (or .webm .avi .mov .mkv .flv ...) "
            "or root/{train,val,test}/<class>/<clip>.mp4"
        )
    classes = tuple(sorted({s.label for s in samples}))
    if "train" in splits:
        samples = carve_val(samples, seed, data.val_fraction)
    else:
        samples = assign_splits(samples, seed, test_fraction=0.1, val_fraction=data.val_fraction)
    notes, info = [], {}
    matched = {c: ks_name(c) for c in classes}
    n_ks = sum(v is not None for v in matched.values())
    if kinetics or (n_ks >= 3 and n_ks >= len(classes) / 2):
        found = sorted(v for v in matched.values() if v)
        missing = sorted(set(KINETICS_SOUNDS) - set(found))
        extra = sorted(c for c, v in matched.items() if v is None)
        if kinetics and not found:
            raise ConfigError(f"{root}: none of the {len(classes)} class folders is a Kinetics-Sounds class "
                              f"(e.g. playing_guitar, tap_dancing); found: {', '.join(classes[:8])}")
        info["kinetics_sounds"] = {"found": found, "missing": missing, "not_kinetics_sounds": extra}
        notes.append(f"Kinetics-Sounds: {len(found)} of {len(KINETICS_SOUNDS)} classes found"
                     + (f"; missing: {', '.join(missing)}" if missing else "")
                     + (f"; other folders: {', '.join(extra)}" if extra else ""))
        layout = "Kinetics-Sounds " + layout
    return Catalog("kinetics-sounds" if kinetics else "folder", root, layout, classes, samples, skipped, notes, info)
