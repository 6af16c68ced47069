"""The on-disk feature cache: each clip is decoded once per preprocessing, ever.

    <home>/.cache/features/<key>/meta.json          what the folder holds (dataset, root, specs)
    <home>/.cache/features/<key>/chunk-*.pt         up to CHUNK clips each: entry keys, audio
                                                    (n, 1, F, T) float32, visual (n, T, 3, S, S)
                                                    uint8, and the clips that failed, with why

``<key>`` hashes the dataset, its root and the feature specs. Inside, each clip is an entry
keyed by its files (path, size, modification time) and what is taken from them (MNIST row,
AVE window): a changed file is decoded again, a larger subset reuses every clip already
there. Chunks are written atomically as decoding goes, so an interrupted run loses at most
one chunk and the next run resumes where it stopped. A clip that fails is stored as failed
(with its reason) and reported again without being retried, until its file changes.

Loading gathers the selected clips into one tensor per split, in memory: training reads
batches by indexing, never the disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import torch

from dgl_engine.data.catalog import SPLITS, Catalog, Sample
from dgl_engine.data.dataset import Split
from dgl_engine.data.decode import MediaError
from dgl_engine.data.features import AudioFeatures, VisualFeatures
from dgl_engine.files import atomic_write

# 2: clips longer than limits.MAX_DECODE_SECONDS are decoded up to it (a version-1 cache may hold
# features of their whole length), so version-1 caches are rebuilt rather than trusted.
CACHE_VERSION = 2
CHUNK = 64  # clips per chunk file: the most work an interruption can lose

Progress = Callable[[int, int], None]


def file_signature(path: str) -> list:
    """[path, size, mtime_ns] of a file, or of every file in a folder of frames."""
    p = Path(path)
    try:
        if p.is_dir():
            return [path, sorted((c.name, c.stat().st_size, c.stat().st_mtime_ns) for c in p.iterdir())]
        st = p.stat()
        return [path, st.st_size, st.st_mtime_ns]
    except OSError:
        return [path, None, None]


def entry_key(sample: Sample, extra: dict | None = None) -> str:
    """What a clip's features depend on: its files as they are now and what is taken from them."""
    what = {"files": [file_signature(f) for f in sample.files()], "image": sample.image,
            "window": sample.window, **(extra or {})}
    return hashlib.sha1(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def cache_dir(home, dataset: str, root: Path, audio_spec: AudioFeatures, visual_spec: VisualFeatures) -> Path:
    what = {"version": CACHE_VERSION, "dataset": dataset, "root": str(root),
            "audio": audio_spec.to_dict(), "visual": {**visual_spec.to_dict(), "mean": None, "std": None}}
    key = hashlib.sha1(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]
    return Path(home) / ".cache" / "features" / f"{dataset}-{key}"


class FeatureCache:
    """The cached features of one dataset root under one preprocessing."""

    def __init__(self, home, catalog: Catalog, audio_spec: AudioFeatures, visual_spec: VisualFeatures):
        self.catalog, self.audio_spec, self.visual_spec = catalog, audio_spec, visual_spec
        self.dir = cache_dir(home, catalog.dataset, catalog.root, audio_spec, visual_spec)
        self.rows: dict[str, tuple[int, int]] = {}  # entry key -> (chunk number, row)
        self.failed: dict[str, dict] = {}  # entry key -> {"file", "reason"}
        self.chunks: list[dict] = []  # loaded lazily (memory-mapped)

    # ----- reading -------------------------------------------------------------------------
    def scan(self) -> None:
        """Index every chunk on disk (memory-mapped: only what is gathered is read)."""
        self.rows, self.failed, self.chunks = {}, {}, []
        if not self.dir.is_dir():
            return
        for path in sorted(self.dir.glob("chunk-*.pt")):
            try:
                chunk = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
                if not isinstance(chunk.get("keys"), list) or not isinstance(chunk.get("failed"), dict):
                    raise ValueError("not a feature chunk")
            except Exception:  # noqa: BLE001 - a damaged chunk is decoded again, not fatal
                path.unlink(missing_ok=True)
                continue
            self._add(chunk)

    def _add(self, chunk: dict) -> None:
        n = len(self.chunks)
        self.chunks.append(chunk)
        for row, key in enumerate(chunk["keys"]):
            self.rows[key] = (n, row)
            self.failed.pop(key, None)
        for key, why in chunk["failed"].items():
            if key not in self.rows:
                self.failed[key] = why

    # ----- filling -------------------------------------------------------------------------
    def fill(self, samples: list[Sample], progress: Progress | None = None, workers: int | None = None,
             extract: Callable | None = None) -> dict:
        """Decode every sample not in the cache yet, writing chunks as it goes; -> counts
        {"cached": already there, "decoded": done now, "failed": failed now}. `extract`
        (tests): (sample, audio_spec, visual_spec) -> (audio, visual), default sample_inputs."""
        from dgl_engine.data.preprocess import sample_inputs

        extract = extract or sample_inputs
        self.scan()
        keys = [entry_key(s) for s in samples]
        todo: dict[str, Sample] = {}
        for key, s in zip(keys, samples):
            if key not in self.rows and key not in self.failed:
                todo.setdefault(key, s)
        total = len(set(keys))
        done = total - len(todo)
        stats = {"cached": done, "decoded": 0, "failed": 0}
        if progress:
            progress(done, total)
        if not todo:
            return stats
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "meta.json"
        if not meta.exists():
            meta.write_text(json.dumps({
                "dataset": self.catalog.dataset, "root": str(self.catalog.root), "version": CACHE_VERSION,
                "audio_features": self.audio_spec.to_dict(), "visual_features": self.visual_spec.to_dict(),
                "created": time.time()}, indent=1))

        def work(item: tuple[str, Sample]):
            key, s = item
            try:
                audio, visual = extract(s, self.audio_spec, self.visual_spec)
                return key, s, audio, visual, None
            except (MediaError, ValueError, OSError, RuntimeError) as exc:
                return key, s, None, None, " ".join(str(exc).split()) or type(exc).__name__

        buffer: list[tuple] = []
        threads = torch.get_num_threads()
        # One intra-op thread per worker: with several, the tiny spectrogram and resize ops of
        # concurrent clips spin-wait on each other (measured ~3x slower on 2 cores).
        torch.set_num_threads(1)
        workers = workers or min(8, os.cpu_count() or 1)
        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            for result in pool.map(work, todo.items()):
                buffer.append(result)
                done += 1
                if len(buffer) >= CHUNK:
                    self._write(buffer, stats)
                    buffer = []
                if progress:
                    progress(done, total)  # may raise to stop (Ctrl-C, a cancelled run)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # clips already started finish
            torch.set_num_threads(threads)
            if buffer:  # interrupted or finished: keep what was decoded
                self._write(buffer, stats)
        return stats

    def _write(self, results: list[tuple], stats: dict) -> None:
        ok = [r for r in results if r[4] is None]
        failed = {r[0]: {"file": _rel(r[1], self.catalog.root), "reason": r[4]} for r in results if r[4] is not None}
        a_shape, v_shape = self.audio_spec.shape, self.visual_spec.shape
        chunk = {
            "keys": [r[0] for r in ok],
            "audio": torch.stack([r[2] for r in ok]).float() if ok else torch.zeros((0, *a_shape)),
            # frames were decoded as 8-bit: storing them so is (nearly) lossless and 4x smaller
            "visual": torch.stack([(r[3] * 255).round().to(torch.uint8) for r in ok]) if ok
            else torch.zeros((0, *v_shape), dtype=torch.uint8),
            "failed": failed,
        }
        name = f"chunk-{time.time_ns():020d}-{secrets.token_hex(3)}.pt"
        atomic_write(self.dir / name, lambda tmp: torch.save(chunk, tmp))
        self._add(chunk)
        stats["decoded"] += len(ok)
        stats["failed"] += len(failed)

    # ----- gathering -----------------------------------------------------------------------
    def gather(self, samples: list[Sample], classes: tuple[str, ...],
               raw_visual: bool = False) -> tuple[dict[str, Split], list[dict]]:
        """One in-memory Split per split (float audio, visual in [0, 1]) from the cache, and
        the samples that failed: [{"clip", "file", "reason"}]. ``raw_visual``: visual as the
        cache holds it, uint8 in [0, 255] (a quarter of the memory: whole frames)."""
        index = {c: i for i, c in enumerate(classes)}
        found: dict[str, list[tuple[tuple[int, int], int]]] = {s: [] for s in SPLITS}
        skipped = []
        for s in samples:
            key = entry_key(s)
            if key in self.rows:
                found[s.split].append((self.rows[key], index[s.label]))
            else:
                why = self.failed.get(key, {"file": _rel(s, self.catalog.root), "reason": "not in the cache"})
                skipped.append({"clip": s.clip, **why})
        out = {}
        for split, items in found.items():
            n = len(items)
            audio = torch.empty((n, *self.audio_spec.shape))
            visual = torch.empty((n, *self.visual_spec.shape), dtype=torch.uint8 if raw_visual else torch.float32)
            for i, ((c, row), _) in enumerate(items):
                chunk = self.chunks[c]
                audio[i] = chunk["audio"][row]
                visual[i] = chunk["visual"][row] if raw_visual else chunk["visual"][row].float().div_(255)
            labels = torch.tensor([label for _, label in items], dtype=torch.long)
            out[split] = Split(audio, visual, labels)
        return out, skipped


def _rel(sample: Sample, root: Path) -> str:
    """The sample's main file, relative to the dataset root when it lies inside."""
    path = sample.visual or sample.audio or sample.clip
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)
