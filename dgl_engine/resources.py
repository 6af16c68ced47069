"""What a run costs before it runs: how many runs train at once, the memory one may use, and
estimates of a run's memory and time from its config alone.

    workers()                 # DGL_LAB_WORKERS, else one per GPU, else cores // 2 (at least 1)
    worker_memory_budget()    # DGL_LAB_WORKER_MEMORY ("6G", "800M", bytes), else a fair share
    estimate_memory(config)   # bytes at peak: data, features, models, evaluation
    estimate_seconds(config, home=)  # wall time: measured step costs, scaled by this machine's speed
    speed_factor(home)        # measured / estimated seconds of the store's recent runs (1.0 with none)

``check_budget`` refuses a run whose estimate is over the budget with one line naming both,
before anything is written (the engine and the CLI call it through ``lifecycle.prepare``).
"""

from __future__ import annotations

import math
import os
import statistics
import time
from pathlib import Path

from dgl_engine.config import ExperimentConfig
from dgl_engine.errors import ConfigError

GIB = 2**30
# Measured on the 2-core CPU this project is developed on (torch 2.13, tiny encoder, batch 64):
# one method-step costs about 28 ms; validation, probes and the test pass add about 45%.
STEP_SECONDS = {"tiny": 0.028, "resnet18": 0.9}
OVERHEAD = 1.45
# A method's step relative to joint's, measured by benchmarks/bench_methods.py on the default
# experiment (mmpareto: two backward passes; mla: one modality per step); the rest cost ~1x.
METHOD_STEP_COST = {"audio-only": 0.63, "visual-only": 0.41, "mmpareto": 1.68, "mla": 0.53}
# Machines differ (the same code runs 2x slower on some 2-core VMs than on others), so estimates
# are scaled by how the store's own recent runs compared with theirs.
CALIBRATION_RUNS = 5  # the most recent finished synthetic CPU runs
CALIBRATION_MIN_S = 10.0  # runs estimated shorter are mostly fixed costs (data, probes): they do not count
CALIBRATION_RANGE = (0.25, 4.0)  # a factor outside this says more about the run than the machine
CALIBRATION_TTL_S = 30.0  # the Experiment page asks on every widget change: read the store at most this often
_calibrations: dict[str, tuple[float, float]] = {}  # home -> (monotonic time read, factor)
# Peak bytes per synthetic clip while it is generated and featurised (waveform, spectrogram,
# frames and their float copies), measured: 4,800 default clips peak at about 0.75 GB.
SYNTHETIC_CLIP_BYTES = 120_000
BASE_BYTES = 700 * 2**20  # an imported torch + the engine, before any data


