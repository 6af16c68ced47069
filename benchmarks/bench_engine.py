"""Engine benchmark: the numbers issue 2 asks for, measured, printed, never asserted.

    .venv/bin/python benchmarks/bench_engine.py                 # CPU, tiny encoder, seeds 0 1 2
    .venv/bin/python benchmarks/bench_engine.py --quick         # seed 0 only, no balanced control
    .venv/bin/python benchmarks/bench_engine.py --device cuda --encoder resnet18

Prints, per seed, the default experiment's wall time, the joint model's weaker-modality probe
gap to its unimodal model and DGL's fused gain over joint; the same on the `balanced` regime
(the honest control, where both should shrink); then the cost of a DGL step relative to a joint
step and the overhead of per-step metrics, gradient diagnostics and validation passes.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from dgl_engine.config import ExperimentConfig, ModelConfig  # noqa: E402
from dgl_engine.data.synthetic import REGIMES, load_synthetic  # noqa: E402
from dgl_engine.diagnostics import encoder_grad_norms, gradient_diagnostics  # noqa: E402
from dgl_engine.evaluate import evaluate, precise_bn  # noqa: E402
from dgl_engine.events import StepEvent  # noqa: E402
from dgl_engine.methods import create_method  # noqa: E402
from dgl_engine.models import build_model  # noqa: E402
from dgl_engine.trainer import make_optimizer, resolve_device, train_experiment  # noqa: E402


def experiment(preset: str, seed: int, args) -> ExperimentConfig:
    base = ExperimentConfig()
    return dataclasses.replace(
        base,
        data=dataclasses.replace(base.data, regime=preset, synthetic=REGIMES[preset]),
        model=ModelConfig(encoder=args.encoder),
        seed=seed,
        device=args.device,
    )


def effect(preset: str, seed: int, args) -> dict:
    config = experiment(preset, seed, args)
    t0 = time.perf_counter()
    data = load_synthetic(config.data.synthetic, seed)
    result = train_experiment(config, data, lambda e: None)
    seconds = time.perf_counter() - t0
    r = result.test
    # The weaker modality is the one whose unimodal model scores lower.
    weak = "visual" if r["visual-only"]["acc"] < r["audio-only"]["acc"] else "audio"
    return {
        "seconds": seconds,
        "weak": weak,
        "probe_gap": 100 * (r["joint"][f"probe_{weak}"] - r[f"{weak}-only"][f"probe_{weak}"]),
        "dgl_gain": 100 * (r["dgl"]["acc"] - r["joint"]["acc"]),
        "joint": 100 * r["joint"]["acc"],
        "dgl": 100 * r["dgl"]["acc"],
    }


def step_costs(args, repeats: int = 60) -> dict:
    """Median wall time of one optimisation step per method, and of the extras around it."""
    config = experiment("default", 0, args)
    device = resolve_device(args.device)
    data = load_synthetic(config.data.synthetic, 0)
    torch.set_flush_denormal(True)
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(data.train), generator=g)[: config.train.batch_size]
    audio, visual, labels = (t[idx].to(device) for t in (data.train.audio, data.train.visual, data.train.labels))
    init = build_model(config.model, data.num_classes, 0)
    out = {}

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    for name in ("joint", "dgl"):
        model = copy.deepcopy(init).to(device).train()
        method = create_method(name, config.method_params.get(name), torch.Generator().manual_seed(1))
        opt = make_optimizer(model, config.train)
        times, metric_times, diag_times = [], [], []
        for i in range(repeats + 5):
            sync()
            t = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            losses = method.backward(model, audio, visual, labels)
            float(losses["total"])
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
            opt.step()
            sync()
            t_step = time.perf_counter() - t
            # Per-step metrics exactly as the trainer records them.
            t = time.perf_counter()
            applied = encoder_grad_norms(model, method.modalities)
            StepEvent(name, i, 0.0, {k: float(v) for k, v in losses.items()}, 0.1, applied, 1.0).to_dict()
            t_metrics = time.perf_counter() - t
            t = time.perf_counter()
            gradient_diagnostics(model, audio, visual, labels, method.modalities)
            sync()
            t_diag = time.perf_counter() - t
            if i >= 5:
                times.append(t_step)
                metric_times.append(t_metrics)
                diag_times.append(t_diag)
        t = time.perf_counter()
        precise_bn(model, data.train, method.modalities, config.train.precise_bn_samples, device)
        evaluate(model, method, data.val, data.num_classes, device)
        sync()
        out[name] = {
            "step": statistics.median(times),
            "metrics": statistics.median(metric_times),
            "diagnostics": statistics.median(diag_times),
            "eval": time.perf_counter() - t,
        }
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--encoder", default="tiny")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--quick", action="store_true", help="seed 0 only, skip the balanced control")
    args = p.parse_args()
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {resolve_device(args.device)}, encoder {args.encoder}")

    for preset in ["default"] + ([] if args.quick else ["balanced"]):
        print(f"\n== regime {preset}: audio-only, visual-only, joint, dgl in lockstep, 6 epochs ==")
        print(f"{'seed':>4} {'wall s':>8} {'weak':>7} {'joint probe gap':>16} {'joint acc':>10} {'dgl acc':>8} {'dgl - joint':>12}")
        rows = []
        for s in seeds:
            r = effect(preset, s, args)
            rows.append(r)
            print(f"{s:>4} {r['seconds']:>8.1f} {r['weak']:>7} {r['probe_gap']:>+15.1f}p {r['joint']:>9.1f}% {r['dgl']:>7.1f}% {r['dgl_gain']:>+11.1f}p", flush=True)
        print(f"mean {statistics.mean(r['seconds'] for r in rows):>8.1f} {'':>7} {statistics.mean(r['probe_gap'] for r in rows):>+15.1f}p"
              f" {'':>10} {'':>8} {statistics.mean(r['dgl_gain'] for r in rows):>+11.1f}p")

    costs = step_costs(args)
    j, d = costs["joint"], costs["dgl"]
    every = ExperimentConfig().train.diagnostics_every
    print("\n== step costs (median, batch 64) ==")
    for name, c in costs.items():
        print(f"{name:>6}: step {c['step'] * 1e3:.1f} ms, per-step metrics {c['metrics'] * 1e3:.2f} ms, "
              f"diagnostics {c['diagnostics'] * 1e3:.1f} ms, one validation pass {c['eval'] * 1e3:.0f} ms")
    print(f"DGL step / joint step: {d['step'] / j['step']:.3f}")
    for name, c in costs.items():
        overhead = (c["metrics"] + c["diagnostics"] / every) / c["step"]
        print(f"{name}: per-step metrics + diagnostics every {every} steps = {100 * overhead:.1f}% of step time")
    cfg = ExperimentConfig().train
    steps_per_epoch = 3000 // cfg.batch_size
    for name, c in costs.items():
        share = c["eval"] * cfg.evals_per_epoch / (c["step"] * steps_per_epoch)
        print(f"{name}: validation passes ({cfg.evals_per_epoch}/epoch, incl. precise BN) = {100 * share:.1f}% of training step time")


if __name__ == "__main__":
    main()
