"""AV-MNIST style data: a spoken digit (Free Spoken Digit Dataset) paired with a handwritten one
(MNIST), the same digit in both modalities.

    root/recordings/{digit}_{speaker}_{take}.wav
    root/train-images-idx3-ubyte[.gz] train-labels-idx1-ubyte[.gz]     (train and/or t10k,
    root/t10k-images-idx3-ubyte[.gz]  t10k-labels-idx1-ubyte[.gz]       here or in a subfolder)

Each recording is paired with a seeded random MNIST image of its digit (grey -> 3 channels).
Test holds out whole speakers (``DataConfig.test_speakers``; default: the first speaker in
alphabetical order), so test accuracy is speaker-independent; validation is carved from the
training speakers. Images never repeat across splits: with both MNIST files, train and
validation draw from ``train`` and test from ``t10k``; with one, its images are divided.
"""

from __future__ import annotations

import gzip
import re
import struct
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from dgl_engine import limits
from dgl_engine.errors import ConfigError
from dgl_engine.data.catalog import Catalog, Sample, carve_val, generator

DIGITS = tuple(str(d) for d in range(10))
RECORDING = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)$")
IDX = re.compile(r"^(train|t10k)-(images|labels)[-.]idx([13])-ubyte(\.gz)?$")
TEST_IMAGE_SHARE = 0.2  # with a single MNIST file: the part of each digit's images kept for test


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: Path) -> np.ndarray:
    """An idx file (gzipped or not) as a uint8 array: labels (N,) or images (N, 28, 28).
    At most ``limits.MAX_IDX_BYTES`` are decompressed: a small .gz can hold gigabytes."""
    try:
        with _open(path) as f:
            data = f.read(limits.MAX_IDX_BYTES + 1)
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise ConfigError(f"{path.name}: not a readable idx file ({' '.join(str(exc).split())[:80]})") from None
    if len(data) > limits.MAX_IDX_BYTES:
        raise ConfigError(f"{path.name}: over {limits.MAX_IDX_BYTES // 2**20} MB once decompressed; an MNIST idx file is at most 47 MB")
    if len(data) < 8 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ConfigError(f"{path.name}: not an idx file of unsigned bytes (bad header)")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4: 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ConfigError(f"{path.name}: truncated idx file ({body.size} of {int(np.prod(dims))} bytes)")
    return body.reshape(dims)


_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _read_images(path: str, signature: tuple) -> np.ndarray:
    return read_idx(Path(path))


def _images(path: str, signature: tuple) -> np.ndarray:
    with _LOCK:  # decoding threads would otherwise each read the (up to 47 MB) file at once
        return _read_images(path, signature)


def mnist_image(path: str, row: int) -> torch.Tensor:
    """One MNIST digit as frames (1, 28, 28, 3) uint8 (grey repeated on three channels)."""
    st = Path(path).stat()
    img = _images(path, (st.st_size, st.st_mtime_ns))[row]
    return torch.from_numpy(np.repeat(img[None, :, :, None], 3, axis=3).copy())


def find_idx(root: Path) -> dict[str, dict[str, Path]]:
    """{"train"|"t10k": {"images": path, "labels": path}} for complete pairs under root (2 levels)."""
    found: dict[str, dict[str, Path]] = {}
    for p in sorted([*root.glob("*"), *root.glob("*/*")]):
        m = IDX.match(p.name)
        if m and p.is_file() and "recordings" not in p.relative_to(root).parts:
            found.setdefault(m.group(1), {}).setdefault(m.group(2), p)
    return {k: v for k, v in found.items() if len(v) == 2}


def detect(root: Path) -> bool:
    return (root / "recordings").is_dir() and bool(find_idx(root))