def workers() -> int:
    """How many runs train at once."""
    text = os.environ.get("DGL_LAB_WORKERS", "").strip()
    if text:
        try:
            n = int(text)
        except ValueError:
            raise ConfigError(f"DGL_LAB_WORKERS must be a whole number, got {text!r}") from None
        if not 1 <= n <= 64:
            raise ConfigError(f"DGL_LAB_WORKERS must be between 1 and 64, got {n}")
        return n
    try:
        import torch

        gpus = torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no usable CUDA: count CPUs
        gpus = 0
    return gpus if gpus else max(1, (os.cpu_count() or 2) // 2)


def threads_per_worker(n_workers: int | None = None) -> int:
    """torch intra-op threads for each worker, so workers together do not oversubscribe the cores."""
    return max(1, (os.cpu_count() or 1) // (n_workers or workers()))


def total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * GIB


def parse_bytes(text: str) -> int:
    """'6G', '800M', '512k' or a number of bytes."""
    t = text.strip().upper().removesuffix("B")
    scale = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}.get(t[-1:], 1)
    try:
        value = float(t[:-1] if scale > 1 else t) * scale
    except ValueError:
        raise ConfigError(f"DGL_LAB_WORKER_MEMORY must be a size like 6G or 800M, got {text!r}") from None
    if value < 64 * 2**20:
        raise ConfigError(f"DGL_LAB_WORKER_MEMORY must be at least 64M, got {text!r}")
    return int(value)


def worker_memory_budget() -> int:
    """Bytes one run may use: DGL_LAB_WORKER_MEMORY, else the machine's memory shared between
    the workers and the server (one share each)."""
    text = os.environ.get("DGL_LAB_WORKER_MEMORY", "").strip()
    if text:
        return parse_bytes(text)
    return total_memory() // (workers() + 1)


def _feature_values(config: ExperimentConfig) -> tuple[int, int, int]:
    """(clips, audio floats per clip, visual floats per clip) from the config (no data read)."""
    import math

    d = config.data
    if d.dataset == "synthetic":
        from dgl_engine.data.synthetic import AUDIO_SPEC, FRAME_SIZE

        s = d.synthetic
        return s.num_classes * s.samples_per_class, math.prod(AUDIO_SPEC.shape), s.frames * 3 * FRAME_SIZE * FRAME_SIZE
    from dgl_engine.data.preprocess import feature_specs

    audio, visual = feature_specs(d.preprocessing, d.dataset)
    clips = 10_000 if d.per_class is None else d.per_class * max(len(d.classes), 10) * 2  # unknown until scanned
    return int(clips * d.fraction), math.prod(audio.shape), math.prod(visual.shape)


def estimate_memory(config: ExperimentConfig, clips: int | None = None) -> int:
    """Peak bytes of a run: generation/decoding, float32 features of every split, the models
    with their gradients and optimizer state, and an evaluation batch. ``clips``: the real
    dataset's count when the catalog is known."""
    n, audio, visual = _feature_values(config)
    n = clips if clips is not None else n
    features = n * (audio + visual) * 4
    generation = n * SYNTHETIC_CLIP_BYTES if config.data.dataset == "synthetic" else features  # normalised copy
    params = 11_200_000 * 2 if config.model.encoder == "resnet18" else 200_000
    models = params * 4 * 4 * len(config.methods)  # weights, grads, momentum, the initial copy
    batch = config.train.batch_size * (audio + visual) * 4 * (40 if config.model.encoder == "resnet18" else 12)
    return BASE_BYTES + features + generation + models + batch


def estimate_seconds(config: ExperimentConfig, clips: int | None = None, home=None) -> float:
    """Wall time of a run (a rough figure, for queues and warnings): measured step costs, times
    ``speed_factor(home)`` when a run store is given."""
    return _uncalibrated_seconds(config, clips) * (speed_factor(home) if home is not None else 1.0)


def speed_factor(home) -> float:
    """How much longer (> 1) or shorter this machine's recent runs took than estimated: the median
    of measured / estimated seconds over the last ``CALIBRATION_RUNS`` finished synthetic runs
    trained on a CPU and estimated at ``CALIBRATION_MIN_S`` or more (real datasets also decode;
    GPU runs are another machine; short runs are mostly fixed costs), clamped to
    ``CALIBRATION_RANGE``; 1.0 without any. Cached for ``CALIBRATION_TTL_S`` per store."""
    from dgl_engine.config import experiment_from_dict
    from dgl_engine.store import RunStore
    from dgl_engine.validate import validate

    key, now = str(Path(home).resolve()), time.monotonic()
    cached = _calibrations.get(key)
    if cached is not None and now - cached[0] < CALIBRATION_TTL_S:
        return cached[1]
    try:
        records = RunStore(home).list()
    except OSError:  # an unreadable store calibrates nothing; the caller still gets an estimate
        records = []
    ratios = []
    for record in sorted(records, key=lambda r: r.get("finished") or 0, reverse=True):
        seconds = record.get("seconds")
        if (record.get("status") != "finished" or isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                or not math.isfinite(seconds) or seconds <= 0):
            continue
        try:  # run.json is a file on disk: its config is checked like any input, or skipped
            config = experiment_from_dict(record.get("config") or {})
            validate(config)
            cuda = (record.get("versions") or {}).get("cuda")
            if config.data.dataset != "synthetic" or config.device == "cuda" or (cuda and config.device == "auto"):
                continue
            estimated = _uncalibrated_seconds(config)
        except Exception:  # noqa: BLE001 - any malformed record is left out, never fails an estimate
            continue
        if estimated < CALIBRATION_MIN_S:
            continue
        ratios.append(seconds / estimated)
        if len(ratios) == CALIBRATION_RUNS:
            break
    lo, hi = CALIBRATION_RANGE
    factor = min(max(statistics.median(ratios), lo), hi) if ratios else 1.0
    _calibrations[key] = (now, factor)
    return factor


def _uncalibrated_seconds(config: ExperimentConfig, clips: int | None = None) -> float:
    n, audio, _ = _feature_values(config)
    n = clips if clips is not None else n
    train_share = config.data.synthetic.split[0] if config.data.dataset == "synthetic" else 0.8
    batch = min(config.train.batch_size, max(2, int(n * train_share)))
    steps = max(1, int(n * train_share * config.data.fraction) // batch) * config.train.epochs
    per_step = STEP_SECONDS.get(config.model.encoder, 0.05) * batch / 64
    return steps * sum(METHOD_STEP_COST.get(m, 1.0) for m in config.methods) * per_step * OVERHEAD


def gib(n: int) -> str:
    return f"{n / GIB:.1f} GB"


def check_budget(config: ExperimentConfig, clips: int | None = None) -> None:
    """ConfigError naming the estimate and the limit when the run would not fit one worker."""
    need, limit = estimate_memory(config, clips), worker_memory_budget()
    if need > limit:
        raise ConfigError(f"this run needs about {gib(need)} of memory, over the {gib(limit)} one run may use "
                          "(DGL_LAB_WORKER_MEMORY); use fewer clips, a smaller batch or the tiny encoder")
