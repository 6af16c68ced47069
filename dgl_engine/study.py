"""A study: one experiment config, several seeds, and optionally one swept setting.

    study = Study(config, seeds=(0, 1, 2), sweep=parse_sweep("dgl.alpha=1,2,4", config))
    for point in study.points(): point.seed, point.value, point.config   # one normal run each
    result = summarise(record, {run_id: run_json, ...})                   # {"summary", "paired"}

A swept setting is any numeric leaf of the schema (``train.lr``, ``data.synthetic.visual.difficulty``;
its CLI flag's name, ``lr``, works too) or a method's hyperparameter (``dgl.alpha``). Every
(seed, value) is an ordinary run in the run store whose run.json says ``"study": study_id``; the
study itself is ``<home>/.studies/<study_id>.json`` (``StudyStore``): its base config, seeds,
sweep, and for each point the run that trains it. Statistics over seeds are in ``stats.py``.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from dgl_engine import stats
from dgl_engine.config import ExperimentConfig, experiment_from_dict
from dgl_engine.errors import ConfigError
from dgl_engine.files import atomic_write_text
from dgl_engine.report import HEAD_KEYS, SUMMARY_KEYS
from dgl_engine.schema import Leaf, leaf, leaves, override, parse

MAX_RUNS = 64  # runs in one study (seeds x values)
NO_SWEEP = "-"  # the value label of a study without a sweep
BASELINE = "joint"  # paired differences are each method minus this one
LIVE = ("queued", "running")
_STUDY_ID = re.compile(r"^study-[A-Za-z0-9_.-]{1,80}$")


def value_label(value) -> str:
    """The swept value as the study's JSON keys it: '0.03', '2', 'none'."""
    if value is None:
        return "none"
    if isinstance(value, float) and float(f"{value:g}") == value:
        return f"{value:g}"
    return str(value)


# ----------------------------------------------------------------------------- what is swept

@dataclass(frozen=True)
class Sweep:
    key: str  # a schema path ("train.lr") or METHOD.NAME ("dgl.alpha")
    values: tuple

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(value_label(v) for v in self.values)

    def to_dict(self) -> dict:
        return {"key": self.key, "values": list(self.values)}


def _numeric_leaves() -> list[Leaf]:
    return [x for x in leaves(ExperimentConfig) if x.kind in ("int", "float") and x.path != "seed"]


def sweep_keys(config: ExperimentConfig) -> list[str]:
    """What a study of this config can sweep: numeric settings and the chosen methods' hyperparameters."""
    from dgl_engine.methods import method_class

    params = [f"{m}.{p}" for m in config.methods for p in method_class(m).params]
    return [x.path for x in _numeric_leaves()] + params


def _bad_key(key: str, config: ExperimentConfig, why: str = "unknown sweep key") -> ConfigError:
    return ConfigError(f"{why} {key!r}; valid: {', '.join(sweep_keys(config))}")


def _sweep_target(key: str, config: ExperimentConfig) -> tuple[str, Leaf | None]:
    """(canonical key, its schema leaf or None for a method hyperparameter)."""
    from dgl_engine.methods import METHODS

    if key in ("seed", "--seed"):
        raise ConfigError("the seed is not swept with --sweep: list the seeds with --seeds")
    for x in _numeric_leaves():
        if key in (x.path, x.flag, x.flag[2:]):
            return x.path, x
    method, _, name = key.rpartition(".")
    if method in METHODS and name in METHODS[method].params:
        if method not in config.methods:
            raise _bad_key(key, config, f"{method} is not among the chosen methods ({', '.join(config.methods)}), so it cannot sweep")
        return key, None
    raise _bad_key(key, config)


def parse_sweep(text: str, config: ExperimentConfig) -> Sweep:
    """A Sweep from 'KEY=V1,V2,...' (ConfigError naming the valid keys, or the value's range)."""
    key, sep, values_text = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise _bad_key(text, config, "--sweep expects KEY=V1,V2,... e.g. dgl.alpha=1,2,4; got")
    key, target = _sweep_target(key, config)
    items = [v for v in values_text.split(",") if v.strip()]
    if not items:
        raise ConfigError(f"--sweep {key}: give at least one value, e.g. {key}=1,2")
    values = []
    for item in items:
        try:
            values.append(_sweep_value(key, target, item))
        except ConfigError as e:
            raise ConfigError(f"--sweep {key}: {e}") from None
    if len(set(map(value_label, values))) != len(values):
        raise ConfigError(f"--sweep {key}: each value may appear once, got {values_text.strip()}")
    return Sweep(key, tuple(values))


