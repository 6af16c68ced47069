"""Comparing runs: which runs a filter keeps, their configs flattened and diffed, runs grouped by
one config key, and the side-by-side test-metrics and config-diff tables.

Pure functions of run records (``Engine.runs()``: run_id, status, created, config, results), so
tests call them without Streamlit. A run is known by its label (``state.run_label``), never by
its id alone.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from app.tables import RESULT_COLUMNS

BY_METHOD, BY_RUN = "method", "run"  # the two "colour by" choices that are not config keys
MISSING = "–"  # a key one run has and another does not (records from older versions)


# ----- which runs: the filters ------------------------------------------------------------------
@dataclass(frozen=True)
class RunFilter:
    """What the Compare view's filters ask for; an empty field does not filter."""

    datasets: tuple[str, ...] = ()  # data.dataset: "synthetic", "cremad", ...
    methods: tuple[str, ...] = ()  # a run is kept when it trained any of these
    statuses: tuple[str, ...] = ()  # "finished", "running", ...
    text: str = ""  # words every one of which the run's label or name contains (any case)

    def keeps(self, record: Mapping, label: str = "") -> bool:
        cfg = record.get("config") or {}
        if self.datasets and (cfg.get("data") or {}).get("dataset") not in self.datasets:
            return False
        if self.methods and not set(self.methods) & set(cfg.get("methods") or ()):
            return False
        if self.statuses and record.get("status") not in self.statuses:
            return False
        haystack = f"{label} {cfg.get('name') or ''}".lower()
        return all(word in haystack for word in self.text.lower().split())


def filter_choices(records: Sequence[Mapping]) -> dict[str, list[str]]:
    """The values each filter can take among ``records``, in order of first appearance."""
    datasets, methods, statuses = {}, {}, {}
    for r in records:
        cfg = r.get("config") or {}
        datasets[(cfg.get("data") or {}).get("dataset") or "?"] = None
        methods.update(dict.fromkeys(cfg.get("methods") or ()))
        statuses[r.get("status") or "?"] = None
    return {"datasets": list(datasets), "methods": list(methods), "statuses": list(statuses)}


def filter_runs(records: Sequence[Mapping], labels: Mapping[str, str], keep: RunFilter) -> list[str]:
    """Run ids of the records the filter keeps, in the records' order (newest first)."""
    return [r["run_id"] for r in records if keep.keeps(r, labels.get(r["run_id"], ""))]


def unique_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels made unique (two runs of one name started in the same minute get their ids added),
    so they can head table columns and legend entries."""
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    return {rid: label if counts[label] == 1 else f"{label} · {rid}" for rid, label in labels.items()}


def parse_run_ids(text: str | None, known: Sequence[str]) -> list[str]:
    """The known run ids of a ``?runs=id1,id2`` value, in its order, each once."""
    wanted = [t.strip() for t in re.split(r"[,\s]+", text or "") if t.strip()]
    return [rid for rid in dict.fromkeys(wanted) if rid in set(known)]


# ----- configs: flattened, diffed, grouped ------------------------------------------------------
def flatten(config: Mapping, prefix: str = "") -> dict[str, object]:
    """{'train.lr': 0.03, 'method_params.dgl.alpha': 2.0, 'methods': ('joint', 'dgl'), ...}: one
    entry per leaf, by its dotted path (the names `--sweep` and the schema use)."""
    flat: dict[str, object] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = tuple(value) if isinstance(value, list) else value
    return flat


def show(value) -> str:
    """A config value as the tables and legends print it: 0.03, 'joint, dgl', 'none'."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (tuple, list)):
        return ", ".join(show(v) for v in value) or "(none)"
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True) if value else "(none)"
    return str(value)


def config_diff(configs: Mapping[str, Mapping]) -> dict[str, dict[str, str]]:
    """{key: {run: value as text}} for the keys whose values differ between the runs (a key
    missing in some runs differs too), in the order keys first appear. Empty for fewer than two runs."""
    if len(configs) < 2:
        return {}
    flat = {rid: flatten(cfg) for rid, cfg in configs.items()}
    keys = dict.fromkeys(k for f in flat.values() for k in f)
    diff = {}
    for key in keys:
        values = {rid: show(f[key]) if key in f else MISSING for rid, f in flat.items()}
        if len(set(values.values())) > 1:
            diff[key] = values
    return diff