def _pools(idx: dict[str, dict[str, Path]], seed: int) -> dict[str, tuple[Path, dict[int, list[int]]]]:
    """Image rows of each digit available to "train" (train and val) and to "test"."""
    def rows(labels: np.ndarray) -> dict[int, list[int]]:
        return {d: np.flatnonzero(labels == d).tolist() for d in range(10)}

    labels = {k: read_idx(v["labels"]) for k, v in idx.items()}
    for k, v in idx.items():
        try:
            with _open(v["images"]) as f:
                head = f.read(8)
        except (OSError, EOFError):
            head = b""
        if len(head) < 8:
            raise ConfigError(f"{v['images'].name}: not an idx file of images (too short)")
        n_images = struct.unpack(">I", head[4:8])[0]
        if n_images != labels[k].shape[0]:
            raise ConfigError(f"{v['labels'].name} has {labels[k].shape[0]} labels but {v['images'].name} {n_images} images")
    if "train" in idx and "t10k" in idx:
        return {"train": (idx["train"]["images"], rows(labels["train"])), "test": (idx["t10k"]["images"], rows(labels["t10k"]))}
    name = next(iter(idx))
    all_rows = rows(labels[name])
    g = generator(seed, "avmnist/image-split")
    train, test = {}, {}
    for d, r in all_rows.items():
        perm = [r[i] for i in torch.randperm(len(r), generator=g).tolist()]
        k = max(1, round(TEST_IMAGE_SHARE * len(perm)))
        test[d], train[d] = perm[:k], perm[k:]
    path = idx[name]["images"]
    return {"train": (path, train), "test": (path, test)}


def scan(root: Path, data, seed: int) -> Catalog:
    rec_dir = root / "recordings"
    if not rec_dir.is_dir():
        raise ConfigError(f"{root}: no recordings/ folder; expected recordings/{{digit}}_{{speaker}}_{{take}}.wav")
    idx = find_idx(root)
    if not idx:
        raise ConfigError(f"{root}: no MNIST idx files; expected t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
                          "(or train-*) in the root")
    skipped, recordings = [], []
    for p in sorted(rec_dir.iterdir()):
        if p.suffix.lower() != ".wav":
            continue
        m = RECORDING.match(p.stem)
        if not m:
            skipped.append({"file": f"recordings/{p.name}", "reason": "name is not {digit}_{speaker}_{take}.wav"})
            continue
        recordings.append((p, m.group(1), m.group(2)))
    if not recordings:
        raise ConfigError(f"{rec_dir}: no recordings named {{digit}}_{{speaker}}_{{take}}.wav")
    speakers = sorted({s for _, _, s in recordings})
    test_speakers = tuple(data.test_speakers) or (speakers[0],)
    unknown = [s for s in test_speakers if s not in speakers]
    if unknown:
        raise ConfigError(f"unknown test speaker{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} in {rec_dir}; "
                          f"found: {', '.join(speakers)}")
    if set(test_speakers) >= set(speakers):
        raise ConfigError(f"test speakers {', '.join(test_speakers)} leave no speaker for training; found: {', '.join(speakers)}")
    samples = [Sample(clip=p.stem, label=digit, split="test" if speaker in test_speakers else "train",
                      audio=str(p), group=speaker) for p, digit, speaker in recordings]
    samples = carve_val(samples, seed, data.val_fraction)
    # Pair each recording with an image of its digit: a seeded order of the split's pool per digit.
    pools = _pools(idx, seed)
    paired, reused = [], 0
    for pool_name, splits in (("train", ("train", "val")), ("test", ("test",))):
        path, rows = pools[pool_name]
        for d in DIGITS:
            clips = [s for s in samples if s.split in splits and s.label == d]
            pool = rows[int(d)]
            if not clips:
                continue
            if not pool:
                raise ConfigError(f"{path.name}: no image of the digit {d}")
            g = generator(seed, f"avmnist/pair/{pool_name}/{d}")
            order = [pool[i] for i in torch.randperm(len(pool), generator=g).tolist()]
            reused += max(0, len(clips) - len(order))
            for i, s in enumerate(clips):
                paired.append(Sample(clip=s.clip, label=d, split=s.split, audio=s.audio, visual=str(path),
                                     group=s.group, image=order[i % len(order)]))
    notes = [f"test speakers: {', '.join(test_speakers)} (held out); training speakers: "
             f"{', '.join(s for s in speakers if s not in test_speakers)}"]
    if reused:
        notes.append(f"{reused} recordings share an image with another (fewer images than recordings)")
    if skipped:
        notes.append(f"{len(skipped)} files in recordings/ skipped (e.g. {skipped[0]['file']}: {skipped[0]['reason']})")
    info = {"speakers": speakers, "test_speakers": list(test_speakers),
            "mnist": {k: str(v["images"]) for k, v in idx.items()}}
    layout = f"AV-MNIST: recordings/ + MNIST {' and '.join(sorted(idx))} idx files"
    return Catalog("avmnist", root, layout, DIGITS, sorted(paired, key=lambda s: s.clip), skipped, notes, info)