def _sweep_value(key: str, target: Leaf | None, item: str):
    """One swept value, parsed and checked against its setting's (or hyperparameter's) range."""
    if target is None:
        from dgl_engine.methods import METHODS

        try:
            value = float(item)
        except ValueError:
            raise ConfigError(f"values must be numbers, got {item.strip()!r}") from None
        method, _, name = key.rpartition(".")
        METHODS[method].params[name].check(method, name, value)
        return value
    from dgl_engine.validate import check_leaf

    value = parse(target, item)
    check_leaf(target, value)
    return value


def parse_seeds(text: str) -> tuple[int, ...]:
    """Seeds from '0,1,2' (each in the seed setting's range, each once)."""
    from dgl_engine.validate import check_leaf

    seed = leaf("seed")
    try:
        seeds = tuple(int(x) for x in str(text).split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--seeds must be whole numbers separated by commas, e.g. 0,1,2; got {text!r}") from None
    if not seeds:
        raise ConfigError("--seeds: give at least one seed, e.g. 0,1,2")
    for s in seeds:
        check_leaf(seed, s)
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds: each seed may appear once, got {text}")
    return seeds


def apply(config: ExperimentConfig, key: str, value) -> ExperimentConfig:
    """The config with the swept setting at ``value``."""
    if key in {x.path for x in _numeric_leaves()}:
        return override(config, {key: value})
    method, _, name = key.rpartition(".")
    params = {m: dict(p) for m, p in config.method_params.items()}
    params.setdefault(method, {})[name] = float(value)
    return override(config, {"method_params": params})


# ----------------------------------------------------------------------------- the study

@dataclass(frozen=True)
class Point:
    seed: int
    value: str  # the swept value's label (NO_SWEEP without a sweep)
    config: ExperimentConfig


@dataclass(frozen=True)
class Study:
    config: ExperimentConfig
    seeds: tuple[int, ...]
    sweep: Sweep | None = None

    def points(self) -> list[Point]:
        """One per (seed, value), seed by seed: the first seeds give every value early."""
        values = list(zip(self.sweep.labels, self.sweep.values)) if self.sweep else [(NO_SWEEP, None)]
        n = len(self.seeds) * len(values)
        if n > MAX_RUNS:
            raise ConfigError(f"a study may hold at most {MAX_RUNS} runs; {len(self.seeds)} seeds x {len(values)} values is {n}")
        out = []
        for seed in self.seeds:
            for label, value in values:
                config = override(self.config, {"seed": seed})
                out.append(Point(seed, label, apply(config, self.sweep.key, value) if self.sweep else config))
        return out

    @property
    def labels(self) -> tuple[str, ...]:
        return self.sweep.labels if self.sweep else (NO_SWEEP,)


def study_from_record(record: dict) -> Study:
    sweep = record.get("sweep")
    return Study(experiment_from_dict(record.get("config") or {}), tuple(record.get("seeds") or ()),
                 Sweep(sweep["key"], tuple(sweep["values"])) if sweep else None)


def run_ids(record: dict) -> list[str]:
    """The study's runs created so far, in point order."""
    return [p["run_id"] for p in record.get("points") or () if p.get("run_id")]


def study_status(record: dict, status_of) -> str:
    """queued | running | finished | incomplete, from its runs' statuses (``status_of(run_id)``)."""
    points = record.get("points") or ()
    statuses = [status_of(p["run_id"]) if p.get("run_id") else "not started" for p in points]
    if "running" in statuses or ("queued" in statuses and set(statuses) - {"queued"}):
        return "running"
    if statuses and all(s == "queued" for s in statuses):
        return "queued"
    return "finished" if statuses and all(s == "finished" for s in statuses) else "incomplete"


# ----------------------------------------------------------------------------- persistence

class StudyStore:
    """``<home>/.studies/<study_id>.json``, written atomically."""

    def __init__(self, home):
        self.folder = Path(home) / ".studies"

    def path(self, study_id: str) -> Path:
        from dgl_engine.store import StoreError

        if not isinstance(study_id, str) or not _STUDY_ID.fullmatch(study_id):
            raise StoreError(f"not a valid study id: {study_id!r}")
        return self.folder / f"{study_id}.json"

    def new_id(self) -> str:
        return "study-" + time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)

    def create(self, study_id: str, study: Study, owner: str = "", run_ids: list[str | None] | None = None,
               status: str = "queued") -> dict:
        points = study.points()
        ids = run_ids or [None] * len(points)
        record = {
            "study_id": study_id, "created": time.time(), "owner": owner, "status": status,
            "config": study.config.to_dict(), "seeds": list(study.seeds),
            "sweep": study.sweep.to_dict() if study.sweep else None, "values": list(study.labels),
            "points": [{"seed": p.seed, "value": p.value, "run_id": rid} for p, rid in zip(points, ids)],
        }
        atomic_write_text(self.path(study_id), json.dumps(record, indent=2))
        return record

    def read(self, study_id: str) -> dict:
        from dgl_engine.store import StoreError

        try:
            return json.loads(self.path(study_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(f"no study {study_id!r} in {self.folder.parent}") from None
        except json.JSONDecodeError as e:
            raise StoreError(f"study {study_id!r} is damaged ({e})") from None

    def update(self, study_id: str, **fields) -> dict:
        record = self.read(study_id)
        record.update(fields)
        atomic_write_text(self.path(study_id), json.dumps(record, indent=2))
        return record

    def set_run(self, study_id: str, index: int, run_id: str) -> dict:
        record = self.read(study_id)
        record["points"][index]["run_id"] = run_id
        return self.update(study_id, points=record["points"])

    def list(self) -> list[dict]:
        """Every study, newest first; damaged files are skipped."""
        if not self.folder.is_dir():
            return []
        out = []
        for path in self.folder.glob("study-*.json"):
            try:
                out.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError):
                continue
        return sorted(out, key=lambda r: r.get("created") or 0, reverse=True)


# ----------------------------------------------------------------------------- what it found

def _finished(record: dict, runs: dict[str, dict]) -> dict[str, list[tuple[int, dict]]]:
    """{value: [(seed, results), ...]} over the study's finished runs."""
    out: dict[str, list[tuple[int, dict]]] = {v: [] for v in record.get("values") or (NO_SWEEP,)}
    for p in record.get("points") or ():
        run = runs.get(p.get("run_id") or "")
        if run and run.get("status") == "finished" and run.get("results"):
            out.setdefault(p["value"], []).append((p["seed"], run["results"]))
    return out


def summarise(record: dict, runs: dict[str, dict]) -> dict:
    """{"summary": {VALUE: {METHOD: {METRIC: {"mean", "std", "n"}}}},
        "paired": {VALUE: {"METHOD-joint": {METRIC: {"mean", "ci95", "n"}}}}}
    over the finished runs (``runs``: run.json by run id). ``paired`` is {} without joint."""
    methods = list((record.get("config") or {}).get("methods") or ())
    summary, paired = {}, {}
    for value, found in _finished(record, runs).items():
        summary[value] = {}
        for m in methods:
            metrics = {k: [r[m][k] for _, r in found if k in r.get(m, {})] for k in SUMMARY_KEYS + HEAD_KEYS}
            summary[value][m] = {k: _rounded(stats.describe(v)) for k, v in metrics.items() if v}
        if BASELINE not in methods:
            continue
        paired[value] = {}
        for m in [m for m in methods if m != BASELINE]:
            both = {k: [(r[m][k], r[BASELINE][k]) for _, r in found if k in r.get(m, {}) and k in r.get(BASELINE, {})]
                    for k in SUMMARY_KEYS}
            paired[value][f"{m}-{BASELINE}"] = {k: _rounded(stats.paired([a for a, _ in v], [b for _, b in v]))
                                                for k, v in both.items() if v}
    return {"summary": summary, "paired": paired if BASELINE in methods else {}}


def _rounded(d: dict) -> dict:
    def r(x):
        return round(x, 4) if isinstance(x, float) else [r(y) for y in x] if isinstance(x, list) else x
    return {k: r(v) for k, v in d.items()}


def curve_bands(record: dict, events_by_run: dict[str, list[dict]], value: str, metric: str = "acc",
                kind: str = "std") -> dict:
    """Validation curves of one swept value as a mean and a band over its seeds, per method:
    {method: {"epoch", "mean", "low", "high", "n"}} (kind: std = mean +- sample std, minmax).
    Only points every seed reached are kept (a cancelled run cuts its value's curves short)."""
    out = {}
    ids = [p["run_id"] for p in record.get("points") or () if p.get("value") == value and p.get("run_id") in events_by_run]
    for m in (record.get("config") or {}).get("methods") or ():
        per_run = []
        for rid in ids:
            pts = {round(e["epoch"], 6): e["metrics"][metric] for e in events_by_run[rid]
                   if e.get("type") == "eval" and e.get("split", "val") == "val" and e.get("method") == m
                   and metric in e.get("metrics", {})}
            if pts:
                per_run.append(pts)
        if not per_run:
            continue
        epochs = sorted(set.intersection(*(set(p) for p in per_run)))
        if not epochs:
            continue
        mean, low, high = stats.band([[p[x] for x in epochs] for p in per_run], kind)
        out[m] = {"epoch": epochs, "mean": mean.tolist(), "low": low.tolist(), "high": high.tolist(), "n": len(per_run)}
    return out
