"""Every method in one lockstep experiment (prints a Markdown table; not a test).

For each dataset and seed: fused test accuracy, per-modality linear probes, each modality's
Shapley contribution, and each method's step cost relative to a joint step (the mean of the
StepEvents' samples/s, which time each method's own step in the lockstep loop).

    .venv/bin/python benchmarks/bench_methods.py [--seeds 0,1,2] [--avmnist ../shared/data] [--methods joint,opm]

Runs are deterministic per seed, and a method's numbers do not depend on which others train
beside it (same initial weights, same batches), so ``--methods`` re-measures some rows alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dgl_engine.config import DataConfig, ExperimentConfig  # noqa: E402
from dgl_engine.lifecycle import run  # noqa: E402
from dgl_engine.methods import METHODS  # noqa: E402
from dgl_engine.store import RunStore  # noqa: E402

MULTIMODAL = [m for m, cls in METHODS.items() if len(cls.modalities) == 2]


def one(config: ExperimentConfig, home: Path) -> tuple[dict, dict]:
    store = RunStore(home)
    outcome = run(config, store)
    assert outcome.status == "finished", outcome.error
    speed: dict[str, list[float]] = {}
    for e in store.read_events(outcome.run_id):
        if e["type"] == "step":
            speed.setdefault(e["method"], []).append(e["samples_per_s"])
    cost = {m: statistics.median(speed["joint"]) / statistics.median(v) for m, v in speed.items()}
    return outcome.results, cost


def avmnist_root(shared: Path, tmp: Path) -> Path:
    root = tmp / "data" / "avmnist"
    root.mkdir(parents=True)
    (root / "recordings").symlink_to(shared / "fsdd-test" / "recordings", target_is_directory=True)
    for f in (shared / "mnist-test").glob("t10k-*"):
        (root / f.name).symlink_to(f)
    return root


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--avmnist", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"),
                   help="folder with fsdd-test/ and mnist-test/ (skipped if absent)")
    p.add_argument("--methods", default=",".join(("audio-only", "visual-only", *MULTIMODAL)),
                   help="methods to run (joint is added: step costs are relative to it)")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = tuple(args.methods.split(","))
    methods = methods if "joint" in methods else ("joint", *methods)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        setups = {"synthetic (default)": dataclasses.replace(ExperimentConfig(), methods=methods, device="cpu")}
        shared = Path(args.avmnist)
        if (shared / "fsdd-test").is_dir():
            root = avmnist_root(shared, tmp)
            os.environ["DGL_LAB_DATA"] = str(root.parent)
            setups["AV-MNIST sample"] = dataclasses.replace(
                ExperimentConfig(), methods=methods, device="cpu", data=DataConfig(dataset="avmnist", root=str(root)))
        for name, config in setups.items():
            rows: dict[str, list] = {}
            for seed in seeds:
                results, cost = one(dataclasses.replace(config, seed=seed), tmp / f"{name}-{seed}")
                for m in methods:
                    rows.setdefault(m, []).append((results[m], cost.get(m, float("nan"))))
            print(f"\n### {name}, seeds {args.seeds} (mean over seeds; accuracies and contributions in points)\n")
            print("| method | fused acc | audio probe | visual probe | audio Shapley | visual Shapley | step cost x joint |")
            print("|---|---|---|---|---|---|---|")
            for m, runs in rows.items():
                def mean(key):
                    vals = [r[key] for r, _ in runs if key in r]
                    return f"{100 * statistics.mean(vals):.1f}" if vals else "-"
                print(f"| `{m}` | {mean('acc')} | {mean('probe_audio')} | {mean('probe_visual')} | "
                      f"{mean('shapley_audio')} | {mean('shapley_visual')} | {statistics.mean(c for _, c in runs):.2f} |")


if __name__ == "__main__":
    main()