def colour_choices(diff: Mapping[str, Mapping]) -> list[str]:
    """What the runs can be coloured by: method, run, then every config key that differs
    between them (``name`` last: it differs whenever anything else does)."""
    keys = [k for k in diff if k != "name"] + [k for k in diff if k == "name"]
    return [BY_METHOD, BY_RUN, *keys]


def as_number(text: str) -> float | None:
    try:
        x = float(text)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def group_order(values: Sequence[str]) -> list[str]:
    """The distinct group values, ordered: numerically when they are all numbers (so colours
    can run along a scale: lr 0.01 < 0.03 < 0.1), else in order of first appearance."""
    distinct = list(dict.fromkeys(values))
    if distinct and all(as_number(v) is not None for v in distinct):
        return sorted(distinct, key=as_number)
    return distinct


def groups(configs: Mapping[str, Mapping], key: str) -> dict[str, str]:
    """{run: its value of ``key`` as text}: runs with the same value share a colour."""
    flat = {rid: flatten(cfg) for rid, cfg in configs.items()}
    return {rid: show(f[key]) if key in f else MISSING for rid, f in flat.items()}


# ----- tables -------------------------------------------------------------------------------------
_PERCENT = re.compile(r"^(acc|probe|macro_f1|shapley)(_|$)")


def test_title(key: str) -> str:
    """Column title of a test metric: the Results table's titles, and words for keys it lacks."""
    if key in RESULT_COLUMNS:
        return RESULT_COLUMNS[key]
    m = re.fullmatch(r"(acc|macro_f1)_([a-z]+)_([a-z]+)", key)
    if m:
        return f"{m[2]}, {m[3]} mode" + (" macro F1" if m[1] == "macro_f1" else "") + " (%)"
    m = re.fullmatch(r"macro_f1_([a-z]+)", key)
    if m:
        return f"{m[1]}, zero mode macro F1 (%)"
    return {"loss": "test loss", "imbalance_ratio": "imbalance ratio"}.get(key, key + (" (%)" if _PERCENT.match(key) else ""))


def _test_keys(results: Sequence[Mapping]) -> list[str]:
    """Every numeric test metric any of the results has: the Results table's order first."""
    found = dict.fromkeys(k for r in results for m in r.values() for k, v in m.items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool))
    return [k for k in RESULT_COLUMNS if k in found] + sorted(k for k in found if k not in RESULT_COLUMNS)


def _rounded(key: str, value):
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if _PERCENT.match(key):
        return round(100 * value, 1)
    return value if key == "best_epoch" else round(value, 3)


def test_frame(records: Sequence[Mapping], labels: Mapping[str, str], methods: Sequence[str] = (),
               group_key: str | None = None) -> pd.DataFrame:
    """One row per (run, method), the columns every test metric the runs have (accuracies in %);
    with ``group_key`` a column of each run's value of it. Only ``methods`` when given."""
    results = [r.get("results") or {} for r in records]
    keys = _test_keys(results)
    rows = []
    for r, res in zip(records, results):
        value = groups({r["run_id"]: r.get("config") or {}}, group_key)[r["run_id"]] if group_key else None
        for method, metrics in res.items():
            if methods and method not in methods:
                continue
            row = {"run": labels.get(r["run_id"], r["run_id"]), **({group_key: value} if group_key else {}), "method": method}
            row.update({test_title(k): _rounded(k, metrics.get(k)) for k in keys})
            rows.append(row)
    columns = ["run", *([group_key] if group_key else []), "method", *(test_title(k) for k in keys)]
    return pd.DataFrame(rows, columns=columns)


def main_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The test table with the Results table's metrics only (not the loss), after its run, group
    and method columns: what fits a laptop's screen."""
    main = {*RESULT_COLUMNS.values(), "imbalance ratio"}
    cols = list(frame.columns)
    lead = cols[: cols.index("method") + 1]
    return frame[lead + [c for c in cols[len(lead):] if c in main]]


def diff_frame(diff: Mapping[str, Mapping[str, str]], labels: Mapping[str, str]) -> pd.DataFrame:
    """The config diff as a table: one row per differing setting, one column per run (by label)."""
    runs = list(dict.fromkeys(rid for values in diff.values() for rid in values))
    rows = [{"setting": key, **{labels.get(rid, rid): values.get(rid, MISSING) for rid in runs}} for key, values in diff.items()]
    return pd.DataFrame(rows, columns=["setting", *(labels.get(rid, rid) for rid in runs)])
