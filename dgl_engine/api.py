"""The engine as the app sees it: the one ``dgl_engine`` module that ``app/`` imports.

Pages reach the engine through this door only (``tests/app/test_layering.py`` checks it), so the
engine's modules can move without touching a page. Five groups: the engine itself, real datasets,
predictors (with the media they take and give back), the Experiment form's options, and studies. Like the
rest of the engine, it never imports streamlit or plotly.
"""

from __future__ import annotations

# ----- the engine: submit runs, poll their snapshots, cancel, delete -----------------------------
# Engine(home) owns the worker thread and the run store; a RunSnapshot is one frozen instant of a
# run; TERMINAL: the statuses a run never leaves; ConfigError: settings refused before a run starts;
# StoreError: a run id or file the store refuses. RunStore opens a run home without an engine (the
# Predict page caches predictors by home).
from dgl_engine.errors import ConfigError
from dgl_engine.engine import Engine, RunSnapshot
from dgl_engine.lifecycle import describe_error  # one readable line for any error ("disk full: ...")
from dgl_engine.store import TERMINAL, RunStore, StoreError

# ----- real datasets: what the data roots hold, and one clip decoded for a preview --------------
# discover_datasets() and describe_dataset() are below; preview_clip(data, clip, seed, sample_rate,
# fps) decodes one clip of a dataset (frames and waveform), MediaError if it cannot be read.
from dgl_engine.data import registry
from dgl_engine.data.registry import preview_clip

# ----- predictors: a run's trained models applied to an uploaded, recorded or sampled clip ------
# load_predictor(store, run_id, method); predict_many(predictors, data, ...) -> {method: Prediction
# or PredictError}; sample_clip(store, run_id, k) -> (name, bytes) from the run's test split, or
# SamplesUnavailable. Uploads may have the SUPPORTED_* extensions (with the dot); a file that cannot
# be decoded raises MediaError. wav_bytes and playable_video turn media into what a browser plays.
from dgl_engine.data.decode import SUPPORTED_AUDIO, SUPPORTED_IMAGE, SUPPORTED_VIDEO, MediaError
from dgl_engine.data.encode import playable_video, wav_bytes
from dgl_engine.limits import MAX_UPLOAD_MB  # the Predict page's uploads; .streamlit/config.toml agrees
from dgl_engine.predict import PredictError, load_predictor, predict_many
from dgl_engine.samples import SamplesUnavailable, sample_clip

# ----- options of the Experiment form -----------------------------------------------------------
# The schema's leaves (leaves(), leaf(path): flag, key, kind, range, help), get/override/parse by
# dotted path; registry_names(registry) for a leaf's choices; the METHODS registry and
# describe_methods() (each method's hyperparameters); the synthetic REGIMES and class_names(n);
# validate(config) -> warnings, ConfigError when the config is impossible. protocol_settings(name)
# {path: value} a protocol sets (lab: the lab defaults of those paths); protocol_departures(config)
# the protocol settings a config holds at other values than its protocol's.
from dgl_engine.config import DataConfig, ExperimentConfig
from dgl_engine.protocols import differing as protocol_departures, values as protocol_settings
from dgl_engine.data.synthetic import REGIMES, class_names
from dgl_engine.methods import FAMILIES, METHODS, describe_methods
from dgl_engine.schema import Leaf, get, leaf, leaves, override, parse
from dgl_engine.resources import estimate_seconds
from dgl_engine.validate import registry_names, validate


# ----- studies: one experiment over several seeds and optionally one swept setting -----------
# Study(config, seeds, sweep) goes to Engine.submit_study; parse_sweep("dgl.alpha=1,2", config) and
# sweep_keys(config) (what can be swept); Engine.study/studies/study_results read them back, and
# curve_bands(record, events_by_run, value, metric, kind) averages validation curves over seeds.
# SUMMARY_KEYS: the test metrics a study summarises; NO_SWEEP: the value label without a sweep.
from dgl_engine.report import SUMMARY_KEYS
from dgl_engine.study import BASELINE, NO_SWEEP, Study, curve_bands, parse_sweep, sweep_keys


def discover_datasets() -> tuple[list[dict], str | None]:
    """([{dataset, root, label}], problem): the real datasets found in the data roots (DGL_LAB_DATA),
    and what went wrong while looking, if anything (a broken data root must not break a page)."""
    try:
        return registry.discover(), None
    except Exception as exc:  # noqa: BLE001 - unreadable folders, permissions ...: reported, not raised
        return [], f"could not look for datasets: {exc}"


def describe_dataset(data: DataConfig, seed: int) -> dict:
    """What a dataset subset holds, without decoding: classes, counts per class and split, skipped
    files, a few clips per class to preview. ConfigError for a dataset that cannot be used."""
    return registry.describe(data, seed)


__all__ = [
    # the engine
    "Engine", "RunSnapshot", "TERMINAL", "ConfigError", "StoreError", "RunStore", "describe_error",
    # real datasets
    "discover_datasets", "describe_dataset", "preview_clip",
    # predictors and media
    "load_predictor", "predict_many", "PredictError", "sample_clip", "SamplesUnavailable",
    "MediaError", "SUPPORTED_VIDEO", "SUPPORTED_AUDIO", "SUPPORTED_IMAGE", "wav_bytes", "playable_video", "MAX_UPLOAD_MB",
    # options of the Experiment form
    "FAMILIES", "METHODS", "describe_methods", "REGIMES", "class_names", "DataConfig", "ExperimentConfig",
    "Leaf", "get", "leaf", "leaves", "override", "parse", "registry_names", "validate", "estimate_seconds",
    # studies
    "Study", "parse_sweep", "sweep_keys", "curve_bands", "SUMMARY_KEYS", "NO_SWEEP", "BASELINE",
    "protocol_settings", "protocol_departures",
]
