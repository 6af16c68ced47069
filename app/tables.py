"""Tables and downloads: pure functions from run records / events to DataFrames and file bytes."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd

RESULT_COLUMNS = {  # metric key -> column title; accuracies in %
    "acc": "fused (%)",
    "acc_audio": "audio, zero mode (%)",
    "acc_visual": "visual, zero mode (%)",
    "probe_audio": "audio probe (%)",
    "probe_visual": "visual probe (%)",
    "macro_f1": "macro F1 (%)",
    "shapley_audio": "audio's Shapley contribution (points)",
    "shapley_visual": "visual's Shapley contribution (points)",
}


# Head mode (a method's own unimodal classifier: G-Blend, MLB, DI-MML): columns shown only when
# some method of the run has such heads, so other runs' tables keep their width.
HEAD_COLUMNS = {"acc_audio_head": "audio, head mode (%)", "acc_visual_head": "visual, head mode (%)"}


def result_columns(results) -> dict[str, str]:
    """RESULT_COLUMNS, with the head-mode columns after the zero-mode ones when any of
    ``results`` (metric dicts) has them."""
    results = list(results)
    if not any(r.get(k) is not None for r in results for k in HEAD_COLUMNS):
        return dict(RESULT_COLUMNS)
    out = {}
    for key, title in RESULT_COLUMNS.items():
        out[key] = title
        if key == "acc_visual":
            out.update(HEAD_COLUMNS)
    return out


def results_frame(results: dict, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Final test metrics, one row per method (unimodal methods: 'fused' is their modality)."""
    rows = []
    columns = result_columns(results.values())
    for method in [m for m in (methods or results) if m in results]:
        r = results[method]
        row = {"method": method}
        for key, title in columns.items():
            row[title] = round(100 * r[key], 1) if r.get(key) is not None else None
        row["imbalance ratio"] = round(r["imbalance_ratio"], 2) if r.get("imbalance_ratio") is not None else None
        row["test loss"] = round(r["loss"], 3) if r.get("loss") is not None else None
        for key, title in OFFICIAL_COLUMNS.items():
            if r.get(key) is not None:
                row[title] = r[key] if key == "best_epoch" else round(100 * r[key], 1)
        rows.append(row)
    official = [t for k, t in OFFICIAL_COLUMNS.items() if any(results[m].get(k) is not None for m in results)]
    return pd.DataFrame(rows, columns=["method", *columns.values(), "imbalance ratio", "test loss", *official])


# Runs with official scores (the paper protocol) show them beside ours, named for what they are.
OFFICIAL_COLUMNS = {
    "acc_best_epoch": "official: best test epoch (%) (selected on the test set: optimistic)",
    "best_epoch": "official: best epoch",
    "acc_official_subset": "official: final epoch on the clips its loader scores (%)",
}


# What a table's header says on screen: short enough that the test-metrics table fits a laptop
# (at 1280 px wide its long names cut the last columns). The full name is the header's tooltip,
# and stays the column's name in the CSV.
HEADERS = {
    "fused (%)": "fused", "audio, zero mode (%)": "audio · zero", "visual, zero mode (%)": "visual · zero",
    "audio, head mode (%)": "audio · head", "visual, head mode (%)": "visual · head",
    "audio probe (%)": "audio probe", "visual probe (%)": "visual probe", "macro F1 (%)": "macro F1",
    "audio's Shapley contribution (points)": "Shapley audio", "visual's Shapley contribution (points)": "Shapley visual",
    "imbalance ratio": "imbalance", "test loss": "loss",
    "official: best test epoch (%) (selected on the test set: optimistic)": "official best",
    "official: best epoch": "best epoch", "official: final epoch on the clips its loader scores (%)": "official subset",
    "seconds": "time (s)",
}
UNITS_NOTE = "Accuracies in %; Shapley contributions in points of accuracy. Hover a header for its full name."


def headers(frame: pd.DataFrame) -> dict[str, dict]:
    """{column: {"label", "help"}} for the columns whose on-screen header is shorter than their name."""
    return {c: {"label": HEADERS[c], "help": c} for c in frame.columns if c in HEADERS}


IMBALANCE_NOTE = ("Imbalance ratio: audio's summed true-class softmax score over visual's (OGM-GE's slice logits, "
                  "test split); above 1 audio dominates, below 1 vision does.")


def weaker_modality(events: Sequence[dict]) -> str:
    """The modality whose zero-mode accuracy is lower in the latest validation point of the
    multimodal methods (visual when nothing says otherwise): the one the gradient tab opens on."""
    latest: dict[str, dict] = {}
    for e in events:
        if e.get("type") == "eval" and "acc_audio" in e.get("metrics", {}) and "acc_visual" in e.get("metrics", {}):
            latest[e["method"]] = e["metrics"]
    if not latest:
        return "visual"
    audio = sum(m["acc_audio"] for m in latest.values())
    visual = sum(m["acc_visual"] for m in latest.values())
    return "audio" if audio < visual else "visual"


def data_label(data: dict) -> str:
    """'synthetic (default)' / 'cremad (paper)': the dataset and its regime or preprocessing
    (records from before the two were named apart say "preset")."""
    kind = "regime" if data.get("dataset", "synthetic") == "synthetic" else "preprocessing"
    return f"{data.get('dataset', '?')} ({data.get(kind, data.get('preset', ''))})"


def runs_frame(records: Sequence[dict]) -> pd.DataFrame:
    """Every run, newest first: what it was and how it ended."""
    import time

    rows = []
    for r in records:
        cfg = r.get("config", {})
        results = r.get("results") or {}
        data = cfg.get("data", {})
        best = max((m for m in results), key=lambda m: results[m].get("acc", 0), default=None)
        rows.append({  # a run is known by its name; the id comes last, for the CLI
            "name": r.get("error", "") if r.get("status") == "damaged" else cfg.get("name", ""),  # why it is damaged
            "status": r.get("status", ""),
            "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"])) if r.get("created") else "",
            "dataset": data_label(data),
            "methods": ", ".join(cfg.get("methods", [])),
            "seconds": r.get("seconds"),
            # one column for the best method and its score: two cost the table its fit on a laptop
            "best (fused %)": f"{best} {100 * results[best]['acc']:.1f}" if best else "",
            "run": r["run_id"],
        })
    return pd.DataFrame(rows)


def metrics_csv(events: Sequence[dict]) -> str:
    """Validation and test metrics, one row per (event, method), as CSV text."""
    rows = []
    for e in events:
        if e.get("type") in ("eval", "test"):
            rows.append({
                "type": e["type"], "method": e.get("method"), "split": e.get("split", "test"),
                "step": e.get("step"), "epoch": e.get("epoch"), **e.get("metrics", {}),
            })
    return pd.DataFrame(rows).to_csv(index=False)


def events_json(events: Sequence[dict]) -> str:
    return json.dumps(list(events), indent=1)
